"""The stem separator as one ONNX file: a chunk of the mixture in, the targets' waveforms out (export_onnx.py).

torch.stft and complex tensors do not export to ONNX, and ONNX's own STFT and DFT operators are missing from many
runtimes and converters. So the graph computes the STFT and the inverse STFT with what every runtime has, matrix
products (MatrixSTFT): a DFT of 4096 points is 64 DFTs of 64 points, a twiddle factor, then 64 more
(Cooley-Tukey), each a product with a small constant matrix. That is about 20 times the arithmetic of an FFT, but
in products that run near the CPU's peak: on a 36 s stereo chunk (2-core AMD EPYC) the STFT and inverse STFT take
0.20 s in onnxruntime this way, against 0.09 s with torch.stft and torch.istft; the constants take 200 kB
instead of the 67 MB of a plain DFT matrix. Framing and overlap-add are reshapes, because the hop divides n_fft.

    audio            float32 (2, samples): one chunk of a stereo mixture at the model's sample rate
      -> STFT        centred frames, zero padding, periodic Hann window: torch.stft's (transforms.stft_tensor)
      -> SpectrogramUNet, the real module of the checkpoint, exported as it is (masks from the magnitude)
      -> masks times the mixture's spectrogram, inverse STFT at the chunk's length (transforms.istft_tensor)
    stems            float32 (targets, 2, samples)
    spectrogram      float32 (2, bins, frames, 2): the mixture's STFT, real and imaginary parts (for Wiener)
    masks            float32 (targets, 2, bins, frames)

The runner (onnx_separator.py) does what Separator does around it: mono as two equal channels, resampling,
chunks with context and cross-fades, shifts, the rest as mixture minus the targets, Wiener filtering.
"""
import functools
import logging
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from utils.errors import UserError
from utils.onnx_export import export_graph, run_onnx, versions
from vocal_separation_sanity_check.audio import STFTSettings
from vocal_separation_sanity_check.metrics import sdr
from vocal_separation_sanity_check.transforms import stft_window
from vocal_separation_sanity_check.model import UNET_MULTIPLE, SpectrogramUNet
from vocal_separation_sanity_check.chunking import CONTEXT_SECONDS
from vocal_separation_sanity_check.separator import Separator, read_checkpoint

# The check every export passes before it is reported: the stems of two lengths of a test signal against
# PyTorch's, as a signal-to-difference ratio (float32 gives about 100 dB).
MIN_CHECK_SNR_DB = 60.0


def factor_pair(n: int) -> tuple[int, int]:
    """n = a * b with a <= b as close as can be: the sizes of the two small DFTs (64 and 64 for 4096)."""
    a = max(d for d in range(1, math.isqrt(n) + 1) if n % d == 0)
    return a, n // a


def buffer(module: torch.nn.Module, name: str, value: np.ndarray) -> None:
    module.register_buffer(name, torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32)), persistent=False)


