"""An instrumental lead line (synth, flute, strings, bell, pluck): pitched and expressive like a voice."""
from dataclasses import replace

import numpy as np
from scipy import signal

from vocal_separation_sanity_check.demo_songs.contour import CONTROL_HOP, melody_contour, to_samples
from vocal_separation_sanity_check.demo_songs.dsp import (Sampler, filtered, karplus_strong, midi_to_hz, play,
                                                          poly_blep_saw, stereo_spread)
from vocal_separation_sanity_check.demo_songs.plan import Note, SongPlan, compose_melody


def lead_windows(plan: SongPlan, phrases: list[list[Note]],
                 rng: np.random.Generator) -> list[tuple[float, float, float]]:
    """Where the instrumental lead plays (start beat, end beat, loudness): where the singer does not,
    and sometimes a quiet counter-melody under the voice."""
    windows = []
    for bar, section in enumerate(plan.sections):
        if section in ("intro", "break", "outro"):
            windows.append((bar * 4.0, bar * 4.0 + 4, 1.0))
    answers, counter = rng.random() < 0.6, rng.random() < 0.3
    for phrase, following in zip(phrases, phrases[1:] + [None]):
        gap_start = phrase[-1].end / plan.beat + 0.5
        gap_end = following[0].start / plan.beat - 0.25 if following else plan.n_bars * 4.0
        if answers and gap_end - gap_start >= 1.5:
            windows.append((gap_start, gap_end, 0.8))
        if counter:
            windows.append((phrase[0].start / plan.beat, phrase[-1].end / plan.beat, 0.5))
    if not phrases:  # a short song without a sung phrase still gets a melody
        windows.append((0.0, plan.n_bars * 4.0, 1.0))
    return windows


def lead_notes(plan: SongPlan, rng: np.random.Generator, phrases: list[list[Note]], low: int,
               rhythms: tuple[float, ...]) -> list[Note]:
    """A melody in each window of the lead, detached or legato by a random articulation."""
    articulation = rng.uniform(0.6, 0.95)
    notes = []
    for start, end, loudness in sorted(lead_windows(plan, phrases, rng)):
        for note in compose_melody(plan, rng, start, end, low, low + 14, rhythms):
            notes.append(replace(note, duration=note.duration * articulation, velocity=note.velocity * loudness))
    return notes


def lead_line(plan: SongPlan, rng: np.random.Generator, phrases: list[list[Note]]) -> np.ndarray:
    """An instrumental melody (synth, flute, strings, bell or plucked): pitched and expressive like a voice."""
    timbre = str(rng.choice(["saw", "square", "flute", "strings", "bell", "pluck"]))
    low = int(rng.integers(57, 70))
    rhythms = (0.25, 0.5, 0.5, 1.0, 1.5) if timbre in ("bell", "pluck", "square") else (0.5, 1.0, 1.0, 1.5, 2.0)
    notes = lead_notes(plan, rng, phrases, low, rhythms)
    if timbre in ("bell", "pluck"):
        mono = sampled_lead(plan, rng, notes, timbre)
    else:
        mono = synth_lead(plan, rng, notes, timbre)
    return stereo_spread(mono, rng, plan.sample_rate)


def synth_lead(plan: SongPlan, rng: np.random.Generator, notes: list[Note], timbre: str) -> np.ndarray:
    """One continuous tone that glides from note to note, with vibrato on flutes, strings and some synths."""
    sr, n = plan.sample_rate, plan.n_samples
    frame_rate = sr / CONTROL_HOP
    vibrato = rng.uniform(0.1, 0.4) if timbre in ("flute", "strings") or rng.random() < 0.4 else 0.0
    pitch, gate = melody_contour(notes, 1 + n // CONTROL_HOP, frame_rate, rng, rng.uniform(0.01, 0.06),
                                 rng.uniform(4.5, 6.5), vibrato, rng.uniform(0.1, 0.4))
    attack = 0.08 if timbre == "strings" else 0.01
    gate = signal.lfilter([1 - np.exp(-1 / (attack * frame_rate))], [1, -np.exp(-1 / (attack * frame_rate))], gate)
    f0 = midi_to_hz(to_samples(pitch, n))
    return lead_tone(timbre, np.cumsum(f0 / sr), f0 / sr, rng, sr) * to_samples(gate, n)


def lead_tone(timbre: str, phase: np.ndarray, step: np.ndarray, rng: np.random.Generator, sr: int) -> np.ndarray:
    """The oscillator of a synth lead at a running phase (cycles) advancing by `step` per sample."""
    n = phase.size
    if timbre == "flute":
        tone = np.sin(2 * np.pi * phase) + 0.25 * np.sin(4 * np.pi * phase) + 0.06 * np.sin(6 * np.pi * phase)
        return tone + 0.08 * filtered(rng.standard_normal(n), "bandpass", [1000, 5000], sr)
    if timbre == "square":
        square = poly_blep_saw(phase, step) - poly_blep_saw(phase + 0.5, step)
        return filtered(square, "lowpass", rng.uniform(1500, 5000), sr)
    tone = filtered(poly_blep_saw(phase, step), "lowpass", rng.uniform(2000, 6000), sr)
    if timbre == "strings":  # a violin body's fixed resonances: formant-like, but they never move
        tone = sum(filtered(tone, "bandpass", [f * 0.8, f * 1.25], sr) * gain
                   for f, gain in ((450, 1.0), (1100, 0.7), (2600, 0.5)))
    return tone


def sampled_lead(plan: SongPlan, rng: np.random.Generator, notes: list[Note], timbre: str) -> np.ndarray:
    """A bell (FM, like an electric piano) or a plucked string playing the notes, mono."""
    sr = plan.sample_rate
    ratio, index = float(rng.choice([1.0, 2.0, 3.5])), rng.uniform(1, 4)

    def render(pitch: float, n: int, noise: np.random.Generator) -> np.ndarray:
        f0, t = float(midi_to_hz(pitch)), np.arange(n) / sr
        if timbre == "pluck":
            return karplus_strong(f0, n, sr, noise, 1.5, 0.7)
        modulation = index * np.exp(-t / 0.3) * np.sin(2 * np.pi * ratio * f0 * t)  # FM bell / electric piano
        return np.sin(2 * np.pi * f0 * t + modulation) * np.exp(-t / 0.8) * (1 - np.exp(-t / 0.002))

    mono = np.zeros(plan.n_samples)
    play(mono, Sampler(render, 2.0, sr, rng, release=0.05), notes, sr)
    return mono
