"""Songs read in blocks, at any sample rate, in bounded memory: what the separator reads from.

An AudioSource gives samples [start, stop) of a song as float32 (channels, samples) at the song's own rate.
Files soundfile can read are streamed from disk (a block is read when asked for); an excerpt is a source too
(--start / --duration); resampled() shows a source at another rate (the model's) by streaming it through soxr,
and resample_blocks() takes the separated stems back to the song's rate, so a 48 kHz song gives 48 kHz stems
of exactly its length without ever being held whole.
"""
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
import soundfile as sf

from utils.errors import UserError
from vocal_separation_sanity_check.audio import RESAMPLE_QUALITY, check_finite, decode_audio, require_resampler

# A block reader returns samples [start, stop) of a song as float32 (channels, samples).
BlockReader = Callable[[int, int], np.ndarray]
INPUT_BLOCK_SECONDS = 1.0  # how much more than asked for resampled() decodes, for the resampler's delay


@dataclass(frozen=True)
class AudioSource:
    """A song read in blocks at its own rate; `name` is how messages call it (the file, or "audio")."""

    read: BlockReader
    length: int
    channels: int
    sample_rate: int
    name: str

    @property
    def seconds(self) -> float:
        return self.length / self.sample_rate


def array_source(audio: np.ndarray, sample_rate: int, name: str = "audio") -> AudioSource:
    """An in-memory (channels, samples) float32 array as a source."""
    check_finite(audio, name)
    return AudioSource(lambda start, stop: audio[:, start:stop], audio.shape[1], audio.shape[0], sample_rate, name)


def open_audio(path: Path) -> AudioSource:
    """A file as a source: streamed when soundfile reads it (wav, flac, mp3, ogg, aiff), else decoded whole.

    Unreadable, empty or damaged files are a UserError naming the file."""
    try:
        info = sf.info(path)
    except Exception:  # not a format soundfile knows (m4a), or a damaged header
        info = None
    if info is None or info.frames <= 0:  # decode_audio reads it, or says why it cannot (empty, damaged)
        audio, rate = decode_audio(path)
        logging.info(f"{path.name}: decoded whole into memory (soundfile cannot stream this format)")
        return array_source(audio, rate, str(path))

    def read(start: int, stop: int) -> np.ndarray:
        with sf.SoundFile(path) as file:
            file.seek(start)
            block = file.read(stop - start, dtype="float32", always_2d=True).T
        return check_finite(np.ascontiguousarray(block), path)

    return AudioSource(read, info.frames, info.channels, info.samplerate, str(path))


def excerpt(source: AudioSource, start_seconds: float = 0.0, duration_seconds: float | None = None) -> AudioSource:
    """Part of a source, from --start for --duration seconds (to its end when None or longer than the rest)."""
    if start_seconds < 0:
        raise UserError(f"--start {start_seconds:g}: must be 0 or more seconds")
    if duration_seconds is not None and not duration_seconds > 0:
        raise UserError(f"--duration {duration_seconds:g}: must be a positive number of seconds")
    offset = round(start_seconds * source.sample_rate)
    if offset >= source.length:
        raise UserError(f"--start {start_seconds:g}: past the end of {source.name} ({source.seconds:.1f} s long); "
                        f"give a start below {source.seconds:.1f}")
    if offset == 0 and duration_seconds is None:
        return source
    length = source.length - offset
    if duration_seconds is not None:
        length = min(length, round(duration_seconds * source.sample_rate))
    return AudioSource(lambda start, stop: source.read(offset + start, offset + stop), length, source.channels,
                       source.sample_rate, source.name)


def resampled_length(length: int, from_rate: int, to_rate: int) -> int:
    """How many samples `length` samples at from_rate become at to_rate (soxr's count, rounded)."""
    return round(length * to_rate / from_rate)


def fit(block: np.ndarray, length: int) -> np.ndarray:
    """Trim or zero-pad (channels, n) at the end to exactly `length` samples."""
    if block.shape[1] >= length:
        return block[:, :length]
    return np.pad(block, ((0, 0), (0, length - block.shape[1])))


class ResampledReader:
    """A block reader at another rate: the source streamed through soxr, blocks asked for in increasing order.

    Only what later blocks may still ask for is kept (from the last block's start on), so memory is bounded
    by the block size, not the song. The result equals resampling the whole song at once (soxr's stream)."""

    def __init__(self, source: AudioSource, sample_rate: int):
        self.source = source
        self.sample_rate = sample_rate
        self.length = resampled_length(source.length, source.sample_rate, sample_rate)
        soxr = require_resampler(source.name, source.sample_rate, sample_rate)
        self.stream = soxr.ResampleStream(source.sample_rate, sample_rate, source.channels, dtype="float32",
                                          quality=RESAMPLE_QUALITY)
        self.buffer = np.zeros((source.channels, 0), np.float32)
        self.buffer_start = 0  # the output sample that buffer[:, 0] is
        self.consumed = 0  # source samples fed to the stream

    def __call__(self, start: int, stop: int) -> np.ndarray:
        if start < self.buffer_start:
            raise ValueError(f"blocks must be read in increasing order ({start} < {self.buffer_start})")
        while self.buffer_start + self.buffer.shape[1] < stop and self.consumed < self.source.length:
            # What this block still lacks, in one read (plus a little for the resampler's delay)
            missing = (stop - self.buffer_start - self.buffer.shape[1]) * self.source.sample_rate / self.sample_rate
            step = math.ceil(missing) + round(INPUT_BLOCK_SECONDS * self.source.sample_rate)
            block = self.source.read(self.consumed, min(self.source.length, self.consumed + step))
            self.consumed += block.shape[1]
            out = self.stream.resample_chunk(block.T, last=self.consumed >= self.source.length).T
            self.buffer = np.concatenate([self.buffer, out], axis=1)
        self.buffer = self.buffer[:, start - self.buffer_start:]
        self.buffer_start = start
        return fit(self.buffer[:, : stop - start], stop - start).copy()


def resampled(source: AudioSource, sample_rate: int) -> AudioSource:
    """The source at `sample_rate` (itself when it already is), read in increasing blocks."""
    if source.sample_rate == sample_rate:
        return source
    reader = ResampledReader(source, sample_rate)
    return AudioSource(reader, reader.length, source.channels, sample_rate, source.name)


def resample_blocks(blocks: Iterable[np.ndarray], from_rate: int, to_rate: int, length: int) -> Iterator[np.ndarray]:
    """Consecutive (channels, n) blocks at from_rate -> consecutive blocks at to_rate, exactly `length` in all."""
    if from_rate == to_rate:
        yield from blocks
        return
    stream = None
    produced = 0
    for block in blocks:
        if stream is None:
            soxr = require_resampler("the stems", from_rate, to_rate)
            stream = soxr.ResampleStream(from_rate, to_rate, block.shape[0], dtype="float32", quality=RESAMPLE_QUALITY)
            channels = block.shape[0]
        out = stream.resample_chunk(np.ascontiguousarray(block.T)).T[:, : length - produced]
        produced += out.shape[1]
        yield out
    if stream is not None:
        # The stream's tail (its filter delay), then zeros for the last sample or two that rounding may leave
        tail = stream.resample_chunk(np.zeros((0, channels), np.float32), last=True).T
        yield fit(tail, length - produced)
