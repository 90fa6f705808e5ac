"""make_demo_songs.py and the demo_songs package: MUSDB18-HQ layout, exact stem sums, determinism, the same songs
as before the package split, and stems that sound like their parts."""
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import librosa
import numpy as np
import pytest
import scipy
import soundfile as sf

from conftest import AUDIO_DIR, REPO_ROOT
from vocal_separation_sanity_check.demo_songs import CHORD_PARTS, demo_song, make_song, song_variety
from vocal_separation_sanity_check.demo_songs.dsp import midi_to_hz
from vocal_separation_sanity_check.demo_songs.plan import plan_song
from vocal_separation_sanity_check.demo_songs.vocals import vocal_phrases
from vocal_separation_sanity_check.demo_songs.voice import SINGER_TYPES, random_singer, sing
from vocal_separation_sanity_check.tracks import STEM_NAMES as STEMS

SCRIPT = AUDIO_DIR / "make_demo_songs.py"
FILES = {"mixture.wav"} | {f"{stem}.wav" for stem in STEMS}
REFERENCE = REPO_ROOT / "tests" / "data" / "demo_songs_reference.json"
# The reference was written on an x86-64 CPU with AVX-512, under numpy 2.4.6, scipy 1.17.1 and librosa 0.11.0.
# numpy picks its sin/exp/power kernels by CPU feature, and other versions may round a last bit differently, so
# elsewhere the same code can give other bits: there the sample values and energies must still agree to 1e-5,
# and the bit-exact check is skipped.
REFERENCE_BUILD = ("2.4.6", "1.17.1", "0.11.0", ("X86_V3", "X86_V4", "AVX512_ICL", "AVX512_SPR"))


def run_script(*flags: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *flags], cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory) -> Path:
    """One 3-second train song and one test song, written by the command line, from another folder."""
    work = tmp_path_factory.mktemp("work")
    result = run_script("--out", "songs", "--train", "1", "--test", "1", "--seconds", "3", "--seed", "0", cwd=work)
    assert result.returncode == 0, result.stderr
    assert "Wrote 1 train + 1 test songs (3.0 s each) to songs" in result.stderr
    return work / "songs"


def read_track(folder: Path) -> dict[str, np.ndarray]:
    return {path.stem: sf.read(path, dtype="float32", always_2d=True)[0].T for path in folder.glob("*.wav")}


def math_build() -> tuple:
    """Library versions and the CPU kernels numpy dispatches to on this machine: what decides a song's last bits."""
    try:
        from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__
    except ImportError:  # numpy 1.x: not the reference build
        return (np.__version__,)
    targets = tuple(target for target in __cpu_dispatch__ if __cpu_features__.get(target))
    return np.__version__, scipy.__version__, librosa.__version__, targets


@pytest.fixture(scope="module")
def reference_songs() -> list[tuple[str, dict, dict[str, np.ndarray]]]:
    """(key, reference stems, today's song) for each song in tests/data/demo_songs_reference.json."""
    songs = []
    for key, expected in json.loads(REFERENCE.read_text()).items():
        seed, split, index, seconds = key.split("-")  # '0-train-0-3.0'
        songs.append((key, expected, demo_song(int(seed), split, int(index), float(seconds))))
    return songs


def frame_rms(audio: np.ndarray, frame: int = 1024) -> np.ndarray:
    mono = audio.mean(axis=0)
    n = mono.size // frame
    return np.sqrt(np.mean(mono[:n * frame].reshape(n, frame) ** 2, axis=1))


