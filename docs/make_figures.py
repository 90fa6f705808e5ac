"""The teaching pictures of the READMEs, drawn by the project's own code from its own models and data.

    python3 docs/make_figures.py [--out docs/figures] [--separator CHECKPOINT] [--only NAME ...]

writes, each a PNG 1200-1600 px wide and under 250 KB:
    unet.png           the U-Net of Step 1 (the shipped weights' architecture), every size measured on the real model
    augmentation.png   a training image and seven of its augmented versions (utils.data_loading.augment_pair)
    dice.png           the shipped weights' prediction on a demo image, and its Dice and IoU pixel by pixel
    masking_strip.png  mixture -> |STFT| -> mask -> masked |STFT| -> vocals, on an excerpt of a demo song
    ideal_masks.png    the binary, ratio and energy-ratio ideal masks, the SDR each reaches, and the mixture's phase
    sdr.png            what SDR measures, and where the mixture (floor), the model and the ideal masks (ceiling) land

--separator: a train_separator.py checkpoint whose vocals mask masking_strip.png and sdr.png show; without it they
show the ideal ratio mask, so the pictures (and their test) need no trained model. The committed pictures:
    python3 -m vocal_separation_sanity_check.make_demo_songs --out /tmp/fig_songs
    python3 -m vocal_separation_sanity_check.train_separator --root /tmp/fig_songs --max-minutes 6 \\
        --checkpoint-dir /tmp/fig_sep
    python3 docs/make_figures.py --separator /tmp/fig_sep/best.pth
The audio excerpt is from a test song of that set (the model never trained on it). Every random draw is seeded:
the same code, weights and checkpoint give the same pictures.
"""
import argparse
import logging
import os
import sys
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Callable

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]
if str(REPOSITORY_ROOT) not in sys.path:  # run as a file from anywhere: unet, utils, ... import from the root
    sys.path.insert(0, str(REPOSITORY_ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from utils.plotting import save_figure  # noqa: E402  (first: it selects the Agg backend before pyplot loads)
import matplotlib  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.colors import Colormap  # noqa: E402
from matplotlib.image import AxesImage  # noqa: E402
from matplotlib.patches import FancyArrowPatch, Patch, Rectangle  # noqa: E402

from unet import UNet  # noqa: E402
from utils.cli import DefaultsHelpFormatter  # noqa: E402
from utils.data_loading import AUGMENTATIONS, augment_pair, load_image, mask_to_array, mask_to_classes  # noqa: E402
from utils.dice_score import dice_iou_per_image  # noqa: E402
from utils.errors import UserError, run_cli  # noqa: E402
from utils.image_checkpoint import load_unet, shipped_weights_path  # noqa: E402
from utils.inference import predict_img  # noqa: E402
from vocal_separation_sanity_check.audio import DEFAULT_STFT, STFTSettings  # noqa: E402
from vocal_separation_sanity_check.transforms import istft, stft  # noqa: E402
from vocal_separation_sanity_check.demo_songs import demo_song, song_rng, track_name  # noqa: E402
from vocal_separation_sanity_check.masking import apply_mask, ideal_ratio_masks  # noqa: E402
from vocal_separation_sanity_check.metrics import sdr  # noqa: E402
from vocal_separation_sanity_check.separator import Separator  # noqa: E402

DEFAULT_OUT = REPOSITORY_ROOT / "docs" / "figures"
DPI = 100
# Every PNG is saved with a palette; one still above this (photos) gets a smaller one: the READMEs should load fast.
MAX_PNG_BYTES = 240_000
STYLE = {"font.size": 11, "axes.titlesize": 12, "axes.labelsize": 11, "figure.titlesize": 15,
         "legend.fontsize": 10, "axes.spines.top": False, "axes.spines.right": False}

# The U-Net of the README's Step 1: the shipped pretrained weights' architecture, on the demo images at --scale 0.5.
UNET_CONFIG = {"n_channels": 3, "n_classes": 2, "base_channels": 32, "normalize_input": True, "norm": "ibn"}
UNET_INPUT_SIZE = 128
ORIGINAL_BASE_CHANNELS = 64  # what --no-pretrained trains: the width of Ronneberger et al.'s U-Net
ENCODER = ("inc", "down1", "down2", "down3", "down4")
DECODER = ("up1", "up2", "up3", "up4")

DEMO_IMAGES = REPOSITORY_ROOT / "data" / "imgs"
DEMO_MASKS = REPOSITORY_ROOT / "data" / "masks"
AUGMENTED_IMAGE = "test_0"
AUGMENTED_COUNT = 7
AUGMENT_SEED = 0
# test_1: the shipped weights find almost all of its car but take much of the sky for car too, so both kinds of
# error show. Step 1's --scale 0.5 (predict.py would use the 0.75 the shipped weights were trained at).
DICE_IMAGE = "test_1"
DICE_SCALE = 0.5

# Test song 0 of make_demo_songs.py's default set (--seed 0, 30 s songs): the set the separator of the committed
# pictures trained on, so this song is one the model never heard. The voice sings through these 7 seconds.
SONG = {"seed": 0, "split": "test", "index": 0, "seconds": 30.0}
EXCERPT_START = 9.0
EXCERPT_SECONDS = 7.0
SHOWN_HZ = 5000  # where a voice's fundamental and strongest harmonics live
ZOOM_SECONDS = 2.5  # ideal_masks.png zooms in so single harmonics show
ZOOM_HZ = 3000
SDR_WINDOW_SECONDS = 0.04  # a few periods of the voice: the waveforms can be followed by eye
DB_RANGE = 70
TRUE_COLOUR = "#1f78b4"  # the true vocals, in every picture
# Colour maps in steps (2 dB, 0.05 of a mask): the pictures keep few colours, so the PNGs stay small and sharp.
DB_COLOURS = matplotlib.colormaps["magma"].resampled(DB_RANGE // 2)
MASK_COLOURS = matplotlib.colormaps["viridis"].resampled(20)
PHASE_COLOURS = matplotlib.colormaps["twilight"].resampled(16)


# ---------------------------------------------------------------------------------------------
# Measurements the figures show (the test checks them)


@dataclass
class UNetShapes:
    """(channels, height, width) of every stage of one forward pass, measured with hooks."""

    input: tuple[int, int, int]
    encoder: list[tuple[int, int, int]]  # inc, down1 ... down4 (the last is the bottleneck)
    upsampled: list[tuple[int, int, int]]  # each Up's transposed convolution, before the copy is concatenated
    concatenated: list[tuple[int, int, int]]  # copy + upsampled, what each Up's convolutions take
    decoder: list[tuple[int, int, int]]  # up1 ... up4
    output: tuple[int, int, int]


def measure_unet(net: UNet, size: int) -> UNetShapes:
    """Run one random (1, C, size, size) input through the model; hooks record every stage's shape."""
    shapes: dict[str, tuple[int, int, int]] = {}

    def after(name: str) -> Callable:
        return lambda module, inputs, output: shapes.__setitem__(name, tuple(output.shape[1:]))

    def before(name: str) -> Callable:
        return lambda module, inputs: shapes.__setitem__(name, tuple(inputs[0].shape[1:]))

    handles = [getattr(net, name).register_forward_hook(after(name)) for name in ENCODER + DECODER + ("outc",)]
    handles += [getattr(net, name).up.register_forward_hook(after(f"{name}.up")) for name in DECODER]
    handles += [getattr(net, name).conv.register_forward_pre_hook(before(f"{name}.conv")) for name in DECODER]
    image = torch.rand(1, net.n_channels, size, size, generator=torch.Generator().manual_seed(0))
    try:
        net.eval()
        with torch.inference_mode():
            net(image)
    finally:
        for handle in handles:
            handle.remove()
    return UNetShapes(input=tuple(image.shape[1:]), encoder=[shapes[name] for name in ENCODER],
                      upsampled=[shapes[f"{name}.up"] for name in DECODER],
                      concatenated=[shapes[f"{name}.conv"] for name in DECODER],
                      decoder=[shapes[name] for name in DECODER], output=shapes["outc"])


def parameter_count(net: torch.nn.Module) -> int:
    """Learned numbers in the model (weights, biases, norm scales and shifts)."""
    return sum(parameter.numel() for parameter in net.parameters())


@dataclass
class Overlap:
    """Pixel counts of a predicted mask against the true one, and the Dice and IoU they give."""

    true_positive: int  # object in both
    false_positive: int  # predicted object, truly background
    false_negative: int  # truly object, predicted background
    true_negative: int

    @property
    def dice(self) -> float:
        """2|A∩B| / (|A| + |B|); 1 when both are empty, as utils.dice_score counts it."""
        total = 2 * self.true_positive + self.false_positive + self.false_negative
        return 2 * self.true_positive / total if total else 1.0

    @property
    def iou(self) -> float:
        """|A∩B| / |A∪B|; 1 when both are empty."""
        union = self.true_positive + self.false_positive + self.false_negative
        return self.true_positive / union if union else 1.0


def overlap(predicted: np.ndarray, true: np.ndarray) -> Overlap:
    """Count the four kinds of pixel of two (H, W) masks of class indices (class 1 is the object)."""
    p, t = predicted == 1, true == 1
    return Overlap(int(np.sum(p & t)), int(np.sum(p & ~t)), int(np.sum(~p & t)), int(np.sum(~p & ~t)))


@dataclass
class DiceExample:
    """A demo image, its true mask and the shipped weights' prediction, as class indices (H, W)."""

    name: str
    image: Image.Image
    true: np.ndarray
    predicted: np.ndarray

    @cached_property
    def counts(self) -> Overlap:
        """The pixel counts, and the Dice and IoU the figure writes."""
        return overlap(self.predicted, self.true)

    def library_scores(self) -> tuple[float, float]:
        """(Dice, IoU) from utils.dice_score, the code evaluate.py uses: the figure's numbers must equal them."""
        dice, iou = dice_iou_per_image(torch.from_numpy(self.predicted)[None], torch.from_numpy(self.true)[None], 2)
        return float(dice[0]), float(iou[0])


def dice_example(name: str = DICE_IMAGE, scale: float = DICE_SCALE) -> DiceExample:
    """Predict data/imgs/NAME.png with the shipped weights through predict.py's predict_img (no flip averaging)."""
    net, mask_values, _ = load_unet(shipped_weights_path(), "pretrained weights")
    image = load_image(DEMO_IMAGES / f"{name}.png")
    true = mask_to_classes(mask_to_array(load_image(DEMO_MASKS / f"{name}_mask.png")), mask_values)
    predicted = predict_img(net, image, torch.device("cpu"), scale_factor=scale)
    return DiceExample(name, image, true.astype(np.int64), predicted.astype(np.int64))


def augmented_examples(name: str = AUGMENTED_IMAGE, count: int = AUGMENTED_COUNT,
                       seed: int = AUGMENT_SEED) -> list[tuple[Image.Image, np.ndarray]]:
    """The image and `count` strong augmentations of it, each with its mask (0/1); the same for the same seed."""
    image = load_image(DEMO_IMAGES / f"{name}.png")
    mask = load_image(DEMO_MASKS / f"{name}_mask.png")
    background = int(np.min(np.asarray(mask)))  # the darkest value (0) is the background in the demo masks
    examples = [(image, mask)]
    with torch.random.fork_rng():  # augment_pair draws from torch: seed it without changing the caller's stream
        torch.manual_seed(seed)
        examples += [augment_pair(image, mask, "strong") for _ in range(count)]
    return [(picture, (np.asarray(outline) != background).astype(np.uint8)) for picture, outline in examples]


# ---------------------------------------------------------------------------------------------
# The audio excerpt, its masks and estimates


class AudioExample:
    """An excerpt of a demo song, its spectrograms, the ideal masks and (with a separator) the model's mask."""

    def __init__(self, separator_path: Path | None):
        self.separator_path = separator_path
        self.name = track_name(song_rng(SONG["seed"], SONG["split"], SONG["index"]))

    @cached_property
    def separator(self) -> Separator | None:
        """The --separator model in fp32 on the CPU (bf16 would give other masks on other CPUs), or None."""
        if self.separator_path is None:
            return None
        separator = Separator.from_checkpoint(self.separator_path, device="cpu", flag="--separator", amp=False)
        if "vocals" not in separator.targets:
            raise UserError(f"--separator {self.separator_path}: separates {', '.join(separator.targets)}; "
                            "give a model trained with the vocals target (train_separator.py's default)")
        if separator.settings.sample_rate != DEFAULT_STFT.sample_rate:
            raise UserError(f"--separator {self.separator_path}: works at {separator.settings.sample_rate} Hz, the "
                            f"demo songs are {DEFAULT_STFT.sample_rate} Hz; give a model trained on 44.1 kHz songs")
        return separator

    @property
    def settings(self) -> STFTSettings:
        return self.separator.settings if self.separator is not None else DEFAULT_STFT

    @cached_property
    def stems(self) -> dict[str, np.ndarray]:
        """{'mixture', 'vocals'} (2, samples): the excerpt, cut from the whole song as the song files hold it."""
        song = demo_song(SONG["seed"], SONG["split"], SONG["index"], SONG["seconds"])
        rate = DEFAULT_STFT.sample_rate
        start = int(EXCERPT_START * rate)
        stop = start + int(EXCERPT_SECONDS * rate)
        return {name: song[name][:, start:stop] for name in ("mixture", "vocals")}

    @property
    def mixture(self) -> np.ndarray:
        return self.stems["mixture"]

    @property
    def vocals(self) -> np.ndarray:
        return self.stems["vocals"]

    @cached_property
    def spectrogram(self) -> np.ndarray:
        """The mixture's complex STFT X, (2, bins, frames): magnitude |X| and phase ∠X."""
        return stft(self.mixture, self.settings)

    @cached_property
    def source_magnitudes(self) -> dict[str, np.ndarray]:
        """|V| and |A| (accompaniment = mixture - vocals), what the ideal masks are made of."""
        return {"vocals": np.abs(stft(self.vocals, self.settings)),
                "accompaniment": np.abs(stft(self.mixture - self.vocals, self.settings))}

    @cached_property
    def ideal_ratio_mask(self) -> np.ndarray:
        """|V| / (|V| + |A|): how much of each bin is voice."""
        return ideal_ratio_masks(self.source_magnitudes)["vocals"]

    @cached_property
    def wiener_mask(self) -> np.ndarray:
        """|V|² / (|V|² + |A|²): the share of each bin's energy, the Wiener filter's gain (masking.py's power=2)."""
        return ideal_ratio_masks(self.source_magnitudes, power=2)["vocals"]

    @cached_property
    def binary_mask(self) -> np.ndarray:
        """1 where |V| > |A|, i.e. where the ideal ratio mask is above one half, else 0."""
        return (self.ideal_ratio_mask > 0.5).astype(np.float32)

    @cached_property
    def model_mask(self) -> np.ndarray | None:
        """The separator's vocals mask (2, bins, frames) on the excerpt, or None without --separator."""
        if self.separator is None:
            return None
        masks = self.separator.masks(torch.from_numpy(self.spectrogram))
        return masks[self.separator.targets.index("vocals")].numpy()

    @property
    def shown_mask(self) -> tuple[np.ndarray, str]:
        """The mask the strip and the SDR picture show: the model's, else the ideal ratio mask, with its label."""
        if self.model_mask is not None:
            return self.model_mask, "the model's mask"
        return self.ideal_ratio_mask, "the ideal ratio mask (no model given)"

    @property
    def shown_key(self) -> str:
        """The key of shown_mask's estimate in sdrs."""
        return "model" if self.model_mask is not None else "irm"

    def estimate(self, mask: np.ndarray) -> np.ndarray:
        """The vocals a mask gives: inverse STFT of mask × X, so the magnitude is masked and the phase is X's."""
        return istft(apply_mask(self.spectrogram, mask), self.settings, length=self.mixture.shape[-1])

    @cached_property
    def sdrs(self) -> dict[str, float]:
        """SDR in dB of each estimate of the excerpt's vocals, the mixture itself (doing nothing) first."""
        scores = {"mixture": sdr(self.vocals, self.mixture)}
        if self.model_mask is not None:
            scores["model"] = sdr(self.vocals, self.estimate(self.model_mask))
        scores["binary"] = sdr(self.vocals, self.estimate(self.binary_mask))
        scores["irm"] = sdr(self.vocals, self.estimate(self.ideal_ratio_mask))
        scores["wiener"] = sdr(self.vocals, self.estimate(self.wiener_mask))
        return scores

    def seconds_axis(self, samples: int) -> np.ndarray:
        return EXCERPT_START + np.arange(samples) / self.settings.sample_rate

    def frequencies(self) -> np.ndarray:
        return np.fft.rfftfreq(self.settings.n_fft, 1.0 / self.settings.sample_rate)


# ---------------------------------------------------------------------------------------------
# Drawing helpers


def arrow(ax: plt.Axes, start: tuple[float, float], end: tuple[float, float], color: str,
          style: str = "-|>", linestyle: str = "-", width: float = 2.0) -> None:
    """An arrow in data coordinates."""
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=18, color=color,
                                 linewidth=width, linestyle=linestyle, shrinkA=0, shrinkB=0))


def decibels(magnitude: np.ndarray, reference: float) -> np.ndarray:
    """20 log10(magnitude / reference), floored so silence does not take the colour scale."""
    return 20 * np.log10(np.maximum(magnitude / reference, 10 ** (-(DB_RANGE + 10) / 20)))


def show_spectrogram(ax: plt.Axes, values: np.ndarray, example: AudioExample, top_hz: float, cmap: Colormap,
                     vmin: float, vmax: float, seconds: tuple[float, float] | None = None) -> AxesImage:
    """(bins, frames) values (channel-averaged) up to top_hz, time in seconds of the song."""
    frequencies = example.frequencies()
    rows = frequencies <= top_hz
    hop_seconds = example.settings.hop_length / example.settings.sample_rate
    start, stop = 0, values.shape[1]
    if seconds is not None:
        start = int((seconds[0] - EXCERPT_START) / hop_seconds)
        stop = int((seconds[1] - EXCERPT_START) / hop_seconds)
    extent = (EXCERPT_START + start * hop_seconds, EXCERPT_START + stop * hop_seconds, 0, frequencies[rows][-1] / 1000)
    image = ax.imshow(values[rows, start:stop], origin="lower", aspect="auto", cmap=cmap, vmin=vmin, vmax=vmax,
                      extent=extent, interpolation="nearest")
    ax.set_ylabel("kHz")
    return image


def mono(spectrogram_like: np.ndarray) -> np.ndarray:
    """(2, bins, frames) -> (bins, frames): the two channels averaged, one picture for stereo."""
    return spectrogram_like.mean(axis=0)


# ---------------------------------------------------------------------------------------------
# The figures


def draw_unet(context: "Context") -> plt.Figure:
    """The U shape with the channels and sizes measured on UNet(**UNET_CONFIG), the skips as arrows across."""
    net = UNet(**UNET_CONFIG)
    shapes = measure_unet(net, UNET_INPUT_SIZE)
    original = parameter_count(UNet(**{**UNET_CONFIG, "base_channels": ORIGINAL_BASE_CHANNELS}))
    fig, ax = plt.subplots(figsize=(16, 9.4))
    ax.set_xlim(0, 18)
    ax.set_ylim(-0.2, 10)
    ax.axis("off")
    top_y, step = 8.3, 1.75

    def box_size(channels: int, size: int) -> tuple[float, float]:
        # Width grows with the channels, height with the feature map's side: the U-Net's trade made visible.
        return 1.2 + 0.2 * np.log2(channels / 32), 0.3 + 1.1 * size / UNET_INPUT_SIZE

    def draw_box(x: float, y: float, shape: tuple[int, int, int], color: str) -> tuple[float, float]:
        channels, height, width = shape
        w, h = box_size(channels, height)
        ax.add_patch(Rectangle((x - w / 2, y - h / 2), w, h, facecolor=color, edgecolor="black", linewidth=1.2))
        text = f"{channels} ch\n{height}×{width}" if h > 0.8 else f"{channels} ch · {height}×{width}"
        ax.text(x, y, text, ha="center", va="center", fontsize=11, fontweight="bold")
        return w, h

    levels = len(ENCODER)
    encoder_x = [3.0 + 1.25 * level for level in range(levels - 1)] + [9.0]
    level_y = [top_y - step * level for level in range(levels)]
    encoder_boxes = [draw_box(encoder_x[i], level_y[i], shape, "#9ecae1" if i < levels - 1 else "#bcbddc")
                     for i, shape in enumerate(shapes.encoder)]
    decoder_x = [18 - x for x in encoder_x[:-1]]  # decoder level i mirrors encoder level i
    decoder_boxes = {}
    for k, shape in enumerate(shapes.decoder):  # up1 is level 3, up4 level 0
        level = levels - 2 - k
        decoder_boxes[level] = draw_box(decoder_x[level], level_y[level], shape, "#fdd0a2")
        copied = shapes.encoder[level][0]
        upsampled = shapes.upsampled[k][0]
        w, h = decoder_boxes[level]
        text = f"{copied} copied\n+ {upsampled} up-sampled\n= {shapes.concatenated[k][0]} → conv"
        if level == 0:  # the output sits to its right: say it above
            ax.text(decoder_x[level], level_y[level] + h / 2 + 0.1, text.replace("\n= ", " = "), ha="center",
                    va="bottom", fontsize=9, color="#444444")
        else:
            ax.text(decoder_x[level] + w / 2 + 0.12, level_y[level], text, ha="left", va="center", fontsize=9,
                    color="#444444")
    # Down: max-pool halves the size, two 3×3 convolutions double the channels.
    for i in range(levels - 1):
        w0, h0 = encoder_boxes[i]
        w1, h1 = encoder_boxes[i + 1]
        arrow(ax, (encoder_x[i], level_y[i] - h0 / 2), (encoder_x[i + 1] - w1 / 4, level_y[i + 1] + h1 / 2), "#d62728")
    # Up: a transposed convolution doubles the size; the bottleneck feeds up1.
    for level in range(levels - 1):
        w1, h1 = decoder_boxes[level]
        if level == levels - 2:
            w0, h0 = encoder_boxes[-1]
            source = (encoder_x[-1] + w0 / 4, level_y[-1] + h0 / 2)
        else:
            w0, h0 = decoder_boxes[level + 1]
            source = (decoder_x[level + 1], level_y[level + 1] + h0 / 2)
        arrow(ax, source, (decoder_x[level] + w1 / 4, level_y[level] - h1 / 2), "#2ca02c")
    # The skip connections: each encoder map is copied across and concatenated with the up-sampled one.
    for level in range(levels - 1):
        left = encoder_x[level] + encoder_boxes[level][0] / 2
        right = decoder_x[level] - decoder_boxes[level][0] / 2
        y = level_y[level] + 0.1
        arrow(ax, (left + 0.05, y), (right - 0.05, y), "#555555", linestyle="--", width=1.8)
        ax.text((left + right) / 2, y + 0.08, "copy (skip connection)", ha="center", va="bottom", fontsize=10,
                color="#333333", style="italic")
    # The input image and the output scores, at the ends of the U.
    size = 1.4
    y0 = level_y[0]
    photo = load_image(DEMO_IMAGES / f"{AUGMENTED_IMAGE}.png").resize((UNET_INPUT_SIZE, UNET_INPUT_SIZE))
    ax.imshow(photo, extent=(0.2, 0.2 + size, y0 - size / 2, y0 + size / 2), aspect="auto", zorder=2)
    channels, height, width = shapes.input
    ax.text(0.2 + size / 2, y0 + size / 2 + 0.1, f"input\n{channels} ch · {height}×{width}", ha="center",
            va="bottom", fontsize=11, fontweight="bold")
    arrow(ax, (0.2 + size + 0.05, y0), (encoder_x[0] - encoder_boxes[0][0] / 2 - 0.02, y0), "black")
    w_out, h_out = box_size(shapes.output[0] * 16, shapes.output[1])  # a thin slab: 2 maps
    out_x = 16.95
    ax.add_patch(Rectangle((out_x - 0.2, y0 - h_out / 2), 0.4, h_out, facecolor="#fc9272", edgecolor="black"))
    channels, height, width = shapes.output
    ax.text(out_x, y0 - h_out / 2 - 0.1, f"output\n{channels} ch · {height}×{width}", ha="center", va="top",
            fontsize=11, fontweight="bold")
    ax.text(out_x, y0 - h_out / 2 - 0.65, "a score per class\nper pixel:\nbackground, object", ha="center",
            va="top", fontsize=9, color="#444444")
    arrow(ax, (decoder_x[0] + decoder_boxes[0][0] / 2 + 0.02, y0), (out_x - 0.22, y0), "black")
    ax.text((decoder_x[0] + decoder_boxes[0][0] / 2 + out_x) / 2, y0 + 0.1, "1×1\nconv", ha="center",
            va="bottom", fontsize=9)
    # What each half does, and the legend, in the corners the U leaves empty.
    ax.text(0.2, level_y[2] + 0.3, "ENCODER (contracting)\nsees what is in the image:\nthe size halves, "
            "the channels\ndouble at every level", ha="left", va="center", fontsize=11, color="#08519c")
    ax.text(17.8, level_y[2] + 0.3, "DECODER (expanding)\nputs it back in place:\nthe size doubles, "
            "the channels\nhalve at every level", ha="right", va="center", fontsize=11, color="#a63603")
    bottleneck_h = encoder_boxes[-1][1]
    ax.text(encoder_x[-1], level_y[-1] - bottleneck_h / 2 - 0.12,
            "bottleneck: every value sees much of the image,\nbut at 1/16 of the resolution: where exactly is lost; "
            "the copies bring it back", ha="center", va="top", fontsize=10, color="#54278f")
    legend = [("#d62728", "-", "max-pool 2×2 (size ÷ 2), then 2 × (conv 3×3, norm, ReLU)"),
              ("#2ca02c", "-", "transposed conv 2×2 (size × 2), then 2 × (conv 3×3, norm, ReLU)"),
              ("#555555", "--", "copy the encoder's map and concatenate it")]
    for row, (color, linestyle, text) in enumerate(legend):
        y = 1.7 - 0.45 * row
        arrow(ax, (0.25, y), (0.95, y), color, linestyle=linestyle)
        ax.text(1.1, y, text, va="center", fontsize=10)
    fig.suptitle(f"The U-Net of Step 1, as it runs: UNet(3, 2, base_channels=32, normalize_input=True, "
                 f"norm=\"ibn\") on a {UNET_INPUT_SIZE}×{UNET_INPUT_SIZE} image", y=0.975)
    ax.set_title(f"every size measured with forward hooks on the real model · {parameter_count(net):,} parameters "
                 f"(the shipped pretrained weights) · the original U-Net, base_channels={ORIGINAL_BASE_CHANNELS} "
                 f"(--no-pretrained): {original:,}", fontsize=11, color="#333333")
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=0.91)
    return fig


