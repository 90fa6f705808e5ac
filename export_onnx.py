"""Take it elsewhere: a trained U-Net as one .onnx file that onnxruntime (or any ONNX runtime) runs, in an app, a
plugin, a browser or on a phone, without this repository or PyTorch.

    python3 export_onnx.py -m pretrained/unet_objects.pth -o unet_objects.onnx
    python3 export_onnx.py -m checkpoints/separator/best.pth -o vocals.onnx

Both checkpoint kinds, recognised by what they hold:
  image U-Net (train.py, milesial/Pytorch-UNet)  image (batch, 3, height, width) in 0..1 -> class probabilities,
                                                 any size; predict.py -m FILE.onnx runs it
  stem separator (train_separator.py)            stereo chunk (2, samples) -> the targets' waveforms: the STFT, the
                                                 masks and the inverse STFT are in the file; separate.py -m FILE.onnx
The settings a runner needs (classes, mask values, scale; sample rate, STFT settings, targets, bins) are in the
file's metadata. Every export is run by onnxruntime against PyTorch before it is reported. Needs
`pip install onnx onnxruntime` (running the file needs onnxruntime only).
"""
import argparse
import logging
from pathlib import Path

from utils.checkpoint import checkpoint_kind, load_checkpoint
from utils.errors import UserError, run_cli
from utils.onnx_export import check_output_path, export_image_model
from utils.onnx_runtime import import_optional


def get_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Export a trained U-Net (image or stem separator) to ONNX, checked "
                                                 "by onnxruntime")
    parser.add_argument("--model", "-m", required=True, metavar="CHECKPOINT",
                        help="A .pth checkpoint: train.py's or milesial's (image) or train_separator.py's (audio)")
    parser.add_argument("--output", "-o", required=True, metavar="FILE.onnx", help="The ONNX file to write")
    return parser.parse_args()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    args = get_args()
    output = check_output_path(args.output)
    if Path(args.model).suffix.lower() == ".onnx":
        raise UserError(f"--model {args.model}: already an ONNX model; give the .pth checkpoint to export")
    for package, purpose in (("onnx", "exporting to ONNX"), ("onnxruntime", "checking the export")):
        import_optional(package, "--output", output, purpose)
    # The checkpoint's kind decides the export; each reader gives its own one-line errors
    kind = checkpoint_kind(load_checkpoint(args.model, "--model"))
    logging.info(f"Exporting {args.model} ({'stem separator' if kind == 'separator' else 'image U-Net'})")
    if kind == "separator":
        from vocal_separation_sanity_check.onnx_export import export_separator_model
        report = export_separator_model(args.model, output)
    else:
        report = export_image_model(args.model, output)
    logging.info(f"Wrote {report}")


if __name__ == "__main__":
    run_cli(main)
