"""Measure the tutorial on one GPU in under 10 minutes, offline (one table printed and written as JSON, nothing
asserted), each part run as its own process, as a user runs it:

  separator training  40 demo songs of 60-120 s in the MUSDB18-HQ layout (16-bit WAV, about 1 hour: streamed
                      from disk, as MUSDB18-HQ would be), made in parallel on the cores, then
                      train_separator.py --preset musdb-gpu for 3 minutes: steps/s, examples/s, share of the time
                      waiting for data, seconds to the first step, seconds per validation
  image training      the README's Step 1 (train.py on data/, 10 epochs, batch 2) and 2000 demo images of
                      256 px at full scale (batch 16, 3 epochs), both fp16 (--amp): seconds per epoch, images/s,
                      the last validation Dice
  separation          separate.py on a 3- and a 10-minute song with the model trained above: real-time factor
                      of the whole process and in-process (separate.py's own figure, start-up excluded)
  DDP                 torchrun --nproc_per_node=1 on train_separator.py: the process-group backend that started
                      (NCCL on CUDA, gloo on a CPU) and its steps/s
and for each: peak GPU memory (torch.cuda.max_memory_allocated in that process) and peak RSS (the process and
its children, DataLoader workers included, sampled every 0.2 s).

    python3 benchmarks/benchmark_gpu.py --work /data/gpu_benchmark --json gpu.json   # one GPU, ~7 min
    python3 benchmarks/benchmark_gpu.py --device cpu --quick                        # CI: tiny sizes, ~1.5 min
    python3 benchmarks/benchmark_gpu.py --minutes 5 -- --batch-size 32   # after --: more train_separator.py flags

--quick makes every part tiny (3 songs of 10-12 s, a 4-channel U-Net, 12 images of 64 px, songs of 15 s and
1 minute standing in for 3 and 10 minutes); size flags given with it still win. --work keeps the song set and
the images for the next run (default: a temporary folder, deleted at the end).
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if not __package__:  # run as a file: import from the repository root
    sys.path[0] = str(REPO_ROOT)

import torch  # noqa: E402

from benchmarks.musdb_like import (DEVICE_LINE, Finished, build_song_set, run_measured, training_figures,  # noqa: E402
                                   write_long_song)
from utils.errors import UserError, run_cli  # noqa: E402
from vocal_separation_sanity_check.training import PRESETS  # noqa: E402

PRESET = "musdb-gpu"
GPU_SIZES = {"songs": 40, "song_seconds": [60.0, 120.0], "minutes": 3.0, "step1_epochs": 10, "images": 2000,
             "image_size": 256, "image_epochs": 3, "image_batch": 16, "song_minutes": [3.0, 10.0], "ddp_steps": 20}
QUICK_SIZES = {"songs": 3, "song_seconds": [10.0, 12.0], "minutes": 1.0, "step1_epochs": 2, "images": 12,
               "image_size": 64, "image_epochs": 2, "image_batch": 4, "song_minutes": [0.25, 1.0], "ddp_steps": 2}
# --quick: a tiny separator that streams its data through one DataLoader worker, as a GPU run does.
QUICK_SEPARATOR_FLAGS = ["--epochs", "2", "--samples-per-epoch", "16", "--batch-size", "4", "--patch-frames", "32",
                         "--base-channels", "4", "--valid-seconds", "2", "--valid-tracks", "2",
                         "--speed-semitones", "0", "--data", "stream", "--workers", "1"]
PROBE_TAG = "BENCHMARK_PROBE "
# Run in each child with `python -c PROBE TARGET ARGS...`: TARGET (a module, or a .py file) runs as __main__, as
# `python -m`/`python FILE` would run it. At exit it prints one line: the process-group backend torchrun's
# process started (if any), the peak GPU memory, and the seconds of each call of $BENCHMARK_TIMED (module:function).
PROBE = r"""
import atexit, importlib, json, os, runpy, sys, time
import torch
import torch.distributed as dist
report = {"timed": []}
start_group = dist.init_process_group
def init_process_group(*args, **kwargs):
    start_group(*args, **kwargs)
    report["backend"] = str(dist.get_backend())
