"""onnxruntime against PyTorch on this CPU: separation speed of a 3-minute stereo song, image prediction speed,
start-up, and the exported files' sizes (printed, never asserted).

Each separation is a separate.py process, as a user waits for it: in-process is separate.py's own figure (audio
seconds / separation seconds, writing included), whole process is audio seconds / wall time, and start-up the
difference (imports, model load; the ONNX run never imports PyTorch). PyTorch runs twice: in float32 (--no-amp, what
the .onnx file computes) and with separate.py's default precision (bf16 on CPUs that have it in hardware, else
float32). Each configuration runs --repeats times and the fastest is reported: other load on a shared machine only
ever slows a run down.

    python3 benchmarks/benchmark_onnx.py                        # untrained default-size separator, 3-minute song
    python3 benchmarks/benchmark_onnx.py -m checkpoints/separator/best.pth
    python3 benchmarks/benchmark_onnx.py --quick                # a 20 s song, one repeat: checks that it runs
"""
import argparse
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parent.parent
if not __package__:  # run as a file: import from the repository root
    sys.path[0] = str(REPO_ROOT)

from benchmarks.musdb_like import write_long_song  # noqa: E402
from benchmarks.script_runs import run  # noqa: E402
from utils.data_loading import load_image  # noqa: E402
from utils.device import precision_name  # noqa: E402
from utils.image_checkpoint import load_unet, shipped_weights_path, training_scale  # noqa: E402
from utils.inference import predict_img  # noqa: E402
from utils.onnx_image import OnnxUNet  # noqa: E402
from vocal_separation_sanity_check.audio import DEFAULT_STFT, write_audio  # noqa: E402
from vocal_separation_sanity_check.demo_songs import make_song  # noqa: E402
from vocal_separation_sanity_check.model import SpectrogramUNet  # noqa: E402
from vocal_separation_sanity_check.separator import save_separator  # noqa: E402

RATE = DEFAULT_STFT.sample_rate


def cpu_description() -> str:
    """The CPU's model name and the flags that decide fp32 / bf16 speed, from /proc/cpuinfo (Linux)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown CPU"
    name = re.search(r"model name\s*:\s*(.*)", text)
    flags = set(re.search(r"flags\s*:\s*(.*)", text).group(1).split()) if "flags" in text else set()
    wanted = [flag for flag in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if flag in flags]
    return f"{name.group(1).strip() if name else 'unknown CPU'}, {os.cpu_count()} cores, flags: {' '.join(wanted)}"


def write_song(path: Path, seconds: float) -> None:
    """A demo song (at most 30 s) repeated to `seconds`, stereo float at 44.1 kHz."""
    source = path.with_name("source.wav")
    write_audio(source, make_song(0, min(30.0, seconds))["mixture"], RATE)
    write_long_song(path, source, seconds / 60)


def separation(model: Path, song: Path, out: Path, extra: list[str], repeats: int) -> tuple[float, float]:
    """(in-process x real time, wall seconds) of the fastest of `repeats` separate.py runs."""
    best = (0.0, float("inf"))
    for _ in range(repeats):
        wall, output = run(["vocal_separation_sanity_check/separate.py", "-m", str(model), "-i", str(song),
                                  "-o", str(out), *extra])
        speed = float(re.search(r"\(([\d.]+)x real time\)", output).group(1))
        best = (max(best[0], speed), min(best[1], wall))
    return best


def image_speed(repeats: int) -> list[str]:
    """Milliseconds per demo photo, PyTorch (float32) against onnxruntime, in one process, after a warm-up."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "unet_objects.onnx"
        run(["export_onnx.py", "-m", str(shipped_weights_path()), "-o", str(path)])
        net, _, checkpoint = load_unet(shipped_weights_path())
        onnx_model = OnnxUNet(path)
        scale = training_scale(checkpoint)
        images = [load_image(p) for p in sorted((REPO_ROOT / "data" / "imgs").glob("*.png"))]
        runners = {"PyTorch": lambda image: predict_img(net, image, torch.device("cpu"), scale),
                   "onnxruntime": lambda image: onnx_model.predict(image, scale)}
        times = {}
        for name, predict in runners.items():
            predict(images[0])  # warm-up
            best = float("inf")
            for _ in range(repeats):
                start = time.perf_counter()
                for image in images:
                    predict(image)
                best = min(best, (time.perf_counter() - start) / len(images))
            times[name] = best * 1000
        size = path.stat().st_size / 1e6
    pth = shipped_weights_path().stat().st_size / 1e6
    return [f"image U-Net (pretrained/unet_objects.pth, {images[0].size[0]}x{images[0].size[1]} photos at scale "
            f"{scale:g}): PyTorch {times['PyTorch']:.0f} ms/image, onnxruntime {times['onnxruntime']:.0f} ms/image "
            f"({times['PyTorch'] / times['onnxruntime']:.2f}x); .onnx {size:.1f} MB (float32) against the .pth's "
            f"{pth:.1f} MB (float16)"]


