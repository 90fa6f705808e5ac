"""Pitch contours: portamento, vibrato and drift, used by the voice and the instrumental lead."""
import numpy as np
from scipy import signal

from vocal_separation_sanity_check.demo_songs.dsp import smooth_noise
from vocal_separation_sanity_check.demo_songs.plan import Note

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
    """A control-rate signal interpolated to one value per audio sample."""
    return np.interp(np.arange(n_samples), np.arange(control.size) * CONTROL_HOP, control)