def draw_augmentation(context: "Context") -> plt.Figure:
    """The original image and its augmented versions, each with its (augmented) mask as an outline."""
    examples = augmented_examples()
    columns = 4
    rows = -(-len(examples) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(12, 3.05 * rows + 1.4), squeeze=False)
    for number, (ax, (image, mask)) in enumerate(zip(axes.flat, examples)):
        ax.imshow(image)
        ax.contour(mask, levels=[0.5], colors="#00ff66", linewidths=1.8)
        ax.set_title("original + its mask" if number == 0 else f"augmented #{number}",
                     fontweight="bold" if number == 0 else "normal")
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes.flat[len(examples):]:
        ax.axis("off")
    strong = AUGMENTATIONS["strong"]
    fig.suptitle("What the model sees in training: the same photo, a new version every epoch")
    fig.text(0.5, 0.012, f"augment_pair(image, mask, \"strong\"): mirror (50%), rotate up to ±{strong['degrees']}° "
             f"({strong['rotate_p']:.0%}), crop {strong['min_area']:.0%}-100% of the area,\nbrightness, contrast and "
             f"colour ±{strong['jitter']:.0%}, hue ±{strong['hue']:.0%}, blur ({strong['blur_p']:.0%}). "
             "Geometry moves the mask with the image (green outline);\ncolour changes the image only: "
             "the model learns the object, not one framing or one light.",
             ha="center", va="bottom", fontsize=10.5)
    fig.subplots_adjust(left=0.01, right=0.99, top=0.9, bottom=0.125, wspace=0.05, hspace=0.15)
    return fig


