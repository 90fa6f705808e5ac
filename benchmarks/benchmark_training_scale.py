"""Measure train_separator.py at real-dataset scale (printed, never asserted):

  a MUSDB18-HQ-sized set (100 tracks x 200 s of 16-bit stereo WAV, 5 files each, about 17.6 GB; 14 of them named
  as MUSDB18's validation tracks) beside the 6 demo songs, each trained for a few minutes with default flags.
  For each: peak memory of the training processes (main + DataLoader workers, summed), seconds from start to the
  first training step, training steps per second and the share of that time spent waiting for data.
  Targets: peak memory <= 3 GB on the 100-track set, first step within 60 s, steps/s >= 0.9x the 6-song set's.

    python3 benchmarks/benchmark_training_scale.py --work /data/scale_benchmark            # 3 minutes per set
    python3 benchmarks/benchmark_training_scale.py --work /data/scale_benchmark --minutes 1 -- --device cuda

The big set is built once from demo-song stems (their 30 s pieces shuffled into 200 s tracks) and reused when
--work already holds it. Arguments after `--` go to train_separator.py for both sets (e.g. a preset).
"""
import argparse
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import soundfile as sf

REPO_ROOT = Path(__file__).resolve().parent.parent
if not __package__:  # run as a file: import from the repository root
    sys.path[0] = str(REPO_ROOT)

from benchmarks.musdb_like import training_figures, tree_rss  # noqa: E402
from vocal_separation_sanity_check.audio import DEFAULT_STFT  # noqa: E402
from vocal_separation_sanity_check.demo_songs import demo_song  # noqa: E402
from vocal_separation_sanity_check.tracks import MUSDB_VALIDATION_TRACKS, STEM_NAMES  # noqa: E402

TRACKS, TRACK_SECONDS, PIECE_SECONDS = 100, 200, 30
SCRIPT = REPO_ROOT / "vocal_separation_sanity_check" / "train_separator.py"


def build_large_set(root: Path, tracks: int, seconds: int) -> None:
    """ROOT/train/<track>/{mixture,vocals,drums,bass,other}.wav, 16-bit, written piece by piece (small RAM)."""
    done = root / "train" / ".complete"
    if done.is_file() and done.read_text() == f"{tracks} {seconds}":
        print(f"Reusing {root} ({tracks} tracks x {seconds} s)")
        return
    pieces = [demo_song(0, "train", index, PIECE_SECONDS) for index in range(6)]
    names = list(MUSDB_VALIDATION_TRACKS) + [f"Scale Set - Track {number:03d}" for number in range(tracks)]
    rng = np.random.default_rng(0)
    start = time.time()
    for number in range(tracks):
        folder = root / "train" / names[number]
        folder.mkdir(parents=True, exist_ok=True)
        order = rng.integers(len(pieces), size=int(np.ceil(seconds / PIECE_SECONDS)))
        files = {name: sf.SoundFile(folder / f"{name}.wav", "w", DEFAULT_STFT.sample_rate, 2, "PCM_16")
                 for name in ("mixture",) + STEM_NAMES}
        left = seconds * DEFAULT_STFT.sample_rate
        for piece in order:
            stems = {name: 0.5 * pieces[piece][name][:, :left] for name in STEM_NAMES}  # 0.5: no clipping in 16 bits
            stems["mixture"] = sum(stems.values())
            for name, audio in stems.items():
                files[name].write(audio.T)
            left -= stems["mixture"].shape[1]
        for file in files.values():
            file.close()
        print(f"\rBuilding {root}: {number + 1}/{tracks} tracks ({time.time() - start:.0f} s)", end="", flush=True)
    done.write_text(f"{tracks} {seconds}")
    print()


def build_small_set(root: Path) -> None:
    """The 6 demo songs of 30 s (and 2 test songs), as make_demo_songs.py writes them."""
    if not (root / "train").is_dir():
        subprocess.run([sys.executable, str(SCRIPT.parent / "make_demo_songs.py"), "--out", str(root)], check=True)


def train(root: Path, checkpoints: Path, minutes: float, extra: list[str]) -> dict:
    """Run train_separator.py; its peak memory (sampled every 0.2 s) and the figures it logs."""
    command = [sys.executable, str(SCRIPT), "--root", str(root), "--max-minutes", str(minutes),
               "--checkpoint-dir", str(checkpoints), "--overwrite", *extra]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak = [0]

    def sample() -> None:
        while process.poll() is None:
            peak[0] = max(peak[0], tree_rss(process.pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    log = process.stderr.read()
    process.wait()
    sampler.join()
    if process.returncode != 0:
        sys.exit(f"train_separator.py failed on {root}:\n{log[-3000:]}")
    return {"peak_gb": peak[0] / 2**30, **training_figures(log)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, required=True, help="Folder for both sets (about 18 GB), reused")
    parser.add_argument("--minutes", type=float, default=3.0, help="Training time per set")
    parser.add_argument("--tracks", type=int, default=TRACKS, help="Tracks in the big set")
    parser.add_argument("--seconds", type=int, default=TRACK_SECONDS, help="Length of each big-set track")
    parser.add_argument("extra", nargs="*", help="After --: more train_separator.py flags for both runs")
    args = parser.parse_args()
    large, small = args.work / "musdb_sized", args.work / "demo_songs"
    build_large_set(large, args.tracks, args.seconds)
    build_small_set(small)
    results = {}
    for name, root in (("6 demo songs", small), (f"{args.tracks} tracks x {args.seconds} s", large)):
        print(f"Training {args.minutes:g} min on {name} ...", flush=True)
        results[name] = train(root, args.work / f"checkpoints_{root.name}", args.minutes, args.extra)
    print(f"\n{'set':<22}{'peak RSS':>10}{'1st step':>10}{'steps/s':>9}{'waiting':>9}  training data")
    for name, result in results.items():
        print(f"{name:<22}{result['peak_gb']:>8.2f} GB{result['first_step']:>8.1f} s{result['steps_per_second']:>9.2f}"
              f"{result['waiting']:>8}%  {result['data']}")
    small_result, large_result = results.values()
    ratio = large_result["steps_per_second"] / small_result["steps_per_second"]
    print(f"\npeak RSS on the big set <= 3 GB: {'met' if large_result['peak_gb'] <= 3 else 'NOT met'}; "
          f"first step within 60 s: {'met' if large_result['first_step'] <= 60 else 'NOT met'}; "
          f"steps/s {ratio:.2f}x the 6-song set's (target >= 0.9x): {'met' if ratio >= 0.9 else 'NOT met'}")


if __name__ == "__main__":
    main()