dist.init_process_group = init_process_group
if os.environ.get("BENCHMARK_TIMED"):
    module_name, name = os.environ["BENCHMARK_TIMED"].split(":")
    module = importlib.import_module(module_name)
    function = getattr(module, name)
    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            report["timed"].append(time.perf_counter() - start)
    setattr(module, name, timed)
@atexit.register
def tell():
    if torch.cuda.is_initialized():
        report.update(cuda_peak=torch.cuda.max_memory_allocated(), cuda_reserved=torch.cuda.max_memory_reserved(),
                      cuda_name=torch.cuda.get_device_name())
    print(%r + json.dumps(report), file=sys.stderr, flush=True)
sys.argv = sys.argv[1:]
if sys.argv[0].endswith(".py"):
    runpy.run_path(sys.argv[0], run_name="__main__")
else:
    runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
""" % PROBE_TAG
EPOCH_LINE = r"^Epoch (\d+)/(\d+): Loss = ([\d.]+)(?:, validation Dice = ([\d.]+))?"
GB = 2**30


def defaults(key: str) -> str:
    """A size flag's defaults, for its help."""
    gpu, quick = (" ".join(f"{value:g}" for value in (sizes[key] if isinstance(sizes[key], list) else [sizes[key]]))
                  for sizes in (GPU_SIZES, QUICK_SIZES))
    return f"(default {gpu}; --quick {quick})"


def get_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", "-d", default="cuda", help="cuda, cuda:N or cpu (default cuda)")
    parser.add_argument("--quick", "-q", action="store_true", help="Tiny sizes, for a CPU and CI (about 1.5 min)")
    parser.add_argument("--work", "-w", type=Path, default=None,
                        help="Folder for the songs, images, checkpoints and outputs, reused (default: a temporary one)")
    parser.add_argument("--json", "-j", type=Path, default=Path("benchmark_gpu.json"),
                        help="Where the table goes as JSON (default benchmark_gpu.json)")
    parser.add_argument("--songs", "-n", type=int, help=f"Songs in the training set {defaults('songs')}")
    parser.add_argument("--song-seconds", "-s", type=float, nargs=2, metavar=("SHORTEST", "LONGEST"),
                        help=f"Range of the songs' lengths {defaults('song_seconds')}")
    parser.add_argument("--minutes", "-m", type=float, help=f"Separator training time {defaults('minutes')}")
    parser.add_argument("--step1-epochs", type=int, help=f"Epochs of the README's Step 1 {defaults('step1_epochs')}")
    parser.add_argument("--images", "-i", type=int, help=f"Images in the larger image set {defaults('images')}")
    parser.add_argument("--image-size", type=int, help=f"Their width and height in pixels {defaults('image_size')}")
    parser.add_argument("--image-epochs", type=int, help=f"Epochs on the larger image set {defaults('image_epochs')}")
    parser.add_argument("--image-batch", type=int, help=f"Batch size on the larger image set {defaults('image_batch')}")
    parser.add_argument("--song-minutes", type=float, nargs=2, metavar=("SHORT", "LONG"),
                        help=f"Lengths of the two songs to separate {defaults('song_minutes')}")
    parser.add_argument("--ddp-steps", type=int, help=f"Training steps under torchrun {defaults('ddp_steps')}")
    parser.add_argument("--workers", type=int, default=None,
                        help="Processes that make songs and images at once (default: one per core, fewer where the "
                             "RAM is short)")
    parser.add_argument("extra", nargs="*", help="After --: more train_separator.py flags, for training and DDP")
    quick = parser.parse_known_args(argv)[0].quick
    parser.set_defaults(**(QUICK_SIZES if quick else GPU_SIZES))
    return parser.parse_args(argv)


