"""What train_separator.py trains with: songs split for training and validation, the remix dataset,
the input normalization, the learning-rate schedule and the running average of the weights.

Every training example is a new mixture: each source is drawn from a random song, speed and position, with a
random gain and random left/right swap (Open-Unmix, Spleeter), so 6 songs give endless training data.
The complex STFT of every source, at every speed, is computed once and kept in RAM: the STFT is linear, so adding
scaled source spectrograms is exactly the spectrogram of the remixed audio. Sets too large for that are streamed
from disk (a GPU: DataLoader workers read excerpts, the STFT runs on the GPU) or, on a CPU, drawn from a pool of
random segments' spectrograms in RAM that a background process keeps renewing (SpectrogramPool).
"""
import logging
import math
import multiprocessing
import os
import signal
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from utils.errors import UserError
from vocal_separation_sanity_check.audio import STFTSettings, resample
from vocal_separation_sanity_check.transforms import stft, stft_tensor
from vocal_separation_sanity_check.metrics import sdr
from vocal_separation_sanity_check.model import SpectrogramUNet
from vocal_separation_sanity_check.separator import Separator
from vocal_separation_sanity_check.tracks import (MUSDB_VALIDATION_TRACKS, IndexedTrack, combine_sources, find_tracks,
                                                  index_track)

VALIDATION_FRACTION = 0.15  # the end of each training song, never trained on, when ROOT has no valid/ split
REST = "rest"  # everything in the mixture that is not a target: it is remixed like the other sources
GAIN_RANGE = (0.25, 1.25)  # random gain per source, as in Open-Unmix
# --data auto keeps the training spectrograms in RAM up to this size (a quarter of the RAM if less): the 6 demo
# songs take 0.5 GB; MUSDB18-HQ's 86 training tracks would take about 60 GB and are streamed from disk.
CACHE_BUDGET_BYTES = 2 * 2**30
RESAMPLE_MARGIN = 256  # file samples read beyond an excerpt on each side, for the resampling filter
# The CPU's pool of segments (SpectrogramPool) for sets over the budget: 40% of the cache's budget (0.8 GB), so that
# training stays within 3 GB while the pool fills (at half the budget it peaked at 2.9 GB, main and background
# process together). 10 s segments hold several patches each, and spread the pool over more tracks than longer
# ones would: with 20 s ones, 40 demo songs validated 0.9 dB lower than in RAM.
POOL_BUDGET_FRACTION = 0.4
POOL_SEGMENT_SECONDS = 10.0
# Each pooled frame serves at most this many patch frames before it is replaced: streaming every patch from disk
# costs a 2-core CPU a third of its steps (reading, resampling, STFT beside the model); renewing the pool costs
# a tenth to a sixteenth of that, and each use of a segment is in a new remix (other partners, gains, offsets).
POOL_REUSE = 16
INPUT_STATISTICS_EXCERPTS = 64  # streamed excerpts the input normalization is measured on
STATISTICS_PATCH_FRAMES = 256  # frames per such excerpt (6 s)


@dataclass
class TrainingData:
    """What train_separator.py trains and validates on, decided from the files' headers alone."""

    train: list[IndexedTrack]
    usable_fraction: float  # of each training track; the rest is its held-out validation end
    validation: list[tuple[str, np.ndarray, dict[str, np.ndarray]]]  # fixed excerpts: (name, mixture, sources)
    validation_source: str  # for the log: where the validation excerpts come from


def index_split(root: Path, split: str | None, targets: list[str]) -> list[IndexedTrack]:
    """Every track of ROOT/<split> from its files' headers (no audio is read)."""
    return [index_track(track, targets) for track in find_tracks(root, split)]


