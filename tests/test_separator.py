"""separate.py, model.py, filtering.py: chunked streaming separation, full-band masks, Wiener, CLI errors.

A tiny untrained model (base_channels 4) is enough: these tests are about shapes, lengths, chunk joins
and sums, which do not depend on how well the model separates.
"""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from vocal_separation_sanity_check.audio import DEFAULT_STFT, STFTSettings, write_audio
from vocal_separation_sanity_check.filtering import wiener
from vocal_separation_sanity_check.metrics import sdr
from vocal_separation_sanity_check.model import SpectrogramUNet
from vocal_separation_sanity_check.separator import Separator, checkpoint_dict, load_separator, save_separator
from audio_helpers import synthetic_stems
from utils.checkpoint import save_checkpoint

SCRIPT = Path(__file__).resolve().parent.parent / "vocal_separation_sanity_check" / "separate.py"
RATE = DEFAULT_STFT.sample_rate
CPU = torch.device("cpu")


def tiny_model(targets: int = 1, max_bin: int = 256) -> SpectrogramUNet:
    torch.manual_seed(0)
    model = SpectrogramUNet(targets, max_bin=max_bin, base_channels=4)
    # Random input statistics and BatchNorm statistics, so masks vary over time and frequency.
    n_rows = model.row_count(max_bin)  # fewer than max_bin when bins are paired
    model.set_input_statistics(torch.rand(n_rows), 0.5 + torch.rand(n_rows))
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
    return model.eval()


def save_tiny_checkpoint(path: Path, targets: list[str]) -> Path:
    model = tiny_model(len(targets))
    save_separator(path, model, DEFAULT_STFT, targets)
    return path


def song(seconds: float) -> np.ndarray:
    return sum(synthetic_stems(seconds).values())


def run_separate(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=120)


def test_masks_are_full_band_and_in_range():
    model = tiny_model(targets=2, max_bin=64)
    magnitude = torch.rand(1, 2, 300, 37)  # neither bins nor frames a multiple of 16
    masks = model(magnitude, magnitude.mean(dim=1))
    assert masks.shape == (1, 2, 2, 300, 37)
    assert masks.min() >= 0 and masks.max() <= 1
    # Above max_bin every bin gets the mean mask of the top modelled bins: not zero, so nothing is cut.
    assert torch.allclose(masks[..., 64:, :], masks[..., 48:64, :].mean(dim=3, keepdim=True).expand(-1, -1, -1, 236, -1))
    assert masks[..., 64:, :].min() > 0


def test_frequency_channel_lets_the_network_tell_rows_apart():
    """A flat spectrogram looks the same at every height to convolutions; the frequency channel breaks that."""
    flat = torch.ones(1, 2, 512, 16)
    rows = {}
    for frequency_channel in (False, True):
        torch.manual_seed(0)
        model = SpectrogramUNet(1, max_bin=512, base_channels=4, frequency_channel=frequency_channel,
                                coherence_channel=False, frequency_mixing=False).eval()
        assert model.unet.inc.double_conv[0].weight.shape[1] == 2 + frequency_channel
        masks = model(flat)[0, 0, 0]
        rows[frequency_channel] = (masks[240], masks[256])  # two rows far from the edges, on the pooling grid
    torch.testing.assert_close(*rows[False])
    assert not torch.allclose(*rows[True])


def test_frequency_mixing_lets_every_row_see_the_whole_spectrum():
    """Convolutions see a neighbourhood of rows; the mixer's maps at the lowest row follow the highest row."""
    torch.manual_seed(0)
    model = SpectrogramUNet(1, max_bin=512, base_channels=4).eval()  # 320 rows: pairs above bin 128
    assert model.unet.inc.double_conv[0].weight.shape[1] == 2 + 2 * 2 + 1 + 1  # magnitudes, maps, coherence, position
    quiet = torch.zeros(1, 2, 320, 16)
    top_changed = quiet.clone()
    top_changed[:, :, -1] = 3.0
    before, after = model.mix_frequencies(quiet), model.mix_frequencies(top_changed)
    assert before.shape == (1, 4, 320, 16)
    assert (after[:, :, 0] - before[:, :, 0]).abs().min() > 1e-4  # the lowest row, in every map and frame
    # A small STFT gives fewer rows than the MLP takes: the missing ones count as the training mean (zero).
    torch.testing.assert_close(model.mix_frequencies(quiet[:, :, :100]), before[:, :, :100])


