"""audio.py: the STFT round trip, writing and reading files, and every bad-file error of load_audio."""
import logging

import numpy as np
import pytest
import soundfile as sf

from vocal_separation_sanity_check.audio import DEFAULT_STFT, STFTSettings, load_audio, write_audio
from vocal_separation_sanity_check.transforms import istft, stft
from utils.errors import UserError

RATE = DEFAULT_STFT.sample_rate


def test_stft_round_trip_is_exact_for_any_length():
    rng = np.random.default_rng(0)
    audio = (0.3 * rng.standard_normal((2, RATE + 123))).astype(np.float32)  # not a multiple of the hop
    spectrogram = stft(audio)
    assert spectrogram.shape == (2, DEFAULT_STFT.n_bins, 1 + audio.shape[1] // DEFAULT_STFT.hop_length)
    assert spectrogram.dtype == np.complex64
    restored = istft(spectrogram, length=audio.shape[1])
    assert restored.shape == audio.shape
    assert np.max(np.abs(restored - audio)) < 1e-4


@pytest.mark.filterwarnings("ignore:n_fft=4096 is too large")  # librosa warns about the 100-sample case
@pytest.mark.parametrize("length", [100, 4096, RATE + 123])
@pytest.mark.parametrize("settings", [DEFAULT_STFT, STFTSettings(22050, 1024, 256)])
def test_torch_stft_equals_librosa_stft(length, settings):
    """The STFT moved from librosa to torch (it runs on the model's device): the same numbers, so checkpoints
    trained with librosa's separate the same."""
    import librosa

    rng = np.random.default_rng(1)
    audio = (0.3 * rng.standard_normal((2, length))).astype(np.float32)
    options = dict(n_fft=settings.n_fft, hop_length=settings.hop_length, window="hann", center=True)
    expected = librosa.stft(audio, **options)
    spectrogram = stft(audio, settings)
    assert spectrogram.shape == expected.shape
    np.testing.assert_allclose(spectrogram, expected, atol=1e-5 * np.abs(expected).max())
    np.testing.assert_allclose(istft(spectrogram, settings, length=length),
                               librosa.istft(expected, **options, length=length), atol=1e-5)


def test_stft_settings_survive_a_checkpoint_dict():
    settings = STFTSettings(22050, 1024, 256)
    assert STFTSettings.from_dict(settings.to_dict() | {"unrelated": 1}) == settings


@pytest.mark.parametrize("suffix, tolerance", [(".wav", 0.0), (".flac", 1e-6)])
def test_write_then_load_keeps_channels_and_samples(tmp_path, suffix, tolerance):
    audio = np.stack([np.linspace(-0.5, 0.5, RATE), np.zeros(RATE)]).astype(np.float32)
    path = tmp_path / f"tone{suffix}"
    write_audio(path, audio, RATE)
    loaded = load_audio(path)
    assert loaded.shape == (2, RATE) and loaded.dtype == np.float32
    assert np.max(np.abs(loaded - audio)) <= tolerance


def test_mono_stays_one_channel_and_resampling_is_logged(tmp_path, caplog):
    path = tmp_path / "mono.wav"
    sf.write(path, np.zeros(22050, dtype=np.float32), 22050)
    with caplog.at_level(logging.WARNING):
        loaded = load_audio(path, sample_rate=RATE)
    assert loaded.shape == (1, RATE)
    assert "resampling 22050 Hz -> 44100 Hz" in caplog.text


def write_raw(path, samples, rate=RATE):
    sf.write(path, samples, rate, subtype="FLOAT")
    return path


def write_text(path):
    path.write_text("not audio")
    return path


@pytest.mark.parametrize(
    "make_file, message",
    [
        (lambda d: d / "missing.wav", "file not found"),
        (lambda d: write_text(d / "text.wav"), "cannot read this audio file"),
        (lambda d: write_raw(d / "empty.wav", np.zeros((0, 2), dtype=np.float32)), "holds no samples"),
        (lambda d: write_raw(d / "nan.wav", np.full((RATE, 2), np.nan, dtype=np.float32)), "NaN or Inf"),
        (lambda d: write_raw(d / "inf.wav", np.full((RATE, 2), np.inf, dtype=np.float32)), "NaN or Inf"),
        (lambda d: write_raw(d / "short.wav", np.zeros((100, 2), dtype=np.float32)), "at least 1.00 s needed"),
    ],
    ids=["missing", "unreadable", "empty", "nan", "inf", "too-short"],
)
# librosa's fallback decoder warns on the way to the error
@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning", "ignore::DeprecationWarning")
def test_load_audio_rejects_bad_files_naming_them(tmp_path, make_file, message):
    path = make_file(tmp_path)
    with pytest.raises(UserError) as error:
        load_audio(path, min_seconds=1.0)
    assert message in str(error.value)
    assert path.name in str(error.value)
