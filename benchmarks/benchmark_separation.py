"""Measure separate.py's targets (printed, never asserted):

  speed   a 3-minute stereo 44.1 kHz song at least 20x real time (default model, no Wiener)
  memory  peak RSS for a 10-minute song at most 1.3x that for the 3-minute one (chunked streaming)

Each length runs separate.py as its own process; its peak RSS comes from os.wait4 on that process, its
real-time factor from separate.py's own line (audio seconds / separation seconds, model load excluded).
Without --model an untrained default-size model is used: speed does not depend on the weights.

    python3 benchmarks/benchmark_separation.py
    python3 benchmarks/benchmark_separation.py -m checkpoints/separator/best.pth --minutes 3 10 --wiener 1
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import soundfile as sf
import torch

REPO_ROOT = Path(__file__).resolve().parent.parent
AUDIO_DIR = REPO_ROOT / "vocal_separation_sanity_check"
if not __package__:  # run as a file: import from the repository root
    sys.path[0] = str(REPO_ROOT)

from vocal_separation_sanity_check.audio import DEFAULT_STFT  # noqa: E402
from vocal_separation_sanity_check.demo_songs import make_song  # noqa: E402
from vocal_separation_sanity_check.model import SpectrogramUNet  # noqa: E402
from vocal_separation_sanity_check.separator import save_separator  # noqa: E402


def write_long_song(path: Path, minutes: float, rate: int = DEFAULT_STFT.sample_rate) -> None:
    """A 30 s demo song repeated to `minutes`, written block by block (the benchmark itself stays small)."""
    block = make_song(0, 30.0)["mixture"].T
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


def run_separate(model: Path, song: Path, out: Path, extra: list[str]) -> tuple[float, float, float]:
    """(real-time factor, wall seconds incl. start-up, peak RSS in MB) of one separate.py process."""
    command = [sys.executable, str(AUDIO_DIR / "separate.py"), "-m", str(model), "-i", str(song), "-o", str(out), *extra]
    start = time.time()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.time() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"separate.py failed:\n{output}")
    speed = float(re.search(r"\(([\d.]+)x real time\)", output).group(1))
    return speed, wall, usage.ru_maxrss / 1024  # Linux reports kilobytes


def main() -> None:
    parser = argparse.ArgumentParser(description="separate.py speed and memory on long songs")
    parser.add_argument("--model", "-m", type=Path, default=None, help="Checkpoint (default: untrained default model)")
    parser.add_argument("--minutes", nargs="+", type=float, default=[3.0, 10.0], help="Song lengths to test")
    parser.add_argument("--wiener", type=int, default=0, help="separate.py --wiener")
    parser.add_argument("--no-amp", action="store_true", help="separate.py --no-amp (float32)")
    args = parser.parse_args()
    extra = ["--wiener", str(args.wiener)] + (["--no-amp"] if args.no_amp else [])
    print(f"CPU threads: {torch.get_num_threads()}; timings vary with other load on the machine")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = args.model or default_checkpoint(tmp / "untrained.pth")
        for minutes in args.minutes:
            song = tmp / f"song_{minutes:g}min.wav"
            write_long_song(song, minutes)
            speed, wall, rss = run_separate(model, song, tmp / "out", extra)
            results[minutes] = (speed, rss)
            print(f"{minutes:4g} min: {speed:6.1f}x real time ({wall:.1f} s wall incl. start-up), peak RSS {rss:.0f} MB")
            song.unlink()
    if 3.0 in results:
        print(f"speed target (>= 20x real time on 3 min): {'met' if results[3.0][0] >= 20 else 'NOT met'}")
    if 3.0 in results and 10.0 in results:
        ratio = results[10.0][1] / results[3.0][1]
        print(f"memory 10 min / 3 min: {ratio:.2f}x (target <= 1.3x): {'met' if ratio <= 1.3 else 'NOT met'}")


if __name__ == "__main__":
    main()