def check_args(args: argparse.Namespace) -> None:
    for flag, value, minimum in [("--songs", args.songs, 1), ("--song-seconds", min(args.song_seconds), 10),
                                 ("--minutes", args.minutes, 0.1), ("--step1-epochs", args.step1_epochs, 1),
                                 ("--images", args.images, 10), ("--image-size", args.image_size, 32),
                                 ("--image-epochs", args.image_epochs, 1), ("--image-batch", args.image_batch, 1),
                                 ("--song-minutes", min(args.song_minutes), 0.05), ("--ddp-steps", args.ddp_steps, 1),
                                 ("--workers", 1 if args.workers is None else args.workers, 1)]:
        if value < minimum:
            raise UserError(f"{flag} {value:g}: must be at least {minimum:g}")
    if args.song_seconds[0] > args.song_seconds[1]:
        raise UserError(f"--song-seconds {args.song_seconds[0]:g} {args.song_seconds[1]:g}: give the shortest first")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {args.device}: no CUDA GPU here; use --device cpu (with --quick on a small machine)")
    if args.device != "cpu" and not args.device.startswith("cuda"):
        raise UserError(f"--device {args.device}: give cuda, cuda:N or cpu")
    if args.json.is_dir():
        raise UserError(f"--json {args.json}: is a folder; give a file name such as benchmark_gpu.json")


def probe_report(finished: Finished) -> dict:
    """The probe's line: backend, cuda_peak and cuda_reserved (bytes), cuda_name, timed (seconds per call)."""
    for _, line in reversed(finished.lines):
        if line.startswith(PROBE_TAG):
            return json.loads(line[len(PROBE_TAG):])
    return {"timed": []}


def run_probed(label: str, target: list[str], timed: str | None = None) -> tuple[Finished, dict]:
    """Run a script (`target`: a module or file, then its flags) under the probe; a failure ends the benchmark."""
    return run_checked(label, [sys.executable, "-c", PROBE, *target], timed)


def run_checked(label: str, command: list[str], timed: str | None = None) -> tuple[Finished, dict]:
    print(f"INFO: {label} ...", flush=True)
    env = {**os.environ, "BENCHMARK_TIMED": timed or ""}
    finished = run_measured(command, cwd=REPO_ROOT, env=env)
    if finished.returncode != 0:
        print("\n".join(line for _, line in finished.lines[-40:]), file=sys.stderr)
        raise UserError(f"{label}: exited with code {finished.returncode} (its last lines are above)")
    return finished, probe_report(finished)


def memory_figures(finished: Finished, probe: dict) -> dict:
    """Peak GPU memory (allocated and reserved by PyTorch; None on a CPU) and peak RSS, in GB."""
    return {"gpu_peak_gb": probe["cuda_peak"] / GB if "cuda_peak" in probe else None,
            "gpu_reserved_gb": probe["cuda_reserved"] / GB if "cuda_reserved" in probe else None,
            "peak_rss_gb": finished.peak_rss / GB, "wall_seconds": finished.wall}


def flag_value(flags: list[str], names: tuple[str, ...]) -> str | None:
    """The value of the last of `names` in `flags` (as argparse reads them: `--flag value` or `--flag=value`)."""
    value = None
    for index, flag in enumerate(flags):
        name, equals, given = flag.partition("=")
        if name in names:
            value = given if equals else (flags[index + 1] if index + 1 < len(flags) else None)
    return value


def separator_flags(args: argparse.Namespace) -> list[str]:
    """train_separator.py's flags: the GPU preset, or --quick's tiny model; then --minutes and the user's."""
    sizes = QUICK_SEPARATOR_FLAGS if args.quick else ["--preset", PRESET]
    return [*sizes, "--max-minutes", f"{args.minutes:g}", "--device", args.device, *args.extra]


