"""separate.py as a user runs it: formats, bit depths, clip modes, file-name templates, any input rate and sample
format, two stems, excerpts, shifts; outputs that are never half-written (Ctrl-C, a full disk, a bad folder, a
song that fails midway); every bad input one line. Files are read back and checked, never just listed."""
import logging
import resource
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from conftest import start_interruptible
from separator_helpers import (RATE, SCRIPT, error_lines, run_separate, save_tiny_checkpoint, song,
                               tiny_separator)
from utils.checkpoint import save_checkpoint
from utils.errors import UserError
from vocal_separation_sanity_check.audio import resample, write_audio
from vocal_separation_sanity_check.outputs import OutputFormat, output_paths, writing
from vocal_separation_sanity_check.chunking import separate_file

FOUR_STEMS = ["vocals", "drums", "bass", "other"]


def read(path):
    """(channels, samples) float32 and the sample rate."""
    audio, rate = sf.read(path, dtype="float32", always_2d=True)
    return audio.T, rate


def separate_in_process(separator, path, out, output=OutputFormat(), **excerpt):
    """separate_file() into out/<song>/<stem>.<format>; the paths it wrote."""
    paths = output_paths([path], out, "{track}/{stem}.{ext}", separator.output_names, output.format)[0]
    separate_file(separator, path, paths, output, **excerpt)
    return paths


def files_under(folder):
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file())


def test_cli_keeps_length_channels_and_writes_the_layout(tmp_path):
    model = save_tiny_checkpoint(tmp_path / "vocals.pth", ["vocals"])
    stereo = song(2.0)[:, : RATE + 12345]  # odd length
    write_audio(tmp_path / "in" / "stereo song" / "mixture.wav", stereo, RATE)  # MUSDB layout: named by folder
    write_audio(tmp_path / "in" / "stereo song" / "vocals.wav", stereo, RATE)  # a track's stem: not a song
    write_audio(tmp_path / "in" / "mono.wav", stereo[:1, :30001], RATE)
    result = run_separate("-m", model, "-i", tmp_path / "in", "-o", tmp_path / "out", "--chunk-seconds", "0.5",
                          "--device", "cpu")
    assert result.returncode == 0, result.stderr
    assert "Device: cpu" in result.stderr and "x real time" in result.stderr
    for name, audio in (("stereo song", stereo), ("mono", stereo[:1, :30001])):
        assert sf.info(tmp_path / "out" / name / "vocals.wav").subtype == "PCM_16"  # the default, as Demucs's
        vocals, rate = read(tmp_path / "out" / name / "vocals.wav")
        accompaniment, _ = read(tmp_path / "out" / name / "accompaniment.wav")
        assert rate == RATE and vocals.shape == audio.shape
        np.testing.assert_allclose(vocals + accompaniment, audio, atol=1e-4)  # 16-bit rounding of each
    assert files_under(tmp_path / "out") == ["mono/accompaniment.wav", "mono/vocals.wav",
                                             "stereo song/accompaniment.wav", "stereo song/vocals.wav"]


@pytest.mark.parametrize("audio_format, bit_depth, subtype, tolerance", [
    ("wav", 16, "PCM_16", 1e-4), ("wav", 24, "PCM_24", 1e-6), ("wav", 32, "FLOAT", 1e-6),
    ("flac", 16, "PCM_16", 1e-4), ("flac", 24, "PCM_24", 1e-6), ("mp3", None, "MPEG_LAYER_III", None),
])
def test_every_format_and_bit_depth_keeps_rate_length_and_sum(tmp_path, audio_format, bit_depth, subtype, tolerance):
    mixture = song(2.0)[:, :77777]
    write_audio(tmp_path / "song.wav", mixture, RATE)
    output = OutputFormat.from_args(audio_format, bit_depth)
    paths = separate_in_process(tiny_separator(), tmp_path / "song.wav", tmp_path / "out", output)
    assert [path.name for path in paths.values()] == [f"vocals.{audio_format}", f"accompaniment.{audio_format}"]
    assert files_under(tmp_path / "out") == sorted(f"song/{path.name}" for path in paths.values())  # no leftovers
    stems = {}
    for name, path in paths.items():
        assert sf.info(path).subtype == subtype
        stems[name], rate = read(path)
        assert rate == RATE and stems[name].shape == mixture.shape
    if tolerance is not None:
        np.testing.assert_allclose(stems["vocals"] + stems["accompaniment"], mixture, atol=tolerance)
    else:  # mp3 is lossy (and cuts above 19 kHz): the sum is the mixture, sample-aligned, to within that
        total = stems["vocals"] + stems["accompaniment"]
        snr = [10 * np.log10(np.sum(mixture ** 2) / np.sum((np.roll(total, lag, axis=1) - mixture) ** 2))
               for lag in (0, 1)]
        assert snr[0] > 20 and snr[0] > snr[1] + 6


