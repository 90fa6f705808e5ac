"""The STFT and its inverse in PyTorch: one definition for training, separation, evaluation and the figures.

Centred frames with zero padding, as librosa.stft (>= 0.10) computes them. Spectrograms are complex64 shaped
(channels, bins, frames); stft()/istft() wrap the tensor versions for NumPy code.
"""
import functools

import numpy as np
import torch

from vocal_separation_sanity_check.audio import DEFAULT_STFT, STFTSettings


@functools.cache
def stft_window(settings: STFTSettings, device: torch.device) -> torch.Tensor:
    """The analysis/synthesis window, made once per device: periodic, as librosa's and scipy's 'hann' is."""
    if settings.window != "hann":
        raise ValueError(f"window {settings.window!r}: only 'hann' is implemented")
    return torch.hann_window(settings.n_fft, periodic=True, device=device)


def stft_tensor(audio: torch.Tensor, settings: STFTSettings = DEFAULT_STFT, center: bool = True) -> torch.Tensor:
    """(..., samples) float tensor -> complex (..., bins, frames) on the same device.

    Centred frames with zero padding, as librosa.stft (>= 0.10) computes them, so checkpoints trained with
    librosa's STFT separate the same. Runs wherever the tensor is: on a GPU, the STFT stays on the GPU.
    center=False: no padding, frame k starts at sample k * hop (an excerpt with n_fft / 2 samples of context on
    each side gives the same frames as the whole song's centred STFT).
    """
    shape = audio.shape
    spectrogram = torch.stft(audio.reshape(-1, shape[-1]).float(), n_fft=settings.n_fft,
                             hop_length=settings.hop_length, window=stft_window(settings, audio.device), center=center,
                             pad_mode="constant", return_complex=True)
    return spectrogram.reshape(*shape[:-1], *spectrogram.shape[-2:])


def istft_tensor(spectrogram: torch.Tensor, settings: STFTSettings = DEFAULT_STFT,
                 length: int | None = None) -> torch.Tensor:
    """complex (..., bins, frames) -> float (..., samples); `length` trims or zero-pads exactly."""
    shape = spectrogram.shape
    audio = torch.istft(spectrogram.reshape(-1, *shape[-2:]), n_fft=settings.n_fft, hop_length=settings.hop_length,
                        window=stft_window(settings, spectrogram.device), center=True, length=length)
    return audio.reshape(*shape[:-2], audio.shape[-1])


def stft(audio: np.ndarray, settings: STFTSettings = DEFAULT_STFT) -> np.ndarray:
    """(channels, samples) float32 -> complex64 (channels, bins, frames): stft_tensor on the CPU, for NumPy code."""
    return stft_tensor(torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)), settings).numpy()


def istft(spectrogram: np.ndarray, settings: STFTSettings = DEFAULT_STFT, length: int | None = None) -> np.ndarray:
    """complex (channels, bins, frames) -> float32 (channels, samples); istft_tensor on the CPU, for NumPy code."""
    tensor = torch.from_numpy(np.ascontiguousarray(spectrogram, dtype=np.complex64))
    return istft_tensor(tensor, settings, length).numpy()
