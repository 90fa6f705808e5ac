"""model.py, filtering.py, the Separator: chunked streaming separation, full-band masks, Wiener, shifts, the
Python API (any rate, NumPy or torch, equal to what separate.py writes), and checkpoints."""
import re

import numpy as np
import pytest
import soundfile as sf
import torch

from separator_helpers import CPU, RATE, run_separate, save_tiny_checkpoint, song, tiny_model, tiny_separator
from utils.checkpoint import save_checkpoint
from utils.errors import UserError
from vocal_separation_sanity_check.audio import DEFAULT_STFT, STFTSettings, resample
from vocal_separation_sanity_check.filtering import wiener
from vocal_separation_sanity_check.metrics import sdr
from vocal_separation_sanity_check.model import SpectrogramUNet
from vocal_separation_sanity_check.separator import Separator, checkpoint_dict, load_separator
from vocal_separation_sanity_check.sources import fit


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


def test_load_separator_reads_the_settings_from_the_checkpoint(tmp_path):
    separator = load_separator(save_tiny_checkpoint(tmp_path / "m.pth", ["vocals", "drums"]), CPU)
    assert separator.targets == ["vocals", "drums"] and separator.settings == DEFAULT_STFT
    assert separator.output_names == ["vocals", "drums", "accompaniment"]


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


def test_shifted_copies_are_averaged_the_same_in_chunks_and_whole():
    mixture = song(3.0)
    settings = STFTSettings(RATE, 1024, 256)  # a smaller STFT keeps the test fast
    plain = Separator(tiny_model(), settings, ["vocals"], CPU, amp=False).separate(mixture)
    chunked = Separator(tiny_model(), settings, ["vocals"], CPU, amp=False, chunk_seconds=0.3, shifts=3)
    whole = Separator(tiny_model(), settings, ["vocals"], CPU, amp=False, chunk_seconds=100, shifts=3)
    offsets = chunked.shift_offsets()
    assert len(set(offsets)) == 3 and offsets.min() >= 0 and offsets.max() < chunked.grid  # within one U-Net grid
    assert list(offsets) == list(whole.shift_offsets())  # one seed, one set of offsets
    shifted = chunked.separate(mixture)
    assert sdr(whole.separate(mixture)["vocals"], shifted["vocals"]) > 60  # chunk joins still invisible
    np.testing.assert_allclose(shifted["vocals"] + shifted["accompaniment"], mixture, atol=1e-5)
    assert sdr(plain["vocals"], shifted["vocals"]) > 20  # an average over other alignments: close to the plain
    assert np.abs(plain["vocals"] - shifted["vocals"]).max() > 1e-4  # separation, yet not the same
    another_seed = Separator(tiny_model(), settings, ["vocals"], CPU, amp=False, shifts=3, seed=1)
    assert list(another_seed.shift_offsets()) != list(offsets)


def test_two_stems_gives_the_target_and_the_rest():
    mixture = song(2.0)
    four = tiny_separator(("vocals", "drums", "bass", "other"))
    all_stems = four.separate(mixture)
    drums = tiny_separator(("vocals", "drums", "bass", "other"), two_stems="drums")
    assert drums.output_names == ["drums", "no_drums"]
    stems = drums.separate(mixture)
    np.testing.assert_allclose(stems["drums"], all_stems["drums"], atol=1e-6)
    np.testing.assert_allclose(stems["drums"] + stems["no_drums"], mixture, atol=1e-5)
    assert tiny_separator(("vocals", "drums", "bass", "other"), two_stems="vocals").output_names == \
        ["vocals", "accompaniment"]  # Spleeter's name for what is not the voice
    with pytest.raises(UserError, match="--two-stems guitar: this model separates vocals, drums, bass, other"):
        tiny_separator(("vocals", "drums", "bass", "other"), two_stems="guitar")


def test_the_api_takes_numpy_or_torch_at_any_rate_and_returns_that_rate_and_length():
    separator = tiny_separator()
    mixture = resample(song(2.0), RATE, 48000)[:, :95999]  # 48 kHz, odd length
    stems = separator.separate(mixture, 48000)
    assert {name: audio.shape for name, audio in stems.items()} == {"vocals": (2, 95999), "accompaniment": (2, 95999)}
    assert all(audio.dtype == np.float32 and np.all(np.isfinite(audio)) for audio in stems.values())
    np.testing.assert_allclose(stems["vocals"] + stems["accompaniment"], mixture, atol=1e-5)  # at 48 kHz, exactly
    from_torch = separator.separate(torch.from_numpy(mixture), 48000)
    np.testing.assert_array_equal(from_torch["vocals"], stems["vocals"])
    mono = separator.separate(resample(song(2.0)[:1], RATE, 22050), 22050)
    assert mono["vocals"].shape == (1, 44100)
    for audio, message in ((np.zeros((3, RATE)), "has 3 channels; the model takes mono or stereo"),
                           (np.zeros((RATE, 2)), "has 44100 channels"),  # (samples, channels) by mistake
                           (np.zeros(RATE), "give (channels, samples)")):
        with pytest.raises(UserError, match=re.escape(message)):
            separator.separate(audio, RATE)


def test_another_rate_is_separated_as_if_resampled_whole_both_ways():
    """Streaming through the resampler in blocks changes nothing: the same as resampling the whole song to the
    model's rate, separating, and resampling the targets back (the rest is the mixture minus them)."""
    separator = tiny_separator(chunk_seconds=0.5)
    mixture = resample(song(3.0), RATE, 32000)
    streamed = separator.separate(mixture, 32000)
    at_model_rate = separator.separate(resample(mixture, 32000, RATE))
    vocals = fit(resample(at_model_rate["vocals"], RATE, 32000), mixture.shape[1])
    np.testing.assert_allclose(streamed["vocals"], vocals, atol=1e-5)
    np.testing.assert_allclose(streamed["accompaniment"], mixture - vocals, atol=1e-5)


def test_the_api_gives_what_separate_py_writes(tmp_path):
    model = save_tiny_checkpoint(tmp_path / "vocals.pth", ["vocals"])
    mixture = resample(song(2.0), RATE, 48000)
    sf.write(tmp_path / "song.wav", mixture.T, 48000, subtype="FLOAT")
    result = run_separate("-m", model, "-i", tmp_path / "song.wav", "-o", tmp_path / "out", "--bit-depth", "32",
                          "--device", "cpu")
    assert result.returncode == 0, result.stderr
    separator = Separator.from_checkpoint(model, device="cpu")  # the same defaults as separate.py's
    stems = separator.separate(mixture, 48000)
    for name in ("vocals", "accompaniment"):
        written, rate = sf.read(tmp_path / "out" / "song" / f"{name}.wav", dtype="float32", always_2d=True)
        assert rate == 48000
        np.testing.assert_allclose(written.T, stems[name], atol=1e-6)
