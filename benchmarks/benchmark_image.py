"""Measure the image tutorial's targets (printed, never asserted):

  (a) the README's training command (10 epochs, batch 2, 5 demo images), with mixed precision (the default)
      and with --no-amp: wall time, the checkpoint sizes, then predict.py on test_0: foreground % and Dice
      against its mask                                        (target: < 2 min, 15-35 %, Dice >= 0.8)
  (b) training and inference throughput, UNet(3, 2), 256x256, batch 2: --no-amp (fp32) vs --amp (bf16
      autocast on CPUs with native bf16, fp16 on CUDA, each with channels_last) and their ratio
                                                               (target: amp >= 1.8x fp32 for training, on a
                                                                CPU with native bf16; elsewhere amp is fp32)
  (c) with --large: train on a 500-image demo set for --large-minutes, Dice on 100 held-out demo
      images                                                   (target: >= 0.95 within 10 minutes)

    python3 benchmarks/benchmark_image.py            # (a) and (b), a few minutes on a 2-core CPU
    python3 benchmarks/benchmark_image.py --quick    # seconds: checks that the benchmark itself works
    python3 benchmarks/benchmark_image.py --large    # adds (c)
"""
import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parent.parent
if not __package__:  # run as a file: import from the repository root (as a module, benchmarks.benchmark_image, it is)
    sys.path[0] = str(REPO_ROOT)

from benchmarks.script_runs import epoch_lines, run  # noqa: E402
from unet import UNet  # noqa: E402
from utils.device import autocast, memory_format, pick_device, precision_name  # noqa: E402


def mask_dice(pred: np.ndarray, true: np.ndarray) -> float:
    p, t = pred > 0, true > 0
    total = p.sum() + t.sum()
    return 1.0 if total == 0 else 2 * (p & t).sum() / total


def readme_command(work: Path, epochs: int, precision_flags: list[str], device_flags: list[str]) -> None:
    command = " ".join(["train.py", "--epochs", str(epochs), "--batch-size", "2", "--validation", "20",
                        *precision_flags])
    print(f"(a) README training command: {command} (5 demo images)")
    name = "no_amp" if precision_flags else "amp"
    checkpoints = work / f"checkpoints_{name}"
    seconds, output = run([*command.split(), "--checkpoint-dir", str(checkpoints), *device_flags])
    for line in epoch_lines(output):
        print(f"    {line}")
    print(f"    training time: {seconds:.1f} s (target < 120 s)")
    sizes = {path.name: path.stat().st_size / 1e6 for path in (checkpoints / f"checkpoint_epoch{epochs}.pth",
                                                              checkpoints / "last.pth")}
    print("    checkpoint sizes: " + ", ".join(f"{file} {size:.1f} MB" for file, size in sizes.items()))
    prediction = work / f"prediction_{name}.png"
    seconds, _ = run(["predict.py", "-m", str(checkpoints / f"checkpoint_epoch{epochs}.pth"),
                      "-i", "data/imgs/test_0.png", "-o", str(prediction), *device_flags])
    pred = np.array(Image.open(prediction))
    true = np.array(Image.open(REPO_ROOT / "data/masks/test_0_mask.png"))
    print(f"    predict.py on test_0: {seconds:.1f} s, shape {pred.shape}, values {sorted(np.unique(pred).tolist())}")
    print(f"    foreground: {(pred > 0).mean() * 100:.1f}% (target 15-35%), "
          f"Dice vs mask: {mask_dice(pred, true):.3f} (target >= 0.8)")


def images_per_second(device: torch.device, amp: bool, train: bool, size: int, steps: int) -> float:
    """UNet(3, 2) on random batches of 2; a warm-up step first (allocations, kernel choice)."""
    torch.manual_seed(0)
    layout = memory_format(device, amp)  # as train.py
    net = UNet(3, 2).to(device=device, memory_format=layout).train(train)
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-3)
    images = torch.rand(2, 3, size, size, device=device).to(memory_format=layout)
    masks = torch.randint(0, 2, (2, size, size), device=device)

    def step() -> None:
        if train:
            with autocast(device, amp):
                logits = net(images)
            loss = torch.nn.functional.cross_entropy(logits.float(), masks)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        else:
            with torch.inference_mode(), autocast(device, amp):
                net(images)

    step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return 2 * steps / (time.perf_counter() - start)


def throughput(device: torch.device, size: int, steps: int) -> None:
    print(f"(b) throughput, UNet(3, 2), {size}x{size}, batch 2, {steps} steps, device {device}, "
          f"{torch.get_num_threads()} threads")
    precision = precision_name(device, True)
    for train in (True, False):
        fp32 = images_per_second(device, amp=False, train=train, size=size, steps=steps)
        amp = images_per_second(device, amp=True, train=train, size=size, steps=steps)
        kind = "training " if train else "inference"
        print(f"    {kind}: --no-amp (fp32) {fp32:6.2f} img/s | --amp ({precision}) {amp:6.2f} img/s | "
              f"ratio {amp / fp32:.2f}x" + (" (target >= 1.8x with native bf16)" if train else ""))


def large_run(work: Path, count: int, heldout: int, epochs: int, extra: list[str]) -> None:
    print(f"(c) {count}-image demo set, {epochs} epochs {' '.join(extra)}, Dice on {heldout} held-out images")
    run(["make_demo_data.py", "--count", str(count), "--out", str(work / "demo_train"), "--seed", "0"])
    run(["make_demo_data.py", "--count", str(heldout), "--out", str(work / "demo_heldout"), "--seed", "1"])
    checkpoints = work / "large_checkpoints"
    seconds, output = run(["train.py", "--data-dir", str(work / "demo_train"), "--epochs", str(epochs),
                           "--validation", "10", "--checkpoint-dir", str(checkpoints), *extra])
    for line in epoch_lines(output):
        print(f"    {line}")
    print(f"    training time: {seconds / 60:.1f} min (target <= 10 min)")
    _, output = run(["evaluate.py", "-m", str(checkpoints / f"checkpoint_epoch{epochs}.pth"),
                     "--data-dir", str(work / "demo_heldout")])
    mean = [line for line in output.splitlines() if line.startswith("mean")]
    print(f"    held-out: {mean[0] if mean else output[-500:]} (target Dice >= 0.95)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="Tiny settings: only checks that everything runs")
    parser.add_argument("--device", default=None, help="Device for every part (default: best available)")
    parser.add_argument("--large", action="store_true", help="Also run (c), the 500-image target (~10 min)")
    parser.add_argument("--large-epochs", type=int, default=8, help="Epochs for (c)")
    parser.add_argument("--large-args", default="--batch-size 8 --base-channels 16 --scale 0.5",
                        help="Extra train.py flags for (c)")
    args = parser.parse_args()

    device = pick_device(args.device)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, device {device}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        device_flags = ["--device", args.device] if args.device else []
        for precision_flags in ([], ["--no-amp"]):  # mixed precision is train.py's default
            readme_command(work, 1 if args.quick else 10, precision_flags, device_flags)
        throughput(device, size=64 if args.quick else 256, steps=1 if args.quick else 10)
        if args.large:
            count, heldout, epochs = (20, 5, 1) if args.quick else (500, 100, args.large_epochs)
            large_run(work, count, heldout, epochs, args.large_args.split() + device_flags)


if __name__ == "__main__":
    main()