def test_bins_above_full_resolution_are_averaged_in_pairs_and_share_a_mask():
    torch.manual_seed(0)
    model = SpectrogramUNet(1, max_bin=40, base_channels=4, full_resolution_bins=32).eval()
    assert model.row_count(40) == 36 and model.input_mean.shape == (36,)
    assert model.row_count(39) == 36 and model.row_count(20) == 20
    rows = model.pool_bins(torch.arange(39.0)[:, None])[:, 0]
    assert rows.tolist() == list(range(32)) + [32.5, 34.5, 36.5, 38.0]  # the odd bin out is a row of its own
    unpooled = model.unpool_bins(rows[:, None], 39)[:, 0]
    assert unpooled.tolist() == list(range(32)) + [32.5, 32.5, 34.5, 34.5, 36.5, 36.5, 38.0]
    magnitude = torch.rand(1, 2, 300, 37)
    masks = model(magnitude, magnitude.mean(dim=1))[0, 0]
    assert masks.shape == (2, 300, 37)
    torch.testing.assert_close(masks[:, 32:40:2], masks[:, 33:40:2])  # one mask per pair above bin 32
    assert (masks[:, 0:32:2] - masks[:, 1:32:2]).abs().max() > 1e-5  # every bin its own mask below


def test_coherence_channel_tells_in_phase_from_out_of_phase_stereo():
    """Same |L| and |R| everywhere; only the phase between the sides differs, and only that channel sees it."""
    rng = np.random.default_rng(0)
    left = (rng.normal(size=(64, 32)) + 1j * rng.normal(size=(64, 32))).astype(np.complex64)
    in_phase = np.stack([left, left])
    opposite = np.stack([left, -left])
    assert np.allclose(SpectrogramUNet.mid_magnitude(in_phase), np.abs(left))
    assert np.allclose(SpectrogramUNet.mid_magnitude(opposite), 0)
    magnitude = torch.from_numpy(np.abs(in_phase))[None]
    outputs = {}
    for coherence_channel in (False, True):
        torch.manual_seed(0)
        model = SpectrogramUNet(1, max_bin=64, base_channels=4, coherence_channel=coherence_channel).eval()
        assert model.unet.inc.double_conv[0].weight.shape[1] == 2 + 4 + 1 + coherence_channel  # + mixing, position
        outputs[coherence_channel] = [model(magnitude, torch.from_numpy(SpectrogramUNet.mid_magnitude(spectrogram))[None])
                                      for spectrogram in (in_phase, opposite)]
    torch.testing.assert_close(*outputs[False])
    assert (outputs[True][0] - outputs[True][1]).abs().max() > 1e-3
    with pytest.raises(ValueError, match="pass mid_magnitude"):
        model(magnitude)


def test_chunked_separation_matches_whole_song_and_keeps_length():
    mixture = song(4.1)  # not a multiple of the chunk
    settings = STFTSettings(RATE, 1024, 256)  # a smaller STFT keeps the test fast; chunks are 16 hops = 0.09 s
    separator = Separator(tiny_model(), settings, ["vocals"], CPU, amp=False, chunk_seconds=0.3)
    whole = Separator(tiny_model(), settings, ["vocals"], CPU, amp=False, chunk_seconds=100)
    assert separator.chunk_count(mixture.shape[1]) > 10 and whole.chunk_count(mixture.shape[1]) == 1
    chunked, reference = separator.separate(mixture), whole.separate(mixture)
    assert set(chunked) == {"vocals", "accompaniment"}
    assert chunked["vocals"].shape == mixture.shape
    assert np.abs(reference["vocals"]).max() > 0.01  # the comparison below is not between two silences
    assert sdr(reference["vocals"], chunked["vocals"]) > 60


def test_stems_sum_to_the_mixture_with_and_without_wiener():
    mixture = song(2.0)
    for iterations in (0, 2):
        separator = Separator(tiny_model(), DEFAULT_STFT, ["vocals"], CPU, amp=False, wiener_iterations=iterations)
        stems = separator.separate(mixture)
        np.testing.assert_allclose(stems["vocals"] + stems["accompaniment"], mixture, atol=1e-5)
    four_stems = Separator(tiny_model(4), DEFAULT_STFT, ["vocals", "drums", "bass", "other"], CPU, amp=False)
    assert four_stems.output_names == ["vocals", "drums", "bass", "other"]  # no residual for a 4-stem model


def test_wiener_filter_shapes_zero_iterations_and_sum():
    rng = np.random.default_rng(0)
    mixture = (rng.standard_normal((2, 33, 20)) + 1j * rng.standard_normal((2, 33, 20))).astype(np.complex64)
    masks = rng.uniform(0, 0.5, size=(2, 2, 33, 20)).astype(np.float32)
    estimates = masks * mixture[None]
    assert wiener(mixture, estimates, iterations=0) is estimates  # N = 0 is plain masking
    with_residual = wiener(mixture, estimates, iterations=0, residual=True)
    assert with_residual.shape == (3, 2, 33, 20)
    np.testing.assert_allclose(with_residual.sum(axis=0), mixture, atol=1e-5)
    refined = wiener(mixture, estimates, iterations=3, residual=True)
    assert refined.shape == (3, 2, 33, 20) and refined.dtype == np.complex64
    np.testing.assert_allclose(refined.sum(axis=0), mixture, atol=1e-4)  # Wiener gains sum to one
    assert not np.allclose(refined[:2], estimates, atol=1e-3)  # and the estimates did change