def plan_training_data(root: Path, targets: list[str], settings: STFTSettings, valid_seconds: float,
                       valid_tracks: int) -> TrainingData:
    """Index the tracks and choose the validation excerpts: ROOT/valid when it exists; else MUSDB18's official
    validation tracks when they are in ROOT/train; else the last VALIDATION_FRACTION of every training song.
    At most `valid_tracks` excerpts of at most `valid_seconds` each, so validation costs the same whatever the
    size of the set."""
    train = index_split(root, "train" if (root / "train").is_dir() else None, targets)
    if (root / "valid").is_dir():
        valid, usable, source = index_split(root, "valid", targets), 1.0, f"{root / 'valid'}"
        starts = [0.5] * len(valid)  # the middle of each song: past the intro
    elif official := [track for track in train if track.name in MUSDB_VALIDATION_TRACKS]:
        train = [track for track in train if track.name not in MUSDB_VALIDATION_TRACKS]
        valid, usable, source = official, 1.0, f"the MUSDB18 validation split ({len(official)} tracks)"
        starts = [0.5] * len(valid)
    else:
        valid, usable, source = train, 1 - VALIDATION_FRACTION, "the held-out end of each training song"
        starts = [1 - VALIDATION_FRACTION] * len(valid)
    if not train:
        raise UserError(f"--root {root}: every track is a validation track; add training tracks to {root / 'train'}")
    chosen = np.linspace(0, len(valid) - 1, min(valid_tracks, len(valid))).round().astype(int)
    excerpts = [validation_excerpt(valid[i], targets, settings, starts[i], valid_seconds) for i in sorted(set(chosen))]
    return TrainingData(train, usable, excerpts, source)