def batch_size(flags: list[str]) -> int:
    """The batch size that train_separator.py will use with `flags`."""
    given = flag_value(flags, ("--batch-size", "-b"))
    preset = flag_value(flags, ("--preset",))
    return int(given) if given else PRESETS[preset]["batch_size"] if preset else 8


def train_separator(label: str, root: Path, work: Path, flags: list[str], set_seconds: float) -> tuple[dict, Path]:
    """train_separator.py on the song set: its speed, validation time and memory; and its best.pth."""
    checkpoints = work / "checkpoints_separator"
    finished, probe = run_probed("Training the separator", [
        "vocal_separation_sanity_check.train_separator", "--root", str(root), "--checkpoint-dir", str(checkpoints),
        "--overwrite", *flags], timed="vocal_separation_sanity_check.training:validate")
    try:
        figures = training_figures(finished.output)
    except ValueError as error:
        raise UserError(f"train_separator.py: {error}") from None
    device = finished.first(DEVICE_LINE)
    batch = batch_size(flags)
    result = {"label": label,
              "songs": sum(path.is_dir() for path in (root / "train").iterdir()), "set_build_seconds": set_seconds,
              "batch_size": batch, "steps": figures["steps"], "training_seconds": figures["seconds"],
              "steps_per_second": figures["steps_per_second"],
              "examples_per_second": figures["steps_per_second"] * batch, "waiting_percent": figures["waiting"],
              "first_step_seconds": figures["first_step"], "training_data": figures["data"],
              "validations": len(probe["timed"]),
              "validation_seconds": statistics.median(probe["timed"]) if probe["timed"] else None,
              "precision": device[1][3].strip() if device else "", "device_name": probe.get("cuda_name"),
              **memory_figures(finished, probe)}
    return result, checkpoints / "best.pth"


