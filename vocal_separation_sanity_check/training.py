"""What train_separator.py trains with: songs split for training and validation, the remix dataset,
the input normalization, the learning-rate schedule and the running average of the weights.

Every training example is a new mixture: each source is drawn from a random song, speed and position, with a
random gain and random left/right swap (Open-Unmix, Spleeter), so 6 songs give endless training data.
The complex STFT of every source, at every speed, is computed once and kept in RAM: the STFT is linear, so adding
scaled source spectrograms is exactly the spectrogram of the remixed audio.
"""
import math
import os
from pathlib import Path

import librosa
import numpy as np
import torch
from torch.utils.data import Dataset

from utils.errors import UserError
from vocal_separation_sanity_check.audio import STFTSettings, stft
from vocal_separation_sanity_check.metrics import sdr
from vocal_separation_sanity_check.model import SpectrogramUNet
from vocal_separation_sanity_check.separator import Separator
from vocal_separation_sanity_check.tracks import Track, find_tracks, load_track

VALIDATION_FRACTION = 0.15  # the end of each training song, never trained on, when ROOT has no valid/ split
REST = "rest"  # everything in the mixture that is not a target: it is remixed like the other sources
GAIN_RANGE = (0.25, 1.25)  # random gain per source, as in Open-Unmix


def as_stereo(audio: np.ndarray, track: Track) -> np.ndarray:
    if audio.shape[0] == 1:
        return np.repeat(audio, 2, axis=0)
    if audio.shape[0] != 2:
        raise UserError(f"{track.mixture_path}: has {audio.shape[0]} channels; use mono or stereo songs")
    return audio


def load_songs(root: Path, targets: list[str], settings: STFTSettings) -> tuple[list, list]:
    """(training songs, validation songs): ROOT/train (or ROOT) to train on; ROOT/valid to validate on, or
    without it the last VALIDATION_FRACTION of each training song, never trained on."""
    train_tracks = find_tracks(root, "train" if (root / "train").is_dir() else None)
    if (root / "valid").is_dir():
        return (load_split(train_tracks, targets, settings, slice(None, None)),
                load_split(find_tracks(root, "valid"), targets, settings, slice(None, None)))
    return (load_split(train_tracks, targets, settings, slice(None, 1 - VALIDATION_FRACTION)),
            load_split(train_tracks, targets, settings, slice(1 - VALIDATION_FRACTION, None)))


def speed_shifts(max_semitones: int) -> list[float]:
    """0 and every whole number of semitones up to max_semitones, faster and slower: [-2, -1, 0, 1, 2] for 2."""
    return sorted({0.0} | {sign * step for step in range(1, max_semitones + 1) for sign in (-1.0, 1.0)})


def check_patch_fits(songs, patch_frames: int, shifts: list[float], settings: STFTSettings) -> None:
    """Played faster, a song gets shorter: a patch must fit in the shortest version of the shortest song."""
    shortest = int(min(mixture.shape[1] for _, mixture, _ in songs) / 2 ** (max(shifts) / 12) / settings.hop_length)
    if shortest <= patch_frames:
        raise UserError(f"--patch-frames {patch_frames}: the shortest training song has only {shortest} frames; "
                        f"use --patch-frames {shortest - 1} or less, or longer songs")


def load_split(tracks: list[Track], targets: list[str], settings: STFTSettings,
               keep: slice) -> list[tuple[str, np.ndarray, dict[str, np.ndarray]]]:
    """(name, mixture, {target: audio}) per track, stereo, cut to `keep` as a fraction of each song."""
    songs = []
    for track in tracks:
        mixture, sources = load_track(track, targets, settings)
        length = mixture.shape[1]
        start = int(length * keep.start) if keep.start else 0
        stop = int(length * keep.stop) if keep.stop is not None else length
        songs.append((track.name, as_stereo(mixture[:, start:stop], track),
                      {name: as_stereo(audio[:, start:stop], track) for name, audio in sources.items()}))
    return songs


class RemixDataset(Dataset):
    """Random patches of random remixes: the same item index and epoch always give the same patch."""

    def __init__(self, spectrograms: list[dict[str, np.ndarray]], targets: list[str], patch_frames: int,
                 length: int, seed: int, remix_probability: float = 1.0):
        self.spectrograms = spectrograms  # per song {source: complex (2, max_bin, frames)}
        self.targets = targets
        self.sources = targets + [REST]
        self.patch_frames = patch_frames
        self.length = length
        self.seed = seed
        self.remix_probability = remix_probability
        self.epoch = 0

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """-> mixture magnitude (2, bins, frames), its mid magnitude (bins, frames), targets (n, 2, bins, frames)."""
        rng = np.random.default_rng([self.seed, self.epoch, index])
        # A remix draws each source from its own song and time; otherwise all come from one song (a real mix).
        # Remixing always is the default: it scored higher than half the time (docs/separator-experiments.md).
        remix = rng.random() < self.remix_probability
        song, start = self.random_position(rng)
        patches = {}
        for source in self.sources:
            if remix:
                song, start = self.random_position(rng)
            patch = self.spectrograms[song][source][:, :, start: start + self.patch_frames]
            patch = patch * np.float32(rng.uniform(*GAIN_RANGE))
            patches[source] = patch[::-1] if rng.random() < 0.5 else patch  # swap left and right
        mixture = sum(patches.values())
        target = np.stack([np.abs(patches[name]) for name in self.targets])
        return (torch.from_numpy(np.abs(mixture)), torch.from_numpy(SpectrogramUNet.mid_magnitude(mixture)),
                torch.from_numpy(target))

    def random_position(self, rng: np.random.Generator) -> tuple[int, int]:
        song = int(rng.integers(len(self.spectrograms)))
        frames = self.spectrograms[song][REST].shape[-1]
        return song, int(rng.integers(frames - self.patch_frames + 1))


