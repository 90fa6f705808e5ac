"""Writing separated stems: formats and bit depths, clipping, file-name templates, and never a half-written file.

Each stem of a song is written under a temporary name (vocals.wav.partial) and all are renamed to their final
names only once the whole song is separated and written. An interrupted run (Ctrl-C, a full disk, an error)
removes the song's temporary files, so a file under a final name is always complete.
"""
import contextlib
import logging
import math
import os
import shutil
import string
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from utils.errors import UserError

FORMATS = ("wav", "flac", "mp3")
BIT_DEPTHS = (16, 24, 32)
SUBTYPES = {16: "PCM_16", 24: "PCM_24", 32: "FLOAT"}
# 16-bit, as Demucs and Spleeter write: a song's own rounding is -96 dB, far below any separation error, and the
# files are half the size of float ones and play everywhere. --bit-depth 32 keeps peaks above full scale.
DEFAULT_BIT_DEPTH = 16
CLIP_MODES = ("rescale", "clamp", "none")
MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)  # all that MPEG audio has
MP3_KBPS = 320  # Demucs's default; libsndfile's compression level 0 at a constant bit rate
TEMPLATE_FIELDS = ("track", "trackext", "stem", "ext")
DEFAULT_TEMPLATE = "{track}/{stem}.{ext}"
PARTIAL = ".partial"  # the suffix of a stem still being written; never an audio extension, so never an input
BLOCK_SECONDS = 10.0  # what the rescale pass copies at a time


@dataclass(frozen=True)
class OutputFormat:
    """File format, bit depth (None for mp3) and clip mode of the stems."""

    format: str = "wav"
    bit_depth: int | None = DEFAULT_BIT_DEPTH
    clip_mode: str = "rescale"

    @classmethod
    def from_args(cls, audio_format: str = "wav", bit_depth: int | None = None,
                  clip_mode: str | None = None) -> "OutputFormat":
        """The format the flags ask for, with the defaults filled in; a UserError for combinations that cannot be."""
        if audio_format not in FORMATS:
            raise UserError(f"--format {audio_format}: use one of {', '.join(FORMATS)}")
        if audio_format == "mp3":
            if bit_depth is not None:
                raise UserError(f"--bit-depth {bit_depth}: applies to wav and flac; mp3 is written at {MP3_KBPS} kbps")
            check_mp3_support()
        elif bit_depth is None:
            bit_depth = DEFAULT_BIT_DEPTH
        elif bit_depth not in BIT_DEPTHS:
            raise UserError(f"--bit-depth {bit_depth}: use 16 or 24 (integers) or 32 (float)")
        if audio_format == "flac" and bit_depth == 32:
            raise UserError("--bit-depth 32: flac stores integers only; use --bit-depth 24, or --format wav for float")
        if clip_mode is None:  # float holds any value: nothing to prevent
            clip_mode = "none" if bit_depth == 32 else "rescale"
        if clip_mode not in CLIP_MODES:
            raise UserError(f"--clip-mode {clip_mode}: use one of {', '.join(CLIP_MODES)}")
        return cls(audio_format, bit_depth, clip_mode)

    @property
    def is_float(self) -> bool:
        return self.bit_depth == 32

    def check_rate(self, sample_rate: int, name: str) -> None:
        """A UserError when this format cannot hold audio at `sample_rate` (mp3 stops at 48 kHz)."""
        if self.format == "mp3" and sample_rate not in MP3_RATES:
            raise UserError(f"{name}: {sample_rate} Hz, which mp3 cannot hold (it has {', '.join(map(str, MP3_RATES))} "
                            "Hz); use --format flac or wav")

    def open(self, path: Path, sample_rate: int, channels: int) -> sf.SoundFile:
        """A new file at `path` in this format."""
        if self.format == "mp3":
            return sf.SoundFile(path, "w", sample_rate, channels, "MPEG_LAYER_III", format="MP3",
                                compression_level=0.0, bitrate_mode="CONSTANT")
        return sf.SoundFile(path, "w", sample_rate, channels, SUBTYPES[self.bit_depth], format=self.format.upper())


def check_mp3_support() -> None:
    """A UserError saying how to get mp3 when this system's libsndfile cannot write it."""
    if "MP3" not in sf.available_formats():
        raise UserError(f"--format mp3: this system's libsndfile ({sf.__libsndfile_version__}) cannot write mp3; "
                        "`pip install --upgrade soundfile` installs one that can (1.1 or newer, bundled in the "
                        "wheels for Linux, macOS and Windows), or use --format flac")


