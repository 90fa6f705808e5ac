"""Find and load multitrack songs: the MUSDB18-HQ folder layout and the simpler pair layout.

MUSDB18-HQ layout (the real dataset, and what make_demo_songs.py writes):

    ROOT/train/<track>/mixture.wav, vocals.wav, drums.wav, bass.wav, other.wav
    ROOT/test/<track>/...

Any subset of the four stems may be present; .flac works as well as .wav.

Pair layout (one isolated vocal per song, e.g. from a karaoke or stem release):

    FOLDER/NAME-full.wav   the mixture
    FOLDER/NAME-stem.wav   the isolated vocal; the accompaniment is full - stem
"""
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from vocal_separation_sanity_check.audio import STFTSettings, load_audio
from utils.errors import UserError

STEM_NAMES = ("vocals", "drums", "bass", "other")
TARGET_NAMES = STEM_NAMES + ("accompaniment",)
ACCOMPANIMENT_STEMS = tuple(name for name in STEM_NAMES if name != "vocals")
# MUSDB18(-HQ)'s official validation split: 14 of the 100 training tracks, as the musdb package defines it
# (musdb/configs/mus.yaml). Open-Unmix and Demucs validate on these.
MUSDB_VALIDATION_TRACKS = (
    "Actions - One Minute Smile", "Clara Berry And Wooldog - Waltz For My Victims", "Johnny Lokke - Promises & Lies",
    "Patrick Talbot - A Reason To Leave", "Triviul - Angelsaint", "Alexander Ross - Goodbye Bolero",
    "Fergessen - Nos Palpitants", "Leaf - Summerghost", "Skelpolu - Human Mistakes", "Young Griffo - Pennies",
    "ANiMAL - Rockshow", "James May - On The Line", "Meaxic - Take A Step", "Traffic Experiment - Sirens",
)
TRACK_EXTENSIONS = (".wav", ".flac")
MIN_TRACK_SECONDS = 1.0  # SDR is scored on 1 s frames: shorter songs give no frame to score
LAYOUT_HELP = (
    "expected ROOT/<split>/<track>/mixture.wav (+ vocals.wav, drums.wav, bass.wav, other.wav) "
    "or NAME-full.wav + NAME-stem.wav pairs"
)


@dataclass
class Track:
    name: str
    mixture_path: Path
    stem_paths: dict[str, Path]


def _find_file(folder: Path, stem: str) -> Path | None:
    """folder/stem.wav or folder/stem.flac, whichever exists."""
    for extension in TRACK_EXTENSIONS:
        path = folder / f"{stem}{extension}"
        if path.is_file():
            return path
    return None


def read_track_folder(folder: str | Path) -> Track:
    """One MUSDB-layout track folder -> Track; a folder without a mixture file is a UserError."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: no such track folder; check the path")
    mixture_path = _find_file(folder, "mixture")
    if mixture_path is None:
        raise UserError(f"{folder}: no mixture.wav (or .flac) in this track folder; add it or remove the folder")
    stem_paths = {name: path for name in STEM_NAMES if (path := _find_file(folder, name)) is not None}
    return Track(folder.name, mixture_path, stem_paths)


def _is_track_folder(folder: Path) -> bool:
    """A folder holding a mixture or any stem file is meant to be a track."""
    return any(_find_file(folder, name) is not None for name in ("mixture",) + STEM_NAMES)


def _find_pairs(folder: Path) -> list[Track]:
    """NAME-full.wav + NAME-stem.wav pairs in one folder; a -full file without its -stem is a UserError."""
    tracks = []
    for full_path in sorted(folder.iterdir()):
        if full_path.suffix.lower() not in TRACK_EXTENSIONS or not full_path.stem.endswith("-full"):
            continue
        name = full_path.stem[: -len("-full")]
        stem_path = _find_file(folder, f"{name}-stem")
        if stem_path is None:
            raise UserError(
                f"{full_path}: no matching {name}-stem.wav next to it; add the isolated vocal or remove the file"
            )
        tracks.append(Track(name, full_path, {"vocals": stem_path}))
    return tracks


def find_tracks(root: str | Path, split: str | None = None) -> list[Track]:
    """All tracks under ROOT/<split> (or ROOT itself when split is None), sorted by name."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"--root {root}: no such folder; {LAYOUT_HELP}")
    folder = root / split if split else root
    if not folder.is_dir():
        raise UserError(f"{folder}: no such folder (split {split!r}); {LAYOUT_HELP}")
    tracks = [read_track_folder(sub) for sub in sorted(folder.iterdir()) if sub.is_dir() and _is_track_folder(sub)]
    tracks += _find_pairs(folder)
    if not tracks:
        hint = ""
        if split is None and any((root / name).is_dir() for name in ("train", "test")):
            hint = " (this folder has train/ or test/: give the split, e.g. --split test)"
        raise UserError(f"{folder}: no tracks found{hint}; {LAYOUT_HELP}")
    return sorted(tracks, key=lambda track: track.name)


def native_rate(path: Path) -> int | None:
    """The file's own sample rate, or None when soundfile cannot tell (load_audio then reports the file)."""
    try:
        return sf.info(str(path)).samplerate
    except Exception:
        return None


