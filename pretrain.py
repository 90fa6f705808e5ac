"""Make the shipped weights pretrained/unet_objects.pth, which train.py starts a run on your own photos from.

    python3 pretrain.py                  # 6 epochs from random weights: about 1.5 hours on 2 CPU cores
    python3 pretrain.py --count 200 --epochs 1 --out /tmp/try.pth      # a quick look at the steps
    python3 pretrain.py --start pretrained/unet_objects.pth --epochs 4 --learning-rate 3e-4   # train them on
    python3 pretrain.py --start pretrained/unet_objects.pth --count 36000 --shards 16 --device cuda --workers 7 \
        --batch-size 16 --epochs 3 --learning-rate 3e-4        # on a GPU and 16 cores: minutes

The shipped file was made in stages, each a run of this script from the previous one's file: the commands are
in pretrained/README.md.

1. Build the pretraining set in --work (make_pretraining_data.py: objects pasted on wallpapers and scene
   photographs, none of them the benchmark's), unless a set of the same --count, --seed and shares is there already.
2. Train a U-Net on it with train.py (--base-channels 32: a quarter of the default's time per step when you
   fine-tune it, and the file stays small), from random weights or from --start's.
3. Export the last epoch's weights (the averaged ones train.py validates) in half precision, with how they
   were made, to --out: 16 MB instead of 31.
"""
import argparse
import json
import subprocess
import sys
from pathlib import Path

from make_pretraining_data import (CLUTTER_SHARE, DECOY_SHARE, LANDSCAPE_SHARE, MONUMENT_SHARE, PHOTOGRAPHED_SHARE,
                                   SCENE_SHARE, SKYLINE_SHARE, check_shards, check_shares, get_sources, shares_of,
                                   write_shards)
from utils.image_checkpoint import PRETRAINED_WEIGHTS
from utils.checkpoint import load_checkpoint, save_checkpoint
from utils.errors import UserError, run_cli

REPO_ROOT = Path(__file__).resolve().parent
TRAIN_FLAGS = ["--base-channels", "32", "--validation", "2", "--warmup-epochs", "0.2"]


def get_args():
    parser = argparse.ArgumentParser(description="Pretrain the U-Net on generated images of objects on photographs")
    parser.add_argument("--out", "-o", type=Path, default=REPO_ROOT / PRETRAINED_WEIGHTS,
                        help="The weights file to write")
    parser.add_argument("--work", type=Path, default=Path("pretraining"),
                        help="Folder for the pretraining set (data/) and the training run (run/)")
    parser.add_argument("--count", "-n", type=int, default=12000, help="Images in the pretraining set")
    parser.add_argument("--epochs", "-e", type=int, default=6, help="Epochs of train.py on the set")
    parser.add_argument("--seed", type=int, default=0, help="Random seed of the set and of the training")
    parser.add_argument("--photographed-share", type=float, default=PHOTOGRAPHED_SHARE,
                        help="Share of the objects that are photographed things (make_pretraining_data.py)")
    parser.add_argument("--scene-share", type=float, default=SCENE_SHARE,
                        help="Share of the images whose background is a scene photograph (make_pretraining_data.py)")
    parser.add_argument("--landscape-share", type=float, default=LANDSCAPE_SHARE,
                        help="Share of the scene backgrounds that are landscapes (make_pretraining_data.py)")
    parser.add_argument("--clutter-share", type=float, default=CLUTTER_SHARE,
                        help="Share of the images whose background shows unmarked things (make_pretraining_data.py)")
    parser.add_argument("--monument-share", type=float, default=MONUMENT_SHARE,
                        help="Share of those backgrounds that are monuments (make_pretraining_data.py)")
    parser.add_argument("--skyline-share", type=float, default=SKYLINE_SHARE,
                        help="Share of the landscape backgrounds that are skylines over a sky (make_pretraining_data.py)")
    parser.add_argument("--decoy-share", type=float, default=DECOY_SHARE,
                        help="Share of the images with unmarked decoys below the objects (make_pretraining_data.py)")
    parser.add_argument("--shards", type=int, default=1,
                        help="Make the set in this many pieces, written by --jobs processes (make_pretraining_data.py)")
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


