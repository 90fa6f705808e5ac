"""Separator: a trained SpectrogramUNet with everything needed to use it, and the separator checkpoint format.

This module is the only code that reads or writes a separator checkpoint (train_separator.py saves through
save_separator(), separate.py and evaluate.py load through Separator.from_checkpoint()).

    from vocal_separation_sanity_check import Separator
    separator = Separator.from_checkpoint("checkpoints/separator/best.pth", device="cpu")
    stems = separator.separate(mixture)  # float32 (channels, samples) at separator.settings.sample_rate

Songs of any length run in bounded memory: separate_blocks() reads the song in chunks (30 s by default) with a
few seconds of context on both sides; each chunk goes STFT -> model masks -> optional Wiener -> inverse STFT,
neighbouring chunks are cross-faded. Chunk borders sit on the U-Net's 16-frame grid, so chunked output
matches whole-song output.
"""
import logging
import math
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import soundfile as sf
import torch
from tqdm import tqdm

from utils.checkpoint import load_checkpoint, save_checkpoint
from utils.device import autocast, memory_format, pick_device
from utils.errors import UserError
from vocal_separation_sanity_check.audio import BlockReader, STFTSettings, istft_tensor, open_reader, stft_tensor
from vocal_separation_sanity_check.filtering import wiener
from vocal_separation_sanity_check.model import UNET_MULTIPLE, SpectrogramUNet
from vocal_separation_sanity_check.tracks import STEM_NAMES

# The checkpoint layout, versioned so that a file from a newer layout is refused with a clear message:
#   1 (until 2026-12): no "format_version" key, and "max_bin" stored beside model_config (which holds it too);
#   2: "format_version", the model ("state_dict", "model_config"), "stft", "targets", and when written by
#      train_separator.py the training state (TRAINING_KEYS) to --resume from.
FORMAT_VERSION = 2
MODEL_KEYS = ("state_dict", "model_config", "stft", "targets")
# "training_state_dict" (the raw weights when "state_dict" holds their running average) is optional.
TRAINING_KEYS = ("optimizer", "grad_scaler", "history", "epoch", "best_sdr", "args")

RESIDUAL_NAME = "accompaniment"
CONTEXT_SECONDS = 3.0  # model input beyond each side of a chunk: about the U-Net's receptive field


