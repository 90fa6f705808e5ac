"""Separation quality in dB: the SDR of an estimate against the true source (higher is better).

- sdr(): whole-song SDR as in the Music Demixing (MDX) challenge, plain NumPy, fast.
- framewise_sdr(): the same SDR on 1 s frames, median over frames (how MUSDB papers summarise a song).
- bsseval_v4(): museval's BSSEval v4 (SDR/SIR/SAR/ISR, median over 1 s frames), only when museval is
  installed: it is optional because it imports only where ffmpeg is installed.
"""
import functools
import logging

import numpy as np

EPS = 1e-7  # the MDX challenge's delta: a silent estimate of a silent source scores 0 dB, not NaN


def _check_shapes(reference: np.ndarray, estimate: np.ndarray) -> None:
    if reference.shape != estimate.shape:
        raise ValueError(f"reference shape {reference.shape} differs from estimate shape {estimate.shape}")


def sdr(reference: np.ndarray, estimate: np.ndarray, eps: float = EPS) -> float:
    """10 log10(sum ref^2 / sum (ref - est)^2) over all channels and samples, in dB."""
    _check_shapes(reference, estimate)
    reference = reference.astype(np.float64)
    signal = np.sum(reference**2)
    error = np.sum((reference - estimate.astype(np.float64)) ** 2)
    return float(10 * np.log10((signal + eps) / (error + eps)))


def framewise_sdr(reference: np.ndarray, estimate: np.ndarray, sample_rate: int, frame_seconds: float = 1.0) -> float:
    """Median over non-overlapping frames (1 s by default) of sdr(); frames where the reference is silent are
    skipped, as museval does, because any estimate of silence scores meaninglessly there. NaN if none is left.
    """
    _check_shapes(reference, estimate)
    frame = int(round(frame_seconds * sample_rate))
    scores = []
    for start in range(0, reference.shape[-1] - frame + 1, frame):
        reference_frame = reference[..., start : start + frame]
        if np.sum(reference_frame.astype(np.float64) ** 2) == 0:
            continue
        scores.append(sdr(reference_frame, estimate[..., start : start + frame]))
    return float(np.median(scores)) if scores else float("nan")


@functools.cache  # import (and report a missing museval) once, not once per song
def _import_museval():
    try:
        import museval
    except Exception as error:  # ImportError, or musdb failing to find ffmpeg at import time
        logging.info(f"museval not available ({type(error).__name__}): BSSEval v4 skipped, NumPy SDR only")
        return None
    return museval


def bsseval_v4(references: dict[str, np.ndarray], estimates: dict[str, np.ndarray], sample_rate: int) -> dict | None:
    """{target: {'SDR', 'SIR', 'SAR', 'ISR'}} medians over 1 s frames with museval, or None without museval.

    references and estimates hold (C, S) arrays with the same keys. museval scores all targets together
    (SIR needs the other sources), so pass every target of the song at once.
    """
    museval = _import_museval()
    if museval is None:
        return None
    names = list(references)
    # museval wants (sources, samples, channels)
    reference_array = np.stack([references[name].T for name in names])
    estimate_array = np.stack([estimates[name].T for name in names])
    try:
        scores = museval.evaluate(reference_array, estimate_array, win=sample_rate, hop=sample_rate, mode="v4")
    except Exception as error:
        logging.warning(f"museval failed ({type(error).__name__}: {error}): BSSEval v4 skipped, NumPy SDR only")
        return None
    metric_names = ("SDR", "ISR", "SIR", "SAR")  # museval.evaluate's return order
    return {
        name: {metric: float(np.nanmedian(values[index])) for metric, values in zip(metric_names, scores)}
        for index, name in enumerate(names)
    }
