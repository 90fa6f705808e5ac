"""separate.py's path for an exported .onnx separator: NumPy, soundfile and onnxruntime, no PyTorch.

    separator = OnnxSeparator("vocals.onnx")                    # export_onnx.py's file
    stems = separator.separate(audio, sample_rate)             # (channels, samples) -> {stem: array}, same rate

The file turns a stereo chunk into the targets' waveforms (STFT, masks and inverse STFT inside; onnx_export.py).
Around it OnnxSeparator runs the same code as Separator (chunking.py): mono as two equal channels, the song
streamed through the resampler to the model's rate and back, chunks on the U-Net's grid with context and
cross-fades, --shifts, --two-stems, the rest (accompaniment) as the mixture minus the targets at the song's own
rate; with --wiener, Wiener filtering (filtering.py, NumPy) of the file's spectrogram and masks.
"""
from pathlib import Path

import numpy as np

from utils.onnx_runtime import OnnxModel
from vocal_separation_sanity_check.audio import STFTSettings
from vocal_separation_sanity_check.chunking import ChunkedSeparator
from vocal_separation_sanity_check.filtering import wiener


class OnnxSeparator(ChunkedSeparator):
    """An exported separator plus everything needed to use it: Separator's options, settings from the file."""

    def __init__(self, path: str | Path, device: str | None = None, chunk_seconds: float = 30.0,
                 wiener_iterations: int = 0, shifts: int = 0, two_stems: str | None = None, seed: int = 0,
                 flag: str = "--model"):
        self.model = OnnxModel(path, "separator", device, flag)
        value = self.model.value
        settings = STFTSettings(int(value("sample_rate")), int(value("n_fft")), int(value("hop_length")),
                                self.model.metadata["window"])
        super().__init__(settings, list(value("targets")), int(value("frame_multiple")), chunk_seconds,
                         wiener_iterations, shifts, two_stems, seed, context_seconds=float(value("context_seconds")))

    def separate_stereo(self, stereo: np.ndarray) -> np.ndarray:
        """float32 (2, samples) -> (targets, 2, samples): the file's own output, or with --wiener its spectrogram
        and masks refined by Wiener filtering and inverted here."""
        if self.wiener_iterations == 0:
            return self.model.run({"audio": stereo}, ["stems"])[0]
        spectrogram, masks = self.model.run({"audio": stereo}, ["spectrogram", "masks"])
        spectrogram = spectrogram[..., 0] + 1j * spectrogram[..., 1]
        estimates = wiener(spectrogram, masks * spectrogram[None], self.wiener_iterations, residual=self.has_residual)
        return istft(estimates[: len(self.targets)], self.settings, stereo.shape[1])


def istft(spectrogram: np.ndarray, settings: STFTSettings, length: int) -> np.ndarray:
    """complex (..., bins, frames) -> float32 (..., length): torch.istft(center=True) in NumPy, for the Wiener path
    (the file's own inverse STFT takes masks, not refined estimates)."""
    n, hop = settings.n_fft, settings.hop_length
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)).astype(np.float32)  # periodic Hann
    frames = np.fft.irfft(spectrogram, n=n, axis=-2).astype(np.float32) * window[:, None]  # (..., n, frames)
    audio = overlap_add(frames, hop)
    envelope = overlap_add(np.repeat((window ** 2)[:, None], frames.shape[-1], axis=1), hop)
    start = n // 2
    audio = audio[..., start: start + length] / np.maximum(envelope[start: start + length], 1e-11)
    return np.pad(audio, [(0, 0)] * (audio.ndim - 1) + [(0, length - audio.shape[-1])])


def overlap_add(frames: np.ndarray, hop: int) -> np.ndarray:
    """(..., n, frames) -> (..., n + hop * (frames - 1)): frame f added in at f * hop, in n / hop whole-array
    additions (the exporter requires that the hop divides n), not one per frame."""
    *lead, n, count = frames.shape
    overlap = n // hop
    blocks = np.moveaxis(frames.reshape(*lead, overlap, hop, count), -1, -2)  # (..., overlap, frames, hop)
    total = np.zeros((*lead, count + overlap - 1, hop), np.float32)
    for j in range(overlap):  # every frame's j-th block lands in block f + j
        total[..., j: j + count, :] += blocks[..., j, :, :]
    return total.reshape(*lead, (count + overlap - 1) * hop)
