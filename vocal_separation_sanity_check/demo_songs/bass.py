"""The bass stem: the chord roots with fifths, octaves and passing notes, in one of four timbres."""
import numpy as np

from vocal_separation_sanity_check.demo_songs.dsp import (Sampler, filtered, karplus_strong, midi_to_hz, pan, play,
                                                          poly_blep_saw)
from vocal_separation_sanity_check.demo_songs.plan import Note, SongPlan

BASS_PATTERNS = {  # (beat, length in beats, which note): R root, 5 fifth, 8 octave, A approach to the next root
    "whole": ((0, 3.8, "R"),),
    "half": ((0, 1.9, "R"), (2, 1.4, "R"), (3.5, 0.45, "A")),
    "quarters": ((0, 0.9, "R"), (1, 0.9, "R"), (2, 0.9, "R"), (3, 0.9, "A")),
    "eighths": tuple((i / 2, 0.45, "R") for i in range(7)) + ((3.5, 0.45, "A"),),
    "root_fifth": ((0, 0.9, "R"), (1, 0.9, "5"), (2, 0.9, "R"), (3, 0.9, "5")),
    "octaves": tuple((i / 2, 0.4, "R" if i % 2 == 0 else "8") for i in range(8)),
    "syncopated": ((0, 0.7, "R"), (0.75, 0.25, "R"), (1.5, 0.5, "5"), (2.5, 0.5, "R"), (3, 0.45, "8"),
                   (3.5, 0.45, "A")),
}


def bass_line(plan: SongPlan, rng: np.random.Generator) -> list[Note]:
    """The notes: a pattern for the verses and one for the choruses, on each bar's chord root."""
    lowest = int(rng.integers(28, 36))  # E1 .. B1: roots between about 41 and 120 Hz
    names = list(BASS_PATTERNS)
    verse, chorus = (BASS_PATTERNS[names[i]] for i in rng.choice(len(names), 2))
    articulation = rng.uniform(0.75, 1.0)
    notes = []
    for bar, section in enumerate(plan.sections):
        pattern = chorus if section in ("chorus", "outro") else verse
        if section == "intro" and rng.random() < 0.5:
            pattern = BASS_PATTERNS["whole"]
        root = lowest + (plan.chord_pitch_classes(bar)[0] - lowest) % 12
        next_root = lowest + (plan.chord_pitch_classes(bar + 1)[0] - lowest) % 12
        for beat, length, kind in pattern:
            if kind == "A":  # a passing note leading into the next chord
                pitch = next_root + int(rng.choice([-2, -1, 1, 2])) if next_root != root else root + 7
            else:
                pitch = root + {"R": 0, "5": 7, "8": 12}[kind]
            while pitch > 55:  # keep the fundamental under ~200 Hz
                pitch -= 12
            notes.append(Note(start=bar * plan.bar + beat * plan.beat + rng.normal(0, 0.004),
                              duration=length * plan.beat * articulation, pitch=float(max(pitch, 28)),
                              velocity=rng.uniform(0.8, 1.0) * (1.0 if beat % 1 == 0 else 0.85)))
    return notes


def fingered_bass(f0: float, t: np.ndarray, t60: float, sr: int) -> np.ndarray:
    """Fingered: harmonics that fade faster the higher they are."""
    k = np.arange(1, 13)[:, None]
    k = k[k[:, 0] * f0 < 0.4 * sr]
    partials = np.sin(2 * np.pi * k * f0 * t[None, :]) / k ** 1.3 * np.exp(-t[None, :] * (0.8 + 1.5 * k) / t60)
    return partials.sum(0) * (1 - np.exp(-t / 0.004))


def bass_sampler(plan: SongPlan, rng: np.random.Generator) -> Sampler:
    """A sub, synth, plucked or fingered bass."""
    sr = plan.sample_rate
    timbre = str(rng.choice(["sub", "synth", "pluck", "finger"]))
    cutoff, snap, t60 = rng.uniform(3, 8), rng.uniform(0.04, 0.15), rng.uniform(1.0, 3.0)

    def render(pitch: float, n: int, noise: np.random.Generator) -> np.ndarray:
        f0 = float(midi_to_hz(pitch))
        t = np.arange(n) / sr
        if timbre == "sub":  # nearly a sine, round and deep
            tone = np.sin(2 * np.pi * f0 * t) + 0.25 * np.sin(4 * np.pi * f0 * t) + 0.08 * np.sin(6 * np.pi * f0 * t)
            return tone * (1 - np.exp(-t / 0.005)) * np.exp(-t / 2.5)
        if timbre == "synth":  # a sawtooth whose filter opens at the attack and closes again
            saw = poly_blep_saw(f0 * t, np.full(n, f0 / sr))
            dark = filtered(saw, "lowpass", cutoff * f0, sr)
            return (dark + (saw - dark) * np.exp(-t / snap)) * (1 - np.exp(-t / 0.003))
        if timbre == "pluck":
            return filtered(karplus_strong(f0, n, sr, noise, t60, 0.4), "lowpass", 2500, sr)
        return fingered_bass(f0, t, t60, sr)

    return Sampler(render, plan.bar, sr, rng, release=0.03, variants=2 if timbre == "pluck" else 1)


def render_bass(plan: SongPlan, rng: np.random.Generator) -> np.ndarray:
    """The bass stem, stereo (2, n_samples), nearly centred, with the rumble under 30 Hz taken out."""
    mono = np.zeros(plan.n_samples)
    play(mono, bass_sampler(plan, rng), bass_line(plan, rng), plan.sample_rate)
    return pan(filtered(mono, "highpass", 30, plan.sample_rate), rng.uniform(-0.05, 0.05))
