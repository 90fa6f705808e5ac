"""Keyboards playing the chords: piano, pad, organ, and a synth arpeggio."""
import numpy as np

from vocal_separation_sanity_check.demo_songs.dsp import (Sampler, add_into, filtered, midi_to_hz, pan, play,
                                                          poly_blep_saw, stereo_spread)
from vocal_separation_sanity_check.demo_songs.plan import Note, SongPlan


def close_voicing(pitch_classes: list[int], low: int, center: float) -> list[int]:
    """Root position or an inversion of the triad, whichever sits closest to `center` (smooth voice leading)."""
    best, best_distance = [], 1e9
    for bottom in range(low, low + 12):
        if bottom % 12 not in pitch_classes:
            continue
        notes = [bottom]
        for _ in range(2):  # stack the next chord tone not used yet
            used = {q % 12 for q in notes}
            notes.append(next(p for p in range(notes[-1] + 1, notes[-1] + 13)
                              if p % 12 in pitch_classes and p % 12 not in used))
        distance = abs(np.mean(notes) - center)
        if distance < best_distance:
            best, best_distance = notes, distance
    return best


def piano_sampler(plan: SongPlan, rng: np.random.Generator) -> Sampler:
    """A piano of random string stiffness, hammer hardness and sustain."""
    sr = plan.sample_rate
    stiffness, hardness, sustain = rng.uniform(1e-4, 5e-4), rng.uniform(3, 8), rng.uniform(0.6, 1.4)

    def render(pitch: float, n: int, noise: np.random.Generator) -> np.ndarray:
        f0, t = float(midi_to_hz(pitch)), np.arange(n) / sr
        tone = np.zeros(n)
        for k in range(1, 25):
            frequency = k * f0 * np.sqrt(1 + stiffness * k * k)  # stiff strings: partials go sharp
            if frequency > min(0.45 * sr, 10000):
                break
            tau = sustain * 3.0 * (261.6 / f0) ** 0.5 / (1 + 0.3 * (k - 1))  # high notes, high partials fade fast
            envelope = 0.6 * np.exp(-t / (0.15 * tau)) + 0.4 * np.exp(-t / tau)
            level = np.exp(-(k - 1) / hardness) / k  # a harder hammer excites more partials
            tone += level * envelope * np.sin(2 * np.pi * frequency * t + noise.uniform(0, 6.3))
        hammer = filtered(noise.standard_normal(n), "lowpass", 3000, sr) * np.exp(-t / 0.005) * 0.05
        return tone + hammer

    return Sampler(render, min(plan.bar, 3.0), sr, rng, release=0.15)


def piano_notes(plan: SongPlan, rng: np.random.Generator, bars: list[int]) -> list[Note]:
    """A root per bar in the left hand; the chord in the right, as blocks, pulses, an arpeggio or a ballad."""
    style = str(rng.choice(["block", "pulse", "broken", "ballad"]))
    notes = []
    for bar in bars:
        pitch_classes = plan.chord_pitch_classes(bar)
        chord = close_voicing(pitch_classes, 55, 64)
        left = 36 + (pitch_classes[0] - 36) % 12
        start = bar * plan.bar
        notes.append(Note(start, plan.bar * 0.95, left, 0.8))
        if style == "broken":  # an arpeggio in 8ths over the chord
            order = chord + [chord[0] + 12] + chord[::-1][1:] + [chord[1]]
            notes += [Note(plan.sixteenth_time(bar, 2 * i), plan.beat, order[i % len(order)], rng.uniform(0.5, 0.8))
                      for i in range(8)]
            continue
        beats = {"block": (0, 2), "pulse": (0, 1, 2, 3), "ballad": (0,)}[style]
        for beat in beats:
            length = (4 / len(beats)) * plan.beat * (0.6 if style == "pulse" else 0.95)
            notes += [Note(start + beat * plan.beat + 0.005 * i, length, p, rng.uniform(0.6, 0.9))
                      for i, p in enumerate(chord)]
    return notes


def piano(plan: SongPlan, rng: np.random.Generator, bars: list[int]) -> np.ndarray:
    """A piano accompaniment, stereo (2, n_samples)."""
    sampler, sr = piano_sampler(plan, rng), plan.sample_rate
    stereo = np.zeros((2, plan.n_samples))
    for note in piano_notes(plan, rng, bars):  # low notes a little left, high notes right, as the pianist hears it
        sound = sampler.note(note.pitch, note.duration, note.velocity)
        add_into(stereo, note.start * sr, pan(sound, (note.pitch - 60) / 40))
    return stereo


