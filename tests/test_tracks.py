"""tracks.py: both folder layouts, what load_track returns, and every loader error."""
import numpy as np
import pytest
import soundfile as sf

from vocal_separation_sanity_check.audio import DEFAULT_STFT, write_audio
from vocal_separation_sanity_check.tracks import STEM_NAMES, find_tracks, load_track
from utils.errors import UserError
from audio_helpers import RATE, synthetic_stems, write_musdb_track


def test_musdb_layout_split_sorted_with_any_stem_subset_and_flac(tmp_path):
    stems = synthetic_stems(1.0)
    write_musdb_track(tmp_path / "test" / "b_song", stems)
    write_musdb_track(tmp_path / "test" / "a_song", {"vocals": stems["vocals"]}, suffix=".flac")
    write_musdb_track(tmp_path / "train" / "c_song", stems)
    (tmp_path / "test" / "notes").mkdir()  # a folder without audio is not a track

    tracks = find_tracks(tmp_path, "test")
    assert [track.name for track in tracks] == ["a_song", "b_song"]
    assert tracks[0].mixture_path.name == "mixture.flac" and list(tracks[0].stem_paths) == ["vocals"]
    assert list(tracks[1].stem_paths) == list(STEM_NAMES)
    assert [track.name for track in find_tracks(tmp_path / "train")] == ["c_song"]  # ROOT holds track folders


def test_load_track_returns_stems_and_accompaniment_as_the_other_stems(tmp_path):
    stems = synthetic_stems(1.0)
    folder = write_musdb_track(tmp_path / "song", stems)
    mixture, sources = load_track(find_tracks(tmp_path)[0], ["vocals", "bass", "accompaniment"], DEFAULT_STFT)
    assert mixture.shape == (2, RATE) and list(sources) == ["vocals", "bass", "accompaniment"]
    np.testing.assert_allclose(sources["bass"], stems["bass"], atol=1e-7)
    np.testing.assert_allclose(sources["accompaniment"], stems["drums"] + stems["bass"] + stems["other"], atol=1e-6)
    # with only a vocal stem the accompaniment is what the vocal leaves of the mixture
    for name in ("drums", "bass", "other"):
        (folder / f"{name}.wav").unlink()
    mixture, sources = load_track(find_tracks(tmp_path)[0], ["accompaniment"], DEFAULT_STFT)
    np.testing.assert_allclose(sources["accompaniment"], mixture - stems["vocals"], atol=1e-7)


def test_pair_layout_full_and_stem(tmp_path):
    stems = synthetic_stems(1.0)
    full = sum(stems.values())
    write_audio(tmp_path / "tune-full.wav", full, RATE)
    write_audio(tmp_path / "tune-stem.wav", stems["vocals"], RATE)
    [track] = find_tracks(tmp_path)
    assert track.name == "tune" and track.mixture_path.name == "tune-full.wav"
    mixture, sources = load_track(track, ["vocals", "accompaniment"], DEFAULT_STFT)
    np.testing.assert_allclose(sources["vocals"], stems["vocals"], atol=1e-7)
    np.testing.assert_allclose(sources["accompaniment"], full - stems["vocals"], atol=1e-6)


def expect_error(call, *fragments):
    with pytest.raises(UserError) as error:
        call()
    for fragment in fragments:
        assert str(fragment) in str(error.value)
    return str(error.value)


def test_find_tracks_errors_name_the_folder_and_the_layout(tmp_path):
    expect_error(lambda: find_tracks(tmp_path / "nowhere"), "nowhere", "no such folder")
    expect_error(lambda: find_tracks(tmp_path, "test"), "test", "no such folder", "mixture.wav")
    (tmp_path / "test").mkdir()
    expect_error(lambda: find_tracks(tmp_path, "test"), "no tracks found", "NAME-full.wav")
    expect_error(lambda: find_tracks(tmp_path), "no tracks found", "--split")  # ROOT holds splits, not tracks
    stems = synthetic_stems(1.0)
    write_musdb_track(tmp_path / "test" / "no_mix", stems, mixture=False)
    expect_error(lambda: find_tracks(tmp_path, "test"), "no_mix", "no mixture.wav")
    write_audio(tmp_path / "pairs" / "lonely-full.wav", stems["vocals"], RATE)
    expect_error(lambda: find_tracks(tmp_path / "pairs"), "lonely-full.wav", "lonely-stem.wav")


def test_load_track_errors(tmp_path):
    stems = synthetic_stems(1.5)
    write_musdb_track(tmp_path / "song", {"vocals": stems["vocals"], "drums": stems["drums"]})
    [track] = find_tracks(tmp_path)
    expect_error(lambda: load_track(track, ["bass"], DEFAULT_STFT), "'song'", "no bass stem", "bass.wav")
    expect_error(lambda: load_track(track, ["piano"], DEFAULT_STFT), "--targets piano", "vocals, drums")

    # lengths, rates and channels must match: nothing is trimmed or resampled to make them fit
    write_audio(tmp_path / "song" / "drums.wav", stems["drums"][:, :-10], RATE)
    expect_error(lambda: load_track(track, ["drums"], DEFAULT_STFT), "mixture.wav", "drums.wav", "66150 samples",
                 "66140")
    sf.write(tmp_path / "song" / "drums.wav", stems["drums"].T[::2], RATE // 2)
    expect_error(lambda: load_track(track, ["drums"], DEFAULT_STFT), "44100 Hz", "22050 Hz", "drums.wav")
    write_audio(tmp_path / "song" / "drums.wav", stems["drums"][:1], RATE)
    expect_error(lambda: load_track(track, ["drums"], DEFAULT_STFT), "2 channel(s)", "drums.wav has 1")
    # too short to score (SDR uses 1 s frames)
    write_audio(tmp_path / "short" / "mixture.wav", stems["vocals"][:, :1000], RATE)
    write_audio(tmp_path / "short" / "vocals.wav", stems["vocals"][:, :1000], RATE)
    short = next(track for track in find_tracks(tmp_path) if track.name == "short")
    expect_error(lambda: load_track(short, ["vocals"], DEFAULT_STFT), "mixture.wav", "at least 1.00 s")
