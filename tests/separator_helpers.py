"""A tiny untrained separator, a test song, and separate.py run as a user runs it: shared by the separator tests.

A tiny untrained model (base_channels 4) is enough: these tests are about shapes, lengths, rates, files, chunk
joins and sums, which do not depend on how well the model separates.
"""
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from audio_helpers import synthetic_stems
from conftest import AUDIO_DIR
from vocal_separation_sanity_check.audio import DEFAULT_STFT
from vocal_separation_sanity_check.model import SpectrogramUNet
from vocal_separation_sanity_check.separator import Separator, save_separator

SCRIPT = AUDIO_DIR / "separate.py"
RATE = DEFAULT_STFT.sample_rate
CPU = torch.device("cpu")


def tiny_model(targets: int = 1, max_bin: int = 256) -> SpectrogramUNet:
    torch.manual_seed(0)
    model = SpectrogramUNet(targets, max_bin=max_bin, base_channels=4)
    # Random input statistics and BatchNorm statistics, so masks vary over time and frequency.
    n_rows = model.row_count(max_bin)  # fewer than max_bin when bins are paired
    model.set_input_statistics(torch.rand(n_rows), 0.5 + torch.rand(n_rows))
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
    return model.eval()


def save_tiny_checkpoint(path: Path, targets: list[str]) -> Path:
    save_separator(path, tiny_model(len(targets)), DEFAULT_STFT, targets)
    return path


def tiny_separator(targets: tuple[str, ...] = ("vocals",), **options) -> Separator:
    """In fp32, so results do not depend on the CPU's bf16 support."""
    return Separator(tiny_model(len(targets)), DEFAULT_STFT, list(targets), CPU, amp=False, **options)


def song(seconds: float, seed: int = 0) -> np.ndarray:
    """A stereo float32 (2, samples) mixture at 44.1 kHz."""
    return sum(synthetic_stems(seconds, seed).values())


def run_separate(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=120)


def error_lines(result: subprocess.CompletedProcess) -> list[str]:
    """The ERROR lines of a run, after checking that it failed as a user error, without a traceback."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    return [line for line in result.stderr.splitlines() if line.startswith("ERROR")]