def make_images(out: Path, count: int, size: int, workers: int) -> float:
    """make_demo_data.py in `workers` processes at once (each its own seed and file prefix); the seconds it took."""
    done, recipe = out / ".complete", f"{count} images of {size} px"
    if done.is_file() and done.read_text() == recipe:
        print(f"INFO: Reusing {out} ({recipe})", flush=True)
        return 0.0
    start = time.perf_counter()
    shares = [count // workers + (part < count % workers) for part in range(workers)]
    commands = [[sys.executable, "make_demo_data.py", "--count", str(share), "--size", str(size), "--out", str(out),
                 "--seed", str(part), "--prefix", f"part{part}"] for part, share in enumerate(shares) if share]
    print(f"INFO: Making {count} images of {size} px in {out}, {len(commands)} processes at once", flush=True)
    with ThreadPoolExecutor(len(commands)) as pool:
        for finished in pool.map(lambda command: run_measured(command, cwd=REPO_ROOT), commands):
            if finished.returncode != 0:
                print(finished.output[-3000:], file=sys.stderr)
                raise UserError(f"make_demo_data.py: exited with code {finished.returncode} (its output is above)")
    done.write_text(recipe)
    return time.perf_counter() - start


def image_figures(finished: Finished) -> dict:
    """From train.py's output: seconds per epoch (between the epoch lines, so the first epoch's warm-up is left
    out when there are two or more), training images, images/s, the last validation Dice, the precision."""
    epochs = finished.every(EPOCH_LINE)
    started = finished.first(r"Starting training:")
    if not epochs or started is None:
        raise UserError("train.py: no 'Epoch k/E: Loss = ...' line in its output (did it train at all?)")
    if len(epochs) > 1:
        epoch_seconds = (epochs[-1][0] - epochs[0][0]) / (len(epochs) - 1)
    else:
        epoch_seconds = epochs[0][0] - started[0]
    size = finished.first(r"Training size:\s+(\d+)")
    precision = finished.first(r"Mixed precision:\s+(.+)")
    images = int(size[1][1]) if size else 0
    dice = epochs[-1][1][4]
    return {"epochs": len(epochs), "epoch_seconds": epoch_seconds, "training_images": images,
            "images_per_second": images / epoch_seconds, "dice": float(dice) if dice else None,
            "precision": precision[1][1].strip() if precision else ""}


def train_images(label: str, data: Path, checkpoints: Path, flags: list[str], device: str) -> dict:
    finished, probe = run_probed(f"Training {label}", [
        "train.py", "--data-dir", str(data), "--checkpoint-dir", str(checkpoints), "--overwrite", "--amp",
        "--device", device, *flags])
    return {"label": label, **image_figures(finished), **memory_figures(finished, probe)}


def separate(label: str, model: Path, song: Path, minutes: float, out: Path, device: str) -> dict:
    """separate.py on one song: real time factors, whole process (start-up included) and in-process."""
    finished, probe = run_probed(f"Separating {label}", [
        "vocal_separation_sanity_check.separate", "-m", str(model), "-i", str(song), "-o", str(out),
        "--device", device])
    speed = finished.first(r"\(([\d.]+)x real time\)")
    if speed is None:
        raise UserError("separate.py: no '(Nx real time)' line in its output")
    in_process = float(speed[1][1])
    return {"label": label, "song_minutes": minutes, "realtime_in_process": in_process,
            "realtime_whole_process": minutes * 60 / finished.wall,
            "startup_seconds": finished.wall - minutes * 60 / in_process, **memory_figures(finished, probe)}


def torchrun_separator(root: Path, work: Path, flags: list[str], steps: int) -> dict:
    """train_separator.py under torchrun, one process: which process-group backend started, and its speed."""
    batch = batch_size(flags)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=1", "--no-python",
               sys.executable, "-c", PROBE, "vocal_separation_sanity_check.train_separator", "--root", str(root),
               "--checkpoint-dir", str(work / "checkpoints_ddp"), "--overwrite", *flags,
               "--epochs", "1", "--samples-per-epoch", str(steps * batch), "--valid-tracks", "2"]
    finished, probe = run_checked("torchrun --nproc_per_node=1 train_separator.py", command)
    try:
        figures = training_figures(finished.output)
    except ValueError as error:
        raise UserError(f"train_separator.py under torchrun: {error}") from None
    device = finished.first(DEVICE_LINE)
    return {"label": "torchrun DDP, 1 process", "backend": probe.get("backend"),
            "processes": int(device[1][2]) if device else None, "steps": figures["steps"],
            "steps_per_second": figures["steps_per_second"], "first_step_seconds": figures["first_step"],
            **memory_figures(finished, probe)}


def gb(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} GB"


def seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def table_row(key: str, part: dict) -> tuple[str, str]:
    """A part's speed, and what else it measured, for the table."""
    if key == "separator_training":
        return (f"{part['steps_per_second']:.2f} steps/s, {part['examples_per_second']:.1f} ex/s",
                f"waiting {part['waiting_percent']}%, 1st step {seconds(part['first_step_seconds'])}, "
                f"validation {seconds(part['validation_seconds'])}")
    if key.startswith("image"):
        dice = "-" if part["dice"] is None else f"{part['dice']:.3f}"
        return (f"{part['epoch_seconds']:.2f} s/epoch, {part['images_per_second']:.1f} img/s",
                f"Dice {dice}, {part['precision']}")
    if key.startswith("separate"):
        return (f"{part['realtime_in_process']:.1f}x in-process, {part['realtime_whole_process']:.1f}x whole",
                f"start-up {seconds(part['startup_seconds'])}")
    return f"{part['steps_per_second']:.2f} steps/s", f"backend {part['backend']}, {part['processes']} process(es)"


