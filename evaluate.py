"""Dice and IoU of a trained model on a folder of images with masks: one row per image, then the mean.

    python3 evaluate.py -m checkpoints/checkpoint_epoch10.pth --data-dir data --csv scores.csv
    python3 evaluate.py -m checkpoints/checkpoint_epoch10.pth --data-dir data --report outputs/report

--report DIR also writes DIR/index.html, a page to open in a browser: every image beside its true mask, the
predicted mask and an overlay with the wrong pixels marked, worst Dice first, under the mean printed here.

train.py validates with the same utils.inference.score_images, so the validation Dice in the training log is the
mean this script prints for the same images.
"""
import argparse
import csv
import logging
from pathlib import Path

from utils.cli import add_tta_arguments, check_tta_scales
from utils.data_loading import BasicDataset, check_scale
from utils.device import pick_device
from utils.errors import run_cli
from utils.image_checkpoint import load_unet, training_scale
from utils.image_report import mean_scores, write_image_report
from utils.inference import score_images
from utils.report import ReportFolder, esc, megabytes


def get_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Dice and IoU of a model on images with masks")
    parser.add_argument("--model", "-m", required=True, metavar="FILE", help="Checkpoint (.pth) to evaluate")
    parser.add_argument("--data-dir", default="data", help="Folder holding imgs/ and masks/")
    parser.add_argument("--scale", "-s", type=float, default=None,
                        help="Image scale for the model (default: the scale it was trained with)")
    parser.add_argument("--mask-threshold", "-t", type=float, default=0.5,
                        help="Probability threshold for one-output (sigmoid) models")
    add_tta_arguments(parser)
    parser.add_argument("--csv", default=None, metavar="FILE", help="Also write the scores to this CSV file")
    parser.add_argument("--report", default=None, metavar="DIR",
                        help="Also write DIR/index.html: each image, its true and predicted masks and the wrong "
                             "pixels, worst first, to open in a browser")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:N or mps (default: best available)")
    return parser.parse_args()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    args = get_args()
    if args.scale is not None:
        check_scale(args.scale)
    report = ReportFolder(args.report) if args.report else None  # a folder it cannot write is refused now

    # 1. Load the model; its classes and mask values come from the checkpoint
    device = pick_device(args.device)
    logging.info(f"Loading model {args.model}")
    net, mask_values, checkpoint = load_unet(args.model)
    net.to(device).eval()
    scale = args.scale if args.scale is not None else training_scale(checkpoint)
    check_tta_scales(args.tta_scales, scale)

    # 2. Pair the images with their masks (same checks and errors as training). Multi-class masks are
    #    numbered with the model's mask values; binary ones need not be (0/1 and 0/255 both mean object).
    data_dir = Path(args.data_dir)
    dataset = BasicDataset(data_dir / "imgs", data_dir / "masks", scale=1.0, n_classes=net.n_classes,
                           mask_values=mask_values if net.n_classes > 2 else None)

    # 3. Score each image at its full size, predicted exactly as predict.py does
    rows = score_images(net, dataset, range(len(dataset)), device, scale, args.mask_threshold, args.tta,
                        args.tta_scales)

    # 4. Print the table and the mean (and write the CSV)
    width = max([len("image")] + [len(str(name)) for name, _, _ in rows])
    print(f"{'image':<{width}}  {'Dice':>6}  {'IoU':>6}")
    for name, dice, iou in rows:
        print(f"{name:<{width}}  {dice:6.4f}  {iou:6.4f}")
    mean_dice, mean_iou = mean_scores(rows)
    print(f"{'mean':<{width}}  {mean_dice:6.4f}  {mean_iou:6.4f}   ({len(rows)} images)")
    if args.csv:
        Path(args.csv).parent.mkdir(parents=True, exist_ok=True)
        with open(args.csv, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["image", "dice", "iou"])
            writer.writerows([(name, f"{dice:.6f}", f"{iou:.6f}") for name, dice, iou in rows])
            writer.writerow(["mean", f"{mean_dice:.6f}", f"{mean_iou:.6f}"])
        logging.info(f"Scores saved to {args.csv}")

    # 5. The report: the same rows and mean, each image beside its masks, worst first
    if report is not None:
        subtitle = (f"{esc(args.model)} on {esc(data_dir)} · scale {scale:g}"
                    + (" · flip TTA" if args.tta else "") + "".join(f" · TTA scale {f:g}" for f in args.tta_scales))
        page = report.finish(write_image_report(report, net, dataset, rows, device, scale, args.mask_threshold,
                                                args.tta, args.tta_scales, subtitle))
        logging.info(f"Report saved to {page} ({len(rows)} images, {megabytes(report.size_bytes())}): "
                     "open it in a browser")


if __name__ == "__main__":
    run_cli(main)