def load_matching(paths: list[Path], settings: STFTSettings, same_length: bool = True) -> list[np.ndarray]:
    """Load files that belong together (a mixture and its stems): same rate, channels and (by default)
    length, or a UserError naming both files. Nothing is trimmed or padded to make them fit: a mismatch
    means the files were exported differently.
    """
    rates = {path: native_rate(path) for path in paths}
    first = paths[0]
    for path in paths[1:]:
        if rates[first] and rates[path] and rates[first] != rates[path]:
            raise UserError(
                f"{first} is {rates[first]} Hz but {path} is {rates[path]} Hz; export all stems of a song at one rate"
            )
    signals = [load_audio(path, settings.sample_rate, min_seconds=MIN_TRACK_SECONDS) for path in paths]
    for path, signal in zip(paths[1:], signals[1:]):
        if signal.shape[0] != signals[0].shape[0]:
            raise UserError(
                f"{first} has {signals[0].shape[0]} channel(s) but {path} has {signal.shape[0]}; "
                "export all stems of a song with the same channels"
            )
        if same_length and signal.shape[1] != signals[0].shape[1]:
            raise UserError(
                f"{first} has {signals[0].shape[1]} samples but {path} has {signal.shape[1]} "
                f"(at {settings.sample_rate} Hz); export all stems of a song with the same length"
            )
    return signals


def needed_stems(track: Track, targets: list[str]) -> list[str]:
    """The stem files `targets` are made of, in STEM_NAMES order; a missing one is a UserError naming the file.

    'accompaniment' is the sum of the drums, bass and other stems when all three exist,
    otherwise mixture - vocals (the pair layout, or a MUSDB folder with only a vocal stem).
    """
    for target in targets:
        if target not in TARGET_NAMES:
            raise UserError(f"--targets {target}: unknown target; choose from {', '.join(TARGET_NAMES)}")
    needed = {target: f"the {target} target" for target in targets if target != "accompaniment"}
    if "accompaniment" in targets:
        if all(name in track.stem_paths for name in ACCOMPANIMENT_STEMS):
            needed.update({name: "the accompaniment (drums + bass + other)" for name in ACCOMPANIMENT_STEMS})
        else:
            needed.setdefault("vocals", "the accompaniment (mixture - vocals)")
    for name, reason in needed.items():
        if name not in track.stem_paths:
            expected = track.mixture_path.parent / f"{name}.wav"
            raise UserError(
                f"track {track.name!r}: no {name} stem ({expected}), needed for {reason}; "
                f"add the file or change --targets"
            )
    return [name for name in STEM_NAMES if name in needed]


def combine_sources(mixture: np.ndarray, stems: dict[str, np.ndarray], targets: list[str]) -> dict[str, np.ndarray]:
    """{target: audio} from the mixture and the stems needed_stems() named (whole songs or excerpts alike)."""
    sources = {}
    for target in targets:
        if target != "accompaniment":
            sources[target] = stems[target]
        elif all(name in stems for name in ACCOMPANIMENT_STEMS):
            sources[target] = sum(stems[name] for name in ACCOMPANIMENT_STEMS)
        else:
            sources[target] = mixture - stems["vocals"]
    return sources


def load_track(track: Track, targets: list[str], settings: STFTSettings) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Mixture (C, S) and {target: (C, S)} for the requested targets, at settings.sample_rate."""
    stem_names = needed_stems(track, targets)
    mixture, *stems = load_matching([track.mixture_path] + [track.stem_paths[name] for name in stem_names], settings)
    return mixture, combine_sources(mixture, dict(zip(stem_names, stems)), targets)


@dataclass(frozen=True)
class IndexedTrack:
    """A track known from its files' headers only: what streaming training needs to read excerpts of it."""

    name: str
    paths: dict[str, Path]  # "mixture" and the needed stems
    sample_rate: int
    channels: int
    frames: int  # samples per channel, at sample_rate

    def files_for(self, targets: list[str], with_mixture: bool) -> list[str]:
        """The keys of `paths` that make `targets` (combine_sources), plus the mixture when asked for."""
        stems = [name for name in self.paths if name != "mixture"]
        needs_mixture = "accompaniment" in targets and not all(name in stems for name in ACCOMPANIMENT_STEMS)
        wanted = set()
        for target in targets:
            wanted |= set(ACCOMPANIMENT_STEMS if target == "accompaniment" else (target,)) & set(stems)
        if "accompaniment" in targets and needs_mixture:
            wanted.add("vocals")
        return (["mixture"] if with_mixture or needs_mixture else []) + [name for name in stems if name in wanted]


def read_header(path: Path):
    """soundfile's header of `path` (samplerate, channels, frames); an unreadable file is a UserError naming it."""
    try:
        return sf.info(str(path))
    except Exception as error:
        raise UserError(f"{path}: cannot read this audio file ({type(error).__name__}); "
                        "re-export it as wav or flac, or remove its track") from None


def index_track(track: Track, targets: list[str]) -> IndexedTrack:
    """Headers of the mixture and the stems `targets` need: same rate, channels and length, or a UserError
    naming both files (nothing is trimmed or padded to make them fit)."""
    paths = {"mixture": track.mixture_path} | {name: track.stem_paths[name] for name in needed_stems(track, targets)}
    headers = {name: read_header(path) for name, path in paths.items()}
    first = headers["mixture"]
    for name, header in headers.items():
        for what, value, expected in (("Hz", header.samplerate, first.samplerate),
                                      ("channel(s)", header.channels, first.channels),
                                      ("samples", header.frames, first.frames)):
            if value != expected:
                raise UserError(f"{paths['mixture']} has {expected} {what} but {paths[name]} has {value}; "
                                "export all stems of a song with the same rate, channels and length")
    if first.channels > 2:
        raise UserError(f"{paths['mixture']}: has {first.channels} channels; use mono or stereo songs")
    return IndexedTrack(track.name, paths, first.samplerate, first.channels, first.frames)


def drop_track_stems(files: list[Path]) -> list[Path]:
    """In a MUSDB track folder only mixture.* is a song; its stem files (vocals.wav, ...) are the answers."""
    def is_track_stem(path: Path) -> bool:
        return path.stem in STEM_NAMES and any(path.parent.glob("mixture.*"))
    return [path for path in files if not is_track_stem(path)]
