"""How well train.py generalizes from a few dozen real photographs (printed, never asserted).

Builds small sets from real photographs (benchmarks/photo_sets.py: photographic backgrounds, photographed things
cut out along their outlines, the test images made of photographs no training image uses; the photographs come
from Debian packages, see pretrained/photo_pools.APT_COMMAND), trains on each set's training images, scores the model with
evaluate.py on the set's 20 test images and prints one row per set and seed:

    set       seed  test Dice  val Dice  train s
    photos60     0     0.8512     0.612    221.3

then the means over seeds and draws, and the test Dice by background photograph over all runs, worst first,
with each one's share of the Dice lost: which test photographs the model fails on.

    python3 benchmarks/benchmark_photos.py --work /tmp/photos                      # sets 30, 60, 200, seed 0
    python3 benchmarks/benchmark_photos.py --work /tmp/photos --sets 60 --seeds 0 1 2
    python3 benchmarks/benchmark_photos.py --work /tmp/photos --sets 60 --train-args "--no-pretrained"
    python3 benchmarks/benchmark_photos.py --work /tmp/photos --sets 60 --set-seed 0 1 2 3 4 5 6 7 8 9  # 10 draws
    python3 benchmarks/benchmark_photos.py --work /tmp/photos --sets 60 --set-seed 0 1 2 3 4 5 6 7 8 9 --seeds 0 1 \
        --jobs 14 --train-args "--device cuda" --evaluate-args "--device cuda"   # 20 runs in minutes on a GPU
    python3 benchmarks/benchmark_photos.py --work /tmp/photos --quick              # seconds: checks that it runs

train.py starts from the shipped pretrained weights (pretrained/unet_objects.pth, which never saw a photograph of
these sets); for each set the benchmark also prints what those weights score with no training at all.

Target: mean test Dice >= 0.90 on the 60 set after 8 epochs at --scale 1, within 10 minutes of training on
2 CPU cores. The sets are built in --work once and reused; they are never committed.
"""
import argparse
import csv
import json
import os
import re
import shlex
import sys
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if not __package__:  # run as a file: import from the repository root
    sys.path[0] = str(REPO_ROOT)

from benchmarks.script_runs import epoch_lines, run  # noqa: E402
from benchmarks.photo_sets import build_photo_set  # noqa: E402
from utils.image_checkpoint import PRETRAINED_WEIGHTS  # noqa: E402
from utils.errors import UserError, run_cli  # noqa: E402

TRAIN_FLAGS = ["--batch-size", "4", "--scale", "1", "--amp"]  # the command, with --epochs
TEST_IMAGES = 20
SET_SEED = 0  # one seed for every set: the smaller training sets are the first images of the larger ones,
# and all sets share the same 20 test images, so the sizes are compared on the same test


def last_validation_dice(output: str) -> float | None:
    """The validation Dice of train.py's last epoch line (None when the run had no validation images)."""
    lines = epoch_lines(output)
    found = re.search(r"validation Dice = ([0-9.]+)", lines[-1]) if lines else None
    return float(found.group(1)) if found else None


def mean_dice(output: str) -> float:
    """The mean Dice of evaluate.py's last line ('mean  0.9020  0.8234   (5 images)')."""
    found = re.search(r"^mean\s+([0-9.]+)", output, re.MULTILINE)
    if found is None:
        raise RuntimeError(f"evaluate.py printed no mean line:\n{output[-2000:]}")
    return float(found.group(1))


def image_dice(output: str) -> dict[str, float]:
    """Each image's Dice from evaluate.py's per-image lines ('photo_0013  0.9802  0.9612')."""
    return {name: float(dice) for name, dice in re.findall(r"^(\S+)\s+([0-9.]+)\s+[0-9.]+\s*$", output, re.MULTILINE)
            if name != "mean"}


def background_name(path: str) -> str:
    """A background photograph's short name: a Plasma wallpaper's folder, else the file's name."""
    parts = Path(path).parts
    return parts[-4] if len(parts) >= 4 and parts[-3:-1] == ("contents", "images") else Path(path).stem


