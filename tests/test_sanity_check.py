"""sanity_check.py: alignment, the oracle mask end to end through the CLI, and its input errors."""
import re
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from vocal_separation_sanity_check import sanity_check
from vocal_separation_sanity_check.audio import DEFAULT_STFT, load_audio, write_audio
from audio_helpers import RATE, synthetic_stems, write_musdb_track
from utils.errors import UserError

SCRIPT = sanity_check.__file__


@pytest.fixture(scope="module")
def song(tmp_path_factory):
    """A 3 s MUSDB-layout track folder with all four stems."""
    return write_musdb_track(tmp_path_factory.mktemp("song") / "demo", synthetic_stems(3.0, seed=1))


def run_script(*args, cwd=None):
    return subprocess.run([sys.executable, SCRIPT, *map(str, args)], capture_output=True, text=True, cwd=cwd)


def sdr_table(stdout: str) -> dict[str, tuple[float, float]]:
    """{'vocals': (mixture SDR, oracle SDR), 'accompaniment': (...)} from the printed table."""
    rows = re.findall(r"^(vocals|accompaniment)\s+(-?\d+\.\d+)\s+(-?\d+\.\d+)$", stdout, flags=re.MULTILINE)
    return {name: (float(mixture), float(oracle)) for name, mixture, oracle in rows}