@pytest.fixture
def loud_song(tmp_path):
    """A float wav peaking at 3, whose stems go above full scale; and its stems as float (nothing changed)."""
    path = tmp_path / "loud.wav"
    mixture = song(2.0)
    write_audio(path, mixture * 3 / np.abs(mixture).max(), RATE)
    paths = separate_in_process(tiny_separator(), path, tmp_path / "float", OutputFormat.from_args("wav", 32))
    stems = {name: read(stem_path)[0] for name, stem_path in paths.items()}
    assert max(np.abs(audio).max() for audio in stems.values()) > 1.2  # --clip-mode none on float keeps the peaks
    return path, stems


@pytest.mark.parametrize("clip_mode", ["rescale", "clamp", "none"])
def test_clip_modes_for_integer_formats(tmp_path, loud_song, caplog, clip_mode):
    path, exact = loud_song
    peak = max(np.abs(audio).max() for audio in exact.values())
    with caplog.at_level(logging.INFO):
        paths = separate_in_process(tiny_separator(), path, tmp_path / clip_mode, OutputFormat.from_args("wav", 16, clip_mode))
    stems = {name: read(stem_path)[0] for name, stem_path in paths.items()}
    if clip_mode == "rescale":  # one gain for all stems: nothing clips, and they sum to the mixture times the gain
        for name, audio in stems.items():
            np.testing.assert_allclose(audio, exact[name] / peak, atol=1e-4)
        np.testing.assert_allclose(sum(stems.values()), sum(exact.values()) / peak, atol=2e-4)
        assert f"all scaled by {20 * np.log10(1 / peak):.1f} dB so that none clips" in caplog.text
    else:  # each sample beyond full scale clipped; the stems still sum to the mixture wherever none was
        for name, audio in stems.items():
            np.testing.assert_allclose(audio, np.clip(exact[name], -1, 1), atol=1e-4)
        unclipped = np.all([np.abs(audio) < 0.999 for audio in exact.values()], axis=0)
        np.testing.assert_allclose(sum(stems.values())[unclipped], sum(exact.values())[unclipped], atol=2e-4)
        level = "INFO" if clip_mode == "clamp" else "WARNING"
        assert [record.levelname for record in caplog.records if "above full scale were clipped" in record.message] \
            == [level]


def test_filename_templates_place_the_stems(tmp_path):
    files = [tmp_path / "a.wav", tmp_path / "b" / "mixture.flac"]
    flat = output_paths(files, tmp_path / "out", "{track}_{stem}.{ext}", ["vocals", "accompaniment"], "mp3")
    assert flat[0] == {"vocals": tmp_path / "out" / "a_vocals.mp3", "accompaniment": tmp_path / "out" / "a_accompaniment.mp3"}
    nested = output_paths(files, tmp_path / "out", "{stem}/{track}.{trackext}.{ext}", ["vocals"], "wav")
    assert nested[1] == {"vocals": tmp_path / "out" / "vocals" / "b.flac.wav"}
    model = save_tiny_checkpoint(tmp_path / "vocals.pth", ["vocals"])
    write_audio(files[0], song(1.0), RATE)
    result = run_separate("-m", model, "-i", files[0], "-o", tmp_path / "out", "--filename", "{track}_{stem}.{ext}")
    assert result.returncode == 0, result.stderr
    assert files_under(tmp_path / "out") == ["a_accompaniment.wav", "a_vocals.wav"]
    assert f"-> {tmp_path / 'out' / 'a_vocals.wav'}, {tmp_path / 'out' / 'a_accompaniment.wav'}" in result.stderr