def track_name(path: Path) -> str:
    """A song's name: the file name, or the track folder for MUSDB's <track>/mixture.wav."""
    return path.parent.name if path.stem == "mixture" else path.stem


def check_template(template: str) -> None:
    """A UserError for a --filename template with unknown fields or unbalanced braces."""
    fields = ", ".join(f"{{{name}}}" for name in TEMPLATE_FIELDS)
    try:
        used = [field for _, field, _, _ in string.Formatter().parse(template) if field is not None]
    except ValueError:
        raise UserError(f"--filename {template}: unbalanced braces; fields are {fields}") from None
    for field in used:
        if field not in TEMPLATE_FIELDS:
            raise UserError(f"--filename {template}: unknown field {{{field}}}; use {fields}")


def output_paths(files: list[Path], out_dir: Path, template: str, stems: list[str],
                 extension: str) -> list[dict[str, Path]]:
    """Each input's {stem: final path}; two stems of any inputs on one path is a UserError, before any work."""
    check_template(template)
    plans, writers = [], {}
    for file in files:
        plan = {stem: out_dir / template.format(track=track_name(file), trackext=file.suffix.lstrip("."),
                                                stem=stem, ext=extension) for stem in stems}
        for stem, path in plan.items():
            key = os.path.normpath(path)
            if key in writers:
                other_file, other_stem = writers[key]
                if other_file == file:
                    raise UserError(f"--filename {template}: would write {other_stem} and {stem} of {file} to one "
                                    f"file, {path}; put {{stem}} in it")
                raise UserError(f"--input {other_file} and {file} would both be written to {path}; rename one, "
                                "separate them in two runs, or put {trackext} in --filename")
            writers[key] = (file, stem)
        plans.append(plan)
    return plans


def describe(paths: dict[str, Path]) -> str:
    """out/song/{vocals,accompaniment}.wav for stems named <stem>.<ext> in one folder, else every path."""
    folders = {path.parent for path in paths.values()}
    suffixes = {path.suffix for path in paths.values()}
    if len(folders) == 1 and len(suffixes) == 1 and all(path.stem == stem for stem, path in paths.items()):
        return f"{folders.pop()}/{{{','.join(paths)}}}{suffixes.pop()}"
    return ", ".join(map(str, paths.values()))


@contextlib.contextmanager
def writing(path: Path):
    """Turn a failure to write `path` (a full disk, a folder that is a file, no permission) into one line naming
    it, with the reason and the free space."""
    try:
        yield
    except (OSError, sf.SoundFileError) as error:
        folder = next((parent for parent in path.parents if parent.exists()), Path("."))
        free = shutil.disk_usage(folder).free / 1e6
        # libsndfile reports a full disk as "System error.": the free space says what it was
        reason = "the disk is full" if free < 1 else (
            getattr(error, "strerror", None) or getattr(error, "error_string", None) or type(error).__name__)
        raise UserError(f"{path}: cannot write ({reason}); give an -o that you can write to, on a disk with room "
                        f"({free:,.0f} MB free there)") from None


