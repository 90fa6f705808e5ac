"""Separate songs with a model trained by train_separator.py.

    python3 separate.py -m checkpoints/separator/best.pth -i data/demo_songs/test -o separated

writes separated/<song>/vocals.wav (one file per target; <song> is the track folder for MUSDB's mixture.wav)
and accompaniment.wav (the mixture minus the targets, so the stems always sum back to the mixture), full band,
exactly as long as the input. Songs of any length run in bounded memory (separator.py says how).
"""
if not __package__: import sys, pathlib; sys.path[0] = str(pathlib.Path(__file__).resolve().parents[1])  # noqa: E401,E702  run as a file: import from the repository root

import argparse
import logging
from pathlib import Path

from utils.device import pick_device, precision_name
from utils.cli import DefaultsHelpFormatter
from utils.errors import UserError, run_cli
from vocal_separation_sanity_check.audio import find_audio_files
from vocal_separation_sanity_check.separator import Separator, separate_file
from vocal_separation_sanity_check.tracks import drop_track_stems


def output_names(files: list[Path]) -> list[str]:
    """OUT/<name>/ per input: the file name, or the track folder for MUSDB's <track>/mixture.wav.

    Two inputs with one name would overwrite each other's stems: that is a UserError, before any work.
    """
    names = [path.parent.name if path.stem == "mixture" else path.stem for path in files]
    for name in set(names):
        clashing = [str(path) for path, other in zip(files, names) if other == name]
        if len(clashing) > 1:
            raise UserError(f"--input {' and '.join(clashing[:2])} would both be written to OUT/{name}/; "
                            "rename one or separate them in two runs")
    return names


def get_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Separate songs into stems with a trained U-Net", formatter_class=DefaultsHelpFormatter)
    parser.add_argument("--model", "-m", required=True, help="Checkpoint from train_separator.py")
    parser.add_argument("--input", "-i", nargs="+", required=True, help="Audio files and/or folders of them")
    parser.add_argument("--output", "-o", default="separated", help="Output folder: OUT/<song>/<stem>.wav")
    parser.add_argument("--wiener", "-w", type=int, default=0, help="Multichannel Wiener EM iterations (0 = masks only)")
    parser.add_argument("--format", "-f", choices=["wav", "flac"], default="wav", help="Output file format")
    parser.add_argument("--device", "-d", default=None, help="cpu, cuda, mps (default: best available)")
    parser.add_argument("--chunk-seconds", "-c", type=float, default=30.0, help="Audio processed at once")
    parser.add_argument("--no-amp", action="store_true", help="Full float32 inference (slower, same result within bf16 error)")
    return parser.parse_args()


def main() -> None:
    args = get_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    if args.wiener < 0:
        raise UserError(f"--wiener {args.wiener}: must be 0 (off) or a number of iterations such as 1")
    if not args.chunk_seconds > 0:
        raise UserError(f"--chunk-seconds {args.chunk_seconds}: must be positive, e.g. 30")
    # 1. Find the inputs first, so a typo fails before the model loads
    files = drop_track_stems(find_audio_files(args.input))
    names = output_names(files)
    # 2. Load the model once for all files
    device = pick_device(args.device)
    logging.info(f"Device: {device}, {precision_name(device, not args.no_amp)}")
    separator = Separator.from_checkpoint(args.model, device, amp=not args.no_amp, chunk_seconds=args.chunk_seconds,
                                          wiener_iterations=args.wiener)
    logging.info(f"Model: {', '.join(separator.targets)} ({Path(args.model).name}); writing {', '.join(separator.output_names)}")
    # 3. Separate each file chunk by chunk, straight into the output files
    for path, name in zip(files, names):
        separate_file(separator, path, Path(args.output) / name, args.format)


if __name__ == "__main__":
    run_cli(main)