def main() -> None:
    parser = argparse.ArgumentParser(description="onnxruntime against PyTorch: speed, start-up, file sizes")
    parser.add_argument("--model", "-m", type=Path, default=None,
                        help="Separator checkpoint (default: an untrained default-size model: speed does not depend "
                             "on the weights)")
    parser.add_argument("--minutes", type=float, default=3.0, help="Length of the test song")
    parser.add_argument("--repeats", type=int, default=2, help="Runs of each configuration; the fastest is reported")
    parser.add_argument("--quick", action="store_true", help="A 20 s song, one run each (checks that it runs)")
    args = parser.parse_args()
    seconds = 20.0 if args.quick else args.minutes * 60
    repeats = 1 if args.quick else args.repeats
    print(f"CPU: {cpu_description()}; torch {torch.__version__} ({torch.get_num_threads()} threads); "
          f"load average before: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = args.model
        if model is None:
            model = tmp / "untrained.pth"
            save_separator(model, SpectrogramUNet(n_targets=1), DEFAULT_STFT, ["vocals"])
        exported = tmp / "separator.onnx"
        export_wall, _ = run(["export_onnx.py", "-m", str(model), "-o", str(exported)])
        print(f"export: {export_wall:.1f} s (export_onnx.py, checked by onnxruntime); {model.name} "
              f"{model.stat().st_size / 1e6:.1f} MB -> {exported.name} {exported.stat().st_size / 1e6:.1f} MB")
        song = tmp / "song.wav"
        write_song(song, seconds)
        default = f"PyTorch, default ({precision_name(torch.device('cpu'), True).split(' (')[0]})"
        runs = {"PyTorch, float32 (--no-amp)": (model, ["--no-amp"]),
                default: (model, []),
                "onnxruntime, float32": (exported, [])}
        results = {}
        for label, (file, extra) in runs.items():
            speed, wall = results[label] = separation(file, song, tmp / "out", extra, repeats)
            startup = wall - seconds / speed
            print(f"{seconds / 60:.3g} min song, {label:28s} {speed:6.1f}x real time in-process, "
                  f"{seconds / wall:5.1f}x as a whole process ({wall:5.1f} s wall, start-up {startup:.1f} s)")
        onnx_speed, onnx_wall = results["onnxruntime, float32"]
        for label in ("PyTorch, float32 (--no-amp)", default):
            speed, wall = results[label]
            print(f"onnxruntime against {label}: {onnx_speed / speed:.2f}x in-process, {wall / onnx_wall:.2f}x as a "
                  f"whole process ({'faster' if onnx_wall < wall else 'slower'})")
    if not args.quick:
        for line in image_speed(repeats * 2):
            print(line)
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    print(f"numpy {np.__version__}; onnxruntime {__import__('onnxruntime').__version__}")


if __name__ == "__main__":
    main()
