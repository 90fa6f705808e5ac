"""A singing voice: glottal source -> formant filter (vowels) + consonant noises."""
from dataclasses import dataclass

import librosa
import numpy as np

from vocal_separation_sanity_check.demo_songs.contour import CONTROL_HOP, melody_contour, to_samples
from vocal_separation_sanity_check.demo_songs.dsp import active_rms, add_into, filtered, midi_to_hz, smooth_noise
from vocal_separation_sanity_check.demo_songs.phonetics import NOISE_CONSONANTS, PLOSIVES, articulate
from vocal_separation_sanity_check.demo_songs.plan import Note, SongPlan

BANDWIDTHS = np.array([80.0, 100.0, 140.0, 220.0])  # F1-F4
SINGER_TYPES = {"male": ((45, 66), 1.0), "female": ((55, 77), 1.17), "child": ((60, 79), 1.3)}  # MIDI range


@dataclass
class Singer:
    """Who sings: range, vocal tract, and the habits that make a voice recognisable."""

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


@dataclass
class VoiceControls:
    """What drives the voice, per control frame, and the noise consonants to add over it."""

    pitch: np.ndarray  # MIDI
    voicing: np.ndarray  # loudness of the vocal folds' sound
    aspiration: np.ndarray  # loudness of the breath noise
    formants: np.ndarray  # (frames, 4): F1-F4 in Hz, scaled to the singer
    noises: list[tuple[float, float, str, float]]  # (start s, length s, consonant, loudness)


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


def voice_controls(phrases: list[list[Note]], singer: Singer, plan: SongPlan,
                   rng: np.random.Generator) -> VoiceControls:
    """The sung pitch with its glides, vibrato and jitter, and the articulation as the mouth moves."""
    sr, n = plan.sample_rate, plan.n_samples
    n_frames = 1 + n // CONTROL_HOP
    frame_rate = sr / CONTROL_HOP
    notes = [note for phrase in phrases for note in phrase]
    pitch, _ = melody_contour(notes, n_frames, frame_rate, rng, singer.glide, singer.vibrato_rate,
                              singer.vibrato_depth, singer.vibrato_delay)
    pitch += singer.jitter * smooth_noise(rng, n_frames, frame_rate, 15.0)  # the voice is never perfectly steady
    said = articulate(phrases, n_frames, frame_rate, rng)
    voicing = np.convolve(said.voicing, np.ones(4) / 4, mode="same")  # ~20 ms: no clicks at syllable edges
    voicing *= 1 + singer.shimmer * smooth_noise(rng, n_frames, frame_rate, 30.0)
    aspiration = np.convolve(said.aspiration, np.ones(4) / 4, mode="same")
    formants = np.stack([np.convolve(np.pad(said.formants[:, k], 4, mode="edge"), np.ones(9) / 9, mode="valid")
                         for k in range(4)], axis=1) * singer.formant_scale  # ~50 ms articulator movements
    f0 = midi_to_hz(pitch)
    formants[:, 0] = np.maximum(formants[:, 0], 1.1 * f0)  # high singers open the mouth so F1 follows f0
    formants = np.minimum(formants, 0.45 * sr)
    return VoiceControls(pitch, voicing, aspiration, formants, said.noises)


def glottal_source(controls: VoiceControls, singer: Singer, plan: SongPlan, rng: np.random.Generator) -> np.ndarray:
    """Source: the glottal pulse train plus breath noise (part of it pulsing with the folds, as in real voices)."""
    sr, n = plan.sample_rate, plan.n_samples
    f0_samples = midi_to_hz(to_samples(controls.pitch, n))
    voiced = to_samples(controls.voicing, n)
    # soft singing keeps the folds open longer (a darker tone), loud singing closes them fast (brighter)
    open_quotient = np.clip(singer.open_quotient + 0.15 * (0.9 - voiced), 0.35, 0.85)
    # Cycle-to-cycle jitter and shimmer: each glottal period is a little longer or shorter, louder or softer.
    cycle = np.cumsum(f0_samples / sr).astype(np.int64)
    wobble = rng.standard_normal((2, cycle[-1] + 1))
    phase = np.cumsum(f0_samples * (1 + 0.1 * singer.jitter * wobble[0, cycle]) / sr)
    flow = glottal_flow(phase % 1.0, open_quotient) * (1 + 0.5 * singer.shimmer * wobble[1, cycle])
    breath = to_samples(controls.aspiration, n) + singer.breathiness * voiced * (0.4 + flow)
    return voiced * flow + 0.02 * breath * rng.standard_normal(n)


def through_vocal_tract(source: np.ndarray, controls: VoiceControls, singer: Singer, sr: int) -> np.ndarray:
    """Filter: the formants move every frame, so shape the source's short-time spectrum frame by frame."""
    n_fft = 4 * CONTROL_HOP
    spectrum = librosa.stft(source, n_fft=n_fft, hop_length=CONTROL_HOP)
    sounding = (controls.voicing + controls.aspiration) > 1e-4  # silent frames need no filter (saves most of the time)
    spectrum[:, ~sounding] = 0.0
    spectrum[:, sounding] *= vocal_tract_response(controls.formants[sounding], BANDWIDTHS * singer.formant_scale ** 0.5,
                                                  singer.formant_scale, sr, n_fft, singer.brightness)
    return librosa.istft(spectrum, n_fft=n_fft, hop_length=CONTROL_HOP, length=source.size)


def add_noise_consonants(voice: np.ndarray, controls: VoiceControls, singer: Singer, sr: int,
                         rng: np.random.Generator) -> None:
    """Noise consonants (s, sh, f, bursts of t, k, p ...) are shaped by the mouth's front, not the formants."""
    reference = active_rms(voice)
    for start, length, name, loudness in controls.noises:
        band, level, _, _ = NOISE_CONSONANTS[name]
        m = max(int(length * sr), 8)
        noise = filtered(rng.standard_normal(m), "bandpass", np.array(band) * singer.formant_scale ** 0.5, sr, 4)
        if name in PLOSIVES:
            envelope = np.exp(-np.arange(m) / (0.3 * m))
        else:
            envelope = np.sin(np.pi * np.arange(m) / m) ** 0.7
        noise *= envelope / (np.sqrt(np.mean(noise ** 2)) + 1e-12)
        add_into(voice, start * sr, noise * reference * loudness * 10 ** (level / 20))


def sing(phrases: list[list[Note]], singer: Singer, plan: SongPlan, rng: np.random.Generator) -> np.ndarray:
    """One voice singing `phrases`, mono (n_samples,)."""
    controls = voice_controls(phrases, singer, plan, rng)
    source = glottal_source(controls, singer, plan, rng)
    voice = through_vocal_tract(source, controls, singer, plan.sample_rate)
    add_noise_consonants(voice, controls, singer, plan.sample_rate, rng)
    return voice
