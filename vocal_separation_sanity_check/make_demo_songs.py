"""Write a small multitrack song set offline, in the MUSDB18-HQ layout, for training and testing the separator.

    python3 make_demo_songs.py --out data/demo_songs --train 6 --test 2 --seconds 30 --seed 0

writes ROOT/{train,test}/<track name>/{mixture,vocals,drums,bass,other}.wav: 44.1 kHz stereo float32 wav,
mixture = vocals + drums + bass + other, and ROOT/demo_song.png, the spectrograms of the first song.
The songs come from the synthesizer in demo_songs/ (its docstring says what each stem imitates and why):
`demo_song(seed, split, index, seconds)` gives the same stems in memory.
"""
if not __package__: import sys, pathlib; sys.path[0] = str(pathlib.Path(__file__).resolve().parents[1])  # noqa: E401,E702  run as a file: import from the repository root

import argparse
import logging
from pathlib import Path

from tqdm import tqdm

from vocal_separation_sanity_check.audio import DEFAULT_STFT, write_audio
from vocal_separation_sanity_check.demo_songs import SPLITS, demo_song, planned_tracks
from vocal_separation_sanity_check.demo_songs.plot import plot_song
from utils.cli import DefaultsHelpFormatter
from utils.errors import UserError, run_cli

MAX_SECONDS = 600  # a song is made in memory whole: roughly 0.3 GB plus 10 MB per second of song


def get_args() -> argparse.Namespace:
    """The command line's flags."""
    parser = argparse.ArgumentParser(description="Write synthetic multitrack songs in the MUSDB18-HQ layout",
                                     formatter_class=DefaultsHelpFormatter)
    parser.add_argument("--out", "-o", type=Path, default=Path("data/demo_songs"), help="Root folder to write")
    parser.add_argument("--train", "-t", type=int, default=6, help="Number of training songs")
    parser.add_argument("--test", "-e", type=int, default=2, help="Number of test songs")
    parser.add_argument("--seconds", "-s", type=float, default=30.0, help="Length of every song in seconds")
    parser.add_argument("--seed", "-r", type=int, default=0, help="Random seed of the whole set")
    return parser.parse_args()


def check_args(args: argparse.Namespace) -> None:
    """Song counts, length, seed and output path, each with a one-line error that says the fix."""
    if args.train < 0 or args.test < 0 or args.train + args.test == 0:
        raise UserError(f"--train {args.train} --test {args.test}: give counts >= 0 with at least one song in all")
    if not 1.0 <= args.seconds <= MAX_SECONDS:
        raise UserError(f"--seconds {args.seconds}: give a song length between 1 and {MAX_SECONDS} seconds")
    if args.seed < 0:
        raise UserError(f"--seed {args.seed}: give a seed >= 0")
    if args.out.exists() and not args.out.is_dir():
        raise UserError(f"--out {args.out}: this is a file; give a folder path")


def check_out_folder(out: Path, tracks: list[tuple[str, int, str]]) -> None:
    """Rewriting the same set is fine; mixing it with tracks of another run would silently change the data."""
    for split in SPLITS:
        folder = out / split
        if not folder.is_dir():
            continue
        ours = {name for track_split, _, name in tracks if track_split == split}
        others = sorted(p.name for p in folder.iterdir() if p.is_dir() and p.name not in ours)
        if others:
            raise UserError(f"--out {out}: {folder} already holds other tracks ({others[0]!r} ...); "
                            f"delete that folder or choose another --out")


def main() -> None:
    """Check the flags, write every song's five files and a picture of the first song."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    args = get_args()

    # 1. Check the flags and that the output folder holds nothing from another run
    check_args(args)
    tracks = planned_tracks(args.seed, args.train, args.test)
    check_out_folder(args.out, tracks)

    # 2. Make every song from its own seed and write its five files
    for number, (split, index, name) in enumerate(tqdm(tracks, desc="Songs", unit="song")):
        song = demo_song(args.seed, split, index, args.seconds)
        for stem, audio in song.items():
            write_audio(args.out / split / name / f"{stem}.wav", audio, DEFAULT_STFT.sample_rate)
        if number == 0:  # 3. A picture of the first song, to see what the model will learn from
            plot_song(song, args.out / "demo_song.png", f"{split}/{name}")

    # 4. Say what was written
    logging.info(f"Spectrograms of the first song saved to {args.out / 'demo_song.png'}")
    logging.info(f"Wrote {args.train} train + {args.test} test songs ({args.seconds:.1f} s each) to {args.out}")


if __name__ == "__main__":
    run_cli(main)
