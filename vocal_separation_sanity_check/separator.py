"""Separator: a trained SpectrogramUNet with everything needed to use it, and the separator checkpoint format.

This module is the only code that reads or writes a separator checkpoint (train_separator.py saves through
save_separator(), separate.py and evaluate.py load through Separator.from_checkpoint()).

    from vocal_separation_sanity_check import Separator
    separator = Separator.from_checkpoint("checkpoints/separator/best.pth", device="cpu")
    stems = separator.separate(audio, sample_rate)  # (channels, samples) at any rate -> {stem: array}, same rate

Songs of any length run in bounded memory, chunk by chunk (chunking.py, which onnx_separator.py shares): each
chunk goes STFT -> model masks -> optional Wiener -> inverse STFT here, on the model's device.
"""
from pathlib import Path

import numpy as np
import torch

from utils.checkpoint import checkpoint_kind, load_checkpoint, save_checkpoint
from utils.device import autocast, memory_format, pick_device
from utils.errors import UserError
from vocal_separation_sanity_check.audio import STFTSettings
from vocal_separation_sanity_check.chunking import ChunkedSeparator
from vocal_separation_sanity_check.filtering import wiener
from vocal_separation_sanity_check.model import UNET_MULTIPLE, SpectrogramUNet
from vocal_separation_sanity_check.transforms import istft_tensor, stft_tensor

# The checkpoint layout, versioned so that a file from a newer layout is refused with a clear message:
#   1 (until 2026-12): no "format_version" key, and "max_bin" stored beside model_config (which holds it too);
#   2: "format_version", the model ("state_dict", "model_config"), "stft", "targets", and when written by
#      train_separator.py the training state (TRAINING_KEYS) to --resume from.
FORMAT_VERSION = 2
MODEL_KEYS = ("state_dict", "model_config", "stft", "targets")
# "training_state_dict" (the raw weights when "state_dict" holds their running average) is optional.
TRAINING_KEYS = ("optimizer", "grad_scaler", "history", "epoch", "best_sdr", "args")


class Separator(ChunkedSeparator):
    """A trained model plus everything needed to use it: STFT settings, targets, chunking, Wiener, shifts
    (chunking.py), on a PyTorch device."""

    def __init__(self, model: SpectrogramUNet, settings: STFTSettings, targets: list[str], device: torch.device,
                 amp: bool = True, chunk_seconds: float = 30.0, wiener_iterations: int = 0, shifts: int = 0,
                 two_stems: str | None = None, seed: int = 0):
        super().__init__(settings, targets, UNET_MULTIPLE, chunk_seconds, wiener_iterations, shifts, two_stems, seed)
        self.device = device
        self.amp = amp
        # channels_last with fp16 on CUDA and bf16 on CPUs that have it, as in training; the plain layout in fp32
        self.model = model.to(device).eval().to(memory_format=memory_format(device, amp))

    @torch.inference_mode()
    def masks(self, spectrogram: torch.Tensor) -> torch.Tensor:
        """complex (channels, bins, frames) on self.device -> float32 masks (targets, channels, bins, frames)."""
        magnitude = spectrogram.abs()[None]
        mid_magnitude = SpectrogramUNet.mid_magnitude(spectrogram)[None]
        with autocast(self.device, self.amp):
            return self.model(magnitude, mid_magnitude)[0].float()

    @torch.inference_mode()
    def separate_stereo(self, stereo: np.ndarray) -> np.ndarray:
        """float32 (2, samples) -> (targets, 2, samples). STFT, masks and inverse STFT all run on self.device;
        only the audio crosses to and from it."""
        spectrogram = stft_tensor(torch.from_numpy(stereo).to(self.device), self.settings)
        estimates = self.masks(spectrogram) * spectrogram[None]
        if self.wiener_iterations > 0:  # NumPy code: on the CPU
            estimates = torch.from_numpy(wiener(spectrogram.cpu().numpy(), estimates.cpu().numpy(),
                                                self.wiener_iterations, residual=self.has_residual)).to(self.device)
        return istft_tensor(estimates[: len(self.targets)], self.settings, length=stereo.shape[1]).cpu().numpy()

    def separate(self, audio: np.ndarray | torch.Tensor, sample_rate: int | None = None) -> dict[str, np.ndarray]:
        """A whole song in memory: (channels, samples) NumPy array or tensor at any rate (the model's when None)
        -> {name: float32 NumPy (channels, samples)} at that rate and length."""
        if isinstance(audio, torch.Tensor):
            audio = audio.detach().cpu().numpy()
        return super().separate(audio, sample_rate)

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str | torch.device | None = None, flag: str = "--model",
                        **options) -> "Separator":
        """Rebuild a Separator from a train_separator.py checkpoint (best.pth or last.pth), any format version.

        device: "cpu", "cuda", a torch.device, or None for the best available; options: as Separator()'s
        (amp, chunk_seconds, wiener_iterations, shifts, two_stems, seed)."""
        if not isinstance(device, torch.device):
            device = pick_device(device)
        checkpoint = read_checkpoint(path, flag)
        model = SpectrogramUNet.from_config(checkpoint["model_config"])
        model.load_state_dict(checkpoint["state_dict"])
        settings = STFTSettings.from_dict(checkpoint["stft"])
        return cls(model, settings, checkpoint["targets"], device, **options)


def load_separator(path: str | Path, device: torch.device, **options) -> Separator:
    """Separator.from_checkpoint with the device given."""
    return Separator.from_checkpoint(path, device, **options)


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
    if checkpoint_kind(checkpoint) == "image":
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