def background_lines(rows: list[dict]) -> list[str]:
    """Test Dice by background photograph over all runs, worst first, with each one's share of the Dice lost
    (1 - Dice summed): the test photographs a model fails on, when the mean alone does not say why."""
    scores: dict[str, list[float]] = {}
    for row in rows:
        sources = json.loads((row["set dir"] / "set.json").read_text())["sources"]["test"]
        for name, dice in row["image Dice"].items():
            scores.setdefault(background_name(sources[name]["background"]), []).append(dice)
    if not scores:
        return []
    lost = sum(1 - dice for values in scores.values() for dice in values)
    lines = [f"{'test background':<36} {'images':>6}  {'mean Dice':>9}  {'share of the loss':>17}"]
    for name, values in sorted(scores.items(), key=lambda item: sum(item[1]) / len(item[1])):
        share = sum(1 - dice for dice in values) / lost if lost else 0.0
        lines.append(f"{name:<36} {len(values):>6}  {sum(values) / len(values):9.4f}  {share:17.0%}")
    return lines


def benchmark_run(set_dir: Path, seed: int, epochs: int, train_args: list[str], evaluate_args: list[str],
                  runs_dir: Path) -> dict:
    """Train on set_dir/train, evaluate on set_dir/test; the run keeps only its final checkpoint."""
    checkpoints = runs_dir / f"{set_dir.name}_seed{seed}"
    seconds, output = run(["train.py", "--data-dir", str(set_dir / "train"), "--epochs", str(epochs), *TRAIN_FLAGS,
                           "--seed", str(seed), "--checkpoint-dir", str(checkpoints), "--overwrite", *train_args])
    final = checkpoints / f"checkpoint_epoch{epochs}.pth"
    _, evaluation = run(["evaluate.py", "-m", str(final), "--data-dir", str(set_dir / "test"), *evaluate_args])
    for path in checkpoints.glob("*.pth"):  # 0.5 GB per epoch at base 64: keep only what was scored
        if path != final:
            path.unlink()
    return {"set": set_dir.name, "seed": seed, "test Dice": mean_dice(evaluation),
            "val Dice": last_validation_dice(output), "train s": seconds,
            "set dir": set_dir, "image Dice": image_dice(evaluation)}


def format_row(row: dict) -> str:
    val = "-" if row["val Dice"] is None else f"{row['val Dice']:.3f}"
    return f"{row['set']:<14} {row['seed']:>4}  {row['test Dice']:9.4f}  {val:>8}  {row['train s']:7.1f}"