def test_layout_and_names(demo_root):
    assert sorted(p.name for p in demo_root.iterdir()) == ["demo_song.png", "test", "train"]
    assert (demo_root / "demo_song.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for split in ("train", "test"):
        tracks = list((demo_root / split).iterdir())
        assert len(tracks) == 1
        name = tracks[0].name
        assert " - " in name and name.count(" ") >= 3  # 'Artist Name - Song Title', like MUSDB
        assert {p.name for p in tracks[0].iterdir()} == FILES
    assert next((demo_root / "train").iterdir()).name != next((demo_root / "test").iterdir()).name


def test_files_are_44k_stereo_float_of_the_asked_length(demo_root):
    for path in demo_root.rglob("*.wav"):
        info = sf.info(path)
        assert (info.samplerate, info.channels, info.subtype, info.frames) == (44100, 2, "FLOAT", 3 * 44100), path


@pytest.mark.parametrize("split", ["train", "test"])
def test_mixture_is_the_sum_of_the_stems_and_peaks_below_one(demo_root, split):
    track = read_track(next((demo_root / split).iterdir()))
    total = sum(track[stem] for stem in STEMS)
    assert np.max(np.abs(track["mixture"] - total)) < 1e-5
    for name, audio in track.items():
        assert np.all(np.isfinite(audio)), name
    assert 0.3 < np.max(np.abs(track["mixture"])) < 1.0


@pytest.mark.parametrize("split", ["train", "test"])
def test_every_stem_is_clearly_audible(demo_root, split):
    track = read_track(next((demo_root / split).iterdir()))
    mixture_rms = np.sqrt(np.mean(track["mixture"] ** 2))
    for stem in STEMS:
        rms = np.sqrt(np.mean(track[stem] ** 2))
        assert rms > 10 ** (-25 / 20) * mixture_rms, f"{stem} is {20 * np.log10(rms / mixture_rms):.1f} dB"
        assert np.std(track[stem][0] - track[stem][1]) > 0 or stem == "bass"  # a stereo mix, not mono copies


@pytest.mark.parametrize("split", ["train", "test"])
def test_vocals_rest_somewhere_and_sing_elsewhere(demo_root, split):
    rms = frame_rms(read_track(next((demo_root / split).iterdir()))["vocals"])
    silent = rms < 1e-3 * rms.max()
    loud = rms > 0.3 * rms.max()
    assert silent.sum() >= 3 and loud.sum() >= 10, (silent.sum(), loud.sum())


def test_the_file_song_is_the_in_memory_song_of_the_same_seed(demo_root):
    """Any one song can be remade alone: seed (0, 'train', 0) in memory equals the written train track."""
    song = demo_song(0, "train", 0, 3.0)
    track = read_track(next((demo_root / "train").iterdir()))
    for name in ("mixture",) + STEMS:
        np.testing.assert_array_equal(song[name], track[name])


def test_make_song_is_deterministic_and_seeds_differ():
    first, again, other = make_song(7, 2.0), make_song(7, 2.0), make_song(8, 2.0)
    assert set(first) == {"mixture", *STEMS}
    for name in first:
        assert first[name].shape == (2, 88200) and first[name].dtype == np.float32
        np.testing.assert_array_equal(first[name], again[name])
        assert not np.allclose(first[name], other[name]), name


def test_songs_are_those_written_before_the_package_split(reference_songs):
    """The same seed gives the same song: 32 samples of each stem and its energy, to within float rounding."""
    for key, expected, song in reference_songs:
        assert set(song) == set(expected), key
        for name, stem in expected.items():
            audio = song[name]
            # atol: samples near zero carry rounding errors larger than 1e-5 of themselves; 1e-7 is -140 dB
            np.testing.assert_allclose(audio[:, stem["indices"]], stem["values"], rtol=1e-5, atol=1e-7,
                                       err_msg=f"{key} {name}")
            assert np.sum(audio.astype(np.float64) ** 2) == pytest.approx(stem["energy"], rel=1e-5), (key, name)


def test_songs_are_bit_identical_on_the_reference_build(reference_songs):
    """Where the reference was written (REFERENCE_BUILD), every stem's bytes are exactly those of before."""
    if math_build() != REFERENCE_BUILD:
        pytest.skip(f"bit-exact only on {REFERENCE_BUILD}, this is {math_build()}; the values test still runs")
    for key, expected, song in reference_songs:
        for name, stem in expected.items():
            assert hashlib.sha256(song[name].tobytes()).hexdigest() == stem["sha256"], (key, name)


def test_songs_do_not_depend_on_the_python_hash_seed():
    """Python orders sets of strings differently in every process; no random draw may depend on that order."""
    script = ("import hashlib; from vocal_separation_sanity_check.demo_songs import demo_song; "
              "songs = [demo_song(0, 'train', i, 15.0) for i in range(6)]; "
              "print(hashlib.sha256(b''.join(s[n].tobytes() for s in songs for n in sorted(s))).hexdigest())")
    # `python -c` imports from its working folder: the repository root, as `python -m ...` does there
    digests = {subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True,
                              check=True, env={**os.environ, "PYTHONHASHSEED": str(hash_seed)}).stdout
               for hash_seed in (1, 2, 3)}
    assert len(digests) == 1


@pytest.mark.parametrize("seed", [0, 5])
def test_six_songs_cover_every_chord_instrument_and_both_voices(seed):
    for split, first in (("train", 0), ("test", 0), ("train", 6), ("test", 6)):
        variety = [song_variety(seed, split, index) for index in range(first, first + 6)]
        assert sorted(part for part, _ in variety) == sorted(CHORD_PARTS), variety
        assert sorted(voice for _, voice in variety) == ["female"] * 3 + ["male"] * 3, variety