def overlap_picture(example: DiceExample) -> np.ndarray:
    """(H, W, 3) colours: true positives green, false positives orange, false negatives blue, the rest grey."""
    p, t = example.predicted == 1, example.true == 1
    picture = np.full((*p.shape, 3), 0.93)
    picture[p & t] = OVERLAP_COLOURS["true_positive"]
    picture[p & ~t] = OVERLAP_COLOURS["false_positive"]
    picture[~p & t] = OVERLAP_COLOURS["false_negative"]
    return picture


OVERLAP_COLOURS = {"true_positive": (0.17, 0.63, 0.17), "false_positive": (1.0, 0.5, 0.05),
                   "false_negative": (0.12, 0.47, 0.71)}


def draw_dice(context: "Context") -> plt.Figure:
    """Image, true mask, predicted mask and their overlap, with Dice and IoU computed from the pixel counts."""
    example = context.dice_example
    counts = example.counts
    fig, axes = plt.subplots(1, 4, figsize=(15, 6.2))
    axes[0].imshow(example.image)
    axes[0].set_title(f"data/imgs/{example.name}.png")
    axes[1].imshow(example.true, cmap="gray", vmin=0, vmax=1)
    axes[1].set_title(f"true mask A  (|A| = {counts.true_positive + counts.false_negative:,} px)")
    axes[2].imshow(example.predicted, cmap="gray", vmin=0, vmax=1)
    axes[2].set_title(f"predicted mask B  (|B| = {counts.true_positive + counts.false_positive:,} px)")
    axes[3].imshow(overlap_picture(example))
    axes[3].set_title("overlap of A and B")
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    tp, fp, fn = counts.true_positive, counts.false_positive, counts.false_negative
    handles = [Patch(color=OVERLAP_COLOURS["true_positive"], label=f"in both, A∩B: {tp:,} px"),
               Patch(color=OVERLAP_COLOURS["false_positive"], label=f"predicted, not true: {fp:,} px"),
               Patch(color=OVERLAP_COLOURS["false_negative"], label=f"true, missed: {fn:,} px"),
               Patch(color=(0.93, 0.93, 0.93), label="background in both (not counted)")]
    fig.legend(handles=handles, loc="center", bbox_to_anchor=(0.5, 0.225), ncol=4, frameon=False, fontsize=11,
               handlelength=1.5)
    fig.text(0.5, 0.125, f"Dice = 2|A∩B| / (|A| + |B|) = 2 × {tp:,} / ({tp + fn:,} + {tp + fp:,}) = "
             f"{counts.dice:.3f}          IoU = |A∩B| / |A∪B| = {tp:,} / {tp + fp + fn:,} = {counts.iou:.3f}",
             ha="center", va="center", fontsize=13, fontweight="bold")
    fig.text(0.5, 0.025, "Both count only the object's pixels, so a mask that finds nothing scores 0 even though most "
             "pixels are background; 1 is a perfect mask.\nDice = 2·IoU / (1 + IoU): Dice is always the larger one "
             "and forgives a partial overlap more.", ha="center", va="bottom", fontsize=10.5, color="#333333")
    fig.suptitle(f"Dice and IoU on a real prediction: the shipped weights (pretrained/unet_objects.pth) at "
                 f"--scale {DICE_SCALE}")
    fig.subplots_adjust(left=0.01, right=0.99, top=0.87, bottom=0.28, wspace=0.06)
    return fig