def validation_excerpt(track: IndexedTrack, targets: list[str], settings: STFTSettings, start_fraction: float,
                       seconds: float) -> tuple[str, np.ndarray, dict[str, np.ndarray]]:
    """Up to `seconds` of the track from start_fraction of its length on (centred in what is left when the
    song is shorter), at the model's rate."""
    song = int(track.frames * settings.sample_rate / track.sample_rate)  # output samples
    begin = int(song * start_fraction)
    length = min(int(seconds * settings.sample_rate), song - begin)
    if start_fraction == 0.5:  # an excerpt around the middle of the song
        begin = max(0, (song - length) // 2)
    mixture, sources = read_track_excerpt(track, targets, settings, begin, length, track.frames)
    return track.name, mixture, sources


def drop_short_tracks(tracks: list[IndexedTrack], patch_frames: int, shifts: list[float], usable_fraction: float,
                      settings: STFTSettings) -> list[IndexedTrack]:
    """Tracks long enough for a patch at every speed; the others are skipped with a warning naming them."""
    fastest = speed_factor(max(shifts))
    def frames(track: IndexedTrack) -> int:
        return int(track.frames * usable_fraction * settings.sample_rate / track.sample_rate / fastest
                   / settings.hop_length)
    kept = [track for track in tracks if frames(track) > patch_frames]
    for track in tracks:
        if frames(track) <= patch_frames:
            logging.warning(f"{track.paths['mixture']}: skipped, too short for --patch-frames {patch_frames} "
                            f"({frames(track)} frames at the fastest speed)")
    if not kept:
        longest = max(frames(track) for track in tracks)
        raise UserError(f"--patch-frames {patch_frames}: the longest training song has only {longest} frames; "
                        f"use --patch-frames {longest - 1} or less, or longer songs")
    return kept


def cache_bytes(tracks: list[IndexedTrack], n_sources: int, settings: STFTSettings, max_bin: int,
                shifts: list[float], usable_fraction: float) -> float:
    """RAM the SpectrogramCache would take: complex64 (2, max_bin, frames) per source, song and speed."""
    seconds = sum(track.frames / track.sample_rate for track in tracks) * usable_fraction
    frames = seconds * settings.sample_rate / settings.hop_length
    return frames * sum(1 / speed_factor(semitones) for semitones in shifts) * 2 * max_bin * 8 * n_sources


def memory_budget() -> float:
    """Bytes the in-memory cache may take: CACHE_BUDGET_BYTES, or a quarter of the RAM if that is less."""
    available = physical_memory()
    return CACHE_BUDGET_BYTES if available is None else min(CACHE_BUDGET_BYTES, available / 4)


def build_training_data(data: TrainingData, targets: list[str], settings: STFTSettings, max_bin: int,
                        shifts: list[float], choice: str, device_type: str = "cpu",
                        pool: "PoolPlan | None" = None) -> "SpectrogramCache | AudioExcerpts | SpectrogramPool":
    """The in-memory cache for small sets (--data auto chooses it under memory_budget()); above that, a pool of
    segments on a CPU (`pool` says how it renews) and streaming on a GPU, where workers feed the device."""
    needed = cache_bytes(data.train, len(targets) + 1, settings, max_bin, shifts, data.usable_fraction)
    budget = memory_budget()
    if choice == "memory" or (choice == "auto" and needed <= budget):
        logging.info(f"Training data: spectrograms in RAM ({needed / 2**20:.0f} MB; --data auto keeps them there "
                     f"up to {budget / 2**30:.1f} GB)")
        songs = [(track.name, *read_track_excerpt(track, targets, settings, 0, usable_samples(track, data, settings),
                                                  track.frames)) for track in data.train]
        return SpectrogramCache(source_spectrograms(songs, targets, settings, max_bin, shifts), shifts)
    why = f"--data {choice}" if choice != "auto" else f"over the {budget / 2**30:.1f} GB budget of --data auto"
    excerpts = AudioExcerpts(data.train, targets, settings, shifts, data.usable_fraction)
    if choice == "pool" or (choice == "auto" and device_type == "cpu"):
        pool = pool or PoolPlan.for_training(1, 1, settings, 1, 0)
        segment = pool_segment_bytes(excerpts, max_bin, pool.segment_frames)
        slots = max(1, int(budget * POOL_BUDGET_FRACTION // segment))
        seconds = pool.segment_frames * settings.hop_length / settings.sample_rate
        logging.info(f"Training data: a pool of {slots} random {seconds:.0f}-s segments' spectrograms in "
                     f"RAM ({slots * segment / 2**30:.2f} GB), {pool.renewed_per_epoch} renewed per epoch from "
                     f"{len(data.train)} tracks by {pool.workers or 'the main'} process(es) (their spectrograms "
                     f"would take {needed / 2**30:.1f} GB: {why})")
        return SpectrogramPool(excerpts, max_bin, slots, pool)
    logging.info(f"Training data: streamed from disk ({len(data.train)} tracks; in RAM their spectrograms would take "
                 f"{needed / 2**30:.1f} GB: {why})")
    return excerpts


def usable_samples(track: IndexedTrack, data: TrainingData, settings: STFTSettings) -> int:
    """Length at the model's rate of the part of a training track that is trained on."""
    return int(int(track.frames * data.usable_fraction) * settings.sample_rate / track.sample_rate)


def speed_factor(semitones: float) -> float:
    """How much faster a song plays `semitones` higher, like a tape: 2 ** (1/12) per semitone."""
    return 2 ** (semitones / 12)


def file_samples_per_output_sample(track: IndexedTrack, semitones: float, settings: STFTSettings) -> float:
    """The speed change and the file's own rate in one ratio: one resampling does both."""
    return speed_factor(semitones) * track.sample_rate / settings.sample_rate


def speed_shifts(max_semitones: int) -> list[float]:
    """0 and every whole number of semitones up to max_semitones, faster and slower: [-2, -1, 0, 1, 2] for 2."""
    return sorted({0.0} | {sign * step for step in range(1, max_semitones + 1) for sign in (-1.0, 1.0)})


def read_excerpt(path: Path, start: int, length: int, stop: int) -> np.ndarray:
    """Samples [start, start + length) of `path` as float32 (channels, length), zeros outside [0, stop).

    Only those samples are read (soundfile seeks): memory does not depend on the song's length. A file that
    cannot be read is a UserError naming it, also inside a DataLoader worker."""
    first, last = max(start, 0), min(start + length, stop)
    excerpt = None
    try:
        with sf.SoundFile(str(path)) as file:
            excerpt = np.zeros((file.channels, length), dtype=np.float32)
            if last > first:
                file.seek(first)
                block = file.read(last - first, dtype="float32", always_2d=True).T
                excerpt[:, first - start: first - start + block.shape[1]] = block
    except Exception as error:
        raise UserError(f"{path}: cannot read samples {first}-{last} ({type(error).__name__}: "
                        f"{' '.join(str(error).split())[:120]}); re-export the file or remove its track") from None
    if not np.all(np.isfinite(excerpt)):
        raise UserError(f"{path}: contains NaN or Inf samples; re-export the file from your audio editor")
    return excerpt


def read_track_excerpt(track: IndexedTrack, targets: list[str], settings: STFTSettings, start: int, length: int,
                       usable: int, semitones: float = 0.0,
                       files: list[str] | None = None) -> tuple[np.ndarray | None, dict[str, np.ndarray]]:
    """Stereo mixture (2, length) and {target: (2, length)} of `track` played `semitones` faster, at the model's
    rate, from output sample `start`; the file's samples from `usable` on count as silence (held out).
    `files` limits the reading to those of track.paths (the mixture is then None unless among them)."""
    # File samples per output sample: the speed change and the file's own rate in one resampling.
    ratio = file_samples_per_output_sample(track, semitones, settings)
    margin = 0 if ratio == 1 else RESAMPLE_MARGIN
    file_start = int(np.floor(start * ratio)) - margin
    file_length = int(np.ceil(length * ratio)) + 2 * margin
    paths = track.paths if files is None else {name: track.paths[name] for name in files}
    audio = {name: read_excerpt(path, file_start, file_length, usable) for name, path in paths.items()}
    if ratio != 1:
        audio = {name: resample_excerpt(signal, ratio, margin, length) for name, signal in audio.items()}
    audio = {name: np.repeat(signal, 2, axis=0) if signal.shape[0] == 1 else signal for name, signal in audio.items()}
    mixture = audio.pop("mixture", None)
    return mixture, combine_sources(mixture, audio, targets)


def resample_excerpt(audio: np.ndarray, ratio: float, margin: int, length: int) -> np.ndarray:
    """Resample by 1 / ratio, drop the margin read for the filter, keep `length` samples."""
    resampled = resample(audio, ratio, 1.0)
    skip = int(round(margin / ratio))
    out = resampled[:, skip: skip + length]
    return np.pad(out, ((0, 0), (0, length - out.shape[1]))).astype(np.float32)


class SpectrogramCache:
    """Training data in RAM: the complex STFT (2, max_bin, frames) of every source of every song at every speed,
    computed once. For small sets (the demo songs): a step then only slices and adds."""

    kind = "memory"

    def __init__(self, spectrograms: list[dict[str, np.ndarray]], shifts: list[float]):
        self.spectrograms = spectrograms  # one dict per song and speed, speeds in the order of `shifts`
        self.shifts = shifts

    def __len__(self) -> int:
        return len(self.spectrograms)

    def frames(self, song: int) -> int:
        return self.spectrograms[song][REST].shape[-1]

    def originals(self) -> list[dict[str, np.ndarray]]:
        """Every song at its own speed."""
        return [song for index, song in enumerate(self.spectrograms) if self.shifts[index % len(self.shifts)] == 0]

    def patch(self, song: int, start: int, patch_frames: int, sources: list[str]) -> dict[str, np.ndarray]:
        """{source: complex (2, max_bin, patch_frames)}: frames [start, start + patch_frames) of the song."""
        return {name: self.spectrograms[song][name][:, :, start: start + patch_frames] for name in sources}


class AudioExcerpts:
    """Training data streamed from disk: each patch reads just the audio it needs (soundfile seek + read), so
    memory does not grow with the number or length of songs. The STFT is left to the training step, on its
    device; each excerpt carries n_fft / 2 samples of context on both sides, so its frames equal the frames
    the whole song's STFT has there."""

    kind = "stream"

    def __init__(self, tracks: list[IndexedTrack], targets: list[str], settings: STFTSettings, shifts: list[float],
                 usable_fraction: float = 1.0):
        self.tracks = tracks
        self.targets = targets
        self.settings = settings
        self.shifts = shifts
        self.usable = [int(track.frames * usable_fraction) for track in tracks]

    def __len__(self) -> int:
        return len(self.tracks) * len(self.shifts)  # every speed of a song counts as one more song

    def frames(self, song: int) -> int:
        """STFT frames of the song's usable part at its speed, as the in-memory cache would hold them."""
        track, semitones = self.tracks[song // len(self.shifts)], self.shifts[song % len(self.shifts)]
        ratio = file_samples_per_output_sample(track, semitones, self.settings)
        return 1 + int(np.ceil(self.usable[song // len(self.shifts)] / ratio)) // self.settings.hop_length

    def patch(self, song: int, start: int, patch_frames: int, sources: list[str]) -> dict[str, np.ndarray]:
        """{source: float32 audio (2, n_fft + (patch_frames - 1) * hop)} whose STFT (center=False) is frames
        [start, start + patch_frames) of the song. Only the files those sources are made of are read: targets
        taken alone need no mixture (a remix takes its vocal from one song, the rest from another)."""
        index, settings = song // len(self.shifts), self.settings
        track = self.tracks[index]
        targets = [name for name in sources if name != REST] if REST not in sources else self.targets
        files = track.files_for(targets, with_mixture=REST in sources)
        length = settings.n_fft + (patch_frames - 1) * settings.hop_length
        mixture, parts = read_track_excerpt(track, targets, settings, start * settings.hop_length - settings.n_fft // 2,
                                            length, self.usable[index], self.shifts[song % len(self.shifts)], files)
        if REST in sources:
            parts[REST] = mixture - sum(parts[name] for name in self.targets)
        return {name: parts[name] for name in sources}


@dataclass
class PoolPlan:
    """How a SpectrogramPool renews: segments replaced per epoch, by how many background processes (0: by the main
    process, between epochs), from which seed; and the frames of a segment."""

    renewed_per_epoch: int
    workers: int
    seed: int
    segment_frames: int

    @classmethod
    def for_training(cls, samples_per_epoch: int, patch_frames: int, settings: STFTSettings, workers: int,
                     seed: int) -> "PoolPlan":
        """Segments of POOL_SEGMENT_SECONDS (2 patches at least), enough of them renewed per epoch that each
        pooled frame serves at most POOL_REUSE patch frames."""
        segment_frames = max(round(POOL_SEGMENT_SECONDS * settings.sample_rate / settings.hop_length), 2 * patch_frames)
        renewed = max(1, math.ceil(samples_per_epoch * patch_frames / (POOL_REUSE * segment_frames)))
        return cls(renewed, workers, seed, segment_frames)


def pool_segment_bytes(excerpts: "AudioExcerpts", max_bin: int, frames: int) -> int:
    """RAM one pooled segment takes: complex64 (2, max_bin, frames) for each target and the rest."""
    return frames * 2 * max_bin * 8 * (len(excerpts.targets) + 1)


def make_segment(excerpts: "AudioExcerpts", song: int, start: int, frames: int, max_bin: int) -> dict[str, np.ndarray]:
    """{source: complex64 (2, max_bin, frames)}: frames [start, start + frames) of a song, as the cache holds them."""
    audio = excerpts.patch(song, start, frames, excerpts.targets + [REST])
    return {name: np.ascontiguousarray(stft_tensor(torch.from_numpy(samples), excerpts.settings,
                                                   center=False)[..., :max_bin, :].numpy())
            for name, samples in audio.items()}


def quiet_background_process() -> None:
    """A pool process: one thread, lower priority than training, and Ctrl-C left to the main process."""
    torch.set_num_threads(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.nice(10)


class SpectrogramPool:
    """Training data for sets too large for RAM, on a CPU: the spectrograms of random segments (random track,
    speed and time), within a RAM budget, sliced like the in-memory cache. Every epoch a few segments are replaced
    by new ones that a background process made during the previous epoch, so over a run every track is drawn
    from, and a step costs what it costs on a small set: streaming each patch instead takes a third of a 2-core
    CPU's steps. The pool at each epoch depends only on the seed, also after --resume.

    Segment number i (0, 1, 2, ...) goes into slot i % slots; before epoch e (from 1) the segments before
    slots + renewed_per_epoch * (e - 1) are in: the first call fills the pool, each epoch renews its oldest."""

    kind = "pool"

    def __init__(self, excerpts: "AudioExcerpts", max_bin: int, slots: int, plan: PoolPlan):
        self.excerpts = excerpts
        self.max_bin = max_bin
        self.slots = slots
        self.plan = plan
        self.segments: list[dict[str, np.ndarray]] = []  # by slot
        self.made = 0  # segments made so far
        self.pending: list[Future] = []  # the next epoch's segments, being made in the background
        # Spawned, not forked: a fork of a process that already runs torch's thread pool can hang.
        self.executor = ProcessPoolExecutor(plan.workers, multiprocessing.get_context("spawn"),
                                            initializer=quiet_background_process) if plan.workers else None

    def __len__(self) -> int:
        return len(self.segments)

    def frames(self, song: int) -> int:
        return self.segments[song][REST].shape[-1]

    def patch(self, song: int, start: int, patch_frames: int, sources: list[str]) -> dict[str, np.ndarray]:
        return {name: self.segments[song][name][:, :, start: start + patch_frames] for name in sources}

    def segments_before(self, epoch: int) -> int:
        return self.slots + self.plan.renewed_per_epoch * (epoch - 1)

    def draw(self, number: int) -> tuple[int, int, int]:
        """Segment `number`: (song, start frame, frames), from the seed alone."""
        rng = np.random.default_rng([self.plan.seed, number])
        song = int(rng.integers(len(self.excerpts)))
        song_frames = self.excerpts.frames(song)
        frames = min(self.plan.segment_frames, song_frames)
        return song, int(rng.integers(song_frames - frames + 1)), frames

    def submit(self, first: int, last: int) -> list[Future]:
        """Start making segments first..last-1 in the background."""
        return [self.executor.submit(make_segment, self.excerpts, *self.draw(number), self.max_bin)
                for number in range(first, last)]

    def start_epoch(self, epoch: int) -> None:
        """Bring in the segments due before `epoch` (waiting for them if need be), then start the next epoch's.
        Called before each epoch (RemixDataset.set_epoch); the first call fills the pool."""
        wanted = self.segments_before(epoch)
        if wanted == self.made and self.segments:
            return
        if self.pending and self.made + len(self.pending) == wanted:  # made during the last epoch
            made = [future.result() for future in self.pending]
        else:  # the first epoch, --resume, or no background process: only the last segment of each slot counts
            for future in self.pending:
                future.cancel()
            self.made = max(self.made, wanted - self.slots)
            if self.executor is not None:
                made = (future.result() for future in self.submit(self.made, wanted))
            else:
                made = (make_segment(self.excerpts, *self.draw(number), self.max_bin) for number in range(self.made, wanted))
            made = tqdm(made, desc="Filling the pool", unit="segment", total=wanted - self.made, leave=False,
                        disable=wanted - self.made <= self.plan.renewed_per_epoch)  # a bar for the fill only
        self.segments += [None] * (min(self.slots, wanted) - len(self.segments))  # the pool fills up first
        for number, segment in zip(range(self.made, wanted), made):
            self.segments[number % self.slots] = segment
        self.made = wanted
        self.pending = self.submit(wanted, self.segments_before(epoch + 1)) if self.executor else []

    def close(self) -> None:
        """Stop the background processes (segments being made are dropped)."""
        if self.executor is not None:
            self.executor.shutdown(wait=False, cancel_futures=True)
            self.executor = None


class RemixDataset(Dataset):
    """Random patches of random remixes: the same item index and epoch always give the same patch.

    Each item is one tensor (sources, 2, ...) of the targets and the rest, each with its own gain and left/right
    swap: complex spectrogram patches from a SpectrogramCache, or audio excerpts from AudioExcerpts (the training
    step turns them into spectrograms on its device, model_inputs()). Both draw the same songs and positions for a
    seed, so the two paths train on the same examples."""

    def __init__(self, data: "SpectrogramCache | AudioExcerpts | SpectrogramPool", targets: list[str], patch_frames: int,
                 length: int, seed: int, remix_probability: float = 1.0,
                 spectrograms_of: tuple[STFTSettings, int] | None = None):
        self.data = data
        # (settings, max_bin): return audio excerpts as their spectrograms. For a CPU, whose DataLoader workers
        # run beside the training step: the STFT is then done in parallel, still on the device that trains.
        self.spectrograms_of = spectrograms_of
        self.targets = targets
        self.sources = targets + [REST]
        self.patch_frames = patch_frames
        self.length = length
        self.seed = seed
        self.remix_probability = remix_probability
        self.epoch = 0

    def __len__(self) -> int:
        return self.length

    def set_epoch(self, epoch: int) -> None:
        """Draw the examples of `epoch`; a pool brings in that epoch's segments first."""
        self.epoch = epoch
        if isinstance(self.data, SpectrogramPool):
            self.data.start_epoch(epoch)

    def __getitem__(self, index: int) -> torch.Tensor:
        rng = np.random.default_rng([self.seed, self.epoch, index])
        # A remix draws each source from its own song and time; otherwise all come from one song (a real mix).
        # Remixing always is the default: it scored higher than half the time (docs/separator-experiments.md).
        remix = rng.random() < self.remix_probability
        position = self.random_position(rng)
        draws = []  # (source, position, gain, swap), drawn in a fixed order: the same for both kinds of data
        for source in self.sources:
            if remix:
                position = self.random_position(rng)
            draws.append((source, position, np.float32(rng.uniform(*GAIN_RANGE)), rng.random() < 0.5))
        wanted: dict[tuple[int, int], list[str]] = {}
        for source, position, _, _ in draws:
            wanted.setdefault(position, []).append(source)
        # One read per song and time, of just the sources taken from it (streamed: only their files).
        read = {position: self.data.patch(*position, self.patch_frames, sources) for position, sources in wanted.items()}
        patches = []
        for source, position, gain, swap in draws:
            patch = read[position][source] * gain
            patches.append(patch[::-1] if swap else patch)  # swap left and right
        item = torch.from_numpy(np.ascontiguousarray(np.stack(patches)))
        if self.spectrograms_of is not None and not item.is_complex():
            settings, max_bin = self.spectrograms_of
            item = stft_tensor(item, settings, center=False)[..., :max_bin, :]
        return item

    def random_position(self, rng: np.random.Generator) -> tuple[int, int]:
        song = int(rng.integers(len(self.data)))
        return song, int(rng.integers(self.data.frames(song) - self.patch_frames + 1))


def model_inputs(batch: torch.Tensor, n_targets: int, settings: STFTSettings,
                 max_bin: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A RemixDataset batch (batch, sources, 2, ...) on the training device -> mixture magnitude (batch, 2, bins,
    frames), its mid magnitude (batch, bins, frames) and the target magnitudes (batch, targets, 2, bins, frames).
    Audio excerpts get their STFT here, on the device: on a GPU, everything after reading the audio runs there."""
    if not batch.is_complex():
        batch = stft_tensor(batch, settings, center=False)[..., :max_bin, :]
    mixture = batch.sum(dim=1)
    return mixture.abs(), SpectrogramUNet.mid_magnitude(mixture.transpose(0, 1)), batch[:, :n_targets].abs()


def change_speed(audio: np.ndarray, semitones: float, sample_rate: int) -> np.ndarray:
    """Play (channels, samples) faster or slower, like a tape: pitch moves by `semitones`, tempo with it."""
    if semitones == 0:
        return audio
    factor = speed_factor(semitones)
    return resample(audio, sample_rate, sample_rate / factor)


def source_spectrograms(songs, targets: list[str], settings: STFTSettings, max_bin: int,
                        semitone_shifts: list[float]) -> list[dict]:
    """Complex STFT (2, max_bin, frames) of each target and of the rest (mixture - targets), for every song at
    every speed in `semitone_shifts`: each speed counts as one more song to draw sources from.
    """
    spectrograms = []
    for _, mixture, sources in songs:
        rest = mixture - sum(sources[name] for name in targets)
        audio = {**{name: sources[name] for name in targets}, REST: rest}
        for semitones in semitone_shifts:
            spectrograms.append({name: np.ascontiguousarray(
                stft(change_speed(a, semitones, settings.sample_rate), settings)[:, :max_bin]) for name, a in audio.items()})
    return spectrograms


def physical_memory() -> int | None:
    """Bytes of RAM in this machine, or None where the OS does not say (Windows)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def mixture_spectrograms(data: "SpectrogramCache | AudioExcerpts | SpectrogramPool") -> list[torch.Tensor]:
    """Complex mixture spectrograms (2, bins, frames) at the original speed, to normalize the model's input on:
    every song of the in-memory cache; INPUT_STATISTICS_EXCERPTS evenly spread excerpts of the streamed tracks
    (also for a pool: they are read from the whole set, not the pool's first segments)."""
    if isinstance(data, SpectrogramPool):
        data = data.excerpts
    if isinstance(data, SpectrogramCache):
        return [torch.from_numpy(sum(song.values())) for song in data.originals()]
    songs = [song for song in range(len(data)) if data.shifts[song % len(data.shifts)] == 0]
    picks = np.linspace(0, len(songs) - 1, min(INPUT_STATISTICS_EXCERPTS, len(songs) * 4)).round().astype(int)
    spectrograms = []
    for number, pick in enumerate(picks):
        song = songs[pick]
        frames = data.frames(song)
        patch_frames = min(STATISTICS_PATCH_FRAMES, frames)
        start = (frames - patch_frames) * (number % 4) // 3  # four positions through each song
        audio = sum(data.patch(song, start, patch_frames, data.targets + [REST]).values())
        spectrograms.append(stft_tensor(torch.from_numpy(audio), data.settings, center=False))
    return spectrograms


def input_statistics(model: SpectrogramUNet, spectrograms: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row mean and standard deviation of the model's compressed input over mixture spectrograms."""
    rows = [model.input_rows(spectrogram.abs()) for spectrogram in spectrograms]
    compressed = torch.cat([song_rows.transpose(0, 1).flatten(1) for song_rows in rows], dim=1)  # (rows, values)
    return compressed.mean(dim=1), compressed.std(dim=1, correction=0)


def validate(separator: Separator, songs) -> dict[str, float]:
    """Mean over songs of the whole-song SDR (dB) of each target, separated exactly as separate.py does."""
    separator.model.eval()  # running BatchNorm statistics, as separate.py uses them; the next epoch sets train()
    scores = {name: [] for name in separator.targets}
    for _, mixture, sources in songs:
        estimates = separator.separate(mixture)
        for name in separator.targets:
            scores[name].append(sdr(sources[name], estimates[name]))
    return {name: float(np.mean(values)) for name, values in scores.items()}


def ema_with_warmup(decay: float):
    """The --ema update: averaged <- d * averaged + (1 - d) * current, with d = min(decay, (1 + n) / (10 + n))
    after n updates. A fixed d of 0.998 would keep 60% of the random initial weights for 256 steps; the
    warm-up lets the average follow the fast early training, then settle at `decay` (as TensorFlow's
    ExponentialMovingAverage does with num_updates).
    """
    @torch.no_grad()
    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], n_averaged: torch.Tensor) -> None:
        n = float(n_averaged)
        weight = 1 - min(decay, (1 + n) / (10 + n))
        for average, value in zip(averaged, current):
            if average.is_floating_point():
                average.lerp_(value, weight)
            else:  # BatchNorm's batch counter: an integer, copied
                average.copy_(value)
    return update


def learning_rate(base: float, progress: float) -> float:
    """Cosine decay from the base rate to 5% of it as progress goes 0 -> 1: big steps first, fine ones last."""
    return base * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def default_workers(device: torch.device) -> int:
    """Processes that read audio when --workers is not given (DataLoader workers for streamed data, the pool's
    background processes on a CPU): on a 2-core CPU one leaves a core to the model; on a GPU machine more keep
    the GPU fed."""
    return min(8, max(1, (os.cpu_count() or 2) - 1)) if device.type == "cuda" else 1


def loader_workers(data_kind: str, workers: int | None, device: torch.device) -> int:
    """DataLoader workers: for streamed data the readers; none for data in RAM unless --workers asks (slicing a
    cached spectrogram costs less than handing it between processes), none for a pool (it has its own)."""
    if data_kind == "stream":
        return workers if workers is not None else default_workers(device)
    return (workers or 0) if data_kind == "memory" else 0


def worker_error_message(error: Exception) -> str:
    """The one-line message of a UserError, also when a DataLoader worker raised it: the main process then gets
    it wrapped in 'Caught UserError in DataLoader worker process N. Original Traceback ...'."""
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    prefix = "utils.errors.UserError: "
    return last[len(prefix):] if last.startswith(prefix) else (lines[0] if len(lines) == 1 else last)


# Named sets of train_separator.py defaults (--preset); flags given on the command line still win.
PRESETS = {
    # MUSDB18-HQ (86 training tracks, about 6 hours) or larger, on one GPU. 7 hours of real music carry far more
    # than 6 demo songs: a 0.6 M-parameter U-Net would underfit them, so the U-Net is 4x wider (about 8 M
    # parameters, the size of Open-Unmix and Spleeter's U-Net). Real mixes have voice up to 16 kHz (sibilants,
    # breath, air), so every bin is modelled (full band) instead of the demo's 5.5 kHz, with pairs of bins above
    # 256 (2.8 kHz) to keep the rows at 1153. Patches of 256 frames (6 s, Open-Unmix's length) give the model
    # musical context; batch 16 fills a GPU at that size. An epoch is 6400 patches (about 10 hours of audio)
    # so that validation runs every few minutes; --max-minutes bounds the run.
    "musdb-gpu": {"base_channels": 32, "max_bin": 2049, "full_resolution_bins": 256, "patch_frames": 256,
                  "batch_size": 16, "samples_per_epoch": 6400, "max_minutes": 600.0},
}