def write_input(path, audio, rate, subtype):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, audio.T, rate, subtype=subtype)
    return audio.shape


INPUTS = {  # name: (sample rate, channels, soundfile subtype)
    "8-bit": (RATE, 2, "PCM_U8"), "24-bit": (RATE, 2, "PCM_24"), "float64": (RATE, 2, "DOUBLE"),
    "96 kHz": (96000, 2, "PCM_16"), "mono 22.05 kHz": (22050, 1, "PCM_16"), "48 kHz": (48000, 2, "FLOAT"),
}


def test_inputs_of_any_rate_and_sample_format_give_stems_at_their_rate_and_length(tmp_path):
    model = save_tiny_checkpoint(tmp_path / "vocals.pth", ["vocals"])
    mixture = song(1.5)
    shapes = {}
    for name, (rate, channels, subtype) in INPUTS.items():
        audio = resample(mixture[:channels], RATE, rate)[:, :-7]  # lengths that are no round number
        shapes[name] = write_input(tmp_path / "in" / f"{name}.wav", audio, rate, subtype)
    result = run_separate("-m", model, "-i", tmp_path / "in", "-o", tmp_path / "out", "--bit-depth", "32")
    assert result.returncode == 0, result.stderr
    assert "decoded whole" not in result.stderr  # every one streamed
    for name, (rate, channels, _) in INPUTS.items():
        mixture_read, _ = read(tmp_path / "in" / f"{name}.wav")
        stems = {}
        for stem in ("vocals", "accompaniment"):
            stems[stem], stem_rate = read(tmp_path / "out" / name / f"{stem}.wav")
            assert stem_rate == rate and stems[stem].shape == shapes[name], name  # its rate, its duration
            assert np.all(np.isfinite(stems[stem])) and np.abs(stems[stem]).max() > 0.01, name
        np.testing.assert_allclose(stems["vocals"] + stems["accompaniment"], mixture_read, atol=1e-5, err_msg=name)


def test_ctrl_c_leaves_no_file_of_the_interrupted_song_and_keeps_the_finished_one(tmp_path):
    """SIGINT to a real run, as Ctrl-C sends it, while it separates the second of two songs."""
    model = save_tiny_checkpoint(tmp_path / "vocals.pth", ["vocals"])
    write_audio(tmp_path / "in" / "1 first.wav", song(1.0), RATE)
    write_audio(tmp_path / "in" / "2 long.wav", np.tile(song(2.0), 30), RATE)  # 60 s, 8 shifted copies: long
    process = start_interruptible([sys.executable, str(SCRIPT), "-m", str(model), "-i", str(tmp_path / "in"),
                                   "-o", str(tmp_path / "out"), "--shifts", "8", "--chunk-seconds", "2"])
    lines = []
    for line in process.stderr:  # the progress bar's updates end in \r: each is a line here
        lines.append(line)
        if line.startswith("2 long:") and "/60.0 s" in line and not line.startswith("2 long:   0%"):
            break  # its stems are being written
    process.send_signal(signal.SIGINT)
    rest = process.communicate(timeout=60)[1]
    stderr = "".join(lines) + rest
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert f"ERROR: Interrupted while separating {tmp_path / 'in' / '2 long.wav'}: none of its stems were " \
           "written; the 1 song(s) before it are complete" in stderr.splitlines()
    assert files_under(tmp_path / "out") == ["1 first/accompaniment.wav", "1 first/vocals.wav"]
    assert read(tmp_path / "out" / "1 first" / "vocals.wav")[0].shape == (2, RATE)  # complete