def draw_masking_strip(context: "Context") -> plt.Figure:
    """Mixture waveform -> |X| -> mask -> masked |X| -> estimated vocals beside the true vocals, time aligned."""
    example = context.audio
    mask, mask_label = example.shown_mask
    estimate = example.estimate(mask)
    magnitude = mono(np.abs(example.spectrogram))
    reference = float(magnitude.max())
    fig = plt.figure(figsize=(13, 14.5))
    grid = fig.add_gridspec(6, 2, width_ratios=(60, 1), height_ratios=(1, 1.5, 1.5, 1.5, 1, 1), hspace=0.55,
                            wspace=0.02, left=0.07, right=0.93, top=0.93, bottom=0.04)
    axes = [fig.add_subplot(grid[0, 0])]
    axes += [fig.add_subplot(grid[row, 0], sharex=axes[0]) for row in range(1, 6)]
    time = example.seconds_axis(example.mixture.shape[1])
    peak = float(np.abs(example.mixture).max())
    axes[0].plot(time, example.mixture.mean(axis=0), color="#444444", linewidth=0.4)
    axes[0].set_title("① the mixture's waveform x(t): the voice and every instrument in one signal", loc="left")
    spectrogram_image = show_spectrogram(axes[1], decibels(magnitude, reference), example, SHOWN_HZ, DB_COLOURS,
                                         -DB_RANGE, 0)
    axes[1].set_title("② STFT → magnitude |X| (dB): in time and frequency the sources overlap much less",
                      loc="left")
    axes[1].set_title("the phase ∠X is set aside for ⑤", loc="right", fontsize=10, color="#555555")
    mask_image = show_spectrogram(axes[2], mono(mask), example, SHOWN_HZ, MASK_COLOURS, 0, 1)
    axes[2].set_title(f"③ {mask_label[0].upper()}{mask_label[1:]}: how much of each bin is voice (0 … 1)",
                      loc="left")
    show_spectrogram(axes[3], decibels(mono(np.abs(apply_mask(example.spectrogram, mask))), reference), example,
                     SHOWN_HZ, DB_COLOURS, -DB_RANGE, 0)
    axes[3].set_title("④ mask × |X|: what the mask keeps, the voice's magnitude (same dB scale as ②)", loc="left")
    axes[4].plot(time, estimate.mean(axis=0), color="#d95f02", linewidth=0.4)
    axes[4].set_title(f"⑤ inverse STFT of mask × X, with the mixture's phase: the estimated vocals  "
                      f"(SDR {example.sdrs[example.shown_key]:.1f} dB)", loc="left")
    axes[5].plot(time, example.vocals.mean(axis=0), color=TRUE_COLOUR, linewidth=0.4)
    axes[5].set_title("⑥ the true vocals, for comparison", loc="left")
    for ax in (axes[0], axes[4], axes[5]):
        ax.set_ylim(-peak, peak)  # one scale: the vocals are visibly quieter than the mixture
        ax.set_ylabel("amplitude")
    for ax in axes[:-1]:
        ax.tick_params(labelbottom=False)
    axes[-1].set_xlabel(f"seconds into the song (a {EXCERPT_SECONDS:g} s excerpt; stereo shown as the mean of "
                        "the two channels)")
    fig.colorbar(spectrogram_image, cax=fig.add_subplot(grid[1, 1]), label="dB")
    fig.colorbar(mask_image, cax=fig.add_subplot(grid[2, 1]), label="mask")
    fig.colorbar(spectrogram_image, cax=fig.add_subplot(grid[3, 1]), label="dB")
    fig.suptitle(f"Separating vocals by masking a spectrogram: test song \"{example.name}\"")
    return fig