@pytest.mark.parametrize("seed", [0, 5])
def test_test_songs_pair_instruments_and_voices_unlike_the_training_songs(seed):
    train = {song_variety(seed, "train", index) for index in range(6)}
    test = {song_variety(seed, "test", index) for index in range(6)}
    assert len(train) == len(test) == 6 and not train & test, (train, test)
    # 12 training songs hold every pair, the test pairs too
    assert {song_variety(seed, "train", index) for index in range(12)} == train | test


def test_main_part_changes_only_the_other_stem():
    """Drums, bass and vocals come from their own generators: only their level (set by the mix) may change."""
    pad, piano = make_song(3, 2.0, main_part="pad"), make_song(3, 2.0, main_part="piano")
    for name in ("drums", "bass", "vocals"):
        ratio = pad[name][np.abs(piano[name]) > 1e-3] / piano[name][np.abs(piano[name]) > 1e-3]
        assert np.allclose(ratio, ratio[0], rtol=1e-3), name
    other_ratio = pad["other"][np.abs(piano["other"]) > 1e-3] / piano["other"][np.abs(piano["other"]) > 1e-3]
    assert not np.allclose(other_ratio, other_ratio[0], rtol=0.1)


def test_voice_sets_the_singer_kind_with_some_children():
    singers = [random_singer(np.random.default_rng(i), "male") for i in range(200)]
    male_low, child_low = SINGER_TYPES["male"][0][0], SINGER_TYPES["child"][0][0]
    children = sum(singer.formant_scale > 1.2 for singer in singers)
    assert 10 <= children <= 50, children  # 15% children
    assert all(male_low <= s.low < male_low + 4 for s in singers if s.formant_scale < 1.2)
    assert all(child_low <= s.low < child_low + 4 for s in singers if s.formant_scale > 1.2)


def test_vocals_sing_a_pitched_melody_in_a_singer_range():
    """The voice is periodic (a pitch between 80 Hz and 1 kHz) and its pitch moves, unlike a held tone."""
    rng = np.random.default_rng(3)
    plan = plan_song(rng, 4.0, 22050)
    singer = random_singer(rng)
    phrases = vocal_phrases(plan, singer, rng)
    voice = sing(phrases, singer, plan, rng)
    notes = [note for phrase in phrases for note in phrase]
    assert len({note.pitch for note in notes}) >= 2 and all(singer.low <= n.pitch <= singer.high for n in notes)
    note = max(notes, key=lambda n: n.duration)  # the middle of the longest note: a steady vowel
    middle = int((note.start + note.duration / 2) * 22050)
    segment = voice[middle - 1024:middle + 1024] * np.hanning(2048)
    correlation = np.correlate(segment, segment, mode="full")[2047:]
    expected_lag = 22050 / midi_to_hz(note.pitch)
    lag = np.argmax(correlation[int(22050 / 1000):int(22050 / 80)]) + int(22050 / 1000)
    assert abs(lag / expected_lag - round(lag / expected_lag)) < 0.1 and correlation[lag] > 0.5 * correlation[0]


def test_runs_as_a_module_from_the_repository_root_and_help_shows_defaults(tmp_path):
    module = [sys.executable, "-m", "vocal_separation_sanity_check.make_demo_songs"]
    result = subprocess.run([*module, "--out", str(tmp_path / "songs"), "-t", "1", "-e", "0", "-s", "1"],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert len(list((tmp_path / "songs" / "train").iterdir())) == 1
    help_text = subprocess.run([*module, "--help"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60).stdout
    assert "(default: data/demo_songs)" in help_text and "(default: 30.0)" in help_text


def test_bad_flags_are_one_line_errors(tmp_path):
    result = run_script("--train", "0", "--test", "0", cwd=tmp_path)
    assert result.returncode == 2 and "ERROR: --train 0 --test 0" in result.stderr and "Traceback" not in result.stderr
    result = run_script("--seconds", "0.5", cwd=tmp_path)
    assert result.returncode == 2 and "ERROR: --seconds 0.5" in result.stderr


def test_refuses_to_mix_with_tracks_of_another_run(tmp_path):
    (tmp_path / "songs" / "train" / "Some Old Track").mkdir(parents=True)
    result = run_script("-o", "songs", "-t", "1", "-e", "0", "-s", "1", cwd=tmp_path)
    assert result.returncode == 2 and "already holds other tracks" in result.stderr
    assert "Some Old Track" in result.stderr
