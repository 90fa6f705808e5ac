"""docs/make_figures.py: every teaching picture is written and readable, and the numbers drawn on them are the ones
the project's own code gives (the U-Net's real sizes, utils.dice_score's Dice and IoU, metrics.sdr)."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.text import Text
from PIL import Image

from unet import UNet
from utils.dice_score import dice_iou_per_image
from utils.errors import run_cli
from vocal_separation_sanity_check.metrics import sdr

REPO_ROOT = Path(__file__).resolve().parent.parent
SCRIPT = REPO_ROOT / "docs" / "make_figures.py"
TINY_SEPARATOR = REPO_ROOT / "tests" / "data" / "separator_format1.pth"  # a real separator, 2 channels wide

# Step 1's U-Net (base 32) on a 128×128 input: (channels, height, width) after inc, down1 ... down4
STEP1_ENCODER = [(32, 128, 128), (64, 64, 64), (128, 32, 32), (256, 16, 16), (512, 8, 8)]
STEP1_DECODER = [(256, 16, 16), (128, 32, 32), (64, 64, 64), (32, 128, 128)]


def load_script():
    """docs/make_figures.py as a module (docs/ is not a package)."""
    spec = importlib.util.spec_from_file_location("make_figures", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


figures = load_script()


def figure_text(fig: plt.Figure) -> str:
    """Every piece of text drawn on a figure (titles, labels, annotations, legend entries), joined."""
    return "\n".join(text.get_text() for text in fig.findobj(Text))


def run_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, cwd=REPO_ROOT)


def test_script_writes_every_figure_as_a_small_readable_png(tmp_path: Path) -> None:
    result = run_script("--out", str(tmp_path), "--separator", str(TINY_SEPARATOR))
    assert result.returncode == 0, result.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(f"{name}.png" for name in figures.FIGURES)
    for name in figures.FIGURES:
        path = tmp_path / f"{name}.png"
        with Image.open(path) as image:
            image.load()  # decodes every pixel: a truncated file fails here
            assert image.format == "PNG"
            assert 1000 <= image.width <= 1700 and 400 <= image.height <= 1600, (name, image.size)
            assert len(image.getcolors(256) or []) > 8, f"{name} is nearly blank"
        assert path.stat().st_size < 250_000, (name, path.stat().st_size)


def test_only_draws_the_figures_named(tmp_path: Path) -> None:
    figures.main(["--out", str(tmp_path), "--only", "unet"])
    assert [path.name for path in tmp_path.iterdir()] == ["unet.png"]


def run_main(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str]:
    """main() as the command line runs it (through run_cli): (exit code, stderr)."""
    with pytest.raises(SystemExit) as stopped:
        run_cli(lambda: figures.main(list(args)))
    return stopped.value.code, capsys.readouterr().err


def test_unknown_figure_name_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code, stderr = run_main(capsys, "--out", str(tmp_path / "figures"), "--only", "unet", "unets")
    assert code == 2
    assert stderr == "ERROR: --only unets: no such figure; choose from unet, augmentation, dice, masking_strip, " \
                     "ideal_masks, sdr\n"
    assert not (tmp_path / "figures").exists()  # checked before anything is drawn


def test_missing_separator_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code, stderr = run_main(capsys, "--out", str(tmp_path), "--separator", str(tmp_path / "best.pth"))
    assert code == 2
    assert stderr.startswith(f"ERROR: --separator {tmp_path / 'best.pth'}: file not found")
    assert stderr.count("\n") == 1 and not any(tmp_path.iterdir())


def test_measured_unet_levels_are_what_the_model_produces() -> None:
    net = UNet(**figures.UNET_CONFIG).eval()
    shapes = figures.measure_unet(net, 128)
    # The same stages called one by one, without hooks.
    x = torch.rand(1, 3, 128, 128)
    with torch.no_grad():
        levels = [net.inc(x)]
        for name in ("down1", "down2", "down3", "down4"):
            levels.append(getattr(net, name)(levels[-1]))
        output = net(x)
    assert shapes.encoder == [tuple(level.shape[1:]) for level in levels] == STEP1_ENCODER
    assert shapes.decoder == STEP1_DECODER
    assert shapes.input == (3, 128, 128) and shapes.output == tuple(output.shape[1:]) == (2, 128, 128)
    # Each decoder level concatenates the copied encoder map with as many up-sampled channels.
    assert [shape[0] for shape in shapes.concatenated] == [512, 256, 128, 64]
    assert [shape[0] for shape in shapes.upsampled] == [256, 128, 64, 32]
    assert not any(module._forward_hooks or module._forward_pre_hooks for module in net.modules())


def test_parameter_counts_of_step1_and_the_original_unet() -> None:
    assert figures.parameter_count(UNet(**figures.UNET_CONFIG)) == 7_763_074
    assert figures.parameter_count(UNet(**{**figures.UNET_CONFIG, "base_channels": 64})) == 31_037_698


def test_unet_figure_shows_the_measured_sizes_and_counts() -> None:
    fig = figures.draw_unet(figures.Context())
    text = figure_text(fig)
    plt.close(fig)
    assert "32 ch\n128×128" in text and "512 ch · 8×8" in text and "7,763,074" in text and "31,037,698" in text
    assert text.count("copy (skip connection)") == 4


@pytest.mark.parametrize("seed", range(4))
def test_overlap_counts_give_the_dice_and_iou_of_utils_dice_score(seed: int) -> None:
    generator = np.random.default_rng(seed)
    predicted = (generator.random((40, 30)) < 0.3 * seed).astype(np.int64)  # seed 0: an empty prediction
    true = (generator.random((40, 30)) < 0.4).astype(np.int64)
    counts = figures.overlap(predicted, true)
    dice, iou = dice_iou_per_image(torch.from_numpy(predicted)[None], torch.from_numpy(true)[None], 2)
    assert counts.dice == pytest.approx(float(dice[0]), abs=1e-12)
    assert counts.iou == pytest.approx(float(iou[0]), abs=1e-12)
    assert counts.true_positive + counts.false_positive + counts.false_negative + counts.true_negative == 40 * 30


def test_both_empty_masks_score_one_as_in_utils_dice_score() -> None:
    empty = np.zeros((8, 8), dtype=np.int64)
    assert (figures.overlap(empty, empty).dice, figures.overlap(empty, empty).iou) == (1.0, 1.0)


def test_dice_figure_writes_the_scores_of_utils_dice_score_on_a_real_prediction() -> None:
    context = figures.Context()
    fig = figures.draw_dice(context)
    text = figure_text(fig)
    plt.close(fig)
    example = context.dice_example
    dice, iou = example.library_scores()
    assert 0.3 < dice < 0.95  # a real, visibly imperfect prediction of the shipped weights
    assert f"= {dice:.3f}" in text and f"= {iou:.3f}" in text
    counts = example.counts
    assert f"{counts.true_positive:,}" in text and f"{counts.false_positive:,}" in text
    assert example.predicted.shape == example.true.shape == (256, 256)


def test_augmentations_are_reproducible_and_move_the_mask_with_the_image() -> None:
    first, second = figures.augmented_examples(), figures.augmented_examples()
    assert len(first) == 1 + figures.AUGMENTED_COUNT
    for (image_a, mask_a), (image_b, mask_b) in zip(first, second):
        assert np.array_equal(np.asarray(image_a), np.asarray(image_b)) and np.array_equal(mask_a, mask_b)
    masks = [mask for _, mask in first]
    assert all(set(np.unique(mask)) <= {0, 1} and mask.any() for mask in masks)
    assert sum(not np.array_equal(mask, masks[0]) for mask in masks[1:]) >= 5  # the geometry moved the mask


def test_without_a_separator_the_audio_figures_show_the_ideal_ratio_mask() -> None:
    context = figures.Context(None)
    fig = figures.draw_masking_strip(context)
    text = figure_text(fig)
    plt.close(fig)
    audio = context.audio
    assert "The ideal ratio mask (no model given)" in text
    assert list(audio.sdrs) == ["mixture", "binary", "irm", "wiener"]
    assert f"SDR {audio.sdrs['irm']:.1f} dB" in text
    assert audio.sdrs["irm"] == sdr(audio.vocals, audio.estimate(audio.ideal_ratio_mask))
    assert audio.sdrs["mixture"] == sdr(audio.vocals, audio.mixture)
    assert min(audio.sdrs["binary"], audio.sdrs["irm"], audio.sdrs["wiener"]) > audio.sdrs["mixture"] + 5
    # The binary mask is 1 exactly where the voice is louder than the rest.
    magnitudes = audio.source_magnitudes
    louder = magnitudes["vocals"] > magnitudes["accompaniment"]
    assert np.mean(audio.binary_mask.astype(bool) != louder) < 1e-4
    assert audio.mixture.shape == audio.vocals.shape == (2, int(figures.EXCERPT_SECONDS * 44100))
