"""evaluate.py and train.py's validation: Dice and IoU of U-Nets whose predictions are known in advance."""
import csv
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import REPO_ROOT
from utils.inference import score_images
from image_helpers import (SEPARATOR_CHECKPOINT, assert_user_error, constant_unet, make_square_dataset, run_script,
                           save_milesial_checkpoint, save_our_checkpoint)
from utils.data_loading import BasicDataset

DATA = REPO_ROOT / "data"


def demo_mask_fractions() -> list[float]:
    """Foreground fraction m/n of each demo mask, test_0 .. test_4."""
    return [(np.array(Image.open(DATA / "masks" / f"test_{i}_mask.png")) > 0).mean() for i in range(5)]


def test_all_foreground_model_scores_by_hand(tmp_path):
    # Predicting every pixel as car: overlap = m, so Dice = 2m / (m + n) and IoU = m / n.
    checkpoint = save_our_checkpoint(constant_unet(2, winner=1), [0, 255], tmp_path / "all.pth")
    result = run_script("evaluate.py", "-m", str(checkpoint), "--data-dir", str(DATA), "--csv", str(tmp_path / "s.csv"))
    assert result.returncode == 0, result.stderr
    fractions = demo_mask_fractions()
    expected_dice = [2 * f / (f + 1) for f in fractions]
    with open(tmp_path / "s.csv") as f:
        rows = list(csv.DictReader(f))
    assert [row["image"] for row in rows] == [f"test_{i}" for i in range(5)] + ["mean"]
    assert [float(row["dice"]) for row in rows[:5]] == pytest.approx(expected_dice, abs=1e-6)
    assert [float(row["iou"]) for row in rows[:5]] == pytest.approx(fractions, abs=1e-6)
    assert float(rows[5]["dice"]) == pytest.approx(np.mean(expected_dice), abs=1e-6)
    # The printed table: a header, one row per image, the mean.
    lines = result.stdout.strip().splitlines()
    assert lines[0].split() == ["image", "Dice", "IoU"]
    assert lines[1].split()[:2] == ["test_0", f"{expected_dice[0]:.4f}"]
    assert lines[-1].startswith("mean") and f"{np.mean(expected_dice):.4f}" in lines[-1]


def test_multiclass_scores_use_model_mask_values_and_skip_background(tmp_path):
    data = make_square_dataset(tmp_path / "data", count=3, size=(40, 32), mask_values=[0, 100, 200])
    # milesial-format checkpoint predicting class 1 (value 100) everywhere.
    checkpoint = save_milesial_checkpoint(constant_unet(3, winner=1), [0, 100, 200], tmp_path / "c.pth")
    result = run_script("evaluate.py", "-m", str(checkpoint), "--data-dir", str(data), "--scale", "1",
                        "--csv", str(tmp_path / "s.csv"))
    assert result.returncode == 0, result.stderr
    with open(tmp_path / "s.csv") as f:
        rows = list(csv.DictReader(f))
    for i, row in enumerate(rows[:3]):
        m1 = (np.array(Image.open(data / "masks" / f"sq_{i}_mask.png")) == 100).mean()
        # class 1: Dice 2*m1/(m1+1), IoU m1; class 2 never predicted: 0. Background is not averaged in.
        assert float(row["dice"]) == pytest.approx(m1 / (m1 + 1), abs=1e-6)
        assert float(row["iou"]) == pytest.approx(m1 / 2, abs=1e-6)


def test_scores_are_per_image_at_full_size_whatever_the_dataset_scale():
    """train.py's dataset is scaled; the scores still compare with the full-size masks, image by image."""
    dataset = BasicDataset(DATA / "imgs", DATA / "masks", scale=0.25)
    everything = score_images(constant_unet(2, winner=1), dataset, range(5), torch.device("cpu"), scale=0.25)
    assert [row[0] for row in everything] == [f"test_{i}" for i in range(5)]
    assert [row[1] for row in everything] == pytest.approx([2 * f / (f + 1) for f in demo_mask_fractions()], abs=1e-9)
    nothing = score_images(constant_unet(2, winner=0), dataset, [3, 1], torch.device("cpu"), scale=0.25)
    assert [(name, dice) for name, dice, _ in nothing] == [("test_3", 0.0), ("test_1", 0.0)]


def test_validation_dice_in_the_training_log_is_what_evaluate_prints(tmp_path):
    """Train briefly at --scale 0.5 with 3 validation images, then run evaluate.py on exactly those images: the
    mean it prints is the last validation Dice of the log and of the checkpoint's history."""
    data = make_square_dataset(tmp_path / "data", count=10, size=(64, 48), mask_values=[0, 255])
    checkpoints = tmp_path / "checkpoints"
    result = run_script("train.py", "--data-dir", str(data), "--epochs", "3", "--batch-size", "2", "--scale", "0.5",
                        "--validation", "30", "--base-channels", "8", "--checkpoint-dir", str(checkpoints))
    assert result.returncode == 0, result.stderr
    checkpoint = torch.load(checkpoints / "checkpoint_epoch3.pth", weights_only=True)
    names = checkpoint["validation images"]
    logged = checkpoint["history"]["validation Dice"][-1]
    assert len(names) == 3 and 0 < logged < 1  # a model in the middle of learning: the comparison means something
    assert "Epoch 3/3: Loss = " in result.stdout and f"validation Dice = {logged:.3f}" in result.stdout
    validation = tmp_path / "validation"
    for folder, suffix in (("imgs", ".png"), ("masks", "_mask.png")):
        (validation / folder).mkdir(parents=True)
        for name in names:
            shutil.copy(data / folder / f"{name}{suffix}", validation / folder)
    evaluation = run_script("evaluate.py", "-m", str(checkpoints / "checkpoint_epoch3.pth"),
                            "--data-dir", str(validation), "--csv", str(tmp_path / "scores.csv"))
    assert evaluation.returncode == 0, evaluation.stderr
    with open(tmp_path / "scores.csv") as f:
        rows = list(csv.DictReader(f))
    assert sorted(row["image"] for row in rows[:-1]) == sorted(names)
    assert float(rows[-1]["dice"]) == pytest.approx(logged, abs=1e-6)


def test_bad_inputs_give_one_line_errors(tmp_path):
    data = make_square_dataset(tmp_path / "data", count=2, size=(32, 32), mask_values=[0, 100, 200])
    wrong_values = save_our_checkpoint(constant_unet(3, winner=1), [0, 50, 200], tmp_path / "w.pth")
    assert_user_error(run_script("evaluate.py", "-m", str(wrong_values), "--data-dir", str(data)),
                      "masks", "[100]", "mask values")
    assert_user_error(run_script("evaluate.py", "-m", str(wrong_values), "--data-dir", str(tmp_path / "nowhere")),
                      "--data-dir", "nowhere")


def test_stem_separation_checkpoint_names_the_audio_script():
    result = run_script("evaluate.py", "-m", str(SEPARATOR_CHECKPOINT), "--data-dir", str(DATA))
    assert_user_error(result, f"--model {SEPARATOR_CHECKPOINT} is a stem-separation checkpoint (train_separator.py)",
                      f"python3 -m vocal_separation_sanity_check.separate -m {SEPARATOR_CHECKPOINT}")
