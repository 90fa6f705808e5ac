"""train.py through its command line: a short real run on the demo data, checkpoints, resume, --load,
Ctrl-C, torchrun with 2 processes, and one-line errors for bad flags and unsafe checkpoints."""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import pytest
import torch

from conftest import REPO_ROOT, start_interruptible
import train
from image_helpers import SEPARATOR_CHECKPOINT, assert_user_error
from unet import UNet
from utils.device import precision_name
from utils.image_checkpoint import PRETRAINED_WEIGHTS, load_unet
from utils.plotting import training_curves_figure

# Small and fast: 64x64 demo images (scale 0.25), 8 base channels instead of 64.
FAST = ["--data-dir", str(REPO_ROOT / "data"), "--scale", "0.25", "--base-channels", "8", "--batch-size", "2",
        "--validation", "20", "--seed", "0"]
# checkpoint_epochN.pth: what predict.py and evaluate.py need; last.pth and INTERRUPTED.pth: all of training.
EPOCH_KEYS = {"format_version", "state_dict", "model_config", "mask_values", "epoch", "history", "args", "validation images"}
TRAINING_STATE_KEYS = EPOCH_KEYS | {"optimizer", "scheduler", "grad_scaler", "ema"}
EPOCH_LINE = re.compile(r"^Epoch (\d+)/(\d+): Loss = (\d+\.\d{3}), validation Dice = (\d+\.\d{3})$", re.M)


