"""benchmarks/benchmark_image.py measures throughput; its timing is never asserted, but its code must run."""
import importlib.util
import math
from pathlib import Path

import pytest
import torch

from utils import device as device_module

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "benchmark_image.py"


def load_benchmark():
    spec = importlib.util.spec_from_file_location("benchmark_image", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("native_bf16", [False, True])
@pytest.mark.parametrize("train", [False, True])
def test_throughput_runs_in_both_layouts(monkeypatch, native_bf16, train):
    """fp32 uses the plain layout, bf16 channels_last: both must train and infer, giving a positive rate."""
    monkeypatch.setattr(device_module, "cpu_has_native_bf16", lambda: native_bf16)
    benchmark = load_benchmark()
    for amp in (False, True):
        rate = benchmark.images_per_second(torch.device("cpu"), amp=amp, train=train, size=32, steps=1)
        assert math.isfinite(rate) and rate > 0