class Separator:
    """A trained model plus everything needed to use it: STFT settings, targets, chunking, Wiener."""

    def __init__(self, model: SpectrogramUNet, settings: STFTSettings, targets: list[str], device: torch.device,
                 amp: bool = True, chunk_seconds: float = 30.0, wiener_iterations: int = 0):
        self.model = model.to(device).eval()
        self.settings = settings
        self.targets = list(targets)
        self.device = device
        self.amp = amp
        self.wiener_iterations = wiener_iterations
        # channels_last with fp16 on CUDA and bf16 on CPUs that have it, as in training; the plain layout in fp32
        self.model = self.model.to(memory_format=memory_format(device, amp))
        # Chunk borders on the 16-frame grid, so every chunk max-pools exactly like the whole song does.
        self.grid = UNET_MULTIPLE * settings.hop_length
        self.chunk = max(1, round(chunk_seconds * settings.sample_rate / self.grid)) * self.grid
        self.crossfade = self.grid
        self.context = math.ceil(CONTEXT_SECONDS * settings.sample_rate / self.grid) * self.grid

    @property
    def has_residual(self) -> bool:
        """A model for some of the stems also gives the rest (the accompaniment) as mixture minus targets."""
        return RESIDUAL_NAME not in self.targets and set(self.targets) != set(STEM_NAMES)

    @property
    def output_names(self) -> list[str]:
        return self.targets + ([RESIDUAL_NAME] if self.has_residual else [])

    @torch.inference_mode()
    def masks(self, spectrogram: torch.Tensor) -> torch.Tensor:
        """complex (channels, bins, frames) on self.device -> float32 masks (targets, channels, bins, frames)."""
        magnitude = spectrogram.abs()[None]
        mid_magnitude = SpectrogramUNet.mid_magnitude(spectrogram)[None]
        with autocast(self.device, self.amp):
            return self.model(magnitude, mid_magnitude)[0].float()

    @torch.inference_mode()
    def separate_chunk(self, mixture: np.ndarray) -> dict[str, np.ndarray]:
        """One chunk (channels, samples) -> {name: (channels, samples)}; mono is run as two equal channels.

        STFT, masks and inverse STFT all run on self.device; only the audio crosses to and from it."""
        channels, length = mixture.shape
        stereo = np.repeat(mixture, 2, axis=0) if channels == 1 else mixture
        spectrogram = stft_tensor(torch.from_numpy(np.ascontiguousarray(stereo)).to(self.device), self.settings)
        estimates = self.masks(spectrogram) * spectrogram[None]
        if self.wiener_iterations > 0:  # NumPy code: on the CPU
            estimates = torch.from_numpy(wiener(spectrogram.cpu().numpy(), estimates.cpu().numpy(),
                                                self.wiener_iterations, residual=self.has_residual)).to(self.device)
        separated = istft_tensor(estimates[: len(self.targets)], self.settings, length=length).cpu().numpy()
        sources = dict(zip(self.targets, separated))
        if channels == 1:
            sources = {name: audio.mean(axis=0, keepdims=True) for name, audio in sources.items()}
        if self.has_residual:
            # In the time domain, so the written stems sum to the mixture exactly.
            sources[RESIDUAL_NAME] = mixture - sum(sources.values())
        return sources

    def chunk_count(self, length: int) -> int:
        return max(1, math.ceil(length / self.chunk))

    def separate_blocks(self, read: BlockReader, length: int) -> Iterator[dict[str, np.ndarray]]:
        """Yield consecutive output pieces {name: (channels, n)}; together they are exactly `length` long."""
        fade_in = ((np.arange(self.crossfade) + 0.5) / self.crossfade).astype(np.float32)
        pending: dict[str, np.ndarray] = {}  # the previous chunk's last `crossfade` samples
        n_chunks = self.chunk_count(length)
        for k in range(n_chunks):
            # This chunk's output covers [out_start, out_stop); it starts `crossfade` early to overlap the last one.
            out_start = max(0, k * self.chunk - self.crossfade)
            out_stop = min(length, (k + 1) * self.chunk)
            in_start = max(0, out_start - self.context)
            in_stop = min(length, out_stop + self.context)
            sources = self.separate_chunk(read(in_start, in_stop))
            piece = {name: audio[:, out_start - in_start: out_stop - in_start] for name, audio in sources.items()}
            if k > 0:
                for name, audio in piece.items():
                    audio[:, : self.crossfade] = pending[name] * (1 - fade_in) + audio[:, : self.crossfade] * fade_in
            if k < n_chunks - 1:
                pending = {name: audio[:, -self.crossfade:].copy() for name, audio in piece.items()}
                piece = {name: audio[:, : -self.crossfade] for name, audio in piece.items()}
            yield piece

    def separate(self, mixture: np.ndarray) -> dict[str, np.ndarray]:
        """A whole song in memory (channels, samples) -> {name: (channels, samples)} (used by evaluate.py)."""
        mixture = np.asarray(mixture, dtype=np.float32)
        pieces: dict[str, list[np.ndarray]] = {name: [] for name in self.output_names}
        for piece in self.separate_blocks(lambda start, stop: mixture[:, start:stop], mixture.shape[1]):
            for name, audio in piece.items():
                pieces[name].append(audio)
        return {name: np.concatenate(parts, axis=1) for name, parts in pieces.items()}

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str | torch.device | None = None, amp: bool = True,
                        chunk_seconds: float = 30.0, wiener_iterations: int = 0, flag: str = "--model") -> "Separator":
        """Rebuild a Separator from a train_separator.py checkpoint (best.pth or last.pth), any format version.

        device: "cpu", "cuda", a torch.device, or None for the best available."""
        if not isinstance(device, torch.device):
            device = pick_device(device)
        checkpoint = read_checkpoint(path, flag)
        model = SpectrogramUNet.from_config(checkpoint["model_config"])
        model.load_state_dict(checkpoint["state_dict"])
        settings = STFTSettings.from_dict(checkpoint["stft"])
        return cls(model, settings, checkpoint["targets"], device,
                   amp=amp, chunk_seconds=chunk_seconds, wiener_iterations=wiener_iterations)


def load_separator(path: str | Path, device: torch.device, amp: bool = True, chunk_seconds: float = 30.0,
                   wiener_iterations: int = 0) -> Separator:
    """Separator.from_checkpoint with the device given."""
    return Separator.from_checkpoint(path, device, amp=amp, chunk_seconds=chunk_seconds,
                                     wiener_iterations=wiener_iterations)