def get_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", "-w", required=True, metavar="DIR",
                        help="Folder for the photo sets (built once, then reused) and the runs' checkpoints")
    parser.add_argument("--sets", nargs="+", type=int, default=[30, 60, 200], metavar="N",
                        help="Training-set sizes (each set has 20 test images)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0], metavar="S", help="train.py --seed values")
    parser.add_argument("--epochs", "-e", type=int, default=8, help="train.py --epochs")
    parser.add_argument("--set-seed", type=int, nargs="+", default=[SET_SEED], metavar="S", dest="set_seeds",
                        help="Draw other sets (other images and test images from the same photographs), in "
                             "photosN_setS folders: a check on sets a setting was not chosen on; several seeds "
                             "also print the mean over those draws, the figure to judge a setting by")
    parser.add_argument("--train-args", default="", metavar="FLAGS",
                        help='More train.py flags, e.g. "--base-channels 32" (they override the benchmark\'s)')
    parser.add_argument("--evaluate-args", default="", metavar="FLAGS", help='More evaluate.py flags, e.g. "--tta"')
    parser.add_argument("--jobs", "-j", type=int, default=1, metavar="N",
                        help="Runs at once, sharing the cores (and a GPU, with --train-args and --evaluate-args "
                             "\"--device cuda\"): for many draws and seeds; the 'train s' column then is no timing")
    parser.add_argument("--csv", default=None, metavar="FILE", help="Also append the rows to this CSV file")
    parser.add_argument("--quick", action="store_true",
                        help="Tiny: a 10-image set, 4 test images, 1 epoch, a narrow model; checks that it runs")
    args = parser.parse_args(argv)
    if args.epochs < 1:
        raise UserError(f"--epochs {args.epochs}: must be at least 1, e.g. --epochs 8")
    if args.jobs < 1:
        raise UserError(f"--jobs {args.jobs}: must be at least 1, e.g. --jobs 8")
    if any(size < 2 for size in args.sets):
        raise UserError(f"--sets {' '.join(map(str, args.sets))}: every size must be at least 2 (one image is "
                        "kept for validation), e.g. --sets 30 60 200")
    return args


def set_folder_name(size: int, set_seed: int) -> str:
    """photosN for the benchmark's own sets (the names every earlier run used), photosN_setS for other draws."""
    return f"photos{size}" if set_seed == SET_SEED else f"photos{size}_set{set_seed}"


def starting_weights(train_args: list[str]) -> str:
    """The weights train.py starts from: --load's (or -f's) file, else the shipped pretrained ones."""
    for i, flag in enumerate(train_args):
        if flag in ("--load", "-f") and i + 1 < len(train_args):
            return train_args[i + 1]
        if flag.startswith("--load="):
            return flag.removeprefix("--load=")
    return str(REPO_ROOT / PRETRAINED_WEIGHTS)


def summary_lines(rows: list[dict], sizes: list[int], set_seeds: list[int]) -> list[str]:
    """The mean over the seeds of each set, and for each size drawn more than once, the mean over the draws
    (every run counted once) with the range of the draws' own means: one draw of 20 test images can sit
    0.06 above or below another, more than most settings change."""
    lines = []
    for size in sizes:
        draw_means = []
        for set_seed in set_seeds:
            name = set_folder_name(size, set_seed)
            scores = [row["test Dice"] for row in rows if row["set"] == name]
            if scores:
                draw_means.append(sum(scores) / len(scores))
            if len(scores) > 1:
                lines.append(f"{name}: mean test Dice {draw_means[-1]:.4f} over {len(scores)} seeds "
                             f"({min(scores):.4f}-{max(scores):.4f})")
        if len(draw_means) > 1:
            runs = [row["test Dice"] for row in rows
                    if row["set"] in {set_folder_name(size, set_seed) for set_seed in set_seeds}]
            lines.append(f"photos{size} over {len(draw_means)} draws: mean test Dice {sum(runs) / len(runs):.4f} "
                         f"({len(runs)} runs; the draws' means {min(draw_means):.4f}-{max(draw_means):.4f})")
    return lines


def main() -> None:
    args = get_args()
    work = Path(args.work)
    train_args = shlex.split(args.train_args)
    sizes, test_images, epochs = args.sets, TEST_IMAGES, args.epochs
    if args.quick:
        sizes, test_images, epochs = [10], 4, 1
        train_args = ["--base-channels", "8", *train_args]
    print(f"train.py --epochs {epochs} {' '.join(TRAIN_FLAGS)} {' '.join(train_args)}".rstrip()
          + f"; evaluate.py {args.evaluate_args}".rstrip(), flush=True)
    print(f"{'set':<14} {'seed':>4}  {'test Dice':>9}  {'val Dice':>8}  {'train s':>7}", flush=True)
    if args.jobs > 1:  # the runs share the cores (children inherit this)
        os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // args.jobs))
    runs = []
    for size, set_seed in ((size, set_seed) for set_seed in args.set_seeds for size in sizes):
        set_dir = build_photo_set(work / set_folder_name(size, set_seed), size, test_images, set_seed)
        if not args.quick and "--no-pretrained" not in train_args:
            _, evaluation = run(["evaluate.py", "-m", starting_weights(train_args), "--data-dir", str(set_dir / "test"),
                                 "--scale", "1", *shlex.split(args.evaluate_args)])
            print(f"{set_dir.name:<14} {'-':>4}  {mean_dice(evaluation):9.4f}  {'-':>8}  {'-':>7}   "
                  f"(the pretrained weights alone, no training)", flush=True)
        runs += [(set_dir, seed) for seed in args.seeds]
    rows = []
    with ThreadPoolExecutor(args.jobs) as pool:  # rows printed as the runs end
        futures = [pool.submit(benchmark_run, set_dir, seed, epochs, train_args, shlex.split(args.evaluate_args),
                               work / "runs") for set_dir, seed in runs]
        for future in as_completed(futures):
            rows.append(future.result())
            print(format_row(rows[-1]), flush=True)
    if args.csv:
        path = Path(args.csv)
        new_file = not path.is_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", newline="") as f:
            writer = csv.writer(f)
            if new_file:
                writer.writerow(["set", "seed", "test_dice", "val_dice", "train_s", "train_args", "evaluate_args"])
            for row in rows:
                writer.writerow([row["set"], row["seed"], f"{row['test Dice']:.4f}", row["val Dice"],
                                 f"{row['train s']:.1f}", " ".join(train_args), args.evaluate_args])
    for line in summary_lines(rows, sizes, args.set_seeds):
        print(line)
    breakdown = background_lines(rows)
    if breakdown:
        print("\n" + "\n".join(breakdown))


if __name__ == "__main__":
    run_cli(main)
