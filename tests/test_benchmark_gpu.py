"""benchmarks/benchmark_gpu.py: its --device cpu --quick mode runs every part end to end (about 1.5 min on 2
cores, the one slow test here), and the helpers read the scripts' real log lines. Timings are never asserted."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from benchmarks import benchmark_gpu as benchmark
from benchmarks.musdb_like import Finished, song_lengths, training_figures, tree_rss, write_long_song
from conftest import REPO_ROOT

SCRIPT = REPO_ROOT / "benchmarks" / "benchmark_gpu.py"
SECTIONS = ["separator_training", "image_step1", "image_large", "separate_short", "separate_long", "ddp"]
# Lines as train_separator.py logs them (a run of the tiny --quick separator).
SEPARATOR_LOG = """INFO: Device: cpu, 1 process(es), bfloat16
INFO: Training data: streamed from disk (3 tracks; in RAM their spectrograms would take 0.0 GB: --data stream)
INFO: First training step after 3.6 s
INFO: Epoch 1/2: loss 0.4121, validation SDR vocals -2.13 dB (best)
INFO: 8 training steps in 4 s: 1.81 steps/s, 2% of the time waiting for data (validation excluded)
INFO: Training done in 0.2 min; best validation SDR -2.13 dB -> checkpoints/separator/best.pth"""


def run_benchmark(*flags: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *flags], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """One --device cpu --quick run for all the checks on its output (the timeout bounds a hung part)."""
    work = tmp_path_factory.mktemp("benchmark_gpu")
    result = run_benchmark("--device", "cpu", "--quick", "--work", str(work / "work"), "--json",
                           str(work / "table.json"), timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result, json.loads((work / "table.json").read_text()), work / "work"


def test_the_quick_run_writes_every_section_with_its_figures(quick_run):
    _, table, _ = quick_run
    assert table["device"] == "cpu" and table["quick"] is True and table["device_name"] is None
    assert list(table["sections"]) == SECTIONS
    for name, section in table["sections"].items():
        assert section["gpu_peak_gb"] is None, name  # no GPU: its memory is not made up
        assert isinstance(section["peak_rss_gb"], float) and section["peak_rss_gb"] > 0, name
        assert section["wall_seconds"] > 0, name
    training = table["sections"]["separator_training"]
    assert training["songs"] == 3 and training["batch_size"] == 4
    assert isinstance(training["steps"], int) and training["steps"] >= 4  # --quick: 2 epochs of 16 patches
    assert training["steps_per_second"] > 0 and training["examples_per_second"] == pytest.approx(
        4 * training["steps_per_second"])
    assert isinstance(training["waiting_percent"], int) and 0 <= training["waiting_percent"] <= 100
    assert training["first_step_seconds"] > 0 and training["training_data"].startswith("streamed from disk")
    assert training["validations"] >= 1 and training["validation_seconds"] > 0  # validate() timed in the child
    for name in ("image_step1", "image_large"):
        image = table["sections"][name]
        assert image["epochs"] == 2 and image["epoch_seconds"] > 0 and image["images_per_second"] > 0
        assert 0 <= image["dice"] <= 1 and image["precision"]
    assert table["sections"]["image_step1"]["training_images"] == 4  # 5 images, 20% held out
    assert table["sections"]["image_large"]["training_images"] == 11  # 12 images, 10% held out
    for name, minutes in (("separate_short", 0.25), ("separate_long", 1.0)):
        run = table["sections"][name]
        assert run["song_minutes"] == minutes
        assert run["realtime_in_process"] > run["realtime_whole_process"] > 0  # start-up only adds
    ddp = table["sections"]["ddp"]
    assert ddp["backend"] == "gloo" and ddp["processes"] == 1 and ddp["steps"] == 2


def test_the_quick_run_prints_one_row_per_part(quick_run):
    result, table, work = quick_run
    lines = result.stdout.splitlines()
    header = next(index for index, line in enumerate(lines) if line.startswith("part"))
    rows = lines[header + 1: header + 1 + len(SECTIONS)]
    for row, name in zip(rows, SECTIONS):
        assert row.startswith(table["sections"][name]["label"]), row
    assert "backend gloo" in rows[-1] and "steps/s" in rows[0] and "Dice" in rows[1]
    assert (work / "songs" / "train" / ".complete").is_file()  # --work keeps the set for the next run


def test_training_figures_read_a_real_log():
    figures = training_figures(SEPARATOR_LOG)
    assert figures == {"steps": 8, "seconds": 4, "steps_per_second": 1.81, "waiting": 2, "first_step": 3.6,
                       "data": "streamed from disk (3 tracks; in RAM their spectrograms would take 0.0 GB: "
                               "--data stream)"}
    with pytest.raises(ValueError, match="no speed line"):
        training_figures(SEPARATOR_LOG.split("INFO: 8 training")[0])


def train_log(*epochs: tuple[float, str]) -> Finished:
    """train.py's output as the benchmark reads it: lines with the seconds they came at."""
    head = [(4.0, "INFO: Starting training:"), (4.0, "        Training size:   4"),
            (4.0, "        Mixed precision: float16")]
    return Finished(0, 30.0, 2**30, head + list(epochs))