def pad_or_organ_sampler(plan: SongPlan, rng: np.random.Generator, organ: bool) -> Sampler:
    """Detuned saws through a low-pass filter (pad), or drawbar harmonics through a rotating speaker (organ)."""
    sr = plan.sample_rate
    detune, attack, cutoff = rng.uniform(4, 14), rng.uniform(0.1, 0.5), rng.uniform(800, 3000)
    drawbars = rng.uniform(0, 1, 7) * np.array([1, 1, 0.8, 0.7, 0.5, 0.4, 0.3])  # organ harmonic levels
    tremolo = rng.uniform(5.5, 7.0)

    def render(pitch: float, n: int, noise: np.random.Generator) -> np.ndarray:
        f0, t = float(midi_to_hz(pitch)), np.arange(n) / sr
        if organ:
            tone = sum(level * np.sin(2 * np.pi * ratio * f0 * t)
                       for level, ratio in zip(drawbars, (0.5, 1, 1.5, 2, 3, 4, 6)) if ratio * f0 < 0.45 * sr)
            wobble = 0.15 * np.sin(2 * np.pi * tremolo * t)  # rotating speaker: opposite phase in each ear
            return np.stack([tone * (1 + wobble), tone * (1 - wobble)]) * (1 - np.exp(-t / 0.01))
        voices = [poly_blep_saw(f0 * 2 ** (cents / 1200) * t + noise.random(), np.full(n, f0 / sr))
                  for cents in (-detune, 0, detune)]
        stereo = np.stack([voices[0] + 0.6 * voices[1], voices[2] + 0.6 * voices[1]])  # detuned saws, spread wide
        return filtered(stereo, "lowpass", cutoff, sr) * (1 - np.exp(-t / attack))

    return Sampler(render, plan.bar, sr, rng, release=0.3 if not organ else 0.05)


def pad_or_organ(plan: SongPlan, rng: np.random.Generator, bars: list[int], organ: bool) -> np.ndarray:
    """The chord held through each bar, stereo (2, n_samples); some organs play off-beat stabs instead."""
    sampler, sr = pad_or_organ_sampler(plan, rng, organ), plan.sample_rate
    stabs = organ and rng.random() < 0.3  # off-beat chords (ska, reggae) instead of held ones
    stereo = np.zeros((2, plan.n_samples))
    for bar in bars:
        chord = close_voicing(plan.chord_pitch_classes(bar), 48 if not organ else 53, 60 if not organ else 65)
        starts = [(bar * plan.bar, plan.bar)]
        if stabs:
            starts = [(bar * plan.bar + (i + 0.5) * plan.beat, 0.3 * plan.beat) for i in range(4)]
        for start, length in starts:
            for pitch in chord:
                add_into(stereo, start * sr, sampler.note(pitch, length, 0.7))
    return stereo


def arpeggio(plan: SongPlan, rng: np.random.Generator, bars: list[int]) -> np.ndarray:
    """A synth arpeggio in 16ths or 8ths over the chord tones, an octave up."""
    sr, step = plan.sample_rate, int(rng.choice([1, 2]))
    cutoff = rng.uniform(1500, 5000)

    def render(pitch: float, n: int, noise: np.random.Generator) -> np.ndarray:
        f0, t = float(midi_to_hz(pitch)), np.arange(n) / sr
        square = poly_blep_saw(f0 * t, np.full(n, f0 / sr)) - poly_blep_saw(f0 * t + 0.5, np.full(n, f0 / sr))
        return filtered(square, "lowpass", cutoff, sr) * np.exp(-t / 0.15)

    sampler = Sampler(render, 1.0, sr, rng, release=0.02)
    notes = []
    for bar in bars:
        chord = close_voicing(plan.chord_pitch_classes(bar), 64, 72)
        order = chord + [chord[0] + 12] if rng.random() < 0.5 else chord + [chord[0] + 12] + chord[::-1][:-1]
        for i, position in enumerate(range(0, 16, step)):
            notes.append(Note(plan.sixteenth_time(bar, position), step * plan.beat / 4, order[i % len(order)],
                              rng.uniform(0.6, 0.9)))
    mono = np.zeros(plan.n_samples)
    play(mono, sampler, notes, sr)
    return stereo_spread(mono, rng, sr)