def build_set(folder: Path, count: int, seed: int, shards: int, jobs: int, shares: dict[str, float],
              sources_file: Path | None = None) -> None:
    """The pretraining set, reused when one of the same settings is complete (set.json is written last)."""
    settings = {"count": count, "seed": seed, **{name: shares[name] for name in
                                                 ("photographed_share", "scene_share", "landscape_share")}}
    if shares["clutter_share"] > 0:  # so a set made before the clutter existed is still recognized
        settings.update(clutter_share=shares["clutter_share"], monument_share=shares["monument_share"])
    if shares["skyline_share"] > 0:  # likewise for a set made before the skylines
        settings.update(skyline_share=shares["skyline_share"])
    if shares["decoy_share"] > 0:  # and before the decoys
        settings.update(decoy_share=shares["decoy_share"])
    if shards > 1:  # likewise for a set made in one piece
        settings.update(shards=shards)
    manifest = folder / "set.json"
    if manifest.is_file() and json.loads(manifest.read_text()) == settings:
        print(f"INFO: reusing the pretraining set in {folder}")
        return
    if (folder / "imgs").exists():
        raise UserError(f"--work: {folder} holds another or an unfinished set; delete it or give another --work")
    sources = get_sources(sources_file, shares)
    write_shards(folder, count, seed, shards, jobs, sources, **shares)
    manifest.write_text(json.dumps(settings))


def export_weights(checkpoint_path: Path, out: Path, provenance: dict) -> None:
    """The checkpoint's weights in half precision (what a starting point needs), its U-Net and mask values."""
    checkpoint = load_checkpoint(checkpoint_path, "checkpoint")
    half = {name: value.half() if value.is_floating_point() else value
            for name, value in checkpoint["state_dict"].items()}
    save_checkpoint({"state_dict": half, "model_config": checkpoint["model_config"],
                     "mask_values": checkpoint["mask_values"], "args": checkpoint["args"],
                     "history": checkpoint["history"], "pretraining": provenance}, out)


def main():
    args = get_args()
    if args.count < 10 or args.epochs < 1:
        raise UserError(f"--count {args.count} --epochs {args.epochs}: give at least 10 images and 1 epoch")
    check_shares(**shares_of(args))
    jobs = check_shards(args.count, args.shards, args.jobs)
    start = load_checkpoint(args.start, "--start") if args.start else None

    # 1. The pretraining set
    data_dir = args.work / "data"
    build_set(data_dir, args.count, args.seed, args.shards, jobs, shares_of(args), args.sources)

    # 2. Training (train.py refuses a run folder holding another run's checkpoints: --overwrite starts afresh)
    run_dir = args.work / "run"
    command = [sys.executable, str(REPO_ROOT / "train.py"), "--data-dir", str(data_dir), "--checkpoint-dir",
               str(run_dir), "--overwrite", "--epochs", str(args.epochs), "--seed", str(args.seed), *TRAIN_FLAGS,
               "--batch-size", str(args.batch_size), "--scale", str(args.scale), "--workers", str(args.workers)]
    command += ["--device", args.device] if args.device else []
    # --no-pretrained: never the shipped weights by default, which this script may be remaking
    command += ["--load", str(args.start)] if args.start else ["--no-pretrained"]
    if args.learning_rate is not None:
        command += ["--learning-rate", str(args.learning_rate)]
    print("INFO: " + " ".join(command[1:]))
    if subprocess.run(command).returncode != 0:
        raise UserError(f"train.py stopped (see its message above); nothing was written to {args.out}")

    # 3. Export
    set_command = (f"make_pretraining_data.py --count {args.count} --seed {args.seed} "
                   f"--photographed-share {args.photographed_share} --scene-share {args.scene_share} "
                   f"--landscape-share {args.landscape_share} --clutter-share {args.clutter_share} "
                   f"--monument-share {args.monument_share}")
    set_command += f" --skyline-share {args.skyline_share}" if args.skyline_share > 0 else ""
    set_command += f" --decoy-share {args.decoy_share}" if args.decoy_share > 0 else ""
    provenance = {"set": set_command + (f" --shards {args.shards}" if args.shards > 1 else ""),
                  "training": " ".join(["train.py", *command[2:]])}
    if start is not None:
        provenance["start"] = start.get("pretraining", str(args.start))
    export_weights(run_dir / f"checkpoint_epoch{args.epochs}.pth", args.out, provenance)
    size_mb = args.out.stat().st_size / 1e6
    print(f"INFO: wrote {args.out} ({size_mb:.1f} MB); fine-tune it with: "
          f"python3 train.py --load {args.out} --data-dir <your data> --scale 1")


if __name__ == "__main__":
    run_cli(main)