IDEAL_MASKS = {"binary": "binary mask: 1 where |V| > |A|", "irm": "ratio mask |V| / (|V| + |A|)",
               "wiener": "energy ratio |V|² / (|V|² + |A|²)"}


def draw_ideal_masks(context: "Context") -> plt.Figure:
    """|X| and ∠X, |V| and |A|, then the binary, ratio and energy-ratio masks and what each keeps, with their SDRs."""
    example = context.audio
    zoom = (EXCERPT_START + 1.0, EXCERPT_START + 1.0 + ZOOM_SECONDS)
    magnitude = mono(np.abs(example.spectrogram))
    reference = float(magnitude.max())
    sources = example.source_magnitudes
    fig, axes = plt.subplots(2, 5, figsize=(16, 8.8), sharex=True, sharey=True, layout="constrained")

    def spectrum(ax: plt.Axes, values: np.ndarray, title: str, cmap: Colormap = DB_COLOURS, vmin: float = -DB_RANGE,
                 vmax: float = 0.0) -> AxesImage:
        image = show_spectrogram(ax, values, example, ZOOM_HZ, cmap, vmin, vmax, zoom)
        ax.set_title(title, fontsize=11.5)
        return image

    db = spectrum(axes[0, 0], decibels(magnitude, reference), "mixture |X| (dB)")
    # One channel: the mean of two phases would mean nothing.
    spectrum(axes[1, 0], np.angle(example.spectrogram[0]), "mixture phase ∠X, −π … π\n(left channel)",
             PHASE_COLOURS, -np.pi, np.pi)
    spectrum(axes[0, 1], decibels(mono(sources["vocals"]), reference), "true vocals |V| (dB)")
    spectrum(axes[1, 1], decibels(mono(sources["accompaniment"]), reference), "true accompaniment |A| (dB)")
    masks = {"binary": example.binary_mask, "irm": example.ideal_ratio_mask, "wiener": example.wiener_mask}
    for column, (key, mask) in enumerate(masks.items(), start=2):
        mask_image = spectrum(axes[0, column], mono(mask), f"{IDEAL_MASKS[key]}\n→ SDR {example.sdrs[key]:.1f} dB",
                              MASK_COLOURS, 0, 1)
        kept = mono(np.abs(apply_mask(example.spectrogram, mask)))
        spectrum(axes[1, column], decibels(kept, reference), "mask × |X| (dB)")
    for ax in axes[1]:
        ax.set_xlabel("seconds into the song")
    for ax in axes[:, 1:].flat:
        ax.set_ylabel("")
    fig.colorbar(db, ax=axes[:, 1], label="dB", shrink=0.7)
    fig.colorbar(mask_image, ax=axes[0, 4], label="mask (0 … 1)")
    fig.colorbar(db, ax=axes[1, 4], label="dB")
    best = max(masks, key=lambda key: example.sdrs[key])
    fig.suptitle("Ideal masks, made from the true stems: how should a mask share a bin between the voice and "
                 "the rest?", fontsize=14)
    fig.supxlabel(f"Every estimate is the inverse STFT of mask × X: the mask scales |X|, the phase stays the "
                  f"mixture's ∠X (bottom left: noise-like, hard to predict).\nSDR of the vocals over the whole "
                  f"{EXCERPT_SECONDS:g} s excerpt (the mixture itself: {example.sdrs['mixture']:.1f} dB); best "
                  f"here: {IDEAL_MASKS[best].split(':')[0]}. Shown: {ZOOM_SECONDS:g} s, up to "
                  f"{ZOOM_HZ / 1000:g} kHz.", fontsize=11)
    return fig


