"""Measure separate.py's targets (printed, never asserted), each run as its own process, as a user waits for it:

  start-up       under 3 s: the process's wall time minus the separation time it reports (imports, model load)
  in-process     at least 60x real time on a 3-minute stereo 44.1 kHz song (separate.py's own figure: audio
                 seconds / separation seconds, writing included, start-up excluded)
  whole process  at least 30x real time on the same song (audio seconds / wall time)
  memory         peak RSS for a 10-minute song at most 1.3x that for the 3-minute one (chunked streaming), and
                 a 10-minute 48 kHz song (resampled while streamed) no more than the 44.1 kHz one
  costs          --shifts 2 and --format mp3 on the 3-minute song, against the default run

Peak RSS comes from os.wait4 on the process. Without --model an untrained default-size model is used: speed
does not depend on the weights.

    python3 benchmarks/benchmark_separation.py
    python3 benchmarks/benchmark_separation.py -m vocal_separation_sanity_check/checkpoints/separator/best.pth
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import soundfile as sf
import torch

REPO_ROOT = Path(__file__).resolve().parent.parent
AUDIO_DIR = REPO_ROOT / "vocal_separation_sanity_check"
if not __package__:  # run as a file: import from the repository root
    sys.path[0] = str(REPO_ROOT)

from vocal_separation_sanity_check.audio import DEFAULT_STFT, resample  # noqa: E402
from vocal_separation_sanity_check.demo_songs import make_song  # noqa: E402
from vocal_separation_sanity_check.model import SpectrogramUNet  # noqa: E402
from vocal_separation_sanity_check.separator import save_separator  # noqa: E402

RATE = DEFAULT_STFT.sample_rate


@dataclass
class Run:
    """One separate.py process: what it separated and what it cost."""

    label: str
    minutes: float
    speed: float = 0.0  # in-process x real time, as separate.py prints it
    wall: float = 0.0  # seconds, start-up included
    rss: float = 0.0  # peak MB

    @property
    def whole_speed(self) -> float:
        return self.minutes * 60 / self.wall

    @property
    def startup(self) -> float:
        return self.wall - self.minutes * 60 / self.speed


def write_long_song(path: Path, minutes: float, rate: int = RATE) -> None:
    """A 30 s demo song repeated to `minutes`, written block by block (the benchmark itself stays small)."""
    block = make_song(0, 30.0)["mixture"]
    block = (resample(block, RATE, rate) if rate != RATE else block).T
    total = int(minutes * 60 * rate)
    with sf.SoundFile(path, "w", samplerate=rate, channels=2, subtype="FLOAT") as file:
        written = 0
        while written < total:
            part = block[: total - written]
            file.write(part)
            written += len(part)


def default_checkpoint(path: Path) -> Path:
    """An untrained model of train_separator.py's default size (vocals, model.py defaults)."""
    save_separator(path, SpectrogramUNet(n_targets=1), DEFAULT_STFT, ["vocals"])
    return path


def run_separate(run: Run, model: Path, song: Path, out: Path, extra: list[str]) -> Run:
    """Fill in `run` from one separate.py process."""
    command = [sys.executable, str(AUDIO_DIR / "separate.py"), "-m", str(model), "-i", str(song), "-o", str(out), *extra]
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    run.wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"separate.py failed:\n{output}")
    run.speed = float(re.search(r"\(([\d.]+)x real time\)", output).group(1))
    run.rss = usage.ru_maxrss / 1024  # Linux reports kilobytes
    return run


def verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def main() -> None:
    parser = argparse.ArgumentParser(description="separate.py start-up, speed, memory and option costs")
    parser.add_argument("--model", "-m", type=Path, default=None, help="Checkpoint (default: untrained default model)")
    parser.add_argument("--wiener", type=int, default=0, help="separate.py --wiener")
    parser.add_argument("--no-amp", action="store_true", help="separate.py --no-amp (float32)")
    args = parser.parse_args()
    common = ["--wiener", str(args.wiener)] + (["--no-amp"] if args.no_amp else [])
    plan = [  # label, minutes, sample rate, extra flags
        ("3 min", 3.0, RATE, []), ("3 min --shifts 2", 3.0, RATE, ["--shifts", "2"]),
        ("3 min --format mp3", 3.0, RATE, ["--format", "mp3"]), ("10 min", 10.0, RATE, []),
        ("10 min at 48 kHz", 10.0, 48000, []),
    ]
    print(f"CPU threads: {torch.get_num_threads()}; load average before: {os.getloadavg()[0]:.2f} "
          "(timings vary with other load on the machine)")
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = args.model or default_checkpoint(tmp / "untrained.pth")
        for label, minutes, rate, extra in plan:
            song = tmp / f"song_{minutes:g}min_{rate}.wav"
            if not song.exists():
                write_long_song(song, minutes, rate)
            run = runs[label] = run_separate(Run(label, minutes), model, song, tmp / label, common + extra)
            print(f"{label:20s} {run.speed:6.1f}x real time in-process, {run.whole_speed:5.1f}x as a whole process "
                  f"({run.wall:5.1f} s wall, start-up {run.startup:.1f} s), peak RSS {run.rss:.0f} MB")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    base = runs["3 min"]
    print(f"start-up under 3 s: {base.startup:.1f} s, {verdict(base.startup < 3)}")
    print(f"in-process >= 60x real time: {base.speed:.1f}x, {verdict(base.speed >= 60)}")
    print(f"whole process >= 30x real time on 3 min: {base.whole_speed:.1f}x, {verdict(base.whole_speed >= 30)}")
    for label in ("3 min --shifts 2", "3 min --format mp3"):
        print(f"cost of {label.removeprefix('3 min ')}: {runs[label].wall:.1f} s against {base.wall:.1f} s "
              f"({runs[label].wall / base.wall:.1f}x the wall time)")
    ratio = runs["10 min"].rss / base.rss
    print(f"memory 10 min / 3 min: {ratio:.2f}x (target <= 1.3x): {verdict(ratio <= 1.3)}")
    ratio = runs["10 min at 48 kHz"].rss / runs["10 min"].rss
    print(f"memory 10 min at 48 kHz / at 44.1 kHz: {ratio:.2f}x (streamed, so about 1x)")


if __name__ == "__main__":
    main()
