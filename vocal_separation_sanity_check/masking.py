"""Soft masks on magnitude spectrograms: the oracle that shows what masking can reach at best.

A mask is a real array in [0, 1] with the spectrogram's shape. Multiplying the mixture's complex STFT
by it scales each time-frequency bin and keeps the mixture's phase; the inverse STFT turns the result
back into audio. The separator U-Net predicts such masks; here they come from the true sources.
"""
import numpy as np

from vocal_separation_sanity_check.audio import STFTSettings
from vocal_separation_sanity_check.transforms import istft, stft


def ideal_ratio_masks(
    source_magnitudes: dict[str, np.ndarray], power: float = 1.0, eps: float = 1e-8
) -> dict[str, np.ndarray]:
    """Mask_j = |S_j|^p / sum_k |S_k|^p for each source j.

    power=1 is the ideal ratio mask (IRM); power=2 weighs by energy, like a Wiener filter.
    eps keeps silent bins from dividing by zero (all masks are then ~0 there, as is the mixture).
    """
    powered = {name: magnitude**power for name, magnitude in source_magnitudes.items()}
    total = sum(powered.values()) + eps
    return {name: (value / total).astype(np.float32) for name, value in powered.items()}


def apply_mask(mixture_spec: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Scale each bin of the complex mixture spectrogram by the mask; the mixture's phase is kept."""
    if mask.shape != mixture_spec.shape:
        raise ValueError(f"mask shape {mask.shape} does not match spectrogram shape {mixture_spec.shape}")
    return mixture_spec * mask


def oracle_separation(
    mixture: np.ndarray, sources: dict[str, np.ndarray], settings: STFTSettings, power: float = 1.0
) -> dict[str, np.ndarray]:
    """Separate (C, S) `mixture` with the ideal masks of the true `sources`: the ceiling of masking.

    The sources should add up to the mixture (e.g. vocals and accompaniment = mixture - vocals);
    each estimate is (C, S), the same length as the mixture.
    """
    mixture_spec = stft(mixture, settings)
    magnitudes = {name: np.abs(stft(source, settings)) for name, source in sources.items()}
    masks = ideal_ratio_masks(magnitudes, power=power)
    length = mixture.shape[-1]
    return {name: istft(apply_mask(mixture_spec, mask), settings, length=length) for name, mask in masks.items()}