def test_cli_keeps_length_channels_and_writes_the_layout(tmp_path):
    model = save_tiny_checkpoint(tmp_path / "vocals.pth", ["vocals"])
    stereo = song(2.0)[:, : RATE + 12345]  # odd length
    write_audio(tmp_path / "in" / "stereo song" / "mixture.wav", stereo, RATE)  # MUSDB layout: named by folder
    write_audio(tmp_path / "in" / "stereo song" / "vocals.wav", stereo, RATE)  # a track's stem: not a song
    write_audio(tmp_path / "in" / "mono.wav", stereo[:1, :30001], RATE)
    result = run_separate("-m", model, "-i", tmp_path / "in", "-o", tmp_path / "out", "--chunk-seconds", "0.5",
                          "--format", "flac", "--device", "cpu")
    assert result.returncode == 0, result.stderr
    assert "Device: cpu" in result.stderr and "x real time" in result.stderr
    for name, audio in (("stereo song", stereo), ("mono", stereo[:1, :30001])):
        vocals, rate = sf.read(tmp_path / "out" / name / "vocals.flac", dtype="float32", always_2d=True)
        accompaniment, _ = sf.read(tmp_path / "out" / name / "accompaniment.flac", dtype="float32", always_2d=True)
        assert rate == RATE and vocals.T.shape == audio.shape
        np.testing.assert_allclose(vocals.T + accompaniment.T, audio, atol=1e-4)  # 24-bit flac rounding
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["mono", "stereo song"]


def test_load_separator_reads_the_settings_from_the_checkpoint(tmp_path):
    separator = load_separator(save_tiny_checkpoint(tmp_path / "m.pth", ["vocals", "drums"]), CPU)
    assert separator.targets == ["vocals", "drums"] and separator.settings == DEFAULT_STFT
    assert separator.output_names == ["vocals", "drums", "accompaniment"]


@pytest.mark.parametrize("case, message", [
    ("image checkpoint", "is an image segmentation checkpoint (train.py); give a model trained by train_separator.py"),
    ("not a checkpoint", "notes.pth"),
    ("missing input", "no such file or folder"),
    ("empty folder", "no audio files found"),
    ("same name twice", "would both be written to OUT/song/"),
])
def test_cli_bad_inputs_give_one_error_line(tmp_path, case, message):
    model = save_tiny_checkpoint(tmp_path / "vocals.pth", ["vocals"])
    song_path = tmp_path / "song.wav"
    write_audio(song_path, song(1.0), RATE)
    inputs = [song_path]
    if case == "image checkpoint":
        model = tmp_path / "image.pth"
        save_checkpoint({"inc.double_conv.0.weight": torch.zeros(1), "mask_values": [0, 1]}, model)
    elif case == "not a checkpoint":
        model = tmp_path / "notes.pth"
        model.write_text("not a model")
    elif case == "missing input":
        inputs = [tmp_path / "nowhere.wav"]
    elif case == "same name twice":
        write_audio(tmp_path / "other" / "song.flac", song(1.0), RATE)
        inputs = [song_path, tmp_path / "other" / "song.flac"]
    else:
        inputs = [tmp_path / "empty"]
        inputs[0].mkdir()
    result = run_separate("-m", model, "-i", *inputs, "-o", tmp_path / "out")
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1 and message in errors[0], result.stderr
    assert "Traceback" not in result.stderr


def test_checkpoints_from_before_the_frequency_channel_still_load(tmp_path):
    torch.manual_seed(0)
    model = SpectrogramUNet(1, max_bin=64, base_channels=4, frequency_channel=False, coherence_channel=False,
                            full_resolution_bins=None, frequency_mixing=False)
    checkpoint = checkpoint_dict(model, DEFAULT_STFT, ["vocals"])
    del checkpoint["format_version"]  # format 1
    for option in ("frequency_channel", "coherence_channel", "full_resolution_bins", "frequency_mixing"):
        del checkpoint["model_config"][option]  # checkpoints saved before these options existed
    save_checkpoint(checkpoint, tmp_path / "old.pth")
    loaded = load_separator(tmp_path / "old.pth", CPU).model
    assert loaded.frequency_channel is False and loaded.coherence_channel is False
    assert loaded.full_resolution_bins == 64  # every bin its own row, as before pooling existed
    assert loaded.frequency_mixing is False and loaded.frequency_mixer is None
    torch.testing.assert_close(loaded.unet.inc.double_conv[0].weight, model.unet.inc.double_conv[0].weight)