class SongWriter:
    """A song's stems, written under temporary names and renamed together once complete (a context manager).

    Leaving the `with` block by an exception (Ctrl-C included) removes every temporary file and any folder made
    for them. With --clip-mode rescale a float copy is kept beside each stem until the end: when a stem turned
    out to peak above full scale, all stems are written again from it with one gain, so they still sum to the
    mixture times that gain."""

    def __init__(self, paths: dict[str, Path], output: OutputFormat, sample_rate: int, channels: int, name: str):
        self.paths, self.output, self.sample_rate, self.channels, self.name = paths, output, sample_rate, channels, name
        self.partials = {stem: path.with_name(path.name + PARTIAL) for stem, path in paths.items()}
        # The exact float values for the rescale pass; only rescale can need them.
        self.copies = ({stem: path.with_name(path.name + ".float" + PARTIAL) for stem, path in paths.items()}
                       if output.clip_mode == "rescale" else {})
        self.files: dict[str, sf.SoundFile] = {}
        self.copy_files: dict[str, sf.SoundFile] = {}
        self.created: list[Path] = []  # folders made for this song, removed again if it is not completed
        self.peak = 0.0
        self.clipped = 0
        self.done = False
        self.pool = ThreadPoolExecutor(len(paths))  # one encoder per stem: mp3 encoding is the slow part

    def __enter__(self) -> "SongWriter":
        try:
            for stem, path in self.partials.items():
                self.make_folder(path.parent)
                with writing(path):
                    self.files[stem] = self.output.open(path, self.sample_rate, self.channels)
            for stem, path in self.copies.items():
                with writing(path):
                    self.copy_files[stem] = sf.SoundFile(path, "w", self.sample_rate, self.channels, "FLOAT",
                                                         format="WAV")
        except BaseException:
            self.discard()
            raise
        return self

    def __exit__(self, kind, error, traceback) -> None:
        try:
            if kind is None:
                self.finish()
        finally:
            self.pool.shutdown(wait=True, cancel_futures=True)  # no encoder may still write to a file being removed
            if not self.done:
                self.discard()

    def make_folder(self, folder: Path) -> None:
        missing = [path for path in (folder, *folder.parents) if not path.exists()]
        with writing(folder):
            folder.mkdir(parents=True, exist_ok=True)
        self.created += missing

    def write(self, piece: dict[str, np.ndarray]) -> None:
        """The next samples of every stem, {stem: (channels, n)} float."""
        self.peak = max(self.peak, *(float(np.abs(audio).max(initial=0)) for audio in piece.values()))
        if not self.output.is_float or self.output.clip_mode == "clamp":
            self.clipped += sum(int(np.count_nonzero(np.abs(audio) > 1)) for audio in piece.values())
        list(self.pool.map(self.write_stem, piece.items()))

    def write_stem(self, item: tuple[str, np.ndarray]) -> None:
        stem, audio = item
        with writing(self.partials[stem]):
            if stem in self.copy_files:
                self.copy_files[stem].write(audio.T)
            # Integer formats saturate at full scale by themselves (libsndfile clips); float needs it done.
            self.files[stem].write((np.clip(audio, -1, 1) if self.output.clip_mode == "clamp" else audio).T)

    def close_files(self) -> None:
        """Close every file; closing flushes, so a full disk may only show here: the first failure is raised."""
        failures = []
        for file in [*self.files.values(), *self.copy_files.values()]:
            try:
                with writing(Path(file.name)):
                    file.close()
            except UserError as error:
                failures.append(error)
        if failures:
            raise failures[0]

    def finish(self) -> None:
        """Close, rescale if needed, then give every stem its final name."""
        self.close_files()
        if self.copies and self.peak > 1:
            gain = 1 / self.peak
            list(self.pool.map(lambda stem: self.rewrite(stem, gain), self.paths))
            logging.info(f"{self.name}: the stems peak at {self.peak:.2f}, above full scale: all scaled by "
                         f"{20 * math.log10(gain):.1f} dB so that none clips (--clip-mode rescale)")
        elif self.clipped:
            level = logging.INFO if self.output.clip_mode == "clamp" else logging.WARNING
            logging.log(level, f"{self.name}: {self.clipped} samples above full scale were clipped "
                               f"(--clip-mode {self.output.clip_mode}; rescale or --bit-depth 32 keeps them)")
        for stem, path in self.paths.items():
            os.replace(self.partials[stem], path)
        self.done = True
        for path in self.copies.values():
            path.unlink()

    def rewrite(self, stem: str, gain: float) -> None:
        """The stem again from its float copy, times `gain`."""
        block = round(BLOCK_SECONDS * self.sample_rate)
        with writing(self.partials[stem]), sf.SoundFile(self.copies[stem]) as source, \
                self.output.open(self.partials[stem], self.sample_rate, self.channels) as target:
            for audio in source.blocks(block, dtype="float32", always_2d=True):
                target.write(audio * gain)

    def discard(self) -> None:
        """Remove this song's temporary files and the folders made for them: nothing of it is left."""
        with contextlib.suppress(UserError):  # the files are removed next: a failed flush loses nothing
            self.close_files()
        for path in [*(self.partials[stem] for stem in self.files), *(self.copies[stem] for stem in self.copy_files)]:
            path.unlink(missing_ok=True)
        for folder in sorted(self.created, key=lambda path: len(path.parts), reverse=True):  # children first
            with contextlib.suppress(OSError):  # not empty: something else is in it
                folder.rmdir()
