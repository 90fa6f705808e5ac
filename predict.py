"""Predict segmentation masks for images with a trained U-Net.

    python3 predict.py -m checkpoints/checkpoint_epoch10.pth -i data/imgs/test_0.png -o prediction.png

Loads train.py checkpoints and milesial/Pytorch-UNet's published ones (e.g. the Carvana model), and the .onnx
files export_onnx.py makes of them: those run on onnxruntime, with the same options, without importing PyTorch.
"""
import argparse
import logging
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # draw to files, no screen needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from utils.errors import UserError, run_cli  # noqa: E402
# Modules without torch: a .onnx model runs without importing PyTorch (PyTorchUNet imports it when used)
from utils.cli import add_tta_arguments, check_tta_scales  # noqa: E402
from utils.images import IMAGE_EXTENSIONS, check_scale, classes_to_mask, load_image  # noqa: E402
from utils.onnx_image import OnnxUNet  # noqa: E402
from utils.onnx_runtime import is_onnx_model  # noqa: E402
from utils.plotting import save_figure  # noqa: E402

OUTPUT_SUFFIX = "_OUT"


def mask_to_image(mask: np.ndarray, mask_values: list, n_classes: int) -> Image.Image:
    """Binary masks as 0/255 (a 0/1 PNG looks all black); multi-class masks in the training masks' values."""
    if n_classes <= 2:
        return Image.fromarray((mask * 255).astype(np.uint8), mode="L")
    values = np.asarray(classes_to_mask(mask, mask_values))
    # 16-bit grey masks keep their values; everything else fits in 8 bits (grey or RGB).
    return Image.fromarray(values.astype(np.uint16 if values.max(initial=0) > 255 else np.uint8))


def visualization_figure(image: Image.Image, mask: np.ndarray) -> plt.Figure:
    """Image | predicted mask | mask drawn over the image, side by side."""
    # constrained layout leaves room for the titles (tight_layout cut their tops off above square images)
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.4), layout="constrained")
    axes[0].imshow(image.convert("RGB"))
    axes[0].set_title("Input image")
    axes[1].imshow(mask, cmap="gray" if mask.max() <= 1 else "tab10", interpolation="nearest")
    axes[1].set_title("Predicted mask")
    axes[2].imshow(image.convert("RGB"))
    axes[2].imshow(np.ma.masked_equal(mask, 0), cmap="autumn", alpha=0.5, interpolation="nearest")
    axes[2].set_title("Overlay")
    for ax in axes:
        ax.axis("off")
    return fig


def save_visualization(image: Image.Image, mask: np.ndarray, path: Path) -> None:
    """visualization_figure as a PNG."""
    fig = visualization_figure(image, mask)
    save_figure(fig, path)


def is_earlier_output(path: Path) -> bool:
    """Masks and pictures predict.py wrote beside the inputs on an earlier run are not inputs."""
    return path.stem.endswith(OUTPUT_SUFFIX) or path.stem.endswith(OUTPUT_SUFFIX + "_viz")


def get_input_files(inputs: list[str]) -> list[Path]:
    """Image files from -i: files as given, folders expanded to their images (sorted)."""
    files = []
    for name in inputs:
        path = Path(name)
        if path.is_dir():
            found = sorted(p for p in path.iterdir()
                           if p.suffix.lower() in IMAGE_EXTENSIONS and not is_earlier_output(p))
            if not found:
                raise UserError(f"-i {path}: folder holds no images ({', '.join(sorted(IMAGE_EXTENSIONS))}); "
                                "give image files or a folder of images")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise UserError(f"-i {path}: no such file or folder; check the path (e.g. data/imgs/test_0.png)")
    return files


def looks_like_folder(path: Path) -> bool:
    return path.is_dir() or str(path).endswith(("/", "\\")) or path.suffix == ""


def get_output_filenames(input_files: list[Path], outputs: list[str] | None) -> list[Path]:
    """One output name per input: beside the input (<name>_OUT.png), in an -o folder, or as -o names."""
    if not outputs:
        return [f.with_name(f.stem + OUTPUT_SUFFIX + ".png") for f in input_files]
    if len(outputs) == 1 and looks_like_folder(Path(outputs[0])):
        return [Path(outputs[0]) / (f.stem + OUTPUT_SUFFIX + ".png") for f in input_files]
    if len(outputs) != len(input_files):
        raise UserError(f"-o: {len(input_files)} input images but {len(outputs)} output names; give one name "
                        "per image or a single folder (e.g. -o predictions/)")
    names = [Path(name) for name in outputs]
    for name in names:
        if name.suffix.lower() != ".png":
            raise UserError(f"-o {name}: masks are saved as lossless PNG; use a name ending in .png")
    return names


