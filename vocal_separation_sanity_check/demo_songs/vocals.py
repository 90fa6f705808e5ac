"""The vocals stem: sung phrases with rests, sometimes a harmony or a double-tracked voice, echo and reverb."""
from dataclasses import replace

import numpy as np

from vocal_separation_sanity_check.demo_songs.dsp import add_reverb, filtered, pan
from vocal_separation_sanity_check.demo_songs.phonetics import add_syllables
from vocal_separation_sanity_check.demo_songs.plan import Note, SongPlan, compose_melody
from vocal_separation_sanity_check.demo_songs.voice import Singer, sing


def vocal_phrases(plan: SongPlan, singer: Singer, rng: np.random.Generator) -> list[list[Note]]:
    """Sung phrases of 1-2 bars with rests in between, in the verses and choruses; each note is a syllable."""
    bars_per_phrase = max(1, round(rng.uniform(3.0, 6.0) / plan.bar))
    rhythms = (0.5, 0.5, 1.0, 1.0, 1.5, 2.0, 0.25, 0.75)
    phrases, bar, previous = [], 0, None
    while bar < plan.n_bars:
        section = plan.sections[bar]
        if section not in ("verse", "chorus"):
            bar += 1
            continue
        length = 1
        while length < bars_per_phrase and bar + length < plan.n_bars and plan.sections[bar + length] == section:
            length += 1
        start = bar * 4 + float(rng.choice([0.5, 1.0, 0.5, 1.5] if not phrases else [0.0, 0.0, 0.5]))
        end = (bar + length) * 4 - round(rng.uniform(0.5, 1.25) * 4) / 4  # the rest where the singer breathes
        low, high = (singer.low, singer.high - 3) if section == "verse" else (singer.low + 3, singer.high)
        notes = compose_melody(plan, rng, start, end, low, high, rhythms, previous)
        if notes:
            loudness = 0.85 if section == "verse" else 1.0
            for note in notes:
                note.velocity *= loudness
            phrases.append(add_syllables(notes, rng))
            previous = notes[-1].pitch
        bar += length
    return phrases


def diatonic_shift(plan: SongPlan, pitch: float, steps: int) -> float:
    """The pitch `steps` notes up (or down) the song's scale; a pitch off the scale moves by a third instead."""
    pitches = plan.scale_pitches(int(pitch) - 24, int(pitch) + 24)
    if int(pitch) not in pitches:
        return pitch + (3 if steps > 0 else -4)
    return float(pitches[pitches.index(int(pitch)) + steps])


def harmony(plan: SongPlan, rng: np.random.Generator, singer: Singer, choruses: list[list[Note]]) -> np.ndarray:
    """A harmony a third above or a sixth below, in the choruses: quieter, and panned to one side."""
    steps = int(rng.choice([2, -3]))
    shifted = [[replace(note, pitch=diatonic_shift(plan, note.pitch, steps)) for note in phrase]
               for phrase in choruses]
    voice = sing(shifted, singer, plan, rng) * 10 ** (-rng.uniform(4, 8) / 20)
    return pan(voice, float(rng.choice([-1, 1])) * rng.uniform(0.2, 0.45))


def double_take(plan: SongPlan, rng: np.random.Generator, singer: Singer, phrases: list[list[Note]],
                side: int) -> np.ndarray:
    """Double-tracked: the same part sung again, slightly late and out of tune, on one side."""
    late = rng.uniform(0.01, 0.03)
    double = [[replace(note, start=note.start + late, pitch=note.pitch + rng.uniform(-0.08, 0.08))
               for note in phrase] for phrase in phrases]
    return pan(sing(double, singer, plan, rng) * 10 ** (-rng.uniform(6, 10) / 20), side * 0.6)


def render_vocals(plan: SongPlan, rng: np.random.Generator, singer: Singer, phrases: list[list[Note]]) -> np.ndarray:
    """The vocals stem, stereo (2, n_samples): the lead voice near the centre, extra voices, echo, reverb."""
    stereo = pan(sing(phrases, singer, plan, rng), rng.uniform(-0.08, 0.08))
    choruses = [phrase for phrase in phrases if plan.sections[min(int(phrase[0].start / plan.bar),
                                                                    plan.n_bars - 1)] == "chorus"]
    if choruses and rng.random() < 0.4:
        stereo += harmony(plan, rng, singer, choruses)
    if rng.random() < 0.3:
        for side in (-1, 1):
            stereo += double_take(plan, rng, singer, phrases, side)
    if rng.random() < 0.35:
        stereo = add_echo(stereo, rng, plan)
    return add_reverb(stereo, rng, plan.sample_rate, rt60=(0.8, 2.0), wet_db=(-16, -9))


def add_echo(stereo: np.ndarray, rng: np.random.Generator, plan: SongPlan) -> np.ndarray:
    """A tempo-synced, darkened echo bouncing between the ears (a 'ping-pong delay'), common on pop vocals."""
    delay = int(float(rng.choice([0.5, 0.75, 1.0])) * plan.beat * plan.sample_rate)
    feedback, level = rng.uniform(0.25, 0.5), 10 ** (-rng.uniform(8, 14) / 20)
    echo = filtered(stereo.mean(axis=0), "bandpass", [300, 4000], plan.sample_rate)
    out = stereo.copy()
    for repeat in range(1, 5):
        shift = repeat * delay
        if shift >= out.shape[1]:
            break
        side = -0.7 if repeat % 2 else 0.7
        out[:, shift:] += pan(echo[:-shift], side) * level * feedback ** (repeat - 1)
    return out
