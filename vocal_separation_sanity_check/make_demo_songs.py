"""Write a small multitrack song set offline, in the MUSDB18-HQ layout, for training and testing the separator.

    python3 make_demo_songs.py --out data/demo_songs --train 6 --test 2 --seconds 30 --seed 0

writes ROOT/{train,test}/<track name>/{mixture,vocals,drums,bass,other}.wav: 44.1 kHz stereo float32 wav,
mixture = vocals + drums + bass + other. `demo_song(seed, split, index, seconds)` gives the same stems in memory.

Why synthesize: the tutorial must run offline and without licences. Why so much detail: a separator trained
here should also do something on real music, so each stem imitates what makes its real counterpart
recognisable, and the accompaniment carries melodies too, so that "harmonic" never simply means "vocal":
- vocals: a glottal pulse train sings a melody (legato, portamento, vibrato, jitter) through moving formants
  (vowels), with consonants, breaths and rests; sometimes a harmony or a double-tracked voice; light reverb;
- drums: kick, snare, hi-hats, toms and cymbals in varied grooves with fills, in a room;
- bass: the chord roots with fifths, octaves and passing notes, in one of four timbres;
- other: guitars (Karplus-Strong: strummed, picked or distorted), piano, pads or organ playing the chords,
  and an instrumental lead line (synth, flute, strings, bell, pluck), sometimes an arpeggio.
Every choice is drawn from one random generator per song, seeded by (seed, split, index), except two that
take turns, so that even 6 songs cover them all: the main chord instrument and the singer's voice.
"""
if not __package__: import sys, pathlib; sys.path[0] = str(pathlib.Path(__file__).resolve().parents[1])  # noqa: E401,E702  run as a file: import from the repository root

import argparse
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import librosa
import matplotlib
import numpy as np
from scipy import signal
from tqdm import tqdm

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from vocal_separation_sanity_check.audio import stft, write_audio  # noqa: E402
from utils.errors import UserError, run_cli  # noqa: E402

STEMS = ("vocals", "drums", "bass", "other")
SPLITS = ("train", "test")
SAMPLE_RATE = 44100
MAX_SECONDS = 600  # a song is made in memory whole: roughly 0.3 GB plus 10 MB per second of song

# ---------------------------------------------------------------------------------------------------------
# The song plan: tempo, key, sections and chords that all four stems share
# ---------------------------------------------------------------------------------------------------------
MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10)
# Four-chord loops as scale degrees (0 = the key's own chord): the bread and butter of pop songs.
PROGRESSIONS = {
    MAJOR_SCALE: ((0, 4, 5, 3), (0, 5, 3, 4), (5, 3, 0, 4), (0, 3, 4, 3), (1, 4, 0, 5), (0, 3, 0, 4), (3, 4, 2, 5)),
    MINOR_SCALE: ((0, 5, 2, 6), (0, 3, 4, 0), (0, 6, 5, 6), (0, 3, 6, 2), (5, 6, 0, 0), (0, 2, 3, 4)),
}


@dataclass
class Note:
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
        return [pitch for pitch in range(low, high + 1) if (pitch - self.tonic) % 12 in self.scale]

    def sixteenth_time(self, bar: int, step: float) -> float:
        """Seconds at a 16th-note step of a bar, with the song's swing on the off-16ths."""
        swing = self.swing if int(step) % 2 == 1 and step == int(step) else 0.0
        return bar * self.bar + (step + swing) * self.beat / 4


def degree_to_semitones(scale: tuple[int, ...], degree: int) -> int:
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


