"""Songs of any length through a separator in bounded memory, whatever runs the model (PyTorch or onnxruntime).

separate_blocks() reads the song in chunks (30 s by default) with a few seconds of context on both sides; each
chunk goes through the model (separate_stereo: STFT -> masks -> optional Wiener -> inverse STFT), neighbouring
chunks are cross-faded. Chunk borders sit on the U-Net's 16-frame grid, so chunked output matches whole-song
output. separate_source() wraps that for a song at another sample rate (streamed through the resampler both
ways, sources.py) and computes the rest (accompaniment) at the song's own rate, so the stems sum back to the
mixture exactly; separate_file() writes a file's stems through outputs.SongWriter.

Separator (separator.py, PyTorch) and OnnxSeparator (onnx_separator.py, onnxruntime) differ only in
separate_stereo; this module imports no PyTorch.
"""
import logging
import math
import time
from pathlib import Path
from typing import Iterator

import numpy as np
from tqdm import tqdm

from utils.errors import UserError, raise_if_interrupted
from vocal_separation_sanity_check.audio import STFTSettings
from vocal_separation_sanity_check.outputs import OutputFormat, SongWriter, describe, track_name
from vocal_separation_sanity_check.sources import (AudioSource, BlockReader, array_source, excerpt, open_audio,
                                                   resample_blocks, resampled)
from vocal_separation_sanity_check.tracks import STEM_NAMES

RESIDUAL_NAME = "accompaniment"
PROGRESS_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total:.1f} s [{elapsed}<{remaining}]"
CONTEXT_SECONDS = 3.0  # model input beyond each side of a chunk: about the U-Net's receptive field


def rest_name(target: str) -> str:
    """What --two-stems TARGET calls the rest: "accompaniment" beside vocals (Spleeter), else no_<stem> (Demucs)."""
    return RESIDUAL_NAME if target == "vocals" else f"no_{target}"


