"""Separate songs with a model trained by train_separator.py.

    python3 separate.py -m checkpoints/separator/best.pth -i data/demo_songs/test -o separated

writes separated/<song>/vocals.wav (one file per target; <song> is the track folder for MUSDB's mixture.wav)
and accompaniment.wav (the mixture minus the targets, so the stems always sum back to the mixture), full band,
at the input's sample rate and exactly as long. Options follow Demucs and Spleeter: --format, --bit-depth,
--clip-mode, --filename, --two-stems, --shifts, --start / --duration. Songs of any length and rate run in
bounded memory (chunking.py says how); a song's files appear only once all of its stems are complete.

-m FILE.onnx (export_onnx.py's) runs the same separation on onnxruntime, with every option, and never imports
PyTorch (onnx_separator.py).
"""
if not __package__: import sys, pathlib; sys.path[0] = str(pathlib.Path(__file__).resolve().parents[1])  # noqa: E401,E702  run as a file: import from the repository root

import argparse
import logging
from pathlib import Path

from utils.cli import DefaultsHelpFormatter
from utils.errors import UserError, run_cli
from utils.onnx_runtime import is_onnx_model
from vocal_separation_sanity_check.audio import find_audio_files
from vocal_separation_sanity_check.chunking import separate_file
from vocal_separation_sanity_check.outputs import (BIT_DEPTHS, CLIP_MODES, DEFAULT_TEMPLATE, FORMATS, OutputFormat,
                                                   check_template, output_paths)
from vocal_separation_sanity_check.tracks import drop_track_stems


def get_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Separate songs into stems with a trained U-Net", formatter_class=DefaultsHelpFormatter)
    parser.add_argument("--model", "-m", required=True,
                        help="Checkpoint from train_separator.py, or its .onnx export (export_onnx.py), which runs on "
                             "onnxruntime without PyTorch")
    parser.add_argument("--input", "-i", nargs="+", required=True, help="Audio files and/or folders of them")
    parser.add_argument("--output", "-o", default="separated", help="Output folder")
    parser.add_argument("--filename", default=DEFAULT_TEMPLATE,
                        help="Where each stem goes in the output folder: {track} (song name), {trackext} (its "
                             "extension), {stem}, {ext}")
    parser.add_argument("--format", "-f", choices=FORMATS, default="wav", help="Output file format")
    parser.add_argument("--bit-depth", type=int, choices=BIT_DEPTHS, default=None,
                        help="wav/flac samples: 16 or 24-bit integers, 32 = float, which keeps peaks above full "
                             "scale (default: 16)")
    parser.add_argument("--clip-mode", choices=CLIP_MODES, default=None,
                        help="Stems peaking above full scale: rescale all stems of the song by one gain, clamp the "
                             "samples, or none (integers saturate) (default: rescale; none for 32-bit float)")
    parser.add_argument("--two-stems", metavar="TARGET", default=None,
                        help="Write TARGET and the rest (mixture minus TARGET) only, e.g. --two-stems vocals")
    parser.add_argument("--start", type=float, default=0.0, help="Separate from this many seconds into each song")
    parser.add_argument("--duration", type=float, default=None, help="Separate this many seconds (default: to the end)")
    parser.add_argument("--shifts", type=int, default=0, metavar="N",
                        help="Average over N randomly time-shifted copies (N times slower; 0 = off)")
    parser.add_argument("--wiener", "-w", type=int, default=0, help="Multichannel Wiener EM iterations (0 = masks only)")
    parser.add_argument("--device", "-d", default=None, help="cpu, cuda, mps (default: best available; a .onnx "
                                                             "model: cpu, or cuda with onnxruntime-gpu)")
    parser.add_argument("--chunk-seconds", "-c", type=float, default=30.0, help="Audio processed at once")
    parser.add_argument("--no-amp", action="store_true", help="Full float32 inference (slower, same result within "
                                                              "bf16 error; a .onnx model always runs in float32)")
    return parser.parse_args()


def load_separator(args: argparse.Namespace):
    """A Separator (a .pth checkpoint, PyTorch) or an OnnxSeparator (a .onnx export, onnxruntime): the same
    methods, the same options. PyTorch is imported for a .pth checkpoint only."""
    options = {"chunk_seconds": args.chunk_seconds, "wiener_iterations": args.wiener, "shifts": args.shifts,
               "two_stems": args.two_stems}
    if is_onnx_model(args.model):
        from vocal_separation_sanity_check.onnx_separator import OnnxSeparator
        separator = OnnxSeparator(args.model, args.device, **options)
        logging.info(f"Device: {separator.model.device}, float32 (onnxruntime, {separator.model.provider})")
        return separator
    from utils.device import pick_device, precision_name
    from vocal_separation_sanity_check.separator import Separator
    device = pick_device(args.device)
    logging.info(f"Device: {device}, {precision_name(device, not args.no_amp)}")
    return Separator.from_checkpoint(args.model, device, amp=not args.no_amp, **options)


def main() -> None:
    args = get_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    if args.wiener < 0:
        raise UserError(f"--wiener {args.wiener}: must be 0 (off) or a number of iterations such as 1")
    if not args.chunk_seconds > 0:
        raise UserError(f"--chunk-seconds {args.chunk_seconds}: must be positive, e.g. 30")
    output = OutputFormat.from_args(args.format, args.bit_depth, args.clip_mode)
    check_template(args.filename)
    # 1. Find the inputs first, so a typo fails before the model loads
    files = drop_track_stems(find_audio_files(args.input))
    # 2. Load the model once for all files
    separator = load_separator(args)
    logging.info(f"Model: {', '.join(separator.targets)} ({Path(args.model).name}); writing {', '.join(separator.output_names)}")
    plans = output_paths(files, Path(args.output), args.filename, separator.output_names, args.format)
    # 3. Separate each file chunk by chunk, into temporary files renamed when the song is complete
    for done, (path, paths) in enumerate(zip(files, plans)):
        try:
            separate_file(separator, path, paths, output, args.start, args.duration)
        except KeyboardInterrupt:
            logging.error(f"Interrupted while separating {path}: none of its stems were written"
                          + (f"; the {done} song(s) before it are complete" if done else ""))
            raise


if __name__ == "__main__":
    run_cli(main)
