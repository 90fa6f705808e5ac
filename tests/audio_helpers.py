"""Small synthetic multitrack songs shared by the audio tests (tracks, sanity check, evaluation, separator)."""
from pathlib import Path

import numpy as np

from vocal_separation_sanity_check.audio import DEFAULT_STFT, write_audio

RATE = DEFAULT_STFT.sample_rate


def synthetic_stems(seconds: float = 2.0, seed: int = 0) -> dict[str, np.ndarray]:
    """Four stereo stems a mask can tell apart: a sung-like harmonic tone with vibrato and syllables,
    noise bursts (drums), a low sine (bass) and a chord (other)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    pitch = 220 * 2 ** (seed % 5 / 12) * (1 + 0.02 * np.sin(2 * np.pi * 5 * t))
    phase = 2 * np.pi * np.cumsum(pitch) / RATE
    voice = sum(np.sin(k * phase) / k for k in range(1, 9)) * np.sin(2 * np.pi * 1.5 * t) ** 2
    drums = rng.standard_normal(t.size) * np.exp(-30 * (t % 0.5))
    bass = np.sin(2 * np.pi * 55 * t)
    other = sum(np.sin(2 * np.pi * f * t) for f in (330.0, 415.3, 493.9)) / 3
    stems = {"vocals": voice, "drums": drums, "bass": bass, "other": other}
    return {name: (0.2 * np.stack([signal, 0.8 * signal])).astype(np.float32) for name, signal in stems.items()}


def write_musdb_track(folder: Path, stems: dict[str, np.ndarray], mixture: bool = True, suffix: str = ".wav") -> Path:
    """folder/mixture.wav (sum of the stems) + folder/<stem>.wav."""
    for name, audio in stems.items():
        write_audio(folder / f"{name}{suffix}", audio, RATE)
    if mixture:
        write_audio(folder / f"mixture{suffix}", sum(stems.values()), RATE)
    return folder