def table(sections: dict[str, dict]) -> str:
    """One row per part: its speed, what else it measured, peak GPU memory and peak RSS."""
    lines = [f"{'part':<35}{'speed':<35}{'also':<46}{'GPU peak':>10}{'RSS peak':>10}"]
    for key, part in sections.items():
        speed, also = table_row(key, part)
        lines.append(f"{part['label']:<35}{speed:<35}{also:<46}{gb(part['gpu_peak_gb']):>10}"
                     f"{gb(part['peak_rss_gb']):>10}")
    return "\n".join(lines)


def image_parts(args: argparse.Namespace, work: Path) -> dict[str, dict]:
    """The README's Step 1, then a larger set of demo images at full scale, both in mixed precision."""
    step1_flags = ["--epochs", str(args.step1_epochs), "--batch-size", "2", "--validation", "20"]
    step1 = train_images("image Step 1 (5 images)", REPO_ROOT / "data", work / "checkpoints_step1", step1_flags,
                         args.device)
    images = work / f"images_{args.images}x{args.image_size}"
    cores = args.workers or os.cpu_count() or 1
    make_seconds = make_images(images, args.images, args.image_size, cores)
    loaders = "0" if args.device == "cpu" else str(min(8, max(1, cores - 1)))  # a CPU computes, not loads
    large_flags = ["--epochs", str(args.image_epochs), "--batch-size", str(args.image_batch), "--validation", "10",
                   "--scale", "1", "--workers", loaders]
    large = train_images(f"image {args.images} x {args.image_size} px", images, work / "checkpoints_images",
                         large_flags, args.device)
    return {"image_step1": step1,
            "image_large": {**large, "images": args.images, "image_size": args.image_size,
                            "make_seconds": make_seconds}}


def separation_parts(args: argparse.Namespace, work: Path, model: Path, source: Path) -> dict[str, dict]:
    """separate.py on a short and a long song: `source` (a training song's mixture) repeated to their lengths."""
    parts = {}
    for key, minutes in zip(("separate_short", "separate_long"), args.song_minutes):
        song = work / f"song_{minutes:g}min.wav"
        if not song.is_file():
            write_long_song(song, source, minutes)
        parts[key] = separate(f"separate {minutes:g}-min song", model, song, minutes, work / "separated", args.device)
    return parts


def run_all(args: argparse.Namespace, work: Path) -> dict[str, dict]:
    """Every part in turn, each part's figures under its key (the table's order)."""
    set_start = time.perf_counter()
    folders = build_song_set(work / "songs", args.songs, tuple(args.song_seconds), workers=args.workers)
    flags = separator_flags(args)
    label = f"separator {'tiny (--quick)' if args.quick else PRESET}, {args.songs} songs"
    training, model = train_separator(label, work / "songs", work, flags, time.perf_counter() - set_start)
    return {"separator_training": training, **image_parts(args, work),
            **separation_parts(args, work, model, folders[0] / "mixture.wav"),
            "ddp": torchrun_separator(work / "songs", work, flags, args.ddp_steps)}


def main() -> None:
    args = get_args()
    check_args(args)
    start = time.perf_counter()
    print(f"INFO: {'--quick on ' if args.quick else ''}{args.device}, torch {torch.__version__}, "
          f"{os.cpu_count()} CPU cores", flush=True)
    with tempfile.TemporaryDirectory(prefix="benchmark_gpu_") as temporary:
        work = args.work or Path(temporary)
        work.mkdir(parents=True, exist_ok=True)
        sections = run_all(args, work)
    total = time.perf_counter() - start
    result = {"device": args.device, "device_name": sections["separator_training"]["device_name"],
              "quick": args.quick, "torch": torch.__version__, "cpu_cores": os.cpu_count(),
              "total_seconds": total, "sizes": {key: getattr(args, key) for key in GPU_SIZES},
              "separator_flags": separator_flags(args), "sections": sections}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print()
    print(table(sections))
    print(f"\nINFO: All parts in {total / 60:.1f} min; the table is in {args.json}")


if __name__ == "__main__":
    run_cli(main)