SDR_LABELS = {"mixture": "mixture as\nthe estimate\n(the floor)", "model": "the model\n(--separator)",
              "binary": "binary\nmask", "irm": "ratio mask\n|V|/(|V|+|A|)",
              "wiener": "energy ratio\n|V|²/(|V|²+|A|²)"}
SDR_COLOURS = {"mixture": "#999999", "model": "#d95f02", "binary": "#7570b3", "irm": "#1b9e77",
               "wiener": "#66a61e"}


def typical_window(example: AudioExample, estimate: np.ndarray) -> slice:
    """The SDR_WINDOW_SECONDS of singing whose own SDR is closest to the whole excerpt's: a typical stretch,
    the same every run (the loudest one would flatter the estimate: there the voice drowns its errors)."""
    length = int(SDR_WINDOW_SECONDS * example.settings.sample_rate)
    starts = range(0, example.vocals.shape[1] - length, length // 4)
    energy = np.array([np.sum(example.vocals[:, start:start + length].astype(np.float64) ** 2) for start in starts])
    singing = [start for start, value in zip(starts, energy) if value >= 0.25 * energy.max()]
    whole = sdr(example.vocals, estimate)

    def distance(start: int) -> float:
        return abs(sdr(example.vocals[:, start:start + length], estimate[:, start:start + length]) - whole)

    start = min(singing, key=distance)
    return slice(start, start + length)


def draw_sdr(context: "Context") -> plt.Figure:
    """Truth, estimate and error on a short window with the SDR formula; bars from the floor to the ceiling."""
    example = context.audio
    mask, mask_label = example.shown_mask
    estimate = example.estimate(mask)
    window = typical_window(example, estimate)
    rate = example.settings.sample_rate
    time = 1000 * np.arange(window.stop - window.start) / rate
    truth, guess = example.vocals[:, window], estimate[:, window]
    fig = plt.figure(figsize=(15, 7.4))
    grid = fig.add_gridspec(3, 2, width_ratios=(1.2, 1), hspace=0.5, wspace=0.2, left=0.06, right=0.98, top=0.8,
                            bottom=0.14)
    left = [fig.add_subplot(grid[row, 0]) for row in range(3)]
    limit = 1.1 * float(max(np.abs(truth[0]).max(), np.abs(guess[0]).max()))
    rows = ((truth[0], TRUE_COLOUR, "s: the true vocals"),
            (guess[0], SDR_COLOURS[example.shown_key], f"ŝ: the estimate from {mask_label}"),
            (guess[0] - truth[0], "#d62728", "ŝ − s: the error, everything the estimate got wrong"))
    for ax, (signal, color, title) in zip(left, rows):
        ax.plot(time, signal, color=color, linewidth=1.4)
        ax.axhline(0, color="#bbbbbb", linewidth=0.8)
        ax.set_ylim(-limit, limit)
        ax.set_title(title, loc="left")
    left[-1].set_xlabel(f"milliseconds after {EXCERPT_START + window.start / rate:.2f} s into the song (left "
                        f"channel; a typical stretch of singing: {sdr(truth, guess):.1f} dB here)")
    for ax in left[:-1]:
        ax.tick_params(labelbottom=False)
    ax = fig.add_subplot(grid[:, 1])
    names = list(example.sdrs)
    values = [example.sdrs[key] for key in names]
    bars = ax.bar(range(len(names)), values, color=[SDR_COLOURS[key] for key in names], width=0.65)
    for bar, value in zip(bars, values):
        ax.text(bar.get_x() + bar.get_width() / 2, value + (0.25 if value >= 0 else -0.25), f"{value:.1f} dB",
                ha="center", va="bottom" if value >= 0 else "top", fontsize=11, fontweight="bold")
    ax.axhline(0, color="black", linewidth=1)
    low, high = min(values + [0.0]), max(values)
    ax.set_ylim(low - 2.0, high + 3.5)
    ax.text(len(names) - 0.6, -0.3, "silence (ŝ = 0) scores 0 dB", ha="right", va="top", fontsize=9.5,
            color="#555555")
    # The oracle masks, bracketed: built from the true stems, what a perfect mask of each kind would reach.
    oracle = [index for index, key in enumerate(names) if key in IDEAL_MASKS]
    top = high + 1.4
    ax.plot([oracle[0] - 0.35, oracle[0] - 0.35, oracle[-1] + 0.35, oracle[-1] + 0.35],
            [top - 0.4, top, top, top - 0.4], color="#333333", linewidth=1)
    ax.text((oracle[0] + oracle[-1]) / 2, top + 0.2, "ideal masks from the true stems: the ceiling", ha="center",
            va="bottom", fontsize=10.5)
    ax.set_xticks(range(len(names)), [SDR_LABELS[key] for key in names], fontsize=9.5)
    ax.set_ylabel("SDR of the vocals (dB), higher is better")
    ax.set_title(f"every estimate over the whole {EXCERPT_SECONDS:g} s excerpt")
    fig.suptitle("SDR: how loud the true signal is compared with the error", y=0.975)
    fig.text(0.03, 0.87, r"$\mathrm{SDR} = 10\,\log_{10}\,\frac{\Vert s \Vert^2}{\Vert s - \hat{s} \Vert^2}$"
             f"  = {example.sdrs[example.shown_key]:.1f} dB for this estimate over the {EXCERPT_SECONDS:g} s "
             "excerpt.   Each 6 dB more halves the error's amplitude; 20 dB: the error is 1/10 of the signal.",
             fontsize=13, va="center")
    return fig


FIGURES: dict[str, Callable[["Context"], plt.Figure]] = {
    "unet": draw_unet, "augmentation": draw_augmentation, "dice": draw_dice,
    "masking_strip": draw_masking_strip, "ideal_masks": draw_ideal_masks, "sdr": draw_sdr}


class Context:
    """What several figures share, computed once on first use."""

    def __init__(self, separator_path: Path | None = None):
        self.audio = AudioExample(separator_path)

    @cached_property
    def dice_example(self) -> DiceExample:
        return dice_example()


# ---------------------------------------------------------------------------------------------
# Writing the files


def shrink_png(path: Path, max_bytes: int = MAX_PNG_BYTES) -> None:
    """Rewrite a PNG with a palette of 256 colours, 128 if still above max_bytes: a quarter of the size or less.
    No dithering, so flat colours stay flat and text stays sharp; the colour maps have fewer steps than that."""
    with Image.open(path) as image:
        rgb = image.convert("RGB")
    partial = path.with_name(path.name + ".partial")
    try:
        for colours in (256, 128):
            palette = rgb.quantize(colours, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
            palette.save(partial, format="PNG", optimize=True)
            if partial.stat().st_size <= max_bytes:
                break
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def write_figure(name: str, context: Context, out: Path) -> Path:
    """Draw one figure in the house style and save it as OUT/NAME.png."""
    path = out / f"{name}.png"
    with plt.rc_context(STYLE):
        save_figure(FIGURES[name](context), path, dpi=DPI)
    shrink_png(path)
    return path


def get_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line's flags."""
    parser = argparse.ArgumentParser(description="Draw the READMEs' teaching pictures from the project's own code",
                                     formatter_class=DefaultsHelpFormatter)
    parser.add_argument("--out", "-o", type=Path, default=DEFAULT_OUT, help="Folder for the PNG files")
    parser.add_argument("--separator", "-s", type=Path, default=None,
                        help="A train_separator.py checkpoint whose mask the audio pictures show "
                             "(default: the ideal ratio mask, no model needed)")
    parser.add_argument("--only", nargs="+", metavar="NAME", default=None,
                        help=f"Draw only these figures, from: {', '.join(FIGURES)} (default: all)")
    return parser.parse_args(argv)


def check_args(args: argparse.Namespace) -> None:
    """Figure names, checkpoint and output folder, each with a one-line error that says the fix."""
    for name in args.only or []:
        if name not in FIGURES:
            raise UserError(f"--only {name}: no such figure; choose from {', '.join(FIGURES)}")
    if args.separator is not None and not args.separator.is_file():
        raise UserError(f"--separator {args.separator}: file not found; give a best.pth written by "
                        "train_separator.py, or leave the flag out to draw the ideal ratio mask")
    if args.out.exists() and not args.out.is_dir():
        raise UserError(f"--out {args.out}: this is a file; give a folder path")


def main(argv: list[str] | None = None) -> None:
    """Check the flags, then draw and save each figure asked for."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    args = get_args(argv)
    check_args(args)
    context = Context(args.separator)
    for name in args.only or FIGURES:
        path = write_figure(name, context, args.out)
        with Image.open(path) as image:
            logging.info(f"{path}: {image.width}×{image.height} px, {path.stat().st_size / 1000:.0f} KB")


if __name__ == "__main__":
    run_cli(main)
