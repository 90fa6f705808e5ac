"""Helpers shared by the image tests: tiny data sets and U-Nets whose answer is known in advance."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from conftest import REPO_ROOT
from unet import UNet

# A real checkpoint of the audio scripts (train_separator.py), which the image scripts must refuse by name.
SEPARATOR_CHECKPOINT = REPO_ROOT / "tests" / "data" / "separator_format1.pth"


def run_script(script: str, *args: str, timeout: int = 180) -> subprocess.CompletedProcess:
    """A repository script through its command line, as a user runs it."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(REPO_ROOT / script), *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def assert_user_error(result: subprocess.CompletedProcess, *expected: str) -> None:
    """Exit code 2, the last stderr line is 'ERROR: ...' holding every expected text, no traceback."""
    assert result.returncode == 2, result.stdout + result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("ERROR: "), result.stderr
    assert "Traceback" not in result.stderr
    for text in expected:
        assert text in last, last


def constant_unet(n_classes: int, winner: int, bilinear: bool = False) -> UNet:
    """A U-Net that predicts class `winner` for every pixel: zero final weights, a bias that picks it."""
    torch.manual_seed(0)
    net = UNet(3, n_classes, bilinear=bilinear, base_channels=4)
    with torch.no_grad():
        net.outc.conv.weight.zero_()
        net.outc.conv.bias.fill_(-5.0)
        net.outc.conv.bias[winner] = 5.0
    return net


def save_milesial_checkpoint(net: UNet, mask_values: list, path: Path) -> Path:
    """milesial/Pytorch-UNet's format: the state_dict plus a 'mask_values' entry."""
    torch.save({**net.state_dict(), "mask_values": mask_values}, path)
    return path


def save_our_checkpoint(net: UNet, mask_values: list, path: Path, scale: float = 0.5) -> Path:
    """The parts of a train.py checkpoint that predict.py and evaluate.py read."""
    torch.save({"state_dict": net.state_dict(), "model_config": net.config(), "mask_values": mask_values,
                "epoch": 1, "args": {"scale": scale}}, path)
    return path


def make_square_dataset(folder: Path, count: int, size: tuple[int, int], mask_values: list,
                        seed: int = 0) -> Path:
    """imgs/sq_N.png + masks/sq_N_mask.png: a bright square on dark noise for each non-background value.

    Square k (k >= 1) gets colour k and mask value mask_values[k]; the rest is mask_values[0].
    """
    rng = np.random.default_rng(seed)
    colours = [(255, 60, 60), (60, 60, 255), (60, 255, 60)]
    (folder / "imgs").mkdir(parents=True)
    (folder / "masks").mkdir(parents=True)
    width, height = size
    for i in range(count):
        image = rng.integers(0, 60, (height, width, 3)).astype(np.uint8)
        mask = np.full((height, width), mask_values[0], dtype=np.uint8)
        for k in range(1, len(mask_values)):
            side = int(rng.integers(min(size) // 4, min(size) // 2))
            x, y = int(rng.integers(0, width - side)), int(rng.integers(0, height - side))
            image[y:y + side, x:x + side] = colours[k - 1]
            mask[y:y + side, x:x + side] = mask_values[k]
        Image.fromarray(image).save(folder / "imgs" / f"sq_{i}.png")
        Image.fromarray(mask).save(folder / "masks" / f"sq_{i}_mask.png")
    return folder