class MatrixSTFT(torch.nn.Module):
    """stft_tensor and istft_tensor (centred, zero-padded, periodic Hann) as matrix products: what ONNX expresses.

    A frame of n = a * b samples, read as a rows of b (sample m = b m1 + m2), has the spectrum
        X[k1 + a k2] = sum_m2 e(-k2 m2 / b) e(-k1 m2 / n) sum_m1 e(-k1 m1 / a) x[m1, m2],   e(t) = exp(2 pi i t)
    a product over m1, a twiddle factor, a product over m2 (Cooley-Tukey). The spectrum comes out as (k1, k2),
    the layout the inverse takes; its one-sided inverse (bins above n / 2 are conjugates: weight 2, and nothing
    from `bins` on) gives samples b u + w as (u, w), the natural order:
        x[u, w] = Re sum_k1 e(k1 u / a) e(k1 w / n) sum_k2 e(k2 w / b) c_k / n Y[k1, k2]
    Frames are the last axis throughout, (..., samples or bins, frames) as the U-Net takes them: every product is
    a constant matrix times long rows of frames, and every reordering moves whole rows. Real and imaginary parts
    stay separate tensors. (Folding the twiddle factors into per-k1 matrices of the second product saves 8% of
    the time and costs 4 MB of file.) Every shape is spelled out (reshape, positive dimensions): the TorchScript
    exporter loses track of the rank of some tensors behind the U-Net and then turns flatten or a negative
    dimension into the wrong operation."""

    def __init__(self, settings: STFTSettings):
        super().__init__()
        n, hop = settings.n_fft, settings.hop_length
        if n % hop:
            raise ValueError(f"hop {hop} does not divide n_fft {n}")
        self.n_fft, self.hop, self.overlap, self.bins = n, hop, n // hop, settings.n_bins
        self.a, self.b = a, b = factor_pair(n)
        self.k2 = k2 = math.ceil(self.bins / a)  # k = k1 + a k2 < a * k2 holds every bin
        window = stft_window(settings, torch.device("cpu")).numpy()
        buffer(self, "window", window[:, None])
        buffer(self, "window_squared", (window ** 2)[None, :, None])
        angles = {  # name: the angles of exp(i angle) of each product (output x input) or twiddle (a x b)
            "forward_rows": -2 * np.pi * np.outer(np.arange(a), np.arange(a)) / a,  # (k1, m1)
            "forward_twiddle": -2 * np.pi * np.outer(np.arange(a), np.arange(b)) / n,  # (k1, m2)
            "forward_columns": -2 * np.pi * np.outer(np.arange(k2), np.arange(b)) / b,  # (k2, m2)
            "inverse_columns": 2 * np.pi * np.outer(np.arange(b), np.arange(k2)) / b,  # (w, k2)
            "inverse_twiddle": 2 * np.pi * np.outer(np.arange(a), np.arange(b)) / n,  # (k1, w)
            "inverse_rows": 2 * np.pi * np.outer(np.arange(a), np.arange(a)) / a,  # (u, k1)
        }
        for name, angle in angles.items():
            last = (slice(None), slice(None), None) if "twiddle" in name else (slice(None), slice(None))
            buffer(self, f"{name}_cos", np.cos(angle)[last])
            buffer(self, f"{name}_sin", np.sin(angle)[last])
        # One-sided weights c_k / n in the (k1, k2) layout: 1 at 0 and n / 2, 2 between, 0 from `bins` on
        k = np.arange(a)[:, None] + a * np.arange(k2)[None, :]
        weights = np.where(k < self.bins, np.where((k == 0) | (2 * k == n), 1.0, 2.0), 0.0) / n
        buffer(self, "inverse_weights", weights[:, :, None])

    def stft(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(channels, samples) -> real and imaginary parts, each (channels, a, k2, frames): bin k1 + a k2 at
        [:, k1, k2]; the values from `bins` on are not the STFT's (to_bins drops them, the inverse weighs them 0)."""
        channels, length = audio.shape
        n, hop, a, b, k2 = self.n_fft, self.hop, self.a, self.b, self.k2
        padded = F.pad(audio, (n // 2, n // 2))
        frames = length // hop + 1
        # Hop-sized blocks as columns; frame f is columns f .. f + overlap - 1, one under the other
        blocks = padded[:, : (frames + self.overlap - 1) * hop].reshape(channels, frames + self.overlap - 1, hop)
        columns = blocks.transpose(1, 2)  # (channels, hop, blocks)
        framed = torch.cat([columns[:, :, j: j + frames] for j in range(self.overlap)], dim=1) * self.window
        x = framed.reshape(channels, a, b * frames)
        re = torch.matmul(self.forward_rows_cos, x).reshape(channels, a, b, frames)  # (k1, m2): a real frame
        im = torch.matmul(self.forward_rows_sin, x).reshape(channels, a, b, frames)
        re, im = (re * self.forward_twiddle_cos - im * self.forward_twiddle_sin,
                  re * self.forward_twiddle_sin + im * self.forward_twiddle_cos)
        re, im = re.reshape(channels * a, b, frames), im.reshape(channels * a, b, frames)
        out_re = torch.matmul(self.forward_columns_cos, re) - torch.matmul(self.forward_columns_sin, im)
        out_im = torch.matmul(self.forward_columns_sin, re) + torch.matmul(self.forward_columns_cos, im)
        return out_re.reshape(channels, a, k2, frames), out_im.reshape(channels, a, k2, frames)

    def to_bins(self, part: torch.Tensor) -> torch.Tensor:
        """(channels, a, k2, frames) in the spectrum's layout -> (channels, bins, frames)."""
        channels, frames = part.shape[0], part.shape[3]
        return part.transpose(1, 2).reshape(channels, self.k2 * self.a, frames)[:, : self.bins]

    def from_bins(self, masks: torch.Tensor) -> torch.Tensor:
        """(targets, channels, bins, frames) -> (targets, channels, a, k2, frames), the inverse's layout, with the
        one-sided weights applied."""
        targets, channels, frames = masks.shape[0], masks.shape[1], masks.shape[3]
        padded = F.pad(masks, (0, 0, 0, self.k2 * self.a - self.bins))
        return padded.reshape(targets, channels, self.k2, self.a, frames).transpose(2, 3) * self.inverse_weights

    def istft(self, re: torch.Tensor, im: torch.Tensor, length) -> torch.Tensor:
        """Real and imaginary parts (targets, channels, a, k2, frames), weighted as from_bins does -> (targets,
        channels, length) samples, as torch.istft(center=True, length=length) computes them."""
        targets, channels, frames = re.shape[0], re.shape[1], re.shape[4]
        n, a, b, k2 = self.n_fft, self.a, self.b, self.k2
        re, im = re.reshape(targets * channels * a, k2, frames), im.reshape(targets * channels * a, k2, frames)
        re, im = (torch.matmul(self.inverse_columns_cos, re) - torch.matmul(self.inverse_columns_sin, im),
                  torch.matmul(self.inverse_columns_sin, re) + torch.matmul(self.inverse_columns_cos, im))
        re, im = re.reshape(targets * channels, a, b, frames), im.reshape(targets * channels, a, b, frames)
        re, im = (re * self.inverse_twiddle_cos - im * self.inverse_twiddle_sin,
                  re * self.inverse_twiddle_sin + im * self.inverse_twiddle_cos)  # (k1, w)
        re, im = re.reshape(targets * channels, a, b * frames), im.reshape(targets * channels, a, b * frames)
        # The real part of the product over k1: (u, w), sample b u + w
        signal = torch.matmul(self.inverse_rows_cos, re) - torch.matmul(self.inverse_rows_sin, im)
        audio = self.overlap_add(signal.reshape(targets * channels, n, frames) * self.window)
        envelope = self.overlap_add(self.window_squared.expand(1, n, frames))
        start = n // 2
        audio = audio[:, start: start + length] / envelope[:, start: start + length].clamp_min(1e-11)
        return audio.reshape(targets, channels, length)

    def overlap_add(self, frames: torch.Tensor) -> torch.Tensor:
        """(batch, n_fft, frames) -> (batch, (frames + overlap - 1) * hop): frame f added in at f * hop."""
        batch, count = frames.shape[0], frames.shape[2]
        parts = frames.reshape(batch, self.overlap, self.hop, count)
        total = 0
        for j in range(self.overlap):  # every frame's j-th block lands in block f + j
            total = total + F.pad(parts[:, j], (j, self.overlap - 1 - j))
        return total.transpose(1, 2).reshape(batch, (count + self.overlap - 1) * self.hop)


class SeparationGraph(torch.nn.Module):
    """A chunk of stereo audio -> the targets' stems (and the mixture's spectrogram and the masks, for Wiener):
    Separator.separate_chunk without Wiener, for a stereo chunk, in ONNX-expressible operations."""

    def __init__(self, model: SpectrogramUNet, settings: STFTSettings):
        super().__init__()
        self.model = model
        self.transform = MatrixSTFT(settings)

    def forward(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        transform = self.transform
        re, im = transform.stft(audio)  # (2, a, k2, frames) each
        re_bins, im_bins = transform.to_bins(re), transform.to_bins(im)  # (2, bins, frames)
        magnitude = torch.sqrt(re_bins * re_bins + im_bins * im_bins)
        mid = torch.sqrt((re_bins[0] + re_bins[1]) ** 2 + (im_bins[0] + im_bins[1]) ** 2) / 2  # |L + R| / 2
        masks = self.model(magnitude[None], mid[None])[0]  # (targets, 2, bins, frames)
        weighted = transform.from_bins(masks)
        stems = transform.istft(weighted * re, weighted * im, audio.shape[1])
        return stems, torch.stack([re_bins, im_bins], dim=3), masks


def check_exportable(checkpoint: dict, path: str | Path, flag: str) -> None:
    """A one-line UserError for a checkpoint whose settings the graph cannot express."""
    settings = checkpoint["stft"]
    if settings.get("window", "hann") != "hann":
        raise UserError(f"{flag} {path}: STFT window {settings['window']!r}; the exporter builds the Hann window "
                        "only (as separate.py does)")
    n_fft, hop = int(settings["n_fft"]), int(settings["hop_length"])
    if n_fft % hop or n_fft // hop < 2:
        raise UserError(f"{flag} {path}: STFT hop {hop} with n_fft {n_fft}; the ONNX graph frames the audio in "
                        "whole hops, so the hop must divide n_fft at least twice (e.g. 1024 for 4096); run this "
                        "model with the .pth file")
    channels = checkpoint["model_config"].get("n_audio_channels", 2)
    if channels != 2:
        raise UserError(f"{flag} {path}: a model of {channels} audio channels; the exporter and separate.py take "
                        "stereo models (train_separator.py's)")


def export_separator_model(checkpoint_path: str | Path, output: Path, flag: str = "--model") -> str:
    """Export a train_separator.py checkpoint to `output`, checked by onnxruntime; the report line."""
    checkpoint = read_checkpoint(checkpoint_path, flag)
    check_exportable(checkpoint, checkpoint_path, flag)
    separator = Separator.from_checkpoint(checkpoint_path, torch.device("cpu"), flag=flag, amp=False)
    settings = separator.settings
    graph = SeparationGraph(separator.model, settings).eval()
    metadata = {"kind": "separator", "source": Path(checkpoint_path).name, "exported_with": versions(),
                "sample_rate": settings.sample_rate, "n_fft": settings.n_fft, "hop_length": settings.hop_length,
                "window": settings.window, "bins": settings.n_bins, "targets": separator.targets,
                "residual": separator.residual_name or "", "frame_multiple": UNET_MULTIPLE,
                "context_seconds": CONTEXT_SECONDS, "max_bin": separator.model.max_bin,
                "model_config": separator.model.config(),
                "input": "audio: float32 (2, samples), a stereo chunk at sample_rate",
                "output": "stems: float32 (targets, 2, samples); spectrogram: float32 (2, bins, frames, 2) real and "
                          "imaginary parts; masks: float32 (targets, 2, bins, frames)"}
    rng = np.random.default_rng(0)
    lengths = (settings.n_fft * 3 + 123, round(1.5 * settings.sample_rate))
    examples = [torch.from_numpy((0.1 * rng.standard_normal((2, length))).astype(np.float32)) for length in lengths]
    export_graph(graph, (examples[0],), output, ["audio"], ["stems", "spectrogram", "masks"],
                 {"audio": {1: "samples"}, "stems": {2: "samples"}, "spectrogram": {2: "frames"},
                  "masks": {3: "frames"}}, metadata, flag)
    snr = min(check_snr(output, separator, example) for example in examples)
    if snr < MIN_CHECK_SNR_DB:
        output.unlink()
        raise UserError(f"{flag} {checkpoint_path}: onnxruntime's stems differ from PyTorch's (SNR {snr:.1f} dB, "
                        f"under {MIN_CHECK_SNR_DB:g}); not written. Please report it")
    logging.info(f"Checked with onnxruntime on {lengths[0]} and {lengths[1]} samples: stems within {snr:.0f} dB "
                 "SNR of PyTorch's (torch.stft, the model, torch.istft)")
    rest = f" + {separator.residual_name} (mixture minus targets)" if separator.residual_name else ""
    return (f"{output}: stem separator, {', '.join(separator.targets)}{rest}, {settings.sample_rate} Hz, "
            f"n_fft {settings.n_fft}, hop {settings.hop_length}, {settings.n_bins} bins, any length; "
            f"{output.stat().st_size / 1e6:.1f} MB")


def check_snr(path: Path, separator: Separator, audio: torch.Tensor) -> float:
    """The stems of the .onnx file against Separator's (torch.stft, masks, torch.istft), in dB."""
    expected = separator.separate_stereo(audio.numpy())
    return snr_db(expected, run_onnx(path, {"audio": audio.numpy()})[0])


# metrics.sdr without the MDX challenge's delta, which would cap the agreement of two float32 paths near 100 dB
snr_db = functools.partial(sdr, eps=1e-30)
