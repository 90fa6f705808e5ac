"""Make the pretraining set behind the shipped weights pretrained/unet_objects.pth (pretrained/README.md).

    python3 -m pretrained.make_pretraining_data --count 12000 --out /tmp/pretraining      # about 3 minutes on 2 cores
    python3 -m pretrained.make_pretraining_data --count 36000 --seed 1000 --shards 16 --out /tmp/big   # all cores
    python3 -m pretrained.make_pretraining_data --save-sources sources.zip   # the pictures, for another machine
    python3 -m pretrained.make_pretraining_data --sources sources.zip --count 36000 --shards 16 --out /tmp/big

What the images are made of: pretrained/sources.py; how they are drawn: pretrained/pretraining_set.py; the flags
of the recipe: pretrained/recipe.py.
"""
if not __package__: import sys, pathlib; sys.path[0] = str(pathlib.Path(__file__).resolve().parents[1])  # noqa: E401,E702  run as a file: import from the repository root

import argparse
from pathlib import Path

from pretrained.pretraining_set import check_jobs, write_shards
from pretrained.recipe import Recipe
from pretrained.sources import find_sources, get_sources, save_sources
from utils.errors import UserError, run_cli


def get_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Make the pretraining set of objects pasted on photographs")
    parser.add_argument("--out", "-o", type=Path, default=None, help="Folder that gets imgs/ and masks/")
    Recipe.add_arguments(parser)
    parser.add_argument("--jobs", "-j", type=int, default=None,
                        help="Processes that write the pieces (default: one per core, at most --shards)")
    parser.add_argument("--save-sources", type=Path, default=None, metavar="FILE",
                        help="Only write every picture the sets are made of to FILE (a zip, about 200 MB), for "
                             "--sources on a machine without the Debian packages")
    parser.add_argument("--sources", type=Path, default=None, metavar="FILE",
                        help="Read the pictures from FILE (written by --save-sources) instead of the Debian packages")
    return parser.parse_args()


def main() -> None:
    args = get_args()
    if args.save_sources is not None:
        save_sources(find_sources(), args.save_sources)
        print(f"INFO: wrote the pictures to {args.save_sources} ({args.save_sources.stat().st_size / 1e6:.0f} MB); "
              f"build sets from them anywhere with --sources {args.save_sources}")
        return

    # 1. The recipe and where it goes: every bad flag stops here, before the pictures are read
    if args.out is None:
        raise UserError("--out: give the folder for the set's imgs/ and masks/, e.g. --out /tmp/pretraining")
    recipe = Recipe.from_args(args)
    recipe.check()
    jobs = check_jobs(recipe, args.jobs)
    if (args.out / "imgs").exists() and any((args.out / "imgs").iterdir()):
        raise UserError(f"{args.out}/imgs is not empty; give another --out or delete it")

    # 2. The pictures, from the Debian packages or a --save-sources file
    sources = get_sources(args.sources, recipe)
    print(f"INFO: {len(sources.photos)} photographs, {len(sources.drawn)} drawn objects, "
          f"{len(sources.outlines)} outlines, {len(sources.photographed)} photographed things, "
          f"{len(sources.scenes)} scene photographs, {len(sources.landscapes)} landscape pieces, "
          f"{len(sources.clutter)} scenes with unmarked things, {len(sources.monuments)} monuments")

    # 3. The set
    write_shards(args.out, recipe, sources, jobs)
    print(f"INFO: wrote {recipe.count} images to {args.out}/imgs and their masks to {args.out}/masks")


if __name__ == "__main__":
    run_cli(main)