def change_speed(audio: np.ndarray, semitones: float, sample_rate: int) -> np.ndarray:
    """Play (channels, samples) faster or slower, like a tape: pitch moves by `semitones`, tempo with it."""
    if semitones == 0:
        return audio
    factor = 2 ** (semitones / 12)
    return librosa.resample(audio, orig_sr=sample_rate, target_sr=sample_rate / factor, res_type="soxr_hq")


def source_spectrograms(songs, targets: list[str], settings: STFTSettings, max_bin: int,
                        semitone_shifts: list[float]) -> list[dict]:
    """Complex STFT (2, max_bin, frames) of each target and of the rest (mixture - targets), for every song at
    every speed in `semitone_shifts`: each speed counts as one more song to draw sources from.
    """
    spectrograms = []
    for _, mixture, sources in songs:
        rest = mixture - sum(sources[name] for name in targets)
        audio = {**{name: sources[name] for name in targets}, REST: rest}
        for semitones in semitone_shifts:
            spectrograms.append({name: np.ascontiguousarray(
                stft(change_speed(a, semitones, settings.sample_rate), settings)[:, :max_bin]) for name, a in audio.items()})
    return spectrograms


def physical_memory() -> int | None:
    """Bytes of RAM in this machine, or None where the OS does not say (Windows)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def check_memory(songs, n_sources: int, settings: STFTSettings, max_bin: int, shifts: list[float], root: str) -> None:
    """Refuse to start what would run out of RAM: complex64 (2, max_bin, frames) per source, song and speed."""
    frames = sum(mixture.shape[1] for _, mixture, _ in songs) / settings.hop_length
    needed = frames * sum(2 ** (-semitones / 12) for semitones in shifts) * 2 * max_bin * 8 * n_sources
    available = physical_memory()
    if available is not None and needed > 0.5 * available:
        raise UserError(f"--root {root}: the training spectrograms would take {needed / 2**30:.1f} GB of RAM at "
                        f"{len(shifts)} speeds, more than half of this machine's {available / 2**30:.0f} GB; "
                        "use --speed-semitones 0, fewer songs or a smaller --max-bin")


def input_statistics(model: SpectrogramUNet, songs, settings: STFTSettings) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row mean and standard deviation of the model's compressed input over the training mixtures."""
    rows = [model.input_rows(torch.from_numpy(np.abs(stft(mixture, settings)))) for _, mixture, _ in songs]
    compressed = torch.cat([song_rows.transpose(0, 1).flatten(1) for song_rows in rows], dim=1)  # (rows, values)
    return compressed.mean(dim=1), compressed.std(dim=1, correction=0)


def validate(separator: Separator, songs) -> dict[str, float]:
    """Mean over songs of the whole-song SDR (dB) of each target, separated exactly as separate.py does."""
    separator.model.eval()  # running BatchNorm statistics, as separate.py uses them; the next epoch sets train()
    scores = {name: [] for name in separator.targets}
    for _, mixture, sources in songs:
        estimates = separator.separate(mixture)
        for name in separator.targets:
            scores[name].append(sdr(sources[name], estimates[name]))
    return {name: float(np.mean(values)) for name, values in scores.items()}


def ema_with_warmup(decay: float):
    """The --ema update: averaged <- d * averaged + (1 - d) * current, with d = min(decay, (1 + n) / (10 + n))
    after n updates. A fixed d of 0.998 would keep 60% of the random initial weights for 256 steps; the
    warm-up lets the average follow the fast early training, then settle at `decay` (as TensorFlow's
    ExponentialMovingAverage does with num_updates).
    """
    @torch.no_grad()
    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], n_averaged: torch.Tensor) -> None:
        n = float(n_averaged)
        weight = 1 - min(decay, (1 + n) / (10 + n))
        for average, value in zip(averaged, current):
            if average.is_floating_point():
                average.lerp_(value, weight)
            else:  # BatchNorm's batch counter: an integer, copied
                average.copy_(value)
    return update


def learning_rate(base: float, progress: float) -> float:
    """Cosine decay from the base rate to 5% of it as progress goes 0 -> 1: big steps first, fine ones last."""
    return base * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))
