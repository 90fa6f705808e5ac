"""Mixed precision is chosen per device: bf16 only on CPUs that compute it in hardware."""
import torch

from utils import device as device_module
from utils.device import autocast, autocast_dtype, memory_format, precision_name

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


def test_cpu_without_native_bf16_stays_float32(monkeypatch):
    monkeypatch.setattr(device_module, "cpu_has_native_bf16", lambda: False)
    assert autocast_dtype(CPU, True) is None
    assert precision_name(CPU, True) == "float32 (no native bf16 on this CPU)"
    with autocast(CPU, True):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32


def test_cpu_with_native_bf16_uses_it(monkeypatch):
    monkeypatch.setattr(device_module, "cpu_has_native_bf16", lambda: True)
    assert autocast_dtype(CPU, True) == torch.bfloat16
    assert precision_name(CPU, True) == "bfloat16"
    with autocast(CPU, True):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16


def test_gpus_use_float16_and_disabled_means_float32():
    assert autocast_dtype(CUDA, True) == torch.float16
    assert autocast_dtype(CUDA, False) is None and autocast_dtype(CPU, False) is None
    assert precision_name(CPU, False) == "float32"


def test_native_bf16_is_read_from_the_cpu_flags(tmp_path):
    for index, (text, expected) in enumerate([("flags : fpu avx2 fma\n", False), ("flags : avx512f avx512_bf16\n", True),
                                              ("flags : amx_bf16 amx_tile\n", True)]):
        cpuinfo = tmp_path / f"cpuinfo{index}"  # one file each: the answer is cached per path
        cpuinfo.write_text(text)
        assert device_module.cpu_has_native_bf16(str(cpuinfo)) is expected
    assert device_module.cpu_has_native_bf16(str(tmp_path / "missing")) is False  # Windows, macOS: fp32


def test_channels_last_only_with_reduced_precision(monkeypatch):
    monkeypatch.setattr(device_module, "cpu_has_native_bf16", lambda: False)
    assert memory_format(CPU, True) == torch.contiguous_format  # fp32: the plain layout is faster
    assert memory_format(CUDA, True) == torch.channels_last
    assert memory_format(CUDA, False) == torch.contiguous_format
    monkeypatch.setattr(device_module, "cpu_has_native_bf16", lambda: True)
    assert memory_format(CPU, True) == torch.channels_last
