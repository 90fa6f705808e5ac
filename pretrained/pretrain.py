"""Make the shipped weights pretrained/unet_objects.pth, which train.py starts a run on your own photos from.

    python3 -m pretrained.pretrain                  # 6 epochs from random weights: about 1.5 hours on 2 CPU cores
    python3 -m pretrained.pretrain --count 200 --epochs 1 --out /tmp/try.pth      # a quick look at the steps
    python3 -m pretrained.pretrain --start pretrained/unet_objects.pth --epochs 4 --learning-rate 3e-4
    python3 -m pretrained.pretrain --start pretrained/unet_objects.pth --count 36000 --shards 16 --device cuda \
        --workers 7 --batch-size 16 --epochs 3 --learning-rate 3e-4        # on a GPU and 16 cores: minutes

The shipped file was made in stages, each a run of this script from the previous one's file: the commands are
in pretrained/README.md.

1. Build the pretraining set of the recipe in --work (pretrained/pretraining_set.py), unless a set of the same
   recipe is there already.
2. Train a U-Net on it with train.py (--base-channels 32: a quarter of the default's time per step when you
   fine-tune it, and the file stays small), from random weights or from --start's.
3. Export the last epoch's weights (the averaged ones train.py validates) in half precision, with the commands
   that made them, to --out: 16 MB instead of 31.
"""
if not __package__: import sys, pathlib; sys.path[0] = str(pathlib.Path(__file__).resolve().parents[1])  # noqa: E401,E702  run as a file: import from the repository root

import argparse
import json
import subprocess
import sys
from pathlib import Path

from pretrained.pretraining_set import check_jobs, write_shards
from pretrained.recipe import Recipe
from pretrained.sources import get_sources
from utils.checkpoint import save_checkpoint
from utils.errors import UserError, run_cli
from utils.image_checkpoint import (REPOSITORY_ROOT, make_checkpoint, read_image_checkpoint, shipped_weights_path,
                                    unet_from_checkpoint)

TRAIN_FLAGS = ["--base-channels", "32", "--validation", "2", "--warmup-epochs", "0.2"]


def get_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Pretrain the U-Net on generated images of objects on photographs")
    parser.add_argument("--out", "-o", type=Path, default=shipped_weights_path(), help="The weights file to write")
    parser.add_argument("--work", type=Path, default=Path("pretraining"),
                        help="Folder for the pretraining set (data/) and the training run (run/)")
    Recipe.add_arguments(parser)
    parser.add_argument("--epochs", "-e", type=int, default=6, help="Epochs of train.py on the set")
    parser.add_argument("--jobs", "-j", type=int, default=None,
                        help="Processes that write the set's pieces (default: one per core, at most --shards)")
    parser.add_argument("--sources", type=Path, default=None, metavar="FILE",
                        help="Read the set's pictures from FILE (make_pretraining_data.py --save-sources) instead of "
                             "the Debian packages")
    parser.add_argument("--batch-size", "-b", type=int, default=8, help="train.py --batch-size")
    parser.add_argument("--scale", "-s", type=float, default=0.75, help="train.py --scale")
    parser.add_argument("--device", default=None, help="train.py --device (default: cuda, then mps, then cpu)")
    parser.add_argument("--workers", type=int, default=0,
                        help="train.py --workers: data loading processes (on a GPU, about half the cores)")
    parser.add_argument("--start", type=Path, default=None,
                        help="Weights to train on (a file pretrain.py or train.py wrote; default: random weights)")
    parser.add_argument("--learning-rate", "-l", type=float, default=None,
                        help="Peak learning rate (default: train.py's: 1e-3 from random weights, 1e-4 from --start)")
    return parser.parse_args()


def build_set(folder: Path, recipe: Recipe, jobs: int, sources_file: Path | None = None) -> None:
    """The recipe's set, reused when a complete one of the same recipe is there (set.json is written last)."""
    manifest = folder / "set.json"
    if manifest.is_file() and json.loads(manifest.read_text()) == recipe.manifest():
        print(f"INFO: reusing the pretraining set in {folder}")
        return
    if (folder / "imgs").exists():
        raise UserError(f"--work: {folder} holds another or an unfinished set; delete it or give another --work")
    write_shards(folder, recipe, get_sources(sources_file, recipe), jobs)
    manifest.write_text(json.dumps(recipe.manifest()))


def train_command(args: argparse.Namespace, data_dir: Path, run_dir: Path) -> list[str]:
    """train.py on the set: from --start's weights, else from random ones (never the shipped weights by default,
    which this script may be remaking); --overwrite, since a run folder of an earlier try is stale."""
    command = [sys.executable, str(REPOSITORY_ROOT / "train.py"), "--data-dir", str(data_dir), "--checkpoint-dir",
               str(run_dir), "--overwrite", "--epochs", str(args.epochs), "--seed", str(args.seed), *TRAIN_FLAGS,
               "--batch-size", str(args.batch_size), "--scale", str(args.scale), "--workers", str(args.workers)]
    command += ["--device", args.device] if args.device else []
    command += ["--load", str(args.start)] if args.start else ["--no-pretrained"]
    if args.learning_rate is not None:
        command += ["--learning-rate", str(args.learning_rate)]
    return command


def export_weights(checkpoint_path: Path, out: Path, pretraining: dict) -> None:
    """The checkpoint's weights in half precision (what a starting point needs), with how they were made."""
    checkpoint = read_image_checkpoint(checkpoint_path, "checkpoint")
    model = unet_from_checkpoint(checkpoint, checkpoint_path, "checkpoint")
    save_checkpoint(make_checkpoint(model, checkpoint["mask_values"], args=checkpoint["args"],
                                    epoch=checkpoint["epoch"], history=checkpoint["history"],
                                    validation_images=checkpoint["validation images"], pretraining=pretraining,
                                    half_precision=True), out)


def main() -> None:
    args = get_args()
    recipe = Recipe.from_args(args)
    if args.count < 10 or args.epochs < 1:
        raise UserError(f"--count {args.count} --epochs {args.epochs}: give at least 10 images and 1 epoch")
    recipe.check()
    jobs = check_jobs(recipe, args.jobs)
    start = read_image_checkpoint(args.start, "--start") if args.start else None

    # 1. The pretraining set
    data_dir = args.work / "data"
    build_set(data_dir, recipe, jobs, args.sources)

    # 2. Training
    command = train_command(args, data_dir, args.work / "run")
    print("INFO: " + " ".join(command[1:]))
    if subprocess.run(command).returncode != 0:
        raise UserError(f"train.py stopped (see its message above); nothing was written to {args.out}")

    # 3. Export, with the commands of this stage and of the stages before it
    pretraining = {"set": recipe.command_line(), "training": " ".join(["train.py", *command[2:]])}
    if start is not None:
        pretraining["start"] = start.get("pretraining", str(args.start))
    export_weights(args.work / "run" / f"checkpoint_epoch{args.epochs}.pth", args.out, pretraining)
    print(f"INFO: wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB); fine-tune it with: "
          f"python3 train.py --load {args.out} --data-dir <your data> --scale 1")


if __name__ == "__main__":
    run_cli(main)