def limit_file_size():
    """In the child: files may not grow beyond 300 kB, as on a full disk (EFBIG instead of a signal)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, 300_000))


def test_a_full_disk_is_one_line_naming_the_file_and_leaves_nothing(tmp_path):
    model = save_tiny_checkpoint(tmp_path / "vocals.pth", ["vocals"])
    write_audio(tmp_path / "song.wav", song(4.0), RATE)  # 700 kB of 16-bit stereo per stem
    result = subprocess.run([sys.executable, str(SCRIPT), "-m", str(model), "-i", str(tmp_path / "song.wav"),
                             "-o", str(tmp_path / "out"), "--chunk-seconds", "1"], capture_output=True, text=True,
                            timeout=120, preexec_fn=limit_file_size)
    errors = error_lines(result)
    assert len(errors) == 1 and errors[0].startswith(f"ERROR: {tmp_path / 'out' / 'song'}/"), result.stderr
    assert "cannot write" in errors[0] and "MB free there" in errors[0]
    assert not (tmp_path / "out").exists()  # the folders made for the song went with its files


def test_a_write_failure_on_a_disk_without_room_says_the_disk_is_full(tmp_path, monkeypatch):
    """libsndfile calls every failed write "System error."; the free space tells a full disk apart."""
    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**9, 10**9, 0))
    with pytest.raises(UserError) as error:
        with writing(tmp_path / "vocals.wav.partial"):
            raise sf.LibsndfileError(2)
    assert str(error.value) == (f"{tmp_path / 'vocals.wav.partial'}: cannot write (the disk is full); give an -o "
                                "that you can write to, on a disk with room (0 MB free there)")


def test_an_unwritable_output_folder_is_one_line_naming_it(tmp_path):
    model = save_tiny_checkpoint(tmp_path / "vocals.pth", ["vocals"])
    write_audio(tmp_path / "song.wav", song(1.0), RATE)
    (tmp_path / "taken").write_text("a file where the output folder should be")
    errors = error_lines(run_separate("-m", model, "-i", tmp_path / "song.wav", "-o", tmp_path / "taken"))
    assert errors == [f"ERROR: {tmp_path / 'taken' / 'song'}: cannot write (Not a directory); give an -o that you "
                      f"can write to, on a disk with room " + errors[0].split("on a disk with room ")[1]]


def test_a_song_that_fails_midway_leaves_nothing_and_the_one_before_stays(tmp_path):
    mixture = song(4.0)
    broken = mixture.copy()
    broken[:, 3 * RATE] = np.nan  # in the last chunk: the first ones are written by then
    write_audio(tmp_path / "good.wav", mixture, RATE)
    write_audio(tmp_path / "broken.wav", broken, RATE)
    separator = tiny_separator(chunk_seconds=1.0)
    separate_in_process(separator, tmp_path / "good.wav", tmp_path / "out")
    with pytest.raises(UserError, match="broken.wav: contains NaN or Inf samples"):
        separate_in_process(separator, tmp_path / "broken.wav", tmp_path / "out")
    assert files_under(tmp_path / "out") == ["good/accompaniment.wav", "good/vocals.wav"]


def test_two_stems_excerpt_and_shifts_from_the_command_line(tmp_path):
    model = save_tiny_checkpoint(tmp_path / "four.pth", FOUR_STEMS)
    mixture = song(3.0)
    write_audio(tmp_path / "song.wav", mixture, RATE)
    result = run_separate("-m", model, "-i", tmp_path / "song.wav", "-o", tmp_path / "out", "--two-stems", "drums",
                          "--start", "0.5", "--duration", "1.25", "--shifts", "2", "--bit-depth", "32")
    assert result.returncode == 0, result.stderr
    assert "writing drums, no_drums" in result.stderr
    assert files_under(tmp_path / "out") == ["song/drums.wav", "song/no_drums.wav"]
    drums, no_drums = (read(tmp_path / "out" / "song" / f"{name}.wav")[0] for name in ("drums", "no_drums"))
    excerpt = mixture[:, RATE // 2: RATE // 2 + round(1.25 * RATE)]
    assert drums.shape == excerpt.shape
    np.testing.assert_allclose(drums + no_drums, excerpt, atol=1e-6)


def test_a_duration_past_the_end_separates_to_the_end(tmp_path):
    write_audio(tmp_path / "song.wav", song(2.0), RATE)
    paths = separate_in_process(tiny_separator(), tmp_path / "song.wav", tmp_path / "out", start=1.5, duration=10.0)
    assert read(paths["vocals"])[0].shape == (2, RATE // 2)


def test_mp3_without_libsndfile_support_says_how_to_get_it(monkeypatch):
    monkeypatch.setattr(sf, "available_formats", lambda: {"WAV": "", "FLAC": ""})
    with pytest.raises(UserError, match=r"--format mp3: .* cannot write mp3; `pip install --upgrade soundfile`"):
        OutputFormat.from_args("mp3")


@pytest.mark.parametrize("flags, message", [
    (("flac", 32, None), "--bit-depth 32: flac stores integers only; use --bit-depth 24, or --format wav for float"),
    (("mp3", 24, None), "--bit-depth 24: applies to wav and flac; mp3 is written at 320 kbps"),
])
def test_impossible_format_combinations_are_refused(flags, message):
    with pytest.raises(UserError, match=message):
        OutputFormat.from_args(*flags)


def test_mp3_refuses_a_rate_it_cannot_hold():
    with pytest.raises(UserError, match="song.wav: 96000 Hz, which mp3 cannot hold .* use --format flac or wav"):
        OutputFormat.from_args("mp3").check_rate(96000, "song.wav")


@pytest.mark.parametrize("case, message", [
    ("image checkpoint", "is an image segmentation checkpoint (train.py); give a model trained by train_separator.py"),
    ("not a checkpoint", "notes.pth"),
    ("missing input", "no such file or folder"),
    ("empty folder", "no audio files found"),
    ("same name twice", "and {tmp}/other/song.flac would both be written to {tmp}/out/song/vocals.wav; rename one"),
    ("3 channels", "{tmp}/song.wav: has 3 channels; the model takes mono or stereo (channels, samples): downmix it"),
    ("no samples", "{tmp}/song.wav: the file holds no samples; give a file with audio in it"),
    ("truncated header", "{tmp}/song.wav: cannot read this audio file"),
    ("unknown two-stems target", "--two-stems drums: this model separates vocals; give one of them"),
    ("two stems on one path", "--filename {track}.{ext}: would write vocals and accompaniment of {tmp}/song.wav "
                              "to one file, {tmp}/out/song.wav; put {stem} in it"),
    ("unknown template field", "--filename {song}/{stem}.{ext}: unknown field {song}; use {track}, {trackext}"),
    ("start past the end", "--start 5: past the end of {tmp}/song.wav (1.0 s long); give a start below 1.0"),
    ("negative shifts", "--shifts -1: must be 0 (off) or a number of shifted copies, e.g. 2"),
])
def test_cli_bad_inputs_give_one_error_line(tmp_path, case, message):
    model = save_tiny_checkpoint(tmp_path / "vocals.pth", ["vocals"])
    song_path = tmp_path / "song.wav"
    write_audio(song_path, song(1.0), RATE)
    inputs, flags = [song_path], []
    if case == "image checkpoint":
        model = tmp_path / "image.pth"
        save_checkpoint({"inc.double_conv.0.weight": torch.zeros(1), "mask_values": [0, 1]}, model)
    elif case == "not a checkpoint":
        model = tmp_path / "notes.pth"
        model.write_text("not a model")
    elif case == "missing input":
        inputs = [tmp_path / "nowhere.wav"]
    elif case == "empty folder":
        inputs = [tmp_path / "empty"]
        inputs[0].mkdir()
    elif case == "same name twice":
        write_audio(tmp_path / "other" / "song.flac", song(1.0), RATE)
        inputs.append(tmp_path / "other" / "song.flac")
    elif case == "3 channels":
        sf.write(song_path, np.zeros((RATE, 3), np.float32), RATE)
    elif case == "no samples":
        sf.write(song_path, np.zeros((0, 2), np.float32), RATE)
    elif case == "truncated header":
        song_path.write_bytes(song_path.read_bytes()[:30])
    elif case == "unknown two-stems target":
        flags = ["--two-stems", "drums"]
    elif case == "two stems on one path":
        flags = ["--filename", "{track}.{ext}"]
    elif case == "unknown template field":
        flags = ["--filename", "{song}/{stem}.{ext}"]
    elif case == "start past the end":
        flags = ["--start", "5"]
    elif case == "negative shifts":
        flags = ["--shifts", "-1"]
    errors = error_lines(run_separate("-m", model, "-i", *inputs, "-o", tmp_path / "out", *flags))
    assert len(errors) == 1 and message.replace("{tmp}", str(tmp_path)) in errors[0], errors
    assert not (tmp_path / "out").exists()  # nothing written