def test_image_figures_time_the_epochs_between_their_lines():
    figures = benchmark.image_figures(train_log((10.0, "Epoch 1/3: Loss = 0.367, validation Dice = 0.774"),
                                                (12.5, "Epoch 2/3: Loss = 0.405, validation Dice = 0.787"),
                                                (15.0, "Epoch 3/3: Loss = 0.580, validation Dice = 0.844")))
    assert figures == {"epochs": 3, "epoch_seconds": 2.5, "training_images": 4, "images_per_second": 1.6,
                       "dice": 0.844, "precision": "float16"}
    one = benchmark.image_figures(train_log((10.0, "Epoch 1/1: Loss = 0.367")))  # --validation 0: no Dice
    assert one["epoch_seconds"] == 6.0 and one["dice"] is None
    with pytest.raises(benchmark.UserError, match="no 'Epoch k/E"):
        benchmark.image_figures(train_log())


def test_the_batch_size_is_read_from_the_flags_as_argparse_reads_them():
    assert benchmark.batch_size(["--preset", "musdb-gpu"]) == 16  # the preset's
    assert benchmark.batch_size(["--preset", "musdb-gpu", "--batch-size", "32"]) == 32  # a flag wins
    assert benchmark.batch_size(["-b", "4", "--batch-size=6"]) == 6  # the last one wins
    assert benchmark.batch_size([]) == 8  # train_separator.py's default


def test_the_probe_runs_a_script_as_main_and_reports_on_one_line():
    env = {**os.environ, "BENCHMARK_TIMED": ""}
    result = subprocess.run([sys.executable, "-c", benchmark.PROBE, "vocal_separation_sanity_check.make_demo_songs",
                             "--help"], capture_output=True, text=True, timeout=60, cwd=REPO_ROOT, env=env)
    assert result.returncode == 0 and result.stdout.startswith("usage: make_demo_songs.py")
    finished = Finished(0, 1.0, 0, [(0.0, line) for line in result.stderr.splitlines()])
    assert benchmark.probe_report(finished) == {"timed": []}  # no process group, no GPU


def test_song_lengths_are_drawn_in_range_and_repeatable():
    lengths = song_lengths(40, (60, 120), seed=0)
    assert len(lengths) == 40 and all(60 <= length <= 120 for length in lengths)
    assert lengths == song_lengths(40, (60, 120), seed=0) and len(set(lengths)) > 10


def test_a_long_song_repeats_its_source_to_the_exact_length(tmp_path):
    source = (np.arange(2 * 1000).reshape(1000, 2) % 500 / 1000).astype(np.float32)
    sf.write(tmp_path / "source.wav", source, 1000, subtype="FLOAT")
    write_long_song(tmp_path / "long.wav", tmp_path / "source.wav", minutes=0.045)  # 2.7 s: 2 repeats and a part
    audio, rate = sf.read(tmp_path / "long.wav", dtype="float32")
    assert rate == 1000 and audio.shape == (2700, 2)
    np.testing.assert_array_equal(audio, np.concatenate([source, source, source[:700]]))


def test_tree_rss_counts_this_process():
    assert tree_rss(os.getpid()) > 10 * 2**20


@pytest.mark.parametrize("flags, message", [
    (["--songs", "0"], "ERROR: --songs 0: must be at least 1"),
    (["--song-seconds", "90", "60"], "ERROR: --song-seconds 90 60: give the shortest first"),
])
def test_a_bad_flag_gives_a_one_line_error(flags, message):
    result = run_benchmark("--device", "cpu", *flags)
    assert result.returncode == 2 and result.stderr.strip() == message and result.stdout == ""
