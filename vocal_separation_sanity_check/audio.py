"""Audio in and out, and the STFT settings: every script in this folder uses these, so they live here once.

Arrays are float32 shaped (channels, samples). This module imports no PyTorch (the STFT itself is in
transforms.py), so separate.py runs an exported .onnx separator with NumPy and soundfile alone: librosa is
imported only for files soundfile cannot decode, and soxr only for songs at another rate than the model's.
"""
import logging
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from utils.errors import UserError

try:
    import soxr
except ImportError:  # only resampling needs it: require_resampler() says so
    soxr = None

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif", ".m4a")


@dataclass(frozen=True)
class STFTSettings:
    """Sample rate and STFT parameters; saved in every checkpoint so inference matches training."""

    sample_rate: int = 44100
    n_fft: int = 4096
    hop_length: int = 1024
    window: str = "hann"

    @property
    def n_bins(self) -> int:
        return self.n_fft // 2 + 1

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "STFTSettings":
        return cls(**{key: values[key] for key in ("sample_rate", "n_fft", "hop_length", "window")})


DEFAULT_STFT = STFTSettings()

# soxr's high quality (librosa's "soxr_hq"): every resampling in this folder, file reading and separation alike
RESAMPLE_QUALITY = "HQ"


def require_resampler(what: str, from_rate: int, to_rate: int):
    """The soxr module, or a UserError naming the file and the package when it is not installed."""
    if soxr is None:
        raise UserError(f"{what}: {from_rate} Hz, needed at {to_rate} Hz: resampling needs soxr; pip install soxr")
    return soxr


def resample(audio: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """(channels, samples) float32 from one sample rate to another, whole (sources.py streams long songs)."""
    return require_resampler("audio", from_rate, to_rate).resample(audio.T, from_rate, to_rate, quality=RESAMPLE_QUALITY).T.astype(np.float32)


def decode_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """A whole file as float32 (channels, samples) at its own rate; unreadable or empty files are a UserError."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: file not found; check the path")
    try:
        audio, file_rate = sf.read(path, dtype="float32", always_2d=True)
        audio = audio.T
    except Exception:
        # soundfile cannot read every format (mp3 on old libsndfile, m4a): let librosa try its decoders,
        # quietly (it warns on the way), so that a file none can read is one line.
        try:
            import librosa  # its audioread/ffmpeg decoders: only for what soundfile cannot read
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                audio, file_rate = librosa.load(path, sr=None, mono=False)
        except Exception as error:
            raise UserError(f"{path}: cannot read this audio file ({type(error).__name__}): it is damaged or "
                            "truncated, or in a format soundfile cannot read; convert it to wav or flac") from None
        audio = np.atleast_2d(audio).astype(np.float32)
    if audio.shape[1] == 0:
        raise UserError(f"{path}: the file holds no samples; give a file with audio in it")
    return audio, file_rate


def check_finite(audio: np.ndarray, path: str | Path) -> np.ndarray:
    """The audio, or a UserError when it holds NaN or Inf (a model would turn them into NaN stems)."""
    if not np.all(np.isfinite(audio)):
        raise UserError(f"{path}: contains NaN or Inf samples; re-export the file from your audio editor")
    return audio


def load_audio(path: str | Path, sample_rate: int = DEFAULT_STFT.sample_rate, min_seconds: float = 0.0) -> np.ndarray:
    """Read a file as float32 (channels, samples) at `sample_rate`, channels kept (mono stays 1 channel).

    Resampling is logged, never silent. Unreadable, empty, too short or non-finite audio is a UserError.
    """
    path = Path(path)
    audio, file_rate = decode_audio(path)
    check_finite(audio, path)
    if file_rate != sample_rate:
        logging.warning(f"{path.name}: resampling {file_rate} Hz -> {sample_rate} Hz")
        require_resampler(str(path), file_rate, sample_rate)
        audio = resample(audio, file_rate, sample_rate)
    seconds = audio.shape[1] / sample_rate
    if seconds < min_seconds:
        raise UserError(f"{path}: only {seconds:.2f} s of audio, at least {min_seconds:.2f} s needed; give a longer file")
    return audio


def write_audio(path: str | Path, audio: np.ndarray, sample_rate: int) -> None:
    """Write (channels, samples) float audio as wav (float32) or flac (24-bit), chosen by the suffix."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix == ".wav":
        subtype = "FLOAT"  # float keeps peaks above 1.0 that a model estimate can have: nothing is clipped
    elif suffix == ".flac":
        subtype = "PCM_24"
        audio = np.clip(audio, -1.0, 1.0)
    else:
        raise UserError(f"{path}: cannot write {suffix!r} files; use .wav or .flac")
    sf.write(path, np.asarray(audio, dtype=np.float32).T, sample_rate, subtype=subtype)


def find_audio_files(inputs: list[str | Path]) -> list[Path]:
    """Expand files and folders into a sorted list of audio files; an empty result is a UserError."""
    files: list[Path] = []
    for item in inputs:
        item = Path(item)
        if item.is_dir():
            files += sorted(p for p in item.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file())
        elif item.is_file():
            files.append(item)
        else:
            raise UserError(f"--input {item}: no such file or folder; check the path")
    if not files:
        raise UserError(f"--input {' '.join(map(str, inputs))}: no audio files found ({', '.join(AUDIO_EXTENSIONS)})")
    return files