def checkpoint_dict(model: SpectrogramUNet, settings: STFTSettings, targets: list[str],
                    training: dict | None = None) -> dict:
    """The checkpoint of the current format: plain tensors and values, so weights_only loading reads it."""
    checkpoint = {"format_version": FORMAT_VERSION, "state_dict": model.state_dict(), "model_config": model.config(),
                  "stft": settings.to_dict(), "targets": list(targets)}
    if training is not None:
        missing = [key for key in TRAINING_KEYS if key not in training]
        if missing:
            raise ValueError(f"training state lacks {', '.join(missing)}")
        checkpoint.update(training)
    return checkpoint


def save_separator(path: str | Path, model: SpectrogramUNet, settings: STFTSettings, targets: list[str],
                   training: dict | None = None) -> None:
    """Write a checkpoint atomically (never half-written under its final name)."""
    save_checkpoint(checkpoint_dict(model, settings, targets, training), path)


def read_checkpoint(path: str | Path, flag: str = "--model") -> dict:
    """A separator checkpoint of any format version, upgraded to the current one; a UserError for anything else."""
    checkpoint = load_checkpoint(path, flag)
    if "mask_values" in checkpoint or "inc.double_conv.0.weight" in checkpoint:
        raise UserError(f"{flag} {path} is an image segmentation checkpoint (train.py); "
                        "give a model trained by train_separator.py")
    version = checkpoint.get("format_version", 1)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise UserError(f"{flag} {path}: separator checkpoint format {version}, newer than this code reads "
                        f"({FORMAT_VERSION}); update the repository (git pull)")
    missing = [key for key in MODEL_KEYS if key not in checkpoint]
    if missing:
        raise UserError(f"{flag} {path}: not a separator checkpoint (no {', '.join(missing)}); "
                        "give a model trained by train_separator.py")
    if version == 1:
        checkpoint.pop("max_bin", None)  # a copy of model_config["max_bin"]
        checkpoint["format_version"] = FORMAT_VERSION
    return checkpoint


def read_training_checkpoint(path: str | Path, flag: str = "--resume") -> dict:
    """A checkpoint with the training state to continue from (last.pth), or a UserError saying what to give."""
    checkpoint = read_checkpoint(path, flag)
    missing = [key for key in TRAINING_KEYS if key not in checkpoint]
    if missing:
        raise UserError(f"{flag} {path}: holds no training state (no {', '.join(missing)}); "
                        "resume from the last.pth that train_separator.py wrote")
    return checkpoint


def open_writers(folder: Path, names: list[str], audio_format: str, sample_rate: int, channels: int):
    """One open soundfile per output stem: float wav keeps peaks above 1.0, flac is 24-bit (clipped)."""
    folder.mkdir(parents=True, exist_ok=True)
    subtype = "FLOAT" if audio_format == "wav" else "PCM_24"
    return {name: sf.SoundFile(folder / f"{name}.{audio_format}", "w", samplerate=sample_rate, channels=channels,
                               subtype=subtype) for name in names}


def separate_file(separator: Separator, path: Path, out_dir: Path, audio_format: str) -> None:
    rate = separator.settings.sample_rate
    read, length, channels = open_reader(path, rate)
    if channels > 2:
        raise UserError(f"{path}: has {channels} channels; the model takes mono or stereo, downmix it first")
    if length < separator.settings.n_fft:
        raise UserError(f"{path}: only {length} samples, at least {separator.settings.n_fft} needed; give a longer file")
    start_time = time.time()
    writers = open_writers(out_dir, separator.output_names, audio_format, rate, channels)
    try:
        blocks = separator.separate_blocks(read, length)
        for piece in tqdm(blocks, total=separator.chunk_count(length), desc=path.name, unit="chunk"):
            for name, audio in piece.items():
                writers[name].write((np.clip(audio, -1, 1) if audio_format == "flac" else audio).T)
    finally:
        for writer in writers.values():
            writer.close()
    seconds, elapsed = length / rate, time.time() - start_time
    logging.info(f"{path}: {seconds:.1f} s of audio in {elapsed:.1f} s ({seconds / elapsed:.1f}x real time) "
                 f"-> {out_dir}/{{{','.join(separator.output_names)}}}.{audio_format}")
