"""What separate.py --shifts N buys and costs (printed, never asserted): vocals SDR on a split's songs for N = 0
(one plain pass) and each N asked for, every N > 0 over several seeds of the random offsets (mean and spread),
and the separation time per song against N = 0. In-process, with the defaults separate.py uses.

    python3 benchmarks/benchmark_shifts.py -m vocal_separation_sanity_check/checkpoints/separator/best.pth \\
        --root vocal_separation_sanity_check/data/demo_songs --shifts 1 2 4 --seeds 5
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parent.parent
if not __package__:  # run as a file: import from the repository root
    sys.path[0] = str(REPO_ROOT)

from vocal_separation_sanity_check.metrics import framewise_sdr, sdr  # noqa: E402
from vocal_separation_sanity_check.separator import Separator  # noqa: E402
from vocal_separation_sanity_check.tracks import find_tracks, load_track  # noqa: E402


def score(separator: Separator, songs: list, target: str) -> tuple[float, float, float]:
    """(median over songs of the 1 s-frame median SDR, mean whole-song SDR, seconds per song) of `target`."""
    framewise, whole, seconds = [], [], []
    for mixture, sources in songs:
        start = time.perf_counter()
        estimate = separator.separate(mixture)[target]
        seconds.append(time.perf_counter() - start)
        framewise.append(framewise_sdr(sources[target], estimate, separator.settings.sample_rate))
        whole.append(sdr(sources[target], estimate))
    return float(np.median(framewise)), float(np.mean(whole)), float(np.mean(seconds))


def main() -> None:
    parser = argparse.ArgumentParser(description="Quality and cost of separate.py --shifts")
    parser.add_argument("--model", "-m", type=Path, required=True, help="A train_separator.py checkpoint")
    parser.add_argument("--root", type=Path, required=True, help="Songs in the MUSDB layout")
    parser.add_argument("--split", default="test", help="Which split to score")
    parser.add_argument("--shifts", type=int, nargs="+", default=[1, 2, 4], help="Values of N to compare with 0")
    parser.add_argument("--seeds", type=int, default=5, help="Runs (seeds of the offsets) per N")
    args = parser.parse_args()
    separator = Separator.from_checkpoint(args.model, device="cpu")
    target = separator.targets[0]
    songs = [load_track(track, [target], separator.settings) for track in find_tracks(args.root, args.split)]
    print(f"{len(songs)} songs of {args.root / args.split}, {target}; CPU threads: {torch.get_num_threads()}; "
          "times vary with other load on the machine")
    separator.separate(songs[0][0])  # warm-up (the first pass over a new input shape prepares kernels), not timed
    plain = score(separator, songs, target)
    print(f"shifts 0:            1s-median {plain[0]:6.2f} dB   whole-song {plain[1]:6.2f} dB   {plain[2]:.2f} s/song")
    for shifts in args.shifts:
        separator.shifts = shifts
        runs = []
        for seed in range(args.seeds):
            separator.seed = seed
            runs.append(score(separator, songs, target))
        median, whole, seconds = np.array(runs).T
        print(f"shifts {shifts} ({args.seeds} seeds): 1s-median {median.mean():6.2f} dB "
              f"({median.mean() - plain[0]:+.2f}, runs {median.min():.2f}..{median.max():.2f})   whole-song "
              f"{whole.mean():6.2f} dB ({whole.mean() - plain[1]:+.2f}, runs {whole.min():.2f}..{whole.max():.2f})   "
              f"{seconds.mean():.2f} s/song ({seconds.mean() / plain[2]:.1f}x)")


if __name__ == "__main__":
    main()
