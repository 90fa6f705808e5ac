"""Small sound-making tools shared by the instruments: filters, noise, panning, oscillators, rooms, samplers."""
from collections.abc import Callable

import numpy as np
from scipy import signal

from vocal_separation_sanity_check.demo_songs.plan import Note


def midi_to_hz(pitch: float | np.ndarray) -> np.ndarray:
    """Frequency in Hz of a MIDI pitch (69 = A4 = 440 Hz), fractional pitches included."""
    return 440.0 * 2.0 ** ((np.asarray(pitch, dtype=np.float64) - 69.0) / 12.0)


def times(seconds: float, sample_rate: int) -> np.ndarray:
    """The sample times in seconds of a sound `seconds` long."""
    return np.arange(int(seconds * sample_rate)) / sample_rate


def filtered(x: np.ndarray, kind: str, cutoff: float | list[float] | np.ndarray, sample_rate: int,
             order: int = 2) -> np.ndarray:
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


def stereo_spread(mono: np.ndarray, rng: np.random.Generator, sr: int) -> np.ndarray:
    """Pan to one side with a quieter, 10-25 ms later copy on the other: wide, like a double-tracked part."""
    side = float(rng.choice([-1, 1]))
    stereo = pan(mono, side * rng.uniform(0.3, 0.7))
    delay = int(rng.uniform(0.01, 0.025) * sr)
    echo = np.concatenate([np.zeros(delay), mono[:mono.size - delay]]) * rng.uniform(0.3, 0.6)
    return stereo + pan(echo, -side * 0.7)


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
    """The stereo track plus its echo in a random room, with the decay time and wet level drawn in the ranges."""
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
    """The track scaled to an active RMS of 1."""
    return track / max(active_rms(track), 1e-9)


class Sampler:
    """Renders each pitch once per song and reuses it for every note, as sample-based instruments do.

    `render(pitch, n_samples, rng)` makes one long note; a shorter note is its start with a release fade.
    """

    def __init__(self, render: Callable[[float, int, np.random.Generator], np.ndarray], max_seconds: float,
                 sample_rate: int, rng: np.random.Generator, release: float = 0.05, variants: int = 1) -> None:
        self.render, self.sample_rate, self.rng = render, sample_rate, rng
        self.n_samples = int((max_seconds + release) * sample_rate)
        self.release, self.variants = int(release * sample_rate), variants
        self.cache: dict[tuple[float, int], np.ndarray] = {}

    def note(self, pitch: float, duration: float, velocity: float = 1.0) -> np.ndarray:
        """One note: a held part `duration` long, then the release fade."""
        key = (round(float(pitch), 2), int(self.rng.integers(self.variants)))
        if key not in self.cache:
            self.cache[key] = self.render(key[0], self.n_samples, self.rng)
        sound = self.cache[key]
        held = int(np.clip(duration * self.sample_rate, 0, self.n_samples - self.release))
        note = sound[..., :held + self.release] * velocity
        note[..., held:] *= np.linspace(1.0, 0.0, note.shape[-1] - held)
        return note


def play(track: np.ndarray, sampler: Sampler, notes: list[Note], sample_rate: int) -> None:
    """Add every note, as the sampler plays it, into `track` at its start time."""
    for note in notes:
        add_into(track, note.start * sample_rate, sampler.note(note.pitch, note.duration, note.velocity))
