"""train_separator.py: a short run whose loss falls, the checkpoint it writes, --resume, --ema, the time budget,
bad flags, a 2-process torchrun (gloo) run, and the remixing and speed-change augmentation.
Tiny models (base_channels 4, 128 bins) on 4 s songs."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from vocal_separation_sanity_check.audio import DEFAULT_STFT
from vocal_separation_sanity_check import training
from vocal_separation_sanity_check.separator import FORMAT_VERSION, load_separator
from vocal_separation_sanity_check.training import (GAIN_RANGE, REST, RemixDataset, SpectrogramCache, change_speed,
                                                    ema_with_warmup, model_inputs)
from audio_helpers import synthetic_stems, write_musdb_track
from conftest import start_interruptible

SCRIPT = Path(__file__).resolve().parent.parent / "vocal_separation_sanity_check" / "train_separator.py"
TINY = ["--base-channels", "4", "--max-bin", "128", "--full-resolution-bins", "96", "--patch-frames", "32", "--batch-size", "4", "--seed", "0"]
CHECKPOINT_KEYS = {"format_version", "state_dict", "model_config", "stft", "targets", "epoch", "optimizer",
                   "grad_scaler", "history", "best_sdr", "args"}


@pytest.fixture(scope="module")
def songs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("songs")
    for seed in range(3):
        write_musdb_track(root / "train" / f"song {seed}", synthetic_stems(4.0, seed))
    return root


def train(*args, launcher: list[str] | None = None) -> subprocess.CompletedProcess:
    command = (launcher or [sys.executable]) + [str(SCRIPT), *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)  # primitives and tensors only


def test_short_run_loss_falls_and_checkpoint_has_everything(songs, tmp_path):
    result = train("--root", songs, "--checkpoint-dir", tmp_path, "--epochs", "4", "--samples-per-epoch", "32",
                   "--learning-rate", "3e-3", *TINY)
    assert result.returncode == 0, result.stderr
    assert "Epoch 4/4: loss" in result.stderr and "validation SDR vocals" in result.stderr
    last = load(tmp_path / "last.pth")
    assert CHECKPOINT_KEYS <= set(last)
    assert last["epoch"] == 4 and last["targets"] == ["vocals"] and last["format_version"] == FORMAT_VERSION
    assert "max_bin" not in last  # stored once, in model_config
    assert last["stft"] == {"sample_rate": 44100, "n_fft": 4096, "hop_length": 1024, "window": "hann"}
    assert last["model_config"] == {"n_targets": 1, "max_bin": 128, "n_audio_channels": 2, "base_channels": 4,
                                    "frequency_channel": True, "coherence_channel": True,
                                    "full_resolution_bins": 96, "frequency_mixing": True}
    losses = last["history"]["train loss"]
    assert len(losses) == 4 and losses[-1] < losses[0]
    sdrs = last["history"]["validation SDR vocals (dB)"]
    assert max(sdrs) == pytest.approx(load(tmp_path / "best.pth")["best_sdr"])
    assert (tmp_path / "training_curves.png").stat().st_size > 0
    # One normalization statistic per row (96 bins + 16 pairs), stored in the model: separate.py needs only the file.
    assert last["state_dict"]["input_mean"].shape == (112,) and last["state_dict"]["input_mean"].abs().sum() > 0
    assert load_separator(tmp_path / "best.pth", torch.device("cpu")).output_names == ["vocals", "accompaniment"]

    resumed = train("--root", songs, "--checkpoint-dir", tmp_path, "--epochs", "5", "--samples-per-epoch", "32",
                    "--resume", tmp_path / "last.pth", *TINY)
    assert resumed.returncode == 0, resumed.stderr
    assert "Resumed from" in resumed.stderr and "Epoch 5/5" in resumed.stderr and "Epoch 1/5" not in resumed.stderr
    assert len(load(tmp_path / "last.pth")["history"]["train loss"]) == 5


def test_ema_saves_averaged_weights_and_resumes_from_the_raw_ones(songs, tmp_path):
    common = ["--root", songs, "--checkpoint-dir", tmp_path, "--samples-per-epoch", "16", "--ema", "0.9", *TINY]
    result = train(*common, "--epochs", "2")
    assert result.returncode == 0, result.stderr
    last = load(tmp_path / "last.pth")
    averaged, raw = last["state_dict"], last["training_state_dict"]
    assert averaged.keys() == raw.keys()
    weight = "unet.inc.double_conv.0.weight"
    assert not torch.equal(averaged[weight], raw[weight])  # the average lags behind the latest step
    assert load_separator(tmp_path / "last.pth", torch.device("cpu")).model.state_dict()[weight].equal(averaged[weight])
    resumed = train(*common, "--epochs", "3", "--resume", tmp_path / "last.pth")
    assert resumed.returncode == 0, resumed.stderr
    assert load(tmp_path / "last.pth")["epoch"] == 3


def test_ema_warm_up_follows_early_weights_then_settles_at_the_decay():
    update = ema_with_warmup(0.998)
    averaged, counter = [torch.zeros(3)], [torch.tensor(5)]
    update(averaged + counter, [torch.ones(3), torch.tensor(7)], torch.tensor(0))
    # First update: decay (1 + 0) / (10 + 0) = 0.1, so the average moves 90% of the way to the new weights.
    assert torch.allclose(averaged[0], torch.full((3,), 0.9)) and counter[0].item() == 7
    averaged = [torch.zeros(3)]
    update(averaged, [torch.ones(3)], torch.tensor(100_000))
    assert torch.allclose(averaged[0], torch.full((3,), 0.002))  # late on, the fixed decay 0.998


def test_time_budget_stops_cleanly_with_a_checkpoint(songs, tmp_path):
    result = train("--root", songs, "--checkpoint-dir", tmp_path, "--max-minutes", "0.02",
                   "--samples-per-epoch", "100000", "--targets", "vocals", "drums", *TINY)
    assert result.returncode == 0, result.stderr
    assert "(time budget reached)" in result.stderr
    checkpoint = load(tmp_path / "best.pth")
    assert checkpoint["epoch"] == 1 and checkpoint["targets"] == ["vocals", "drums"]
    assert checkpoint["model_config"]["n_targets"] == 2


@pytest.mark.parametrize("data, port", [("stream", 29517), ("pool", 29518)])
def test_two_process_torchrun_on_gloo(songs, tmp_path, data, port):
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={port}"]
    result = train("--root", songs, "--checkpoint-dir", tmp_path, "--epochs", "2", "--samples-per-epoch", "16",
                   "--device", "cpu", "--data", data, *TINY, launcher=launcher)
    assert result.returncode == 0, result.stderr
    assert "2 process(es)" in result.stderr and "Epoch 2/2" in result.stderr
    assert load(tmp_path / "last.pth")["epoch"] == 2


@pytest.mark.parametrize("args, message", [
    (["--epochs", "0"], "--epochs 0: must be at least 1"),
    (["--learning-rate", "-1"], "--learning-rate -1.0: must be positive"),
    (["--max-minutes", "0"], "--max-minutes 0.0: must be positive"),
    (["--ema", "1"], "--ema 1.0: must be in [0, 1)"),
    (["--speed-semitones", "-1"], "--speed-semitones -1: must be at least 0"),
    (["--targets", "voice"], "--targets voice: unknown target"),
    (["--patch-frames", "1000"], "--patch-frames 1000: the longest training song has only"),
    (["--targets", "vocals", "drums", "bass", "other", "--drop", "bass"], "no bass stem"),
    (["--root", "EMPTY"], "no tracks found"),
])
def test_bad_flags_and_data_give_one_error_line(songs, tmp_path, args, message):
    root = songs
    if "--drop" in args:  # a copy of one song without its bass stem
        args = args[:-2]
        root = write_musdb_track(tmp_path / "train" / "no bass", synthetic_stems(2.0)).parent.parent
        (root / "train" / "no bass" / "bass.wav").unlink()
    if "EMPTY" in args:
        args, root = [], tmp_path / "empty"
        root.mkdir()
    result = train("--root", root, "--checkpoint-dir", tmp_path / "ck", *TINY, *args)
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1 and message in errors[0], result.stderr
    assert not (tmp_path / "ck" / "last.pth").exists()


def test_remix_dataset_patches_are_repeatable_and_remixed():
    rng = np.random.default_rng(1)
    songs = [{name: (rng.normal(size=(2, 16, 40)) + 1j * rng.normal(size=(2, 16, 40))).astype(np.complex64)
              for name in ("vocals", REST)} for _ in range(2)]
    dataset = RemixDataset(SpectrogramCache(songs, [0.0]), ["vocals"], patch_frames=8, length=4, seed=3)
    mixture, mid_magnitude, target = (tensor[0] for tensor in model_inputs(dataset[2][None], 1, DEFAULT_STFT, 16))
    assert mixture.shape == (2, 16, 8) and mid_magnitude.shape == (16, 8) and target.shape == (1, 2, 16, 8)
    # |L + R| / 2 of the remix lies between 0 (sides opposed) and the mean of |L| and |R| (sides in phase).
    assert (mid_magnitude <= mixture.mean(dim=0) + 1e-5).all() and mid_magnitude.max() > 0
    assert torch.equal(dataset[2][0].abs(), target[0])  # same index and epoch: same patch
    dataset.epoch = 1
    assert not torch.equal(dataset[2][0].abs(), target[0])
    # The target is |vocals| of one stored patch times a gain in the documented range, maybe with L/R swapped.
    def fits(candidate: np.ndarray) -> bool:
        gain = float(target[0].mean()) / float(candidate.mean())
        return GAIN_RANGE[0] <= gain <= GAIN_RANGE[1] and any(
            np.allclose(target[0].numpy(), gain * view, rtol=1e-4) for view in (candidate, candidate[::-1]))
    candidates = [np.abs(song["vocals"][:, :, start:start + 8]) for song in songs for start in range(33)]
    assert sum(map(fits, candidates)) == 1


def test_speed_change_moves_pitch_and_length_together():
    rate = 8000
    tone = np.sin(2 * np.pi * 440 * np.arange(rate) / rate).astype(np.float32)[None]  # 1 s of A4
    assert change_speed(tone, 0, rate) is tone
    up = change_speed(tone, 12, rate)  # an octave up: twice the pitch, half the length
    assert up.shape == (1, rate // 2)
    spectrum = np.abs(np.fft.rfft(up[0] * np.hanning(up.shape[1])))
    assert np.fft.rfftfreq(up.shape[1], 1 / rate)[np.argmax(spectrum)] == pytest.approx(880, abs=4)
    assert change_speed(tone, -2, rate).shape[1] == round(rate * 2 ** (2 / 12))


def test_data_auto_streams_to_a_gpu_what_would_not_fit_in_ram(songs, monkeypatch, caplog):
    caplog.set_level("INFO")
    plan = training.plan_training_data(songs, ["vocals"], DEFAULT_STFT, 10, 14)
    assert training.build_training_data(plan, ["vocals"], DEFAULT_STFT, 512, [0.0], "auto").kind == "memory"
    assert "Training data: spectrograms in RAM (" in caplog.text
    monkeypatch.setattr(training, "physical_memory", lambda: 8 * 2**20)  # a quarter of it: 2 MB
    assert training.build_training_data(plan, ["vocals"], DEFAULT_STFT, 512, [0.0], "auto", "cuda").kind == "stream"
    assert "Training data: streamed from disk (3 tracks; in RAM their spectrograms would take" in caplog.text


def test_a_new_run_refuses_a_folder_holding_another_run_unless_overwrite(songs, tmp_path):
    common = ["--root", songs, "--checkpoint-dir", tmp_path, "--epochs", "1", "--samples-per-epoch", "8", *TINY]
    assert train(*common).returncode == 0
    first = (tmp_path / "last.pth").read_bytes()
    again = train(*common)
    assert again.returncode == 2 and "Traceback" not in again.stderr
    assert f"ERROR: --checkpoint-dir {tmp_path}: already holds checkpoints of another run (best.pth, last.pth)" \
           in again.stderr and "--overwrite" in again.stderr
    assert (tmp_path / "last.pth").read_bytes() == first  # nothing was touched
    replaced = train(*common, "--overwrite", "--seed", "1")
    assert replaced.returncode == 0, replaced.stderr
    assert load(tmp_path / "last.pth")["args"]["seed"] == 1


@pytest.mark.parametrize("data", ["auto", "pool"])
def test_ctrl_c_saves_interrupted_pth_and_exits_130(songs, tmp_path, data):
    """SIGINT to a real run, as Ctrl-C sends it; also while a pool's background process makes segments."""
    import signal
    import time

    command = [sys.executable, str(SCRIPT), "--root", str(songs), "--checkpoint-dir", str(tmp_path),
               "--samples-per-epoch", "8", "--data", data, *TINY]
    process = start_interruptible(command)
    lines = []
    for line in process.stderr:  # wait until a first epoch has been saved
        lines.append(line)
        if "INFO: Epoch 1/" in line:  # the log line of a finished epoch, not the progress bar
            break
    time.sleep(1)
    process.send_signal(signal.SIGINT)
    rest = process.communicate(timeout=60)[1]
    assert process.returncode == 130, "".join(lines) + rest
    assert "Traceback" not in rest and f"Interrupted: saved {tmp_path / 'INTERRUPTED.pth'}" in rest
    interrupted = load(tmp_path / "INTERRUPTED.pth")
    assert interrupted["epoch"] >= 1 and len(interrupted["history"]["train loss"]) == interrupted["epoch"]
    resumed = train("--root", songs, "--checkpoint-dir", tmp_path, "--samples-per-epoch", "8", *TINY,
                    "--epochs", str(interrupted["epoch"] + 1), "--resume", tmp_path / "INTERRUPTED.pth")
    assert resumed.returncode == 0, resumed.stderr
    assert f"Epoch {interrupted['epoch'] + 1}/" in resumed.stderr


def test_preset_sets_defaults_that_flags_still_override():
    from vocal_separation_sanity_check.train_separator import get_args

    plain = get_args(["--root", "songs"])
    preset = get_args(["--root", "songs", "--preset", "musdb-gpu", "--batch-size", "4"])
    assert (plain.base_channels, plain.max_bin, plain.patch_frames) == (8, 512, 64)  # the CPU demo defaults stay
    assert (preset.base_channels, preset.max_bin, preset.full_resolution_bins, preset.patch_frames) == (32, 2049, 256, 256)
    assert preset.batch_size == 4 and preset.max_minutes == 600.0