def get_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Predict masks from input images")
    parser.add_argument("--model", "-m", default="MODEL.pth", metavar="FILE",
                        help="Checkpoint file (train.py or milesial/Pytorch-UNet format), or its .onnx export "
                             "(export_onnx.py), which runs on onnxruntime without PyTorch")
    parser.add_argument("--input", "-i", metavar="INPUT", nargs="+", required=True,
                        help="Image files or folders of images")
    parser.add_argument("--output", "-o", metavar="OUTPUT", nargs="+",
                        help="Mask file names (one per input) or one folder (default: <input>_OUT.png)")
    parser.add_argument("--viz", "-v", action="store_true",
                        help="Also save image | mask | overlay as <output>_viz.png")
    parser.add_argument("--no-save", "-n", action="store_true", help="Do not save the output masks")
    parser.add_argument("--mask-threshold", "-t", type=float, default=0.5,
                        help="Minimum probability for a foreground pixel (one-output models)")
    parser.add_argument("--scale", "-s", type=float, default=None,
                        help="Scale factor for the input images (default: the scale the model was trained with)")
    add_tta_arguments(parser)
    parser.add_argument("--bilinear", action="store_true", default=False,
                        help="Accepted for milesial compatibility; the checkpoint decides")
    parser.add_argument("--classes", "-c", type=int, default=None,
                        help="Accepted for milesial compatibility; the checkpoint decides")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:N or mps (default: best available; a .onnx "
                                                       "model: cpu, or cuda with onnxruntime-gpu)")
    return parser.parse_args()


def load_model(path: str, device_name: str | None):
    """The model a -m file holds: a .onnx export runs on onnxruntime (no PyTorch), anything else on PyTorch.
    Both have n_channels, n_classes, mask_values, scale and predict()."""
    if is_onnx_model(path):
        model = OnnxUNet(path, device_name)
        logging.info(f"Using device {model.model.device} (onnxruntime, {model.model.provider})")
        return model
    from utils.inference import CheckpointUNet  # imports torch: only for .pth checkpoints
    model = CheckpointUNet(path, device_name)
    logging.info(f"Using device {model.device}")
    return model


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    args = get_args()
    if args.scale is not None:
        check_scale(args.scale)
    if not 0 < args.mask_threshold < 1:
        raise UserError(f"--mask-threshold {args.mask_threshold}: must be between 0 and 1, e.g. 0.5")

    # 1. Find the input images and where their masks go
    in_files = get_input_files(args.input)
    out_files = get_output_filenames(in_files, args.output)

    # 2. Load the model: architecture, classes and mask values all come from the checkpoint (or the .onnx file)
    logging.info(f"Loading model {args.model}")
    model = load_model(args.model, args.device)
    if model.n_channels != 3:
        raise UserError(f"--model {args.model}: expects {model.n_channels}-channel input, predict.py feeds RGB "
                        "images (3 channels); use a model trained on images")
    if args.classes is not None and args.classes != model.n_classes:
        logging.warning(f"--classes {args.classes} ignored: the checkpoint has {model.n_classes} classes")
    scale = args.scale if args.scale is not None else model.scale
    check_tta_scales(args.tta_scales, scale)
    logging.info("Model loaded!")

    # 3. Predict each image and save its mask at the image's own size
    for in_file, out_file in zip(in_files, out_files):
        logging.info(f"Predicting image {in_file} ...")
        image = load_image(in_file)
        mask = model.predict(image, scale_factor=scale, out_threshold=args.mask_threshold, tta=args.tta,
                             tta_scales=args.tta_scales)
        if not args.no_save:
            out_file.parent.mkdir(parents=True, exist_ok=True)
            mask_to_image(mask, model.mask_values, model.n_classes).save(out_file)
            logging.info(f"Mask saved to {out_file}")
        if args.viz:
            viz_file = out_file.with_name(out_file.stem + "_viz.png")
            save_visualization(image, mask, viz_file)
            logging.info(f"Visualization saved to {viz_file}")


if __name__ == "__main__":
    run_cli(main)
