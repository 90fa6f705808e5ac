"""The song plan: tempo, key, sections and chords that all four stems share, and melodies written over them."""
from dataclasses import dataclass

import numpy as np

MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10)
# Four-chord loops as scale degrees (0 = the key's own chord): the bread and butter of pop songs.
PROGRESSIONS = {
    MAJOR_SCALE: ((0, 4, 5, 3), (0, 5, 3, 4), (5, 3, 0, 4), (0, 3, 4, 3), (1, 4, 0, 5), (0, 3, 0, 4), (3, 4, 2, 5)),
    MINOR_SCALE: ((0, 5, 2, 6), (0, 3, 4, 0), (0, 6, 5, 6), (0, 3, 6, 2), (5, 6, 0, 0), (0, 2, 3, 4)),
}


@dataclass
class Note:
    """One note of any part; sung notes also carry their syllable."""

    start: float  # seconds
    duration: float  # seconds
    pitch: float  # MIDI number (69 = A4 = 440 Hz)
    velocity: float = 1.0
    vowel: str = "a"  # sung notes only: the vowel and the consonants around it ('' = none)
    onset: str = ""
    coda: str = ""

    @property
    def end(self) -> float:
        return self.start + self.duration


@dataclass
class SongPlan:
    """What every stem of a song follows: length, tempo, key, a section and a chord per bar, and the swing."""

    sample_rate: int
    n_samples: int
    bpm: float
    tonic: int  # pitch class of the key (0 = C)
    scale: tuple[int, ...]
    sections: list[str]  # one per bar: intro, verse, chorus, break or outro
    chords: list[int]  # one per bar: the scale degree the chord is built on
    swing: float  # how late every second 16th note comes, as a fraction of a 16th

    @property
    def beat(self) -> float:
        return 60.0 / self.bpm

    @property
    def bar(self) -> float:
        return 4 * self.beat

    @property
    def n_bars(self) -> int:
        return len(self.chords)

    def chord_pitch_classes(self, bar: int) -> list[int]:
        """Root, third and fifth of the bar's chord, as pitch classes (0 = C)."""
        degree = self.chords[min(bar, self.n_bars - 1)]
        return [(self.tonic + degree_to_semitones(self.scale, degree + step)) % 12 for step in (0, 2, 4)]

    def scale_pitches(self, low: int, high: int) -> list[int]:
        """The MIDI pitches of the key from `low` to `high`, both included."""
        return [pitch for pitch in range(low, high + 1) if (pitch - self.tonic) % 12 in self.scale]

    def sixteenth_time(self, bar: int, step: float) -> float:
        """Seconds at a 16th-note step of a bar, with the song's swing on the off-16ths."""
        swing = self.swing if int(step) % 2 == 1 and step == int(step) else 0.0
        return bar * self.bar + (step + swing) * self.beat / 4


def degree_to_semitones(scale: tuple[int, ...], degree: int) -> int:
    """Semitones above the tonic of a scale degree; degrees past 6 go up an octave."""
    return scale[degree % 7] + 12 * (degree // 7)


def plan_sections(rng: np.random.Generator, n_bars: int) -> list[str]:
    """Intro, then verses and choruses with an instrumental break, and an outro: vocals rest in ~1/4 of it."""
    if n_bars < 4:  # a few seconds: no room for an intro, the vocal rests come from the phrasing
        return ["verse"] * n_bars
    sections = ["intro"] * (1 if rng.random() < 0.75 else 2)
    order = ("verse", "chorus", "break", "verse", "chorus", "chorus") if n_bars >= 16 else ("verse", "chorus")
    part = 0
    while len(sections) < n_bars:
        name = order[part % len(order)]
        sections += [name] * (2 if name == "break" else 4)
        part += 1
    sections = sections[:n_bars]
    if n_bars >= 10:
        sections[-1] = "outro"
    return sections


def plan_chords(rng: np.random.Generator, sections: list[str], scale: tuple[int, ...], bpm: float) -> list[int]:
    """A chord per bar: one four-chord loop for the verses, another for choruses and breaks, the tonic last."""
    progressions = PROGRESSIONS[scale]
    verse, chorus = (progressions[i] for i in rng.choice(len(progressions), 2, replace=False))
    bars_per_chord = 2 if bpm > 120 and rng.random() < 0.5 else 1
    chords, section_start = [], 0
    for bar, section in enumerate(sections):
        if bar > 0 and section != sections[bar - 1]:
            section_start = bar
        progression = chorus if section in ("chorus", "break") else verse
        chords.append(0 if section == "outro" else progression[((bar - section_start) // bars_per_chord) % 4])
    return chords


def plan_song(rng: np.random.Generator, seconds: float, sample_rate: int) -> SongPlan:
    """A random tempo (70-150 bpm), key, section layout, chords and swing for a song of `seconds`."""
    bpm = float(rng.uniform(70, 150))
    n_bars = int(np.ceil(seconds * bpm / 240.0))
    scale = MAJOR_SCALE if rng.random() < 0.6 else MINOR_SCALE
    sections = plan_sections(rng, n_bars)
    chords = plan_chords(rng, sections, scale, bpm)
    return SongPlan(sample_rate=sample_rate, n_samples=int(round(seconds * sample_rate)), bpm=bpm,
                    tonic=int(rng.integers(12)), scale=scale, sections=sections, chords=chords,
                    swing=float(rng.choice([0.0, 0.0, 0.0, 0.15, 0.3])))


def compose_melody(plan: SongPlan, rng: np.random.Generator, start_beat: float, end_beat: float, low: int,
                   high: int, rhythms: tuple[float, ...], previous_pitch: float | None = None) -> list[Note]:
    """A stepwise melody in the key between two beats, landing on chord tones on the beats."""
    pitches = plan.scale_pitches(low, high)
    target = (low + high) / 2 if previous_pitch is None else previous_pitch
    index = int(np.argmin([abs(p - target) for p in pitches]))
    notes, beat = [], start_beat
    while beat < end_beat - 0.2:
        length = min(float(rng.choice(rhythms)), end_beat - beat)
        index += int(rng.choice([-3, -2, -1, -1, 0, 1, 1, 2, 3, 4, -4]))
        index = int(np.clip(index, 0, len(pitches) - 1))
        bar = int(beat // 4)
        chord = plan.chord_pitch_classes(bar)
        if beat == int(beat) and pitches[index] % 12 not in chord:  # strong beats want chord tones
            for shift in (1, -1, 2, -2):
                if 0 <= index + shift < len(pitches) and pitches[index + shift] % 12 in chord:
                    index += shift
                    break
        notes.append(Note(start=beat * plan.beat, duration=length * plan.beat, pitch=float(pitches[index]),
                          velocity=float(rng.uniform(0.8, 1.0))))
        beat += length
    return notes