def run_train(*args: str, cwd: Path = REPO_ROOT, timeout: int = 180, module: list[str] | None = None):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, *(module or []), str(REPO_ROOT / "train.py"), *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One 3-epoch run shared by the tests below: (checkpoint folder, completed process)."""
    checkpoints = tmp_path_factory.mktemp("checkpoints")
    result = run_train(*FAST, "--epochs", "3", "--checkpoint-dir", str(checkpoints))
    assert result.returncode == 0, result.stdout + result.stderr
    return checkpoints, result


def test_training_loss_falls_and_every_epoch_is_validated(trained):
    _, result = trained
    epochs = EPOCH_LINE.findall(result.stdout)
    assert [int(e[0]) for e in epochs] == [1, 2, 3]
    losses = [float(e[2]) for e in epochs]
    dices = [float(e[3]) for e in epochs]
    assert losses[0] > losses[-1], losses
    assert all(0.0 <= d <= 1.0 for d in dices)
    assert "Validation size: 1" in result.stderr  # 5 images, --validation 20


def test_checkpoints_are_complete_and_load_weights_only(trained):
    checkpoints, result = trained
    for epoch in (1, 2, 3):
        assert f"INFO: Checkpoint {epoch} saved!" in result.stderr
        assert (checkpoints / f"checkpoint_epoch{epoch}.pth").is_file()
    assert (checkpoints / "training_curves.png").stat().st_size > 1000
    assert sorted(p.name for p in checkpoints.iterdir()) == [
        "checkpoint_epoch1.pth", "checkpoint_epoch2.pth", "checkpoint_epoch3.pth", "last.pth", "training_curves.png"]
    checkpoint = torch.load(checkpoints / "checkpoint_epoch3.pth", weights_only=True)
    assert set(checkpoint) == EPOCH_KEYS
    assert checkpoint["epoch"] == 3
    assert checkpoint["mask_values"] == [0, 255]
    assert checkpoint["model_config"] == {"n_channels": 3, "n_classes": 2, "bilinear": False, "base_channels": 8,
                                          "normalize_input": True, "norm": "ibn"}  # --input-norm, --norm ibn: defaults
    assert len(checkpoint["history"]["train loss"]) == 3 and len(checkpoint["history"]["validation Dice"]) == 3
    assert checkpoint["args"]["epochs"] == 3
    net = UNet(**checkpoint["model_config"])
    net.load_state_dict(checkpoint["state_dict"])
    assert checkpoint["args"]["amp"] is True  # mixed precision is on by default
    assert f"Mixed precision: {precision_name(torch.device('cpu'), True)}\n" in result.stderr


def test_last_pth_holds_the_training_state_at_four_times_the_size(trained):
    checkpoints, _ = trained
    last = torch.load(checkpoints / "last.pth", weights_only=True)
    assert set(last) == TRAINING_STATE_KEYS
    assert last["epoch"] == 3
    epoch3 = torch.load(checkpoints / "checkpoint_epoch3.pth", weights_only=True)
    assert last["history"] == epoch3["history"]
    # The epoch checkpoint holds the average of the weights (--ema), last.pth that average and the weights as trained.
    assert all(torch.equal(last["ema"]["module." + k], v) for k, v in epoch3["state_dict"].items())
    assert last["state_dict"].keys() == epoch3["state_dict"].keys()
    # AdamW keeps two numbers per weight and --ema (on by default) one more copy of the weights: the full state
    # is about 4x the weights-only checkpoint.
    sizes = {name: (checkpoints / name).stat().st_size for name in ("checkpoint_epoch1.pth", "last.pth")}
    assert 3.7 < sizes["last.pth"] / sizes["checkpoint_epoch1.pth"] < 4.3, sizes
    # Every epoch's checkpoint is enough for predict.py and evaluate.py.
    net, mask_values, _ = load_unet(checkpoints / "checkpoint_epoch1.pth")
    assert net.base_channels == 8 and mask_values == [0, 255]


def test_resume_continues_from_the_saved_epoch_in_its_folder(trained, tmp_path):
    checkpoints, _ = trained
    run_folder = tmp_path / "run"
    shutil.copytree(checkpoints, run_folder)
    first_epoch_time = (run_folder / "checkpoint_epoch1.pth").stat().st_mtime_ns
    result = run_train(*FAST, "--epochs", "4", "--checkpoint-dir", str(run_folder),
                       "--resume", str(run_folder / "last.pth"))
    assert result.returncode == 0, result.stderr
    assert f"INFO: Resuming {run_folder / 'last.pth'} from epoch 4" in result.stderr
    assert [int(e[0]) for e in EPOCH_LINE.findall(result.stdout)] == [4]  # epochs 1-3 are not redone
    assert (run_folder / "checkpoint_epoch1.pth").stat().st_mtime_ns == first_epoch_time  # and kept
    before = torch.load(checkpoints / "last.pth", weights_only=True)
    after = torch.load(run_folder / "last.pth", weights_only=True)
    assert after["epoch"] == 4
    assert torch.load(run_folder / "checkpoint_epoch4.pth", weights_only=True)["epoch"] == 4
    assert after["history"]["train loss"][:3] == before["history"]["train loss"]
    assert len(after["history"]["train loss"]) == 4
    # The optimizer went on from its saved state: Adam's step count grew by this epoch's 2 batches.
    step_before = before["optimizer"]["state"][0]["step"].item()
    assert after["optimizer"]["state"][0]["step"].item() == step_before + 2


def test_resume_of_a_finished_run_says_how_to_continue(trained, tmp_path):
    checkpoints, _ = trained
    result = run_train(*FAST, "--epochs", "3", "--resume", str(checkpoints / "last.pth"),
                       "--checkpoint-dir", str(tmp_path))
    assert_user_error(result, "--resume", "already trained for 3 epochs", "--epochs")


def test_resume_from_a_weights_only_checkpoint_names_last_pth(trained, tmp_path):
    checkpoints, _ = trained
    result = run_train(*FAST, "--epochs", "5", "--resume", str(checkpoints / "checkpoint_epoch2.pth"),
                       "--checkpoint-dir", str(tmp_path))
    assert_user_error(result, "--resume", "checkpoint_epoch2.pth", "only the weights",
                      str(checkpoints / "last.pth"), "--load")
    assert list(tmp_path.iterdir()) == []


def test_a_new_run_refuses_a_folder_with_another_runs_checkpoints(trained, tmp_path):
    checkpoints, _ = trained
    before = {p.name: p.stat().st_mtime_ns for p in checkpoints.iterdir()}
    result = run_train(*FAST, "--epochs", "1", "--checkpoint-dir", str(checkpoints))
    assert_user_error(result, f"--checkpoint-dir {checkpoints}", "already holds checkpoints", "--overwrite")
    assert {p.name: p.stat().st_mtime_ns for p in checkpoints.iterdir()} == before  # nothing written

    # --overwrite deletes the earlier run's files: no epoch 2 and 3 of another run beside this run's epoch 1.
    run_folder = tmp_path / "run"
    shutil.copytree(checkpoints, run_folder)
    result = run_train(*FAST, "--epochs", "1", "--checkpoint-dir", str(run_folder), "--overwrite")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in run_folder.iterdir()) == ["checkpoint_epoch1.pth", "last.pth",
                                                             "training_curves.png"]
    assert torch.load(run_folder / "last.pth", weights_only=True)["args"]["epochs"] == 1


def test_a_run_that_stops_on_its_data_leaves_no_folder_and_deletes_nothing(trained, tmp_path):
    """The images are read before the folder is made or cleared: a wrong --data-dir leaves no empty checkpoint
    folder behind, and with --overwrite the earlier run's checkpoints are still there."""
    missing = ["--data-dir", str(tmp_path / "my_photos"), "--epochs", "1", "--scale", "0.25"]
    result = run_train(*missing, "--checkpoint-dir", str(tmp_path / "new_run"))
    assert_user_error(result, "my_photos: folder not found", "check the path")
    assert not (tmp_path / "new_run").exists()
    checkpoints, _ = trained
    run_folder = tmp_path / "old_run"
    shutil.copytree(checkpoints, run_folder)
    before = sorted(p.name for p in run_folder.iterdir())
    assert_user_error(run_train(*missing, "--checkpoint-dir", str(run_folder), "--overwrite"), "my_photos")
    assert sorted(p.name for p in run_folder.iterdir()) == before