def test_find_offset_and_shift_undo_a_delay():
    rng = np.random.default_rng(0)
    vocals = rng.standard_normal((2, RATE)).astype(np.float32)
    mixture = vocals + 0.5 * rng.standard_normal((2, RATE)).astype(np.float32)
    late = np.concatenate([np.zeros((2, 300), np.float32), vocals], axis=1)  # the vocal file starts 300 samples late
    assert sanity_check.find_offset(mixture, late, max_lag=RATE // 2) == 300
    np.testing.assert_array_equal(sanity_check.shift(late, 300, RATE), vocals)
    early = vocals[:, 200:]
    assert sanity_check.find_offset(mixture, early, max_lag=RATE // 2) == -200
    restored = sanity_check.shift(early, -200, RATE)
    np.testing.assert_array_equal(restored[:, 200:], vocals[:, 200:])
    assert not restored[:, :200].any()  # the missing start is silence


def test_cli_end_to_end_with_mixture_and_vocals(song, tmp_path):
    out = tmp_path / "out"
    result = run_script("--mixture", song / "mixture.wav", "--vocals", song / "vocals.wav", "--out", out)
    assert result.returncode == 0, result.stderr
    assert "Alignment: offset 0 samples (0.0 ms)" in result.stdout
    assert "STFT: 44100 Hz, n_fft 4096 (92.9 ms), hop 1024 (23.2 ms), hann window, 2049 bins" in result.stdout
    scores = sdr_table(result.stdout)
    mixture_sdr, oracle_sdr = scores["vocals"]
    assert oracle_sdr > mixture_sdr + 10  # the mask's ceiling is far above doing nothing
    assert scores["accompaniment"][1] > scores["accompaniment"][0]
    for name in ("vocals_oracle.wav", "accompaniment_oracle.wav", "sanity_check.png"):
        assert (out / name).stat().st_size > 1000
    estimate = load_audio(out / "vocals_oracle.wav")
    assert estimate.shape == load_audio(song / "mixture.wav").shape  # full length, nothing cut


def test_quick_mode_on_a_track_folder(song, tmp_path):
    scores = sanity_check.main(["--track", str(song), "--frames", "20", "--out", str(tmp_path)])
    assert load_audio(tmp_path / "vocals_oracle.wav").shape == (2, 19 * DEFAULT_STFT.hop_length)
    assert scores["vocals"]["oracle"] > scores["vocals"]["mixture"] + 10


def test_offset_is_reported_and_corrected_with_align(song, tmp_path, capsys, caplog):
    vocals = load_audio(song / "vocals.wav")
    shifted = np.concatenate([np.zeros((2, 441), np.float32), vocals[:, :-441]], axis=1)  # 10 ms late, same length
    write_audio(tmp_path / "late.wav", shifted, RATE)
    args = ["--mixture", str(song / "mixture.wav"), "--vocals", str(tmp_path / "late.wav"), "--out", str(tmp_path)]
    unaligned = sanity_check.main(args)
    assert "offset by 441 samples (10.0 ms)" in caplog.text and "--align" in caplog.text
    aligned = sanity_check.main(args + ["--align"])
    assert "Alignment: offset 441 samples (10.0 ms), corrected (--align)" in capsys.readouterr().out
    assert aligned["vocals"]["oracle"] > unaligned["vocals"]["oracle"] + 5


def test_lengths_may_differ_only_by_the_offset_with_align(song, tmp_path):
    vocals = load_audio(song / "vocals.wav")
    write_audio(tmp_path / "trimmed.wav", vocals[:, 441:], RATE)  # starts 441 samples early, so it is shorter
    args = ["--mixture", str(song / "mixture.wav"), "--vocals", str(tmp_path / "trimmed.wav"), "--out", str(tmp_path)]
    with pytest.raises(UserError, match="132300 samples but .*trimmed.wav has 131859.*--align"):
        sanity_check.main(args)
    assert sanity_check.main(args + ["--align"])["vocals"]["oracle"] > 15
    write_audio(tmp_path / "cut.wav", vocals[:, :-5000], RATE)  # cut at the end: no offset explains it
    with pytest.raises(UserError, match="cut.wav has 127300"):
        sanity_check.main(["--mixture", str(song / "mixture.wav"), "--vocals", str(tmp_path / "cut.wav"), "--align"])


def test_bad_inputs_are_one_line_errors(song, tmp_path):
    mixture = song / "mixture.wav"
    vocals = load_audio(song / "vocals.wav")
    sf.write(tmp_path / "rate.wav", vocals.T[::2], RATE // 2)
    result = run_script("--mixture", mixture, "--vocals", tmp_path / "rate.wav", "--out", tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("ERROR: ") and "Traceback" not in result.stderr
    assert "mixture.wav is 44100 Hz but" in result.stderr and "rate.wav is 22050 Hz" in result.stderr

    def expect(vocals_path, *fragments):
        with pytest.raises(UserError) as error:
            sanity_check.main(["--mixture", str(mixture), "--vocals", str(vocals_path), "--out", str(tmp_path)])
        for fragment in fragments:
            assert fragment in str(error.value)

    expect(tmp_path / "missing.wav", "missing.wav", "file not found")
    bad = vocals.copy()
    bad[0, 100] = np.nan
    sf.write(tmp_path / "nan.wav", bad.T, RATE, subtype="FLOAT")
    expect(tmp_path / "nan.wav", "nan.wav", "NaN or Inf")
    write_audio(tmp_path / "silent.wav", np.zeros_like(vocals), RATE)
    expect(tmp_path / "silent.wav", "silent.wav", "the vocal is silent")
    write_audio(tmp_path / "short.wav", vocals[:, :2000], RATE)
    expect(tmp_path / "short.wav", "short.wav", "at least 1.00 s")
    write_audio(tmp_path / "mono.wav", vocals[:1], RATE)
    expect(tmp_path / "mono.wav", "2 channel(s)", "mono.wav has 1")
    with pytest.raises(UserError, match="no vocals.wav"):
        sanity_check.main(["--track", str(write_musdb_track(tmp_path / "inst", {"bass": vocals}))])
    intro = np.concatenate([np.zeros((2, RATE), np.float32), vocals[:, RATE:]], axis=1)  # no singing for 1 s
    write_audio(tmp_path / "intro" / "vocals.wav", intro, RATE)
    write_audio(tmp_path / "intro" / "mixture.wav", load_audio(mixture) - vocals + intro, RATE)
    with pytest.raises(UserError, match="--frames 20: the vocal is silent in the first 0.44 s; give more frames"):
        sanity_check.main(["--track", str(tmp_path / "intro"), "--frames", "20"])
    with pytest.raises(UserError, match="--frames 1"):
        sanity_check.main(["--track", str(song), "--frames", "1"])
