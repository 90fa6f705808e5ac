"""benchmarks/benchmark_image.py measures throughput; its timing is never asserted, but its code must run."""
import math

import pytest
import torch

from benchmarks import benchmark_image as benchmark
from utils import device as device_module


@pytest.mark.parametrize("native_bf16", [False, True])
@pytest.mark.parametrize("train", [False, True])
def test_throughput_runs_in_both_layouts(monkeypatch, native_bf16, train):
    """fp32 uses the plain layout, bf16 channels_last: both must train and infer, giving a positive rate."""
    monkeypatch.setattr(device_module, "cpu_has_native_bf16", lambda: native_bf16)
    for amp in (False, True):
        rate = benchmark.images_per_second(torch.device("cpu"), amp=amp, train=train, size=32, steps=1)
        assert math.isfinite(rate) and rate > 0
