"""Guitars playing the chords (Karplus-Strong strings): strummed, picked, or distorted power chords."""
import numpy as np

from vocal_separation_sanity_check.demo_songs.dsp import (Sampler, add_into, filtered, karplus_strong, midi_to_hz,
                                                          play, stereo_spread)
from vocal_separation_sanity_check.demo_songs.plan import Note, SongPlan

STRUM_PATTERNS = ("D.DU.UDU", "D.D.D.D.", "D..UD.DU", "D...D...", "DUDUDUDU", "D.DUDUDU", "D..D..D.")
PICKING_PATTERNS = ((0, 2, 3, 4, 5, 4, 3, 2), (0, 3, 4, 3, 1, 3, 4, 3), (0, 2, 4, 5, 0, 2, 4, 5),
                    (0, 4, 3, 5, 1, 4, 3, 5))  # which string of the six, per 8th note


def guitar_voicing(pitch_classes: list[int]) -> list[int]:
    """Six strings: root low, then fifth, octave, third, fifth and root, like an open barre chord."""
    root = 40 + (pitch_classes[0] - 40) % 12
    third, fifth = (pitch_classes[1] - pitch_classes[0]) % 12, (pitch_classes[2] - pitch_classes[0]) % 12
    return [p for p in (root, root + fifth, root + 12, root + 12 + third, root + 12 + fifth, root + 24) if p <= 79]


def guitar_sampler(plan: SongPlan, rng: np.random.Generator) -> Sampler:
    """Plucked strings with a random sustain and brightness, two takes of each pitch."""
    t60, brightness = rng.uniform(1.5, 4.0), rng.uniform(0.3, 0.8)

    def render(pitch: float, n: int, noise: np.random.Generator) -> np.ndarray:
        return karplus_strong(float(midi_to_hz(pitch)), n, plan.sample_rate, noise, t60, brightness)

    return Sampler(render, plan.bar + 0.5, plan.sample_rate, rng, release=0.03, variants=2)


def strummed_guitar(plan: SongPlan, rng: np.random.Generator, bars: list[int]) -> np.ndarray:
    """Down- and up-strokes across the strings in a strumming pattern per section."""
    sampler, sr = guitar_sampler(plan, rng), plan.sample_rate
    # Sorted: the order of a set of strings changes from run to run (hash seed), and with it the drawn patterns.
    patterns = {section: str(rng.choice(STRUM_PATTERNS)) for section in sorted(set(plan.sections))}
    mono = np.zeros(plan.n_samples)
    for bar in bars:
        pattern, strings = patterns[plan.sections[bar]], guitar_voicing(plan.chord_pitch_classes(bar))
        slots = [i for i, stroke in enumerate(pattern) if stroke != "."]
        for j, slot in enumerate(slots):
            start = plan.sixteenth_time(bar, 2 * slot)
            stop = plan.sixteenth_time(bar, 2 * slots[j + 1]) if j + 1 < len(slots) else (bar + 1) * plan.bar
            down = pattern[slot] == "D"
            order = strings if down else strings[::-1][:4]  # up-strokes catch only the top strings
            spread = rng.uniform(0.006, 0.014) if down else rng.uniform(0.004, 0.009)
            for k, pitch in enumerate(order):
                onset = start + k * spread
                note = sampler.note(pitch, stop - onset + 0.02, (0.9 if down else 0.6) * rng.uniform(0.8, 1.0))
                add_into(mono, onset * sr, note)
    return stereo_spread(filtered(mono, "highpass", 80, sr), rng, sr)


def picked_guitar(plan: SongPlan, rng: np.random.Generator, bars: list[int]) -> np.ndarray:
    """The chord's strings one at a time in 8ths, left to ring."""
    sampler, sr = guitar_sampler(plan, rng), plan.sample_rate
    pattern, ring = PICKING_PATTERNS[int(rng.integers(len(PICKING_PATTERNS)))], rng.uniform(1.0, 3.0)
    notes = []
    for bar in bars:
        strings = guitar_voicing(plan.chord_pitch_classes(bar))
        for slot, string in enumerate(pattern):
            notes.append(Note(plan.sixteenth_time(bar, 2 * slot), ring * plan.beat / 2,
                              strings[min(string, len(strings) - 1)], rng.uniform(0.6, 0.9)))
    mono = np.zeros(plan.n_samples)
    play(mono, sampler, notes, sr)
    return stereo_spread(filtered(mono, "highpass", 80, sr), rng, sr)


def distorted_guitar(plan: SongPlan, rng: np.random.Generator, bars: list[int]) -> np.ndarray:
    """Power chords (root, fifth, octave) through an overdriven amplifier and a speaker cabinet, as in rock."""
    sampler, sr = guitar_sampler(plan, rng), plan.sample_rate
    drive, chug = rng.uniform(4, 20), rng.random() < 0.5  # palm-muted 8ths, or chords left to ring
    notes = []
    for bar in bars:
        root = 40 + (plan.chord_pitch_classes(bar)[0] - 40) % 12
        hits = [(i / 2, 0.2) for i in range(8)] if chug else [(0, 1.9), (2, 1.4), (3.5, 0.45)]
        for beat, length in hits:
            start = bar * plan.bar + beat * plan.beat + rng.normal(0, 0.003)
            notes += [Note(start, length * plan.beat, p, rng.uniform(0.8, 1.0)) for p in (root, root + 7, root + 12)]
    clean = np.zeros(plan.n_samples)
    play(clean, sampler, notes, sr)
    dirty = np.tanh(drive * clean / (np.abs(clean).max() + 1e-9))  # clipping adds the dense upper harmonics
    cabinet = filtered(filtered(dirty, "lowpass", rng.uniform(3000, 5500), sr, 4), "highpass", 90, sr)
    return stereo_spread(cabinet, rng, sr)