def plan_song(rng: np.random.Generator, seconds: float, sample_rate: int) -> SongPlan:
    bpm = float(rng.uniform(70, 150))
    n_bars = int(np.ceil(seconds * bpm / 240.0))
    scale = MAJOR_SCALE if rng.random() < 0.6 else MINOR_SCALE
    sections = plan_sections(rng, n_bars)
    progressions = PROGRESSIONS[scale]
    verse, chorus = (progressions[i] for i in rng.choice(len(progressions), 2, replace=False))
    bars_per_chord = 2 if bpm > 120 and rng.random() < 0.5 else 1
    chords, section_start = [], 0
    for bar, section in enumerate(sections):
        if bar > 0 and section != sections[bar - 1]:
            section_start = bar
        progression = chorus if section in ("chorus", "break") else verse
        chords.append(0 if section == "outro" else progression[((bar - section_start) // bars_per_chord) % 4])
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


# ---------------------------------------------------------------------------------------------------------
# Small sound-making tools shared by the instruments
# ---------------------------------------------------------------------------------------------------------
def midi_to_hz(pitch):
    return 440.0 * 2.0 ** ((np.asarray(pitch, dtype=np.float64) - 69.0) / 12.0)


def times(seconds: float, sample_rate: int) -> np.ndarray:
    return np.arange(int(seconds * sample_rate)) / sample_rate


def filtered(x: np.ndarray, kind: str, cutoff, sample_rate: int, order: int = 2) -> np.ndarray:
    """Butterworth low/high/band-pass along the last axis; cut-offs are kept below Nyquist."""
    nyquist_safe = 0.45 * sample_rate
    cutoff = np.minimum(np.asarray(cutoff, dtype=np.float64), nyquist_safe)
    if kind == "bandpass" and cutoff[0] >= cutoff[1] * 0.95:
        kind, cutoff = "highpass", cutoff[0] * 0.8
    sos = signal.butter(order, cutoff, btype=kind, fs=sample_rate, output="sos")
    return signal.sosfilt(sos, x, axis=-1)


def smooth_noise(rng: np.random.Generator, n: int, rate: float, cutoff: float) -> np.ndarray:
    """Random wobble slower than `cutoff` Hz with unit standard deviation (jitter, drift, shimmer)."""
    noise = filtered(rng.standard_normal(n + int(rate)), "lowpass", cutoff, rate)[int(rate):]
    return noise / (noise.std() + 1e-12)


def pan(mono: np.ndarray, position: float) -> np.ndarray:
    """Constant-power pan: -1 left, 0 centre, +1 right. (n,) -> (2, n)."""
    angle = (position + 1.0) * np.pi / 4
    return np.stack([np.cos(angle) * mono, np.sin(angle) * mono])


def add_into(track: np.ndarray, start_sample: float, sound: np.ndarray) -> None:
    """Add `sound` into `track` (both 1-D or both (2, n)) from `start_sample`; what falls outside is cut."""
    start, length = int(round(start_sample)), track.shape[-1]
    first, last = max(0, -start), min(sound.shape[-1], length - start)
    if last > first:
        track[..., start + first:start + last] += sound[..., first:last]


def poly_blep_saw(phase: np.ndarray, increment: np.ndarray) -> np.ndarray:
    """Sawtooth from a running phase (in cycles) with PolyBLEP smoothing of the jumps, so it does not alias."""
    position = phase % 1.0
    step = np.broadcast_to(np.clip(increment, 1e-7, 0.5), position.shape)
    wave = 2.0 * position - 1.0
    after = position < step
    x = position[after] / step[after]
    wave[after] -= 2 * x - x * x - 1
    before = position > 1.0 - step
    x = (position[before] - 1.0) / step[before]
    wave[before] -= x * x + 2 * x + 1
    return wave


def karplus_strong(frequency: float, n: int, sample_rate: int, rng: np.random.Generator, t60: float,
                   brightness: float) -> np.ndarray:
    """Plucked string: a noise burst circulating in a delay line one period long, low-passed on each trip.

    Each period depends only on the period before, so we compute a whole period per step (not per sample).
    """
    period = sample_rate / frequency
    delay = max(int(period), 2)
    fraction = period - delay  # two-tap average with these weights delays by `fraction` more: exact tuning
    excitation = signal.lfilter([brightness], [1.0, brightness - 1.0], rng.uniform(-1, 1, delay))
    excitation -= excitation.mean()
    gain = 10.0 ** (-3.0 / (frequency * t60))  # -60 dB after t60 seconds
    y = np.zeros(n + delay + 1)
    offset = delay + 1
    y[offset:offset + min(delay, n)] = excitation[:n]
    for start in range(offset + delay, offset + n, delay):
        stop = min(start + delay, offset + n)
        y[start:stop] = gain * ((1 - fraction) * y[start - delay:stop - delay]
                                + fraction * y[start - delay - 1:stop - delay - 1])
    return y[offset:]


def make_reverb(rng: np.random.Generator, sample_rate: int, rt60: float, predelay: float) -> np.ndarray:
    """Stereo room impulse response: decaying, darkening noise (different per ear, so it sounds wide)."""
    t = times(min(rt60, 2.5), sample_rate)
    tail = rng.standard_normal((2, t.size)) * np.exp(-6.9 * t / rt60)
    tail = filtered(tail, "lowpass", rng.uniform(3000, 8000), sample_rate)
    response = np.concatenate([np.zeros((2, int(predelay * sample_rate))), tail], axis=1)
    return response / np.sqrt(np.mean(np.sum(response ** 2, axis=1)))


def add_reverb(stereo: np.ndarray, rng: np.random.Generator, sample_rate: int, rt60: tuple[float, float],
               wet_db: tuple[float, float]) -> np.ndarray:
    response = make_reverb(rng, sample_rate, rng.uniform(*rt60), rng.uniform(0.005, 0.04))
    wet = signal.oaconvolve(stereo, response, axes=1)[:, :stereo.shape[1]]
    return stereo + 10 ** (rng.uniform(*wet_db) / 20) * wet


def active_rms(track: np.ndarray, frame: int = 4096) -> float:
    """RMS over the frames where the track plays, so that a stem that rests half the song is not boosted."""
    mono = track.reshape(-1, track.shape[-1]).mean(axis=0)
    n_frames = max(1, mono.size // frame)
    rms = np.sqrt(np.mean(mono[:n_frames * frame].reshape(n_frames, -1) ** 2, axis=1))
    active = rms > 0.1 * rms.max()
    return float(np.sqrt(np.mean(rms[active] ** 2))) if active.any() else 0.0


def normalized(track: np.ndarray) -> np.ndarray:
    return track / max(active_rms(track), 1e-9)


class Sampler:
    """Renders each pitch once per song and reuses it for every note, as sample-based instruments do.

    `render(pitch, n_samples, rng)` makes one long note; a shorter note is its start with a release fade.
    """

    def __init__(self, render: Callable[[float, int, np.random.Generator], np.ndarray], max_seconds: float,
                 sample_rate: int, rng: np.random.Generator, release: float = 0.05, variants: int = 1):
        self.render, self.sample_rate, self.rng = render, sample_rate, rng
        self.n_samples = int((max_seconds + release) * sample_rate)
        self.release, self.variants = int(release * sample_rate), variants
        self.cache: dict[tuple[float, int], np.ndarray] = {}

    def note(self, pitch: float, duration: float, velocity: float = 1.0) -> np.ndarray:
        key = (round(float(pitch), 2), int(self.rng.integers(self.variants)))
        if key not in self.cache:
            self.cache[key] = self.render(key[0], self.n_samples, self.rng)
        sound = self.cache[key]
        held = int(np.clip(duration * self.sample_rate, 0, self.n_samples - self.release))
        note = sound[..., :held + self.release] * velocity
        note[..., held:] *= np.linspace(1.0, 0.0, note.shape[-1] - held)
        return note


def play(track: np.ndarray, sampler: Sampler, notes: list[Note], sample_rate: int) -> None:
    for note in notes:
        add_into(track, note.start * sample_rate, sampler.note(note.pitch, note.duration, note.velocity))


# ---------------------------------------------------------------------------------------------------------
# Pitch contours: portamento, vibrato and drift, used by the voice and the instrumental lead
# ---------------------------------------------------------------------------------------------------------
CONTROL_HOP = 256  # control signals (pitch, formants, loudness) run at sample_rate / 256, about 172 Hz


def melody_contour(notes: list[Note], n_frames: int, frame_rate: float, rng: np.random.Generator, glide: float,
                   vibrato_rate: float, vibrato_depth: float, vibrato_delay: float) -> tuple[np.ndarray, np.ndarray]:
    """Pitch (MIDI, per control frame) gliding between the notes with delayed vibrato, and the note gate."""
    pitch = np.full(n_frames, np.nan)
    gate = np.zeros(n_frames)
    depth = np.zeros(n_frames)
    for note in notes:
        first = int(np.clip(note.start * frame_rate, 0, n_frames))
        last = int(np.clip(note.end * frame_rate, 0, n_frames))
        pitch[first:last] = note.pitch
        gate[first:last] = note.velocity
        since_onset = np.arange(last - first) / frame_rate
        # vibrato grows in after the note has settled, and only long notes get it
        depth[first:last] = vibrato_depth * np.clip((since_onset - vibrato_delay) / 0.3, 0, 1)
    sung = ~np.isnan(pitch)
    if not sung.any():
        return np.full(n_frames, 60.0), gate
    held = np.maximum.accumulate(np.where(sung, np.arange(n_frames), 0))  # between notes, hold the last pitch
    pitch = np.where(np.arange(n_frames) < np.argmax(sung), pitch[np.argmax(sung)], pitch[held])
    # A damped second-order glide: the pitch slides into each note and overshoots a little, as singers do.
    omega = 2.2 / glide
    b, a = signal.bilinear([omega ** 2], [1.0, 2 * 0.6 * omega, omega ** 2], fs=frame_rate)
    pitch = signal.lfilter(b, a, pitch - pitch[0]) + pitch[0]
    rate = vibrato_rate * (1 + 0.06 * smooth_noise(rng, n_frames, frame_rate, 1.0))
    vibrato_phase = 2 * np.pi * np.cumsum(rate) / frame_rate + rng.uniform(0, 2 * np.pi)
    return pitch + depth * np.sin(vibrato_phase), gate


def to_samples(control: np.ndarray, n_samples: int) -> np.ndarray:
    return np.interp(np.arange(n_samples), np.arange(control.size) * CONTROL_HOP, control)


# ---------------------------------------------------------------------------------------------------------
# Vocals: glottal source -> formant filter (vowels) + consonant noises
# ---------------------------------------------------------------------------------------------------------
VOWELS = {  # F1-F4 in Hz of an adult male voice (Peterson & Barney, Hillenbrand); other singers scale them
    "a": (730, 1090, 2440, 3400), "e": (530, 1840, 2480, 3500), "i": (270, 2290, 3010, 3700),
    "o": (570, 840, 2410, 3300), "u": (300, 870, 2240, 3300), "ae": (660, 1720, 2410, 3400),
    "uh": (640, 1190, 2390, 3400), "ih": (390, 1990, 2550, 3500), "oo": (440, 1020, 2240, 3300),
    "er": (490, 1350, 1690, 3300),
}
VOWEL_NAMES = tuple(VOWELS)
VOWEL_WEIGHTS = np.array([3, 2, 2, 3, 1.5, 1.5, 2, 1.5, 1, 0.7])
VOWEL_WEIGHTS = VOWEL_WEIGHTS / VOWEL_WEIGHTS.sum()
SCHWA = (500, 1500, 2500, 3500)
BANDWIDTHS = np.array([80.0, 100.0, 140.0, 220.0])  # F1-F4
# Consonants sung with the voice on: their own formant targets and how loud the voice stays through them.
VOICED_CONSONANTS = {
    "m": ((250, 1100, 2200, 3300), 0.35), "n": ((250, 1500, 2500, 3400), 0.35), "l": ((360, 1300, 2700, 3400), 0.6),
    "r": ((420, 1300, 1600, 3300), 0.6), "w": ((300, 700, 2200, 3300), 0.5), "y": ((280, 2200, 3000, 3600), 0.5),
}
# Noisy consonants: band of the noise (Hz), level against the vowels (dB), length (s), voice kept on.
NOISE_CONSONANTS = {
    "s": ((4000, 10000), -9, 0.11, False), "sh": ((2000, 6000), -9, 0.12, False), "f": ((1000, 9000), -20, 0.09, False),
    "z": ((4000, 10000), -15, 0.08, True), "v": ((1000, 8000), -22, 0.07, True),
    "t": ((3000, 9000), -8, 0.012, False), "k": ((1500, 4500), -8, 0.015, False), "p": ((300, 2500), -12, 0.01, False),
    "d": ((2500, 8000), -16, 0.008, True), "b": ((200, 2000), -18, 0.008, True), "g": ((1500, 4000), -16, 0.01, True),
}
PLOSIVES = ("p", "t", "k", "b", "d", "g")
ONSETS = ("", "", "", "l", "m", "n", "s", "t", "k", "d", "b", "p", "h", "sh", "f", "w", "r", "y", "z", "v", "g")
CODAS = ("n", "s", "t", "m", "k", "l", "", "")
SINGER_TYPES = {"male": ((45, 66), 1.0), "female": ((55, 77), 1.17), "child": ((60, 79), 1.3)}  # MIDI range


@dataclass
class Singer:
    low: int  # the song's melody range, MIDI
    high: int
    formant_scale: float  # shorter vocal tracts (women, children) have higher formants
    glide: float  # seconds to slide between notes
    vibrato_rate: float  # Hz
    vibrato_depth: float  # semitones
    vibrato_delay: float  # seconds into a note before the vibrato starts
    open_quotient: float  # fraction of each glottal cycle the vocal folds are open: lower = brighter, pressed
    breathiness: float  # aspiration noise mixed into the voiced sound
    brightness: float  # Hz where an extra roll-off starts: soft singers are darker
    jitter: float  # semitones of random pitch wobble
    shimmer: float  # relative random loudness wobble


def random_singer(rng: np.random.Generator, voice: str | None = None) -> Singer:
    """A random singer; `voice` ("male" or "female") sets the kind, except that 15% of singers are children."""
    if voice is None:
        kind = str(rng.choice(list(SINGER_TYPES), p=[0.45, 0.45, 0.1]))
    else:
        kind = voice if rng.random() >= 0.15 else "child"
    (low, high), scale = SINGER_TYPES[kind]
    low += int(rng.integers(0, 4))
    return Singer(low=low, high=min(high, low + int(rng.integers(12, 16))),
                  formant_scale=scale * rng.uniform(0.95, 1.05), glide=rng.uniform(0.05, 0.12),
                  vibrato_rate=rng.uniform(4.5, 6.5), vibrato_depth=rng.uniform(0.2, 0.7),
                  vibrato_delay=rng.uniform(0.15, 0.4), open_quotient=rng.uniform(0.45, 0.7),
                  breathiness=rng.uniform(0.02, 0.15), brightness=rng.uniform(3500, 9000),
                  jitter=rng.uniform(0.03, 0.1), shimmer=rng.uniform(0.03, 0.1))


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


def add_syllables(notes: list[Note], rng: np.random.Generator) -> list[Note]:
    for i, note in enumerate(notes):
        if i > 0 and rng.random() < 0.15:  # melisma: the previous syllable carries on over this note
            note.vowel = notes[i - 1].vowel
        else:
            note.vowel = str(rng.choice(VOWEL_NAMES, p=VOWEL_WEIGHTS))
            note.onset = str(rng.choice(ONSETS))
    notes[-1].coda = str(rng.choice(CODAS))
    return notes


def articulate(phrases: list[list[Note]], n_frames: int, frame_rate: float, rng: np.random.Generator):
    """Per control frame: voice loudness, breath-noise loudness and formant targets; plus the noise consonants.

    Consonants take their time from the end of the previous note, so the vowels land on the beat.
    """
    voicing = np.zeros(n_frames)
    aspiration = np.zeros(n_frames)
    formants = np.tile(np.array(SCHWA, dtype=np.float64), (n_frames, 1))
    noises: list[tuple[float, float, str, float]] = []  # (start s, length s, consonant, loudness)

    def frames(start: float, end: float) -> slice:
        return slice(int(np.clip(start * frame_rate, 0, n_frames)), int(np.clip(end * frame_rate, 0, n_frames)))

    def consonant(name: str, start: float, length: float, loudness: float, vowel: str) -> None:
        span = frames(start, start + length)
        if name in VOICED_CONSONANTS:
            targets, level = VOICED_CONSONANTS[name]
            formants[span], voicing[span] = targets, level * loudness
        elif name == "h":
            voicing[span], aspiration[span], formants[span] = 0.0, 0.5 * loudness, VOWELS[vowel]
        elif name in PLOSIVES:  # closure (silence or a murmur), burst, then a puff of air before the vowel
            band, level, burst, voiced = NOISE_CONSONANTS[name]
            voicing[span] = 0.12 * loudness if voiced else 0.0
            noises.append((start + length - burst, burst, name, loudness))
            if not voiced:
                puff = frames(start + length, start + length + 0.03)
                voicing[puff], aspiration[puff] = 0.0, 0.4 * loudness
        else:
            band, level, _, voiced = NOISE_CONSONANTS[name]
            voicing[span] = 0.3 * loudness if voiced else 0.0
            noises.append((start, length, name, loudness))

    for phrase in phrases:
        first = phrase[0]
        if first.start > 0.6:  # an audible breath in before the phrase
            aspiration[frames(first.start - 0.4, first.start - 0.1)] = rng.uniform(0.1, 0.25)
        declination = np.linspace(1.0, 0.8, len(phrase))  # phrases lose energy towards the end
        for i, note in enumerate(phrase):
            loudness = note.velocity * declination[i]
            voicing[frames(note.start, note.end)] = loudness
            formants[frames(note.start, note.end)] = VOWELS[note.vowel]
            if note.onset:
                length = NOISE_CONSONANTS.get(note.onset, (0, 0, 0.07))[2] if note.onset not in PLOSIVES else 0.05
                if i > 0:
                    length = min(length, 0.5 * phrase[i - 1].duration)
                consonant(note.onset, note.start - length, length, loudness, note.vowel)
            if note.coda:
                length = min(0.09, 0.4 * note.duration)
                consonant(note.coda, note.end - length, length, loudness, note.vowel)
    return voicing, aspiration, formants, noises


def glottal_flow(cycle_position: np.ndarray, open_quotient: np.ndarray) -> np.ndarray:
    """Rosenberg pulse: the air flow through the vocal folds rises, falls faster, then stops while closed."""
    rise = 0.66 * open_quotient
    fall = open_quotient - rise
    opening = 0.5 * (1 - np.cos(np.pi * cycle_position / rise))
    closing = np.cos(0.5 * np.pi * (cycle_position - rise) / fall)
    return np.where(cycle_position < rise, opening, np.where(cycle_position < open_quotient, closing, 0.0))


def resonances(formants: np.ndarray, bandwidths: np.ndarray, sample_rate: int, n_fft: int) -> np.ndarray:
    """Magnitude response (bins, frames) of a cascade of two-pole resonators, one set (K,) per frame (frames, K),
    each with unit gain at 0 Hz: the peaks and the balance between them come out as in a real vocal tract."""
    omega = 2 * np.pi * np.fft.rfftfreq(n_fft, 1.0 / sample_rate)[:, None] / sample_rate
    response = np.ones((omega.shape[0], formants.shape[0]), dtype=np.float32)
    for k in range(formants.shape[1]):
        radius = np.exp(-np.pi * bandwidths[k] / sample_rate)
        a1 = -2 * radius * np.cos(2 * np.pi * formants[:, k] / sample_rate)[None, :]
        a2 = radius ** 2
        real = 1 + a1 * np.cos(omega) + a2 * np.cos(2 * omega)
        imag = a1 * np.sin(omega) + a2 * np.sin(2 * omega)
        response *= ((1 + a1 + a2) / np.sqrt(real ** 2 + imag ** 2)).astype(np.float32)
    return response


def vocal_tract_response(formants: np.ndarray, bandwidths: np.ndarray, formant_scale: float, sample_rate: int,
                         n_fft: int, brightness: float) -> np.ndarray:
    """(bins, frames): the moving formants F1-F4, fixed higher formants every ~1 kHz (without them the
    voice would have nothing above 5 kHz), the mouth's radiation (+6 dB/octave), the singer's roll-off."""
    higher = np.arange(4500.0, 10500.0, 1000.0) * formant_scale
    higher = higher[higher < 0.45 * sample_rate][None, :]
    fixed = resonances(higher, np.full(higher.shape[1], 400.0), sample_rate, n_fft)
    frequency = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)[:, None]
    fixed *= 2 * np.sin(np.pi * frequency / sample_rate) / np.sqrt(1 + (frequency / brightness) ** 2)
    return resonances(formants, bandwidths, sample_rate, n_fft) * fixed


def sing(phrases: list[list[Note]], singer: Singer, plan: SongPlan, rng: np.random.Generator) -> np.ndarray:
    """One voice singing `phrases`, mono (n_samples,)."""
    sr, n = plan.sample_rate, plan.n_samples
    n_frames = 1 + n // CONTROL_HOP
    frame_rate = sr / CONTROL_HOP
    notes = [note for phrase in phrases for note in phrase]
    pitch, _ = melody_contour(notes, n_frames, frame_rate, rng, singer.glide, singer.vibrato_rate,
                              singer.vibrato_depth, singer.vibrato_delay)
    pitch += singer.jitter * smooth_noise(rng, n_frames, frame_rate, 15.0)  # the voice is never perfectly steady
    voicing, aspiration, formants, noises = articulate(phrases, n_frames, frame_rate, rng)
    voicing = np.convolve(voicing, np.ones(4) / 4, mode="same")  # ~20 ms: no clicks at syllable edges
    voicing *= 1 + singer.shimmer * smooth_noise(rng, n_frames, frame_rate, 30.0)
    aspiration = np.convolve(aspiration, np.ones(4) / 4, mode="same")
    formants = np.stack([np.convolve(np.pad(formants[:, k], 4, mode="edge"), np.ones(9) / 9, mode="valid")
                         for k in range(4)], axis=1) * singer.formant_scale  # ~50 ms articulator movements
    f0 = midi_to_hz(pitch)
    formants[:, 0] = np.maximum(formants[:, 0], 1.1 * f0)  # high singers open the mouth so F1 follows f0
    formants = np.minimum(formants, 0.45 * sr)

    # Source: the glottal pulse train plus breath noise (part of it pulsing with the folds, as in real voices).
    f0_samples = midi_to_hz(to_samples(pitch, n))
    voiced = to_samples(voicing, n)
    # soft singing keeps the folds open longer (a darker tone), loud singing closes them fast (brighter)
    open_quotient = np.clip(singer.open_quotient + 0.15 * (0.9 - voiced), 0.35, 0.85)
    # Cycle-to-cycle jitter and shimmer: each glottal period is a little longer or shorter, louder or softer.
    cycle = np.cumsum(f0_samples / sr).astype(np.int64)
    wobble = rng.standard_normal((2, cycle[-1] + 1))
    phase = np.cumsum(f0_samples * (1 + 0.1 * singer.jitter * wobble[0, cycle]) / sr)
    flow = glottal_flow(phase % 1.0, open_quotient) * (1 + 0.5 * singer.shimmer * wobble[1, cycle])
    breath = to_samples(aspiration, n) + singer.breathiness * voiced * (0.4 + flow)
    source = voiced * flow + 0.02 * breath * rng.standard_normal(n)

    # Filter: the formants move every frame, so shape the source's short-time spectrum frame by frame.
    n_fft = 4 * CONTROL_HOP
    spectrum = librosa.stft(source, n_fft=n_fft, hop_length=CONTROL_HOP)
    sounding = (voicing + aspiration) > 1e-4  # silent frames need no filter (saves most of the time)
    spectrum[:, ~sounding] = 0.0
    spectrum[:, sounding] *= vocal_tract_response(formants[sounding], BANDWIDTHS * singer.formant_scale ** 0.5,
                                                  singer.formant_scale, sr, n_fft, singer.brightness)
    voice = librosa.istft(spectrum, n_fft=n_fft, hop_length=CONTROL_HOP, length=n)

    # Noise consonants (s, sh, f, bursts of t, k, p ...) are shaped by the mouth's front, not the formants.
    reference = active_rms(voice)
    for start, length, name, loudness in noises:
        band, level, _, _ = NOISE_CONSONANTS[name]
        m = max(int(length * sr), 8)
        noise = filtered(rng.standard_normal(m), "bandpass", np.array(band) * singer.formant_scale ** 0.5, sr, 4)
        if name in PLOSIVES:
            envelope = np.exp(-np.arange(m) / (0.3 * m))
        else:
            envelope = np.sin(np.pi * np.arange(m) / m) ** 0.7
        noise *= envelope / (np.sqrt(np.mean(noise ** 2)) + 1e-12)
        add_into(voice, start * sr, noise * reference * loudness * 10 ** (level / 20))
    return voice


def diatonic_shift(plan: SongPlan, pitch: float, steps: int) -> float:
    pitches = plan.scale_pitches(int(pitch) - 24, int(pitch) + 24)
    if int(pitch) not in pitches:
        return pitch + (3 if steps > 0 else -4)
    return float(pitches[pitches.index(int(pitch)) + steps])


def render_vocals(plan: SongPlan, rng: np.random.Generator, singer: Singer, phrases: list[list[Note]]) -> np.ndarray:
    sr = plan.sample_rate
    stereo = pan(sing(phrases, singer, plan, rng), rng.uniform(-0.08, 0.08))
    choruses = [phrase for phrase in phrases if plan.sections[min(int(phrase[0].start / plan.bar),
                                                                    plan.n_bars - 1)] == "chorus"]
    if choruses and rng.random() < 0.4:  # a harmony a third above or a sixth below, in the choruses
        steps = int(rng.choice([2, -3]))
        harmony = [[replace(note, pitch=diatonic_shift(plan, note.pitch, steps)) for note in phrase]
                   for phrase in choruses]
        voice = sing(harmony, singer, plan, rng) * 10 ** (-rng.uniform(4, 8) / 20)
        stereo += pan(voice, float(rng.choice([-1, 1])) * rng.uniform(0.2, 0.45))
    if rng.random() < 0.3:  # double-tracked: the same part sung again, slightly late and out of tune
        for side in (-1, 1):
            late = rng.uniform(0.01, 0.03)
            double = [[replace(note, start=note.start + late, pitch=note.pitch + rng.uniform(-0.08, 0.08))
                       for note in phrase] for phrase in phrases]
            stereo += pan(sing(double, singer, plan, rng) * 10 ** (-rng.uniform(6, 10) / 20), side * 0.6)
    if rng.random() < 0.35:
        stereo = add_echo(stereo, rng, plan)
    return add_reverb(stereo, rng, sr, rt60=(0.8, 2.0), wet_db=(-16, -9))


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


# ---------------------------------------------------------------------------------------------------------
# Drums
# ---------------------------------------------------------------------------------------------------------
def metallic(t: np.ndarray, base: float, rng: np.random.Generator) -> np.ndarray:
    """Six detuned square waves at inharmonic ratios: the classic drum-machine cymbal."""
    ratios = np.array([1.0, 1.48, 1.8, 2.54, 2.63, 3.9]) * rng.uniform(0.97, 1.03, 6)
    return np.sign(np.sin(2 * np.pi * base * ratios[:, None] * t[None, :] + rng.uniform(0, 6.3, (6, 1)))).sum(0)


def kick(params: np.random.Generator, noise: np.random.Generator, sr: int) -> np.ndarray:
    t = times(0.6, sr)
    high, low = params.uniform(110, 200), params.uniform(42, 62)
    sweep, decay = params.uniform(0.02, 0.06), params.uniform(0.12, 0.35)
    click_level, drive = params.uniform(0.1, 0.4), params.uniform(1.0, 3.0)
    frequency = low + (high - low) * np.exp(-t / sweep)  # the drum head's pitch drops as it settles
    body = np.sin(2 * np.pi * np.cumsum(frequency) / sr) * np.exp(-t / decay)
    click = filtered(noise.standard_normal(t.size), "highpass", 1500, sr) * np.exp(-t / 0.004) * click_level
    return np.tanh(drive * (body + click)) / np.tanh(drive)


def snare(params: np.random.Generator, noise: np.random.Generator, sr: int) -> np.ndarray:
    t = times(0.5, sr)
    tone_hz, tone_level, rattle = params.uniform(170, 240), params.uniform(0.5, 1.2), params.uniform(0.05, 0.12)
    tone = (np.sin(2 * np.pi * tone_hz * t) + 0.6 * np.sin(2 * np.pi * 1.65 * tone_hz * t)) * np.exp(-t / 0.06)
    wires = filtered(noise.standard_normal(t.size), "bandpass", [1500, 9000], sr) * np.exp(-t / rattle)
    return tone_level * tone + wires


def hihat(params: np.random.Generator, noise: np.random.Generator, sr: int, decay_range: tuple) -> np.ndarray:
    decay, base, cutoff = params.uniform(*decay_range), params.uniform(300, 450), params.uniform(6000, 9000)
    t = times(min(6 * decay + 0.05, 1.0), sr)
    metal = 0.3 * metallic(t, base, params) + noise.standard_normal(t.size)
    return filtered(metal, "highpass", cutoff, sr, 4) * np.exp(-t / decay)


def cymbal(params: np.random.Generator, noise: np.random.Generator, sr: int, ride: bool) -> np.ndarray:
    decay = params.uniform(1.0, 1.6) if ride else params.uniform(1.3, 2.2)
    t = times(2.6, sr)
    if ride:  # a ride rings with clear inharmonic partials, the stick's ping on top
        partials = params.uniform(2500, 9000, 10)
        decays = params.uniform(0.3, decay, (10, 1))
        tone = (np.sin(2 * np.pi * partials[:, None] * t[None, :]) * np.exp(-t[None, :] / decays)).sum(0)
        hiss = filtered(noise.standard_normal(t.size), "highpass", 5000, sr) * np.exp(-t / 0.25)
        return 0.2 * tone + hiss
    metal = 0.4 * metallic(t, params.uniform(350, 500), params) + noise.standard_normal(t.size)
    envelope = np.exp(-t / decay) * (1 - np.exp(-t / 0.003))
    return filtered(metal, "highpass", params.uniform(3000, 5000), sr, 4) * envelope


def tom(params: np.random.Generator, noise: np.random.Generator, sr: int, base: float) -> np.ndarray:
    t = times(0.8, sr)
    pitch = base * params.uniform(0.9, 1.1)
    frequency = pitch * (1 + 0.5 * np.exp(-t / 0.04))
    body = np.sin(2 * np.pi * np.cumsum(frequency) / sr) * np.exp(-t / params.uniform(0.2, 0.4))
    skin = filtered(noise.standard_normal(t.size), "bandpass", [pitch * 2, pitch * 12], sr) * np.exp(-t / 0.05)
    return body + 0.3 * skin


DRUM_PIECES = {
    "kick": kick, "snare": snare,
    "hat_closed": lambda p, n, sr: hihat(p, n, sr, (0.025, 0.06)),
    "hat_open": lambda p, n, sr: hihat(p, n, sr, (0.2, 0.4)),
    "crash": lambda p, n, sr: cymbal(p, n, sr, ride=False), "ride": lambda p, n, sr: cymbal(p, n, sr, ride=True),
    "tom_high": lambda p, n, sr: tom(p, n, sr, 180), "tom_mid": lambda p, n, sr: tom(p, n, sr, 130),
    "tom_low": lambda p, n, sr: tom(p, n, sr, 90),
}
DRUM_LEVELS = {"kick": 1.0, "snare": 0.8, "hat_closed": 0.25, "hat_open": 0.25, "crash": 0.3, "ride": 0.25,
               "tom_high": 0.7, "tom_mid": 0.7, "tom_low": 0.7}
GROOVES = {  # one bar of 16ths per lane: x hit, g ghost note, o open hi-hat
    "rock": {"kick": "x.....x.x.......", "snare": "....x.......x...", "hat": "x.x.x.x.x.x.x.x."},
    "four": {"kick": "x...x...x...x...", "snare": "....x.......x...", "hat": "..o...o...o...o."},
    "half": {"kick": "x......x..x.....", "snare": "........x.......", "hat": "x.x.x.x.x.x.x.x."},
    "funk": {"kick": "x..x..x...x..x..", "snare": "....x..g.g..x..g", "hat": "xxxxxxxxxxxxxxxx"},
    "hiphop": {"kick": "x.....x..x......", "snare": "....x.......x...", "hat": "x.x.x.x.x.x.x.xo"},
    "ballad": {"kick": "x.......x.x.....", "snare": "....x.......x...", "hat": "x...x...x...x..."},
    "push": {"kick": "x.x...x.x.x.....", "snare": "....x..x.x..x...", "hat": "x.xxx.xxx.xxx.xx"},
}


def drum_hits(plan: SongPlan, rng: np.random.Generator) -> list[tuple[float, str, float]]:
    """(time s, piece, velocity) for the whole song: a groove per section, fills, crashes, human timing."""
    names = list(GROOVES)
    verse, chorus = (GROOVES[names[i]] for i in rng.choice(len(names), 2))
    ride_in_chorus = rng.random() < 0.4
    sparse_intro = rng.random() < 0.5
    fill_chance = rng.uniform(0.3, 0.8)
    hits = []
    for bar, section in enumerate(plan.sections):
        groove = chorus if section in ("chorus", "outro") else GROOVES["half"] if section == "break" else verse
        new_section = bar > 0 and section != plan.sections[bar - 1]
        last_of_section = bar + 1 < plan.n_bars and plan.sections[bar + 1] != section
        fill_from = 16
        if (last_of_section or bar % 4 == 3) and bar + 1 < plan.n_bars and rng.random() < fill_chance:
            fill_from = int(rng.choice([8, 12, 12]))
        for step in range(16):
            for lane, pattern in groove.items():
                quiet_intro = section == "intro" and sparse_intro and lane == "snare"
                if step >= fill_from or pattern[step] == "." or quiet_intro:
                    continue
                piece = {"kick": "kick", "snare": "snare", "hat": "hat_closed"}[lane]
                if lane == "hat" and pattern[step] == "o":
                    piece = "hat_open"
                if lane == "hat" and section == "chorus" and ride_in_chorus:
                    piece = "ride"
                velocity = 0.3 if pattern[step] == "g" else 1.0
                if lane == "hat":
                    velocity = 1.0 if step % 4 == 0 else 0.7  # the beat is accented
                hits.append((plan.sixteenth_time(bar, step), piece, velocity * rng.uniform(0.85, 1.05)))
            if step % 2 == 0 and groove["kick"][step] == "." and step < fill_from and rng.random() < 0.05:
                hits.append((plan.sixteenth_time(bar, step), "kick", rng.uniform(0.5, 0.8)))
        if new_section or (bar == 0 and plan.n_bars > 4 and rng.random() < 0.5):
            hits.append((plan.sixteenth_time(bar, 0), "crash", rng.uniform(0.8, 1.0)))
        if fill_from < 16:  # a fill: snare or toms rolling down, getting louder, into the next bar
            drums = ["snare"] if rng.random() < 0.3 else ["tom_high", "tom_mid", "tom_low"]
            for step in range(fill_from, 16):
                if rng.random() < 0.85:
                    piece = drums[min(len(drums) - 1, (step - fill_from) * len(drums) // (16 - fill_from))]
                    velocity = 0.6 + 0.4 * (step - fill_from) / (16 - fill_from)
                    hits.append((plan.sixteenth_time(bar, step), piece, velocity))
    return [(time + rng.normal(0, 0.004), piece, velocity) for time, piece, velocity in hits]


def render_drums(plan: SongPlan, rng: np.random.Generator) -> np.ndarray:
    sr = plan.sample_rate
    side = float(rng.choice([-1, 1]))  # drummer's or audience's view
    positions = {"kick": 0.0, "snare": rng.uniform(-0.1, 0.1), "hat_closed": side * rng.uniform(0.2, 0.5),
                 "crash": -side * rng.uniform(0.2, 0.6), "ride": -side * rng.uniform(0.3, 0.6),
                 "tom_high": side * 0.4, "tom_mid": side * 0.1, "tom_low": -side * 0.4}
    positions["hat_open"] = positions["hat_closed"]
    kit = {}
    for piece, render in DRUM_PIECES.items():  # same drum, three hits that differ in the noise only
        seed = int(rng.integers(2 ** 32))
        sounds = [render(np.random.default_rng(seed), np.random.default_rng([seed, v]), sr) for v in range(3)]
        fade_out = np.minimum(1.0, np.linspace(20.0, 0.0, sounds[0].size))  # the last 5% fades: no click
        kit[piece] = [pan(DRUM_LEVELS[piece] * sound * fade_out, positions[piece]) for sound in sounds]
    track = np.zeros((2, plan.n_samples))
    hits = sorted(drum_hits(plan, rng))
    hat_times = [time for time, piece, _ in hits if piece.startswith("hat")]
    for time, piece, velocity in hits:
        sound = kit[piece][int(rng.integers(3))] * velocity
        if piece == "hat_open":  # the next hi-hat hit closes (chokes) the open one
            later = [t for t in hat_times if t > time + 0.01]
            if later:
                keep = int((later[0] - time) * sr)
                sound = sound[:, :keep] * np.linspace(1, 0, min(keep, sound.shape[1])) ** 0.3
        add_into(track, time * sr, sound)
    return add_reverb(track, rng, sr, rt60=(0.3, 0.9), wet_db=(-20, -12))


# ---------------------------------------------------------------------------------------------------------
# Bass
# ---------------------------------------------------------------------------------------------------------
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


def bass_sampler(plan: SongPlan, rng: np.random.Generator) -> Sampler:
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
        k = np.arange(1, 13)[:, None]  # fingered: harmonics that fade faster the higher they are
        k = k[k[:, 0] * f0 < 0.4 * sr]
        partials = np.sin(2 * np.pi * k * f0 * t[None, :]) / k ** 1.3 * np.exp(-t[None, :] * (0.8 + 1.5 * k) / t60)
        return partials.sum(0) * (1 - np.exp(-t / 0.004))

    return Sampler(render, plan.bar, sr, rng, release=0.03, variants=2 if timbre == "pluck" else 1)


def render_bass(plan: SongPlan, rng: np.random.Generator) -> np.ndarray:
    mono = np.zeros(plan.n_samples)
    play(mono, bass_sampler(plan, rng), bass_line(plan, rng), plan.sample_rate)
    return pan(filtered(mono, "highpass", 30, plan.sample_rate), rng.uniform(-0.05, 0.05))


# ---------------------------------------------------------------------------------------------------------
# Other: chord instruments and an instrumental lead
# ---------------------------------------------------------------------------------------------------------
STRUM_PATTERNS = ("D.DU.UDU", "D.D.D.D.", "D..UD.DU", "D...D...", "DUDUDUDU", "D.DUDUDU", "D..D..D.")
PICKING_PATTERNS = ((0, 2, 3, 4, 5, 4, 3, 2), (0, 3, 4, 3, 1, 3, 4, 3), (0, 2, 4, 5, 0, 2, 4, 5),
                    (0, 4, 3, 5, 1, 4, 3, 5))  # which string of the six, per 8th note


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


def guitar_voicing(pitch_classes: list[int]) -> list[int]:
    """Six strings: root low, then fifth, octave, third, fifth and root, like an open barre chord."""
    root = 40 + (pitch_classes[0] - 40) % 12
    third, fifth = (pitch_classes[1] - pitch_classes[0]) % 12, (pitch_classes[2] - pitch_classes[0]) % 12
    return [p for p in (root, root + fifth, root + 12, root + 12 + third, root + 12 + fifth, root + 24) if p <= 79]


def guitar_sampler(plan: SongPlan, rng: np.random.Generator) -> Sampler:
    t60, brightness = rng.uniform(1.5, 4.0), rng.uniform(0.3, 0.8)

    def render(pitch: float, n: int, noise: np.random.Generator) -> np.ndarray:
        return karplus_strong(float(midi_to_hz(pitch)), n, plan.sample_rate, noise, t60, brightness)

    return Sampler(render, plan.bar + 0.5, plan.sample_rate, rng, release=0.03, variants=2)


def strummed_guitar(plan: SongPlan, rng: np.random.Generator, bars: list[int]) -> np.ndarray:
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


def stereo_spread(mono: np.ndarray, rng: np.random.Generator, sr: int) -> np.ndarray:
    """Pan to one side with a quieter, 10-25 ms later copy on the other: wide, like a double-tracked part."""
    side = float(rng.choice([-1, 1]))
    stereo = pan(mono, side * rng.uniform(0.3, 0.7))
    delay = int(rng.uniform(0.01, 0.025) * sr)
    echo = np.concatenate([np.zeros(delay), mono[:mono.size - delay]]) * rng.uniform(0.3, 0.6)
    return stereo + pan(echo, -side * 0.7)


def piano(plan: SongPlan, rng: np.random.Generator, bars: list[int]) -> np.ndarray:
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

    sampler = Sampler(render, min(plan.bar, 3.0), sr, rng, release=0.15)
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
    stereo = np.zeros((2, plan.n_samples))
    for note in notes:  # low notes a little left, high notes right, as the pianist hears it
        sound = sampler.note(note.pitch, note.duration, note.velocity)
        add_into(stereo, note.start * sr, pan(sound, (note.pitch - 60) / 40))
    return stereo


def pad_or_organ(plan: SongPlan, rng: np.random.Generator, bars: list[int], organ: bool) -> np.ndarray:
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

    sampler = Sampler(render, plan.bar, sr, rng, release=0.3 if not organ else 0.05)
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


def lead_line(plan: SongPlan, rng: np.random.Generator, phrases: list[list[Note]]) -> np.ndarray:
    """An instrumental melody (synth, flute, strings, bell or plucked): pitched and expressive like a voice."""
    sr, n = plan.sample_rate, plan.n_samples
    timbre = str(rng.choice(["saw", "square", "flute", "strings", "bell", "pluck"]))
    low = int(rng.integers(57, 70))
    rhythms = (0.25, 0.5, 0.5, 1.0, 1.5) if timbre in ("bell", "pluck", "square") else (0.5, 1.0, 1.0, 1.5, 2.0)
    articulation = rng.uniform(0.6, 0.95)
    notes = []
    for start, end, loudness in sorted(lead_windows(plan, phrases, rng)):
        for note in compose_melody(plan, rng, start, end, low, low + 14, rhythms):
            notes.append(replace(note, duration=note.duration * articulation, velocity=note.velocity * loudness))
    if timbre in ("bell", "pluck"):
        return stereo_spread(sampled_lead(plan, rng, notes, timbre), rng, sr)
    frame_rate = sr / CONTROL_HOP
    vibrato = rng.uniform(0.1, 0.4) if timbre in ("flute", "strings") or rng.random() < 0.4 else 0.0
    pitch, gate = melody_contour(notes, 1 + n // CONTROL_HOP, frame_rate, rng, rng.uniform(0.01, 0.06),
                                 rng.uniform(4.5, 6.5), vibrato, rng.uniform(0.1, 0.4))
    attack = 0.08 if timbre == "strings" else 0.01
    gate = signal.lfilter([1 - np.exp(-1 / (attack * frame_rate))], [1, -np.exp(-1 / (attack * frame_rate))], gate)
    f0 = midi_to_hz(to_samples(pitch, n))
    phase, step = np.cumsum(f0 / sr), f0 / sr
    if timbre == "flute":
        tone = np.sin(2 * np.pi * phase) + 0.25 * np.sin(4 * np.pi * phase) + 0.06 * np.sin(6 * np.pi * phase)
        tone += 0.08 * filtered(rng.standard_normal(n), "bandpass", [1000, 5000], sr)
    elif timbre == "square":
        square = poly_blep_saw(phase, step) - poly_blep_saw(phase + 0.5, step)
        tone = filtered(square, "lowpass", rng.uniform(1500, 5000), sr)
    else:
        tone = filtered(poly_blep_saw(phase, step), "lowpass", rng.uniform(2000, 6000), sr)
        if timbre == "strings":  # a violin body's fixed resonances: formant-like, but they never move
            tone = sum(filtered(tone, "bandpass", [f * 0.8, f * 1.25], sr) * gain
                       for f, gain in ((450, 1.0), (1100, 0.7), (2600, 0.5)))
    return stereo_spread(tone * to_samples(gate, n), rng, sr)


def sampled_lead(plan: SongPlan, rng: np.random.Generator, notes: list[Note], timbre: str) -> np.ndarray:
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


CHORD_PARTS = ("strummed_guitar", "picked_guitar", "distorted_guitar", "piano", "pad", "organ")


def render_other(plan: SongPlan, rng: np.random.Generator, phrases: list[list[Note]],
                 main_part: str | None = None) -> np.ndarray:
    """One or two chord parts (the first is `main_part` if given), the lead line, sometimes an arpeggio."""
    every_bar = list(range(plan.n_bars))
    choruses = [bar for bar in every_bar if plan.sections[bar] in ("chorus", "outro")]
    n_parts = int(rng.integers(1, 3))
    parts = [main_part or str(rng.choice(CHORD_PARTS))]
    if n_parts == 2:
        parts.append(str(rng.choice([part for part in CHORD_PARTS if part != parts[0]])))
    track = np.zeros((2, plan.n_samples))
    for i, part in enumerate(parts):
        bars = every_bar
        if i == 1 and choruses and rng.random() < 0.5:  # a second part can join in the choruses only
            bars = choruses
        if part == "strummed_guitar":
            sound = strummed_guitar(plan, rng, bars)
        elif part == "picked_guitar":
            sound = picked_guitar(plan, rng, bars)
        elif part == "distorted_guitar":
            sound = distorted_guitar(plan, rng, bars)
        elif part == "piano":
            sound = piano(plan, rng, bars)
        else:
            sound = pad_or_organ(plan, rng, bars, organ=part == "organ")
        track += normalized(sound) * 10 ** (rng.uniform(-3, 2) / 20)
    track += normalized(lead_line(plan, rng, phrases)) * 10 ** (rng.uniform(-3, 2) / 20)
    if rng.random() < 0.35:
        track += normalized(arpeggio(plan, rng, choruses or every_bar)) * 10 ** (rng.uniform(-8, -3) / 20)
    return add_reverb(track, rng, plan.sample_rate, rt60=(0.6, 1.8), wet_db=(-18, -10))


# ---------------------------------------------------------------------------------------------------------
# The song
# ---------------------------------------------------------------------------------------------------------
def mix(stems: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Level the stems (vocals -6..+3 dB against the band), then scale all by one factor so that the
    mixture peaks below 1. The mixture is the float32 sum of the float32 stems, so files add up exactly."""
    levels = {"drums": 0.0, "bass": rng.uniform(-4, 1), "other": rng.uniform(-4, 1)}
    stems = dict(stems)
    for name, level in levels.items():
        stems[name] = normalized(stems[name]) * 10 ** (level / 20)
    band = active_rms(stems["drums"] + stems["bass"] + stems["other"])
    stems["vocals"] = normalized(stems["vocals"]) * band * 10 ** (rng.uniform(-6, 3) / 20)
    peak = np.abs(sum(stems.values())).max()
    scale = rng.uniform(0.5, 0.95) / peak
    song = {name: (stems[name] * scale).astype(np.float32) for name in STEMS}
    mixture = song["vocals"] + song["drums"] + song["bass"] + song["other"]
    return {"mixture": mixture, **song}


def make_song(rng_or_seed: np.random.Generator | int, seconds: float, sample_rate: int = SAMPLE_RATE,
              main_part: str | None = None, voice: str | None = None) -> dict[str, np.ndarray]:
    """One song in memory: {'mixture', 'vocals', 'drums', 'bass', 'other'} -> float32 (2, samples) arrays.

    'mixture' is the sum of the four stems. The same seed (or generator state) gives the same song.
    `main_part` (one of CHORD_PARTS) and `voice` ("male", "female") fix those two choices; None draws them.
    """
    rng = rng_or_seed if isinstance(rng_or_seed, np.random.Generator) else np.random.default_rng(rng_or_seed)
    plan = plan_song(rng, seconds, sample_rate)
    # each stem draws from its own generator, so a change in one instrument does not reshuffle the others
    seeds = rng.integers(2 ** 63, size=5)
    vocal_rng, drum_rng, bass_rng, other_rng, mix_rng = (np.random.default_rng(seed) for seed in seeds)
    singer = random_singer(vocal_rng, voice)
    phrases = vocal_phrases(plan, singer, vocal_rng)
    stems = {"vocals": render_vocals(plan, vocal_rng, singer, phrases), "drums": render_drums(plan, drum_rng),
             "bass": render_bass(plan, bass_rng), "other": render_other(plan, other_rng, phrases, main_part)}
    return mix(stems, mix_rng)


ARTIST_WORDS = (("Velvet", "Paper", "Neon", "Quiet", "Golden", "Northern", "Electric", "Hollow", "Silver", "Wild",
                 "Midnight", "Crimson", "Lonely", "Broken", "Summer", "Glass", "Static", "Amber"),
                ("Harbour", "Foxes", "Lanterns", "Engines", "Rivers", "Satellites", "Pilots", "Gardens", "Echoes",
                 "Horses", "Strangers", "Machines", "Tides", "Ghosts", "Orchard", "Parade"))
TITLE_WORDS = (("Falling", "Running", "Waiting", "Dancing", "Burning", "Drifting", "Holding", "Chasing", "Calling",
                "Fading", "Dreaming", "Breaking"),
               ("Home", "the Light", "Tonight", "Away", "in Circles", "for You", "the Rain", "Slowly", "Upstream",
                "the Line", "on Fire", "Again"))


def plot_song(song: dict[str, np.ndarray], path: Path, title: str, seconds: float = 12.0) -> None:
    """Spectrograms (dB, up to 8 kHz) of the mixture and its four stems over the song's first seconds."""
    frequencies = np.fft.rfftfreq(4096, 1.0 / SAMPLE_RATE)
    shown = frequencies <= 8000
    reference = np.abs(stft(song["mixture"].mean(axis=0, keepdims=True))).max()
    figure, axes = plt.subplots(len(song), 1, figsize=(12, 2.2 * len(song)), sharex=True)
    for ax, (name, audio) in zip(axes, song.items()):
        clip = audio.mean(axis=0, keepdims=True)[:, :int(seconds * SAMPLE_RATE)]
        decibels = 20 * np.log10(np.abs(stft(clip))[0][shown] / reference + 1e-6)
        ax.imshow(decibels, origin="lower", aspect="auto", vmin=-80, vmax=0, cmap="magma",
                  extent=(0, clip.shape[1] / SAMPLE_RATE, 0, frequencies[shown][-1]))
        ax.set_ylabel(f"{name}\nHz")
    axes[0].set_title(title)
    axes[-1].set_xlabel("seconds")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=80)
    plt.close(figure)


def track_name(rng: np.random.Generator) -> str:
    """'Artist - Title' with spaces, as MUSDB names its tracks (and safe as a folder name everywhere)."""
    artist = " ".join(str(rng.choice(words)) for words in ARTIST_WORDS)
    title = " ".join(str(rng.choice(words)) for words in TITLE_WORDS)
    return f"{artist} - {title}"


def song_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """Each song has its own seed, so train and test differ and any one song can be remade alone."""
    return np.random.default_rng([seed, SPLITS.index(split), index])


def song_variety(seed: int, split: str, index: int) -> tuple[str, str]:
    """(main chord instrument, voice) of song `index`: songs walk a seed-shuffled cycle of the six chord
    instruments and alternate male and female voices, so 6 songs hold every instrument and 3 voices of each
    kind. Drawn independently, seed 0's 6 training songs had 3 distorted guitars, no pad alone and 4 male
    voices; a model trained on them did worst on a test song of a pad and a female voice.

    Each new cycle swaps the voices, so 12 training songs hold all 12 (instrument, voice) pairs. Test songs
    start half a cycle on and take the voice that the first training cycle did not give their instrument:
    the first 6 test songs share no pair with the first 6 training songs, and the benchmark measures
    combinations the model has not heard.
    """
    cycle = index // len(CHORD_PARTS)
    step = (index + (0 if split == "train" else len(CHORD_PARTS) // 2)) % len(CHORD_PARTS)
    voice_turn = step + cycle + (0 if split == "train" else 1)
    order = np.random.default_rng(seed).permutation(len(CHORD_PARTS))
    return CHORD_PARTS[order[step]], ("male", "female")[voice_turn % 2]


def demo_song(seed: int, split: str, index: int, seconds: float) -> dict[str, np.ndarray]:
    """Song `index` of `split` in the set made with --seed `seed`: what main() writes, in memory."""
    main_part, voice = song_variety(seed, split, index)
    return make_song(song_rng(seed, split, index), seconds, main_part=main_part, voice=voice)


# ---------------------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------------------
def get_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Write synthetic multitrack songs in the MUSDB18-HQ layout")
    parser.add_argument("--out", "-o", type=Path, default=Path("data/demo_songs"), help="Root folder to write")
    parser.add_argument("--train", "-t", type=int, default=6, help="Number of training songs")
    parser.add_argument("--test", "-e", type=int, default=2, help="Number of test songs")
    parser.add_argument("--seconds", "-s", type=float, default=30.0, help="Length of every song in seconds")
    parser.add_argument("--seed", "-r", type=int, default=0, help="Random seed of the whole set")
    return parser.parse_args()


def check_args(args: argparse.Namespace) -> None:
    if args.train < 0 or args.test < 0 or args.train + args.test == 0:
        raise UserError(f"--train {args.train} --test {args.test}: give counts >= 0 with at least one song in all")
    if not 1.0 <= args.seconds <= MAX_SECONDS:
        raise UserError(f"--seconds {args.seconds}: give a song length between 1 and {MAX_SECONDS} seconds")
    if args.seed < 0:
        raise UserError(f"--seed {args.seed}: give a seed >= 0")
    if args.out.exists() and not args.out.is_dir():
        raise UserError(f"--out {args.out}: this is a file; give a folder path")


def planned_tracks(args: argparse.Namespace) -> list[tuple[str, int, str]]:
    """(split, index, track name) for every song; a rare repeated name gets the song number added."""
    tracks = []
    for split, count in (("train", args.train), ("test", args.test)):
        names = set()
        for index in range(count):
            name = track_name(song_rng(args.seed, split, index))
            if name in names:
                name = f"{name} {index + 1}"
            names.add(name)
            tracks.append((split, index, name))
    return tracks


def check_out_folder(out: Path, tracks: list[tuple[str, int, str]]) -> None:
    """Rewriting the same set is fine; mixing it with tracks of another run would silently change the data."""
    for split in SPLITS:
        folder = out / split
        if not folder.is_dir():
            continue
        ours = {name for track_split, _, name in tracks if track_split == split}
        others = sorted(p.name for p in folder.iterdir() if p.is_dir() and p.name not in ours)
        if others:
            raise UserError(f"--out {out}: {folder} already holds other tracks ({others[0]!r} ...); "
                            f"delete that folder or choose another --out")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    args = get_args()

    # 1. Check the flags and that the output folder holds nothing from another run
    check_args(args)
    tracks = planned_tracks(args)
    check_out_folder(args.out, tracks)

    # 2. Make every song from its own seed and write its five files
    for number, (split, index, name) in enumerate(tqdm(tracks, desc="Songs", unit="song")):
        song = demo_song(args.seed, split, index, args.seconds)
        for stem, audio in song.items():
            write_audio(args.out / split / name / f"{stem}.wav", audio, SAMPLE_RATE)
        if number == 0:  # 3. A picture of the first song, to see what the model will learn from
            plot_song(song, args.out / "demo_song.png", f"{split}/{name}")

    # 4. Say what was written
    logging.info(f"Spectrograms of the first song saved to {args.out / 'demo_song.png'}")
    logging.info(f"Wrote {args.train} train + {args.test} test songs ({args.seconds:.1f} s each) to {args.out}")


if __name__ == "__main__":
    run_cli(main)