def test_help_shows_real_defaults():
    result = subprocess.run([sys.executable, str(REPO_ROOT / "train.py"), "--help"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert "(default: None)" not in text
    assert "--amp, --no-amp" in text and "--no-amp for fp32 everywhere (default: True)" in text
    assert "(default: the best available: cuda, then mps, then cpu)" in text
    assert "--overwrite" in text and "(default: checkpoints)" in text
    assert train.get_args([]).amp is True and train.get_args(["--no-amp"]).amp is False


def test_training_curves_start_at_zero_unless_a_value_is_negative():
    fig = training_curves_figure({"train loss": [1.2, 0.8, 0.6], "validation Dice": [0.7, 0.8, 0.9],
                                  "validation SDR vocals (dB)": [-3.0, 1.0, 2.5]})
    try:
        loss, dice, sdr = fig.axes
        assert [ax.get_ylabel() for ax in fig.axes] == ["train loss", "validation Dice", "validation SDR vocals (dB)"]
        assert loss.get_ylim()[0] == 0 and loss.get_ylim()[1] >= 1.2
        assert dice.get_ylim()[0] == 0 and dice.get_ylim()[1] >= 0.9
        assert sdr.get_ylim()[0] < -3.0  # an SDR can be negative: its panel is not cut at 0
    finally:
        plt.close(fig)
    assert training_curves_figure({"train loss": []}) is None


def test_load_milesial_state_dict_and_train(tmp_path):
    # milesial's published format: the state_dict itself plus a 'mask_values' entry.
    torch.manual_seed(0)
    torch.save({**UNet(3, 2, base_channels=8).state_dict(), "mask_values": [0, 1]}, tmp_path / "milesial.pth")
    result = run_train(*FAST, "--epochs", "1", "--amp", "--checkpoint-dir", str(tmp_path / "out"),
                       "--load", str(tmp_path / "milesial.pth"))
    assert result.returncode == 0, result.stderr
    assert f"Model loaded from {tmp_path / 'milesial.pth'}" in result.stderr
    assert f"Mixed precision: {precision_name(torch.device('cpu'), True)}" in result.stderr
    assert len(EPOCH_LINE.findall(result.stdout)) == 1
    assert (tmp_path / "out" / "checkpoint_epoch1.pth").is_file()


@pytest.mark.parametrize("checkpoint_norm, flags", [("batch", []), ("ibn", ["--norm", "batch"])])
def test_load_keeps_the_checkpoints_normalization_layers(tmp_path, checkpoint_norm, flags):
    """Weights only fit layers like their own (milesial's: BatchNorm throughout; today's default: ibn): --load
    keeps the checkpoint's layers whatever --norm says, and --resume the run's."""
    torch.manual_seed(0)
    torch.save({**UNet(3, 2, base_channels=8, norm=checkpoint_norm).state_dict(), "mask_values": [0, 1]},
               tmp_path / "loaded.pth")
    result = run_train(*FAST, "--epochs", "1", "--checkpoint-dir", str(tmp_path / "out"), "--load",
                       str(tmp_path / "loaded.pth"), *flags)
    assert result.returncode == 0, result.stderr
    kept = f"INFO: --load {tmp_path / 'loaded.pth'}: keeping its layers, --norm {checkpoint_norm}"
    assert (kept in result.stderr) == bool(flags)  # said only where a flag asked for other layers
    assert ("norm=ibn" in result.stderr) == (checkpoint_norm == "ibn")  # the model line of the log
    saved = torch.load(tmp_path / "out" / "checkpoint_epoch1.pth", weights_only=True)
    assert saved["model_config"]["norm"] == checkpoint_norm and saved["args"]["norm"] == checkpoint_norm
    # --resume with the other --norm: the run goes on with its own layers, and says so
    other = "ibn" if checkpoint_norm == "batch" else "batch"
    result = run_train(*FAST, "--epochs", "2", "--checkpoint-dir", str(tmp_path / "out"), "--resume",
                       str(tmp_path / "out" / "last.pth"), "--norm", other)
    assert result.returncode == 0, result.stderr
    assert f"INFO: --resume: continuing with the run's own --norm {checkpoint_norm}" in result.stderr
    saved = torch.load(tmp_path / "out" / "checkpoint_epoch2.pth", weights_only=True)
    assert saved["model_config"]["norm"] == checkpoint_norm and saved["args"]["norm"] == checkpoint_norm


def test_one_output_class_trains_with_bce(tmp_path):
    result = run_train(*FAST, "--epochs", "1", "--classes", "1", "--no-augment", "--no-amp",
                       "--checkpoint-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "Mixed precision: float32 (--no-amp)" in result.stderr
    loss = float(EPOCH_LINE.findall(result.stdout)[0][2])
    assert 0 < loss < 3
    assert torch.load(tmp_path / "checkpoint_epoch1.pth", weights_only=True)["model_config"]["n_classes"] == 1


def test_cosine_schedule_warms_up_then_falls_to_zero():
    args = train.get_args(["--epochs", "4", "--schedule", "cosine", "--warmup-epochs", "1", "--learning-rate", "0.01"])
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=args.lr)
    scheduler = train.make_scheduler(optimizer, args, steps_per_epoch=5)
    rates = []
    for _ in range(20):  # 4 epochs of 5 steps
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert rates[:5] == pytest.approx([0.01 * k / 6 for k in range(1, 6)])  # linear warm-up over the first epoch
    assert rates[5] == pytest.approx(0.01)  # the full rate right after it
    assert all(a > b for a, b in zip(rates[5:], rates[6:]))  # then only down
    assert rates[-1] < 0.001


def test_ema_decay_rises_from_low_to_the_given_value():
    """The first steps are averaged with a low decay, so a short run is not held back by its random start."""
    model = torch.nn.Linear(1, 1, bias=False)
    ema = train.make_ema(model, 0.9)
    expected = None
    for step in range(40):
        with torch.no_grad():
            model.weight.fill_(float(step))
        ema.update_parameters(model)
        if expected is None:
            expected = 0.0  # the first update copies the weights
        else:
            decay = min(0.9, (1 + step) / (10 + step))  # (1 + n) / (10 + n) after n = step updates
            expected = expected * decay + step * (1 - decay)
        assert ema.module.weight.item() == pytest.approx(expected, rel=1e-5)
    assert 39 - ema.module.weight.item() < 10  # lags the last weights by about 1 / (1 - 0.9) steps


def test_ema_saves_the_averaged_weights_and_resumes(tmp_path):
    """--ema: the epoch checkpoints (for predict.py) hold the average, last.pth the weights as trained plus the
    average, and --resume carries on with both."""
    result = run_train(*FAST, "--epochs", "2", "--ema", "0.9", "--schedule", "cosine",
                       "--checkpoint-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "Schedule: cosine, 1 warm-up epochs; weights averaged (EMA, decay 0.9)" in result.stderr
    saved = torch.load(tmp_path / "checkpoint_epoch2.pth", weights_only=True)["state_dict"]
    last = torch.load(tmp_path / "last.pth", weights_only=True)
    weight = "inc.double_conv.0.weight"
    assert torch.equal(saved[weight], last["ema"]["module." + weight])
    assert not torch.equal(saved[weight], last["state_dict"][weight])
    resumed = run_train(*FAST, "--epochs", "3", "--ema", "0.9", "--schedule", "cosine", "--checkpoint-dir",
                        str(tmp_path), "--resume", str(tmp_path / "last.pth"))
    assert resumed.returncode == 0, resumed.stderr
    assert EPOCH_LINE.search(resumed.stdout).group(1) == "3"


@pytest.mark.parametrize("flags, expected", [
    (["--ema", "1"], "--ema 1.0: a decay from 0 (off) to below 1"),
    (["--warmup-epochs", "-1"], "--warmup-epochs -1.0: must be 0 or more"),
    (["--epochs", "0"], "--epochs 0"),
    (["--batch-size", "0"], "--batch-size 0"),
    (["--learning-rate", "-1"], "--learning-rate -1"),
    (["--data-dir", "no_such_folder"], "no_such_folder"),
])
def test_bad_flags_give_one_line_error(flags, expected, tmp_path):
    result = run_train(*FAST, *flags, "--checkpoint-dir", str(tmp_path))
    assert_user_error(result, expected)


def test_load_takes_the_checkpoints_width_and_refuses_other_classes(tmp_path):
    """--load builds the checkpoint's own U-Net (pretrained/unet_objects.pth is --base-channels 32, whatever the
    flags say), records it in the run's checkpoints, and refuses weights made for another number of classes."""
    torch.manual_seed(0)
    torch.save({"state_dict": UNet(3, 2, base_channels=4, normalize_input=True, norm="ibn").state_dict(),
                "model_config": UNet(3, 2, base_channels=4, normalize_input=True, norm="ibn").config(),
                "mask_values": [0, 1]}, tmp_path / "narrow.pth")
    result = run_train(*FAST, "--epochs", "1", "--load", str(tmp_path / "narrow.pth"),
                       "--checkpoint-dir", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert f"INFO: --load {tmp_path / 'narrow.pth'}: keeping its layers, --base-channels 4" in result.stderr
    saved = torch.load(tmp_path / "out" / "checkpoint_epoch1.pth", weights_only=True)
    assert saved["model_config"]["base_channels"] == 4 and saved["args"]["base_channels"] == 4

    torch.save(UNet(3, 3, base_channels=4).state_dict(), tmp_path / "three.pth")
    result = run_train(*FAST, "--epochs", "1", "--load", str(tmp_path / "three.pth"),
                       "--checkpoint-dir", str(tmp_path / "refused"))
    assert_user_error(result, "--load", "three.pth", "3 classes", "--classes 3")
    assert not (tmp_path / "refused").exists()  # refused before the run's folder is made


@pytest.mark.parametrize("flag", ["--load", "--resume"])
def test_stem_separation_checkpoint_names_the_audio_script(flag, tmp_path):
    result = run_train(*FAST, "--epochs", "1", flag, str(SEPARATOR_CHECKPOINT), "--checkpoint-dir", str(tmp_path))
    assert_user_error(result, f"{flag} {SEPARATOR_CHECKPOINT} is a stem-separation checkpoint (train_separator.py)",
                      "vocal_separation_sanity_check.separate")


class CreatesFileWhenUnpickled:
    """A 'checkpoint' that would run code (create a file) if torch.load trusted it."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_checkpoint_that_runs_code_is_refused(tmp_path):
    marker = tmp_path / "code_was_run"
    torch.save({"state_dict": CreatesFileWhenUnpickled(marker)}, tmp_path / "evil.pth")
    result = run_train(*FAST, "--epochs", "1", "--load", str(tmp_path / "evil.pth"),
                       "--checkpoint-dir", str(tmp_path / "out"))
    assert_user_error(result, "--load", "evil.pth", "refused")
    assert not marker.exists()


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process is POSIX")
def test_ctrl_c_saves_interrupted_checkpoint(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = start_interruptible([sys.executable, str(REPO_ROOT / "train.py"), *FAST, "--epochs", "50",
                                   "--checkpoint-dir", str(tmp_path)], stdout=subprocess.DEVNULL, env=env)
    seen = []
    for line in process.stderr:  # wait until one epoch is done, then press "Ctrl-C"
        seen.append(line)
        if "Checkpoint 1 saved!" in line:
            process.send_signal(signal.SIGINT)
            break
    rest = process.communicate(timeout=120)[1]
    stderr = "".join(seen) + rest
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "INTERRUPTED.pth" in stderr
    checkpoint = torch.load(tmp_path / "INTERRUPTED.pth", weights_only=True)
    assert set(checkpoint) == TRAINING_STATE_KEYS  # --resume can continue from it
    assert checkpoint["epoch"] >= 1
    assert len(checkpoint["history"]["train loss"]) == checkpoint["epoch"]


TORCHRUN = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]


def test_torchrun_two_processes_save_once(tmp_path):
    # gloo on the CPU: runs anywhere, also where one GPU could not host two NCCL processes.
    (tmp_path / "checkpoint_epoch7.pth").write_bytes(b"an earlier run")  # --overwrite: rank 0 deletes it once
    result = run_train(*FAST, "--epochs", "1", "--device", "cpu", "--checkpoint-dir", str(tmp_path), "--overwrite",
                       module=TORCHRUN)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert not (tmp_path / "checkpoint_epoch7.pth").exists()
    assert "Device:          cpu x 2 processes" in output
    assert output.count("INFO: Checkpoint 1 saved!") == 1
    assert len(EPOCH_LINE.findall(result.stdout)) == 1
    checkpoint = torch.load(tmp_path / "checkpoint_epoch1.pth", weights_only=True)
    assert not any(key.startswith("module.") for key in checkpoint["state_dict"])  # loads without DDP


def test_torchrun_into_another_runs_folder_stops_every_process(tmp_path):
    # Rank 0 checks the folder; the other process gets its verdict and stops too, instead of waiting forever.
    (tmp_path / "checkpoint_epoch7.pth").write_bytes(b"an earlier run")
    result = run_train(*FAST, "--epochs", "1", "--device", "cpu", "--checkpoint-dir", str(tmp_path),
                       module=TORCHRUN, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert output.count("already holds checkpoints of another run (checkpoint_epoch7.pth)") == 2, output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint_epoch7.pth"]


@pytest.mark.skipif(shutil.which("git") is None or not (REPO_ROOT / ".git").exists(), reason="needs a git checkout")
def test_what_the_scripts_write_is_ignored_by_git():
    # The README's commands, run from the repository root, write these; none may end up in a commit.
    written = ["checkpoints/step1/last.pth", "checkpoints/separator/best.pth", "prediction.png", "prediction_viz.png",
               "outputs/scores.csv", "data/demo500/imgs/demo_0.png", "data/demo_heldout/masks/demo_0_mask.png",
               "data/demo_songs/test/song/mixture.wav", "separated/song/vocals.wav", "output/sanity_check.png"]
    result = subprocess.run(["git", "check-ignore", "--no-index", *written], cwd=REPO_ROOT, capture_output=True,
                            text=True)
    assert result.stdout.split() == written, result.stdout + result.stderr


def test_a_run_starts_from_the_pretrained_weights_unless_an_architecture_flag_asks_for_another_unet(tmp_path):
    """The default start is pretrained/unet_objects.pth (its layers recorded in the run's checkpoints); a flag that
    asks for other layers starts from random weights, and the log says which happened."""
    pretrained_config = torch.load(REPO_ROOT / PRETRAINED_WEIGHTS, weights_only=True)["model_config"]
    flags = ["--data-dir", str(REPO_ROOT / "data"), "--scale", "0.25", "--batch-size", "2", "--validation", "20",
             "--epochs", "1"]
    result = run_train(*flags, "--checkpoint-dir", str(tmp_path / "pretrained"))
    assert result.returncode == 0, result.stderr
    assert "INFO: Starting from the pretrained weights pretrained/unet_objects.pth" in result.stderr
    saved = torch.load(tmp_path / "pretrained" / "checkpoint_epoch1.pth", weights_only=True)
    assert saved["model_config"] == pretrained_config and saved["args"]["pretrained"] is True
    assert saved["args"]["base_channels"] == pretrained_config["base_channels"] == 32

    result = run_train(*flags, "--base-channels", "8", "--checkpoint-dir", str(tmp_path / "random"))
    assert result.returncode == 0, result.stderr
    assert "INFO: --base-channels 8: training from random weights" in result.stderr
    assert "Starting from the pretrained weights" not in result.stderr
    saved = torch.load(tmp_path / "random" / "checkpoint_epoch1.pth", weights_only=True)
    assert saved["model_config"]["base_channels"] == 8 and saved["args"]["pretrained"] is False


def architecture_args(**given) -> argparse.Namespace:
    """train.py's arguments as build_model sees them when no architecture flag is given."""
    values = {"pretrained": True, "classes": 2, "bilinear": None, "base_channels": None, "input_norm": None,
              "norm": None, **given}
    return argparse.Namespace(**values)


@pytest.mark.parametrize("classes", [2, 3])
def test_pretrained_model_keeps_every_pretrained_weight_and_gives_other_classes_a_new_output_layer(classes):
    shipped = torch.load(REPO_ROOT / PRETRAINED_WEIGHTS, weights_only=True)["state_dict"]
    net = train.pretrained_model(architecture_args(classes=classes))
    state = net.state_dict()
    assert state["outc.conv.weight"].shape[0] == classes
    for name, value in shipped.items():
        if classes == 2 or not name.startswith("outc."):
            assert torch.equal(state[name], value.to(state[name].dtype)), name


def test_missing_pretrained_weights_say_how_to_get_them(monkeypatch):
    monkeypatch.setattr(train, "shipped_weights_path", lambda: REPO_ROOT / "pretrained" / "no_such_weights.pth")
    with pytest.raises(train.UserError, match="pretrained weights not found.*pretrained.pretrain.*--no-pretrained"):
        train.pretrained_model(architecture_args())