class ChunkedSeparator:
    """Targets, chunking, shifts and --two-stems around a model that separates one stereo chunk.

    grid_frames: chunk borders on a multiple of this many STFT frames (the U-Net's pooling grid).
    shifts: average over that many copies of the song delayed by random offsets (0 = off; seed picks them).
    two_stems: one of the targets; the stems are then that target and the rest (the mixture minus it)."""

    def __init__(self, settings: STFTSettings, targets: list[str], grid_frames: int, chunk_seconds: float = 30.0,
                 wiener_iterations: int = 0, shifts: int = 0, two_stems: str | None = None, seed: int = 0,
                 context_seconds: float = CONTEXT_SECONDS):
        if two_stems is not None and two_stems not in targets:
            raise UserError(f"--two-stems {two_stems}: this model separates {', '.join(targets)}; "
                            f"give one of them")
        if shifts < 0:
            raise UserError(f"--shifts {shifts}: must be 0 (off) or a number of shifted copies, e.g. 2")
        self.settings = settings
        self.targets = list(targets)
        self.wiener_iterations = wiener_iterations
        self.shifts = shifts
        self.two_stems = two_stems
        self.seed = seed
        # Chunk borders on the grid, so every chunk max-pools exactly like the whole song does.
        self.grid = grid_frames * settings.hop_length
        self.chunk = max(1, round(chunk_seconds * settings.sample_rate / self.grid)) * self.grid
        self.crossfade = self.grid
        self.context = math.ceil(context_seconds * settings.sample_rate / self.grid) * self.grid

    @property
    def has_residual(self) -> bool:
        """A model for some of the stems also gives the rest (the accompaniment) as mixture minus targets."""
        return RESIDUAL_NAME not in self.targets and set(self.targets) != set(STEM_NAMES)

    @property
    def residual_name(self) -> str | None:
        """The stem that is the mixture minus the others, if any."""
        if self.two_stems is not None:
            return rest_name(self.two_stems)
        return RESIDUAL_NAME if self.has_residual else None

    @property
    def separated_names(self) -> list[str]:
        """The stems taken from the model's output (all but the residual)."""
        return [self.two_stems] if self.two_stems is not None else self.targets

    @property
    def output_names(self) -> list[str]:
        return self.separated_names + ([self.residual_name] if self.residual_name else [])

    def separate_stereo(self, stereo: np.ndarray) -> np.ndarray:
        """float32 (2, samples) -> the targets' waveforms (targets, 2, samples): what runs the model."""
        raise NotImplementedError

    def separate_chunk(self, mixture: np.ndarray) -> dict[str, np.ndarray]:
        """One chunk (channels, samples) -> {name: (channels, samples)}; mono is run as two equal channels."""
        channels = mixture.shape[0]
        stereo = np.repeat(mixture, 2, axis=0) if channels == 1 else mixture
        separated = self.separate_stereo(np.ascontiguousarray(stereo, dtype=np.float32))
        sources = dict(zip(self.targets, separated))
        if channels == 1:
            sources = {name: audio.mean(axis=0, keepdims=True) for name, audio in sources.items()}
        if self.has_residual:
            # In the time domain, so the written stems sum to the mixture exactly.
            sources[RESIDUAL_NAME] = mixture - sum(sources.values())
        return sources

    def chunk_count(self, length: int) -> int:
        return max(1, math.ceil(length / self.chunk))

    def shift_offsets(self) -> np.ndarray:
        """The delays of the shifted copies, in samples: within one U-Net grid (16 hops), which holds every way
        the STFT frames and the pooling can fall on the music; the same for every song of a seed."""
        return np.random.default_rng(self.seed).integers(0, self.grid, self.shifts)

    def separate_shifted(self, read: BlockReader, start: int, stop: int, length: int,
                         offsets: np.ndarray) -> dict[str, np.ndarray]:
        """separate_chunk() of samples [start, stop) of a song `length` long, averaged over copies delayed by
        `offsets` (none: one plain pass)."""
        if len(offsets) == 0:
            return self.separate_chunk(read(start, stop))
        # Every copy one grid longer than the chunk, whatever its offset: one input shape for all copies, so the
        # CPU's kernels made for the first are reused (a new shape costs about as much as the chunk itself).
        first, last = max(0, start - self.grid), min(length, stop + self.grid)
        audio = np.pad(read(first, last), ((0, 0), (first - (start - self.grid), stop + self.grid - last)))
        total: dict[str, np.ndarray] = {}
        for offset in offsets:
            copy = audio[:, self.grid - offset: self.grid - offset + stop - start + self.grid]
            for name, separated in self.separate_chunk(copy).items():
                total[name] = total.get(name, 0) + separated[:, offset: offset + stop - start]
        return {name: separated / len(offsets) for name, separated in total.items()}

    def separate_blocks(self, read: BlockReader, length: int) -> Iterator[dict[str, np.ndarray]]:
        """Yield consecutive output pieces {name: (channels, n)}; together they are exactly `length` long.

        Blocks are read in increasing order (what a resampling reader needs)."""
        offsets = self.shift_offsets()
        fade_in = ((np.arange(self.crossfade) + 0.5) / self.crossfade).astype(np.float32)
        pending: dict[str, np.ndarray] = {}  # the previous chunk's last `crossfade` samples
        n_chunks = self.chunk_count(length)
        for k in range(n_chunks):
            raise_if_interrupted()  # a long song: Ctrl-C stops it even if Python dropped the KeyboardInterrupt
            # This chunk's output covers [out_start, out_stop); it starts `crossfade` early to overlap the last one.
            out_start = max(0, k * self.chunk - self.crossfade)
            out_stop = min(length, (k + 1) * self.chunk)
            in_start = max(0, out_start - self.context)
            in_stop = min(length, out_stop + self.context)
            sources = self.separate_shifted(read, in_start, in_stop, length, offsets)
            piece = {name: audio[:, out_start - in_start: out_stop - in_start] for name, audio in sources.items()}
            if k > 0:
                for name, audio in piece.items():
                    audio[:, : self.crossfade] = pending[name] * (1 - fade_in) + audio[:, : self.crossfade] * fade_in
            if k < n_chunks - 1:
                pending = {name: audio[:, -self.crossfade:].copy() for name, audio in piece.items()}
                piece = {name: audio[:, : -self.crossfade] for name, audio in piece.items()}
            yield piece

    def check_source(self, source: AudioSource) -> None:
        """A UserError for audio the model cannot take: more than 2 channels, or too short for one STFT frame."""
        if source.channels > 2:
            raise UserError(f"{source.name}: has {source.channels} channels; the model takes mono or stereo "
                            "(channels, samples): downmix it first")
        shortest = self.settings.n_fft / self.settings.sample_rate
        if source.seconds < shortest:
            raise UserError(f"{source.name}: only {source.seconds:.3f} s of audio, at least {shortest:.3f} s needed; "
                            "give a longer file")

    def separate_source(self, source: AudioSource) -> Iterator[dict[str, np.ndarray]]:
        """Yield consecutive pieces {name: (channels, n)} at the source's own rate, exactly source.length in all."""
        self.check_source(source)
        rate = self.settings.sample_rate
        model_input = resampled(source, rate)
        targets = self.separated_names
        pieces = self.separate_blocks(model_input.read, model_input.length)
        # All targets through one resampling stream, so that their pieces stay the same length.
        stacked = (np.concatenate([piece[name] for name in targets]) for piece in pieces)
        position = 0
        for block in resample_blocks(stacked, rate, source.sample_rate, source.length):
            stems = dict(zip(targets, np.split(block, len(targets))))
            if self.residual_name:
                # At the song's own rate, so the stems sum back to the mixture exactly (above 22 kHz too).
                mixture = source.read(position, position + block.shape[1])
                stems[self.residual_name] = mixture - sum(stems.values())
            position += block.shape[1]
            yield stems

    def separate(self, audio: np.ndarray, sample_rate: int | None = None) -> dict[str, np.ndarray]:
        """A whole song in memory: (channels, samples) array at any rate (the model's when None)
        -> {name: float32 (channels, samples)} at that rate and length."""
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim != 2:
            raise UserError(f"audio of shape {audio.shape}: give (channels, samples), e.g. audio[None] for mono")
        pieces = list(self.separate_source(array_source(audio, sample_rate or self.settings.sample_rate)))
        return {name: np.concatenate([piece[name] for piece in pieces], axis=1) for name in self.output_names}


def separate_file(separator: ChunkedSeparator, path: Path, paths: dict[str, Path], output: OutputFormat,
                  start: float = 0.0, duration: float | None = None) -> None:
    """Separate one file (or its excerpt) into `paths` ({stem: final path}), all complete or none written."""
    source = excerpt(open_audio(path), start, duration)
    separator.check_source(source)
    output.check_rate(source.sample_rate, str(path))
    if source.sample_rate != separator.settings.sample_rate:
        logging.info(f"{path.name}: {source.sample_rate} Hz, separated at the model's {separator.settings.sample_rate} "
                     f"Hz and written at {source.sample_rate} Hz")
    start_time = time.time()
    with SongWriter(paths, output, source.sample_rate, source.channels, str(path)) as writer, \
            tqdm(total=source.seconds, desc=track_name(path), unit="s", bar_format=PROGRESS_FORMAT) as progress:
        for piece in separator.separate_source(source):
            writer.write(piece)
            progress.update(next(iter(piece.values())).shape[1] / source.sample_rate)
    elapsed = time.time() - start_time
    logging.info(f"{path}: {source.seconds:.1f} s of audio in {elapsed:.1f} s ({source.seconds / elapsed:.1f}x "
                 f"real time) -> {describe(paths)}")
