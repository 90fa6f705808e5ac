"""masking.py, metrics.py and evaluate.py: masks, SDR values checked by hand, evaluation files on disk."""
import csv
import json
import logging
import subprocess
import sys

import numpy as np
import pytest

from vocal_separation_sanity_check import evaluate
from vocal_separation_sanity_check import metrics
from vocal_separation_sanity_check import summary as song_summary
from vocal_separation_sanity_check.audio import DEFAULT_STFT, write_audio
from vocal_separation_sanity_check.transforms import istft, stft
from vocal_separation_sanity_check.masking import apply_mask, ideal_ratio_masks, oracle_separation
from audio_helpers import RATE, synthetic_stems, write_musdb_track
from vocal_separation_sanity_check.tracks import find_tracks, load_track
from utils.errors import UserError


def test_sdr_of_identical_scaled_and_noisy_signals():
    rng = np.random.default_rng(0)
    reference = rng.standard_normal((2, 1000)).astype(np.float32)
    assert metrics.sdr(reference, reference) > 80
    assert metrics.sdr(reference, 0.5 * reference) == pytest.approx(10 * np.log10(4), abs=1e-4)  # error = ref / 2
    assert metrics.sdr(reference, np.zeros_like(reference)) == pytest.approx(0.0, abs=1e-6)  # silence: 0 dB
    noise = rng.standard_normal((2, 1000))
    expected = 10 * np.log10(np.sum(reference.astype(np.float64) ** 2) / np.sum((0.1 * noise) ** 2))
    assert metrics.sdr(reference, reference + 0.1 * noise) == pytest.approx(expected, abs=1e-4)
    with pytest.raises(ValueError, match="shape"):
        metrics.sdr(reference, reference[:, :-1])


def test_framewise_sdr_is_the_median_over_non_silent_frames():
    rate = 100
    reference = np.ones((1, 5 * rate), dtype=np.float32)
    reference[:, :rate] = 0  # a silent first second is skipped, not scored
    estimate = reference.copy()
    for second, error in zip(range(1, 5), (0.1, 0.2, 0.5, 0.9)):
        estimate[:, second * rate: (second + 1) * rate] += error
    per_frame = [10 * np.log10(1 / error**2) for error in (0.1, 0.2, 0.5, 0.9)]
    assert metrics.framewise_sdr(reference, estimate, rate) == pytest.approx(np.median(per_frame), abs=1e-3)
    assert np.isnan(metrics.framewise_sdr(np.zeros((1, 300)), np.ones((1, 300)), rate))


def test_bsseval_without_museval_returns_none_with_a_note(monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "museval", None)  # makes `import museval` raise ImportError
    metrics._import_museval.cache_clear()
    try:
        with caplog.at_level(logging.INFO):
            reference = np.ones((2, RATE), np.float32)
            assert metrics.bsseval_v4({"vocals": reference}, {"vocals": reference}, RATE) is None
        assert "museval not available" in caplog.text
    finally:
        metrics._import_museval.cache_clear()


def test_masks_sum_to_one_and_an_all_ones_mask_returns_the_mixture():
    rng = np.random.default_rng(1)
    magnitudes = {name: rng.random((2, 5, 7)).astype(np.float32) + 0.1 for name in ("a", "b", "c")}
    for power in (1.0, 2.0):
        masks = ideal_ratio_masks(magnitudes, power=power)
        np.testing.assert_allclose(sum(masks.values()), 1.0, atol=1e-5)
    wiener = ideal_ratio_masks(magnitudes, power=2.0)["a"]
    np.testing.assert_allclose(wiener, magnitudes["a"] ** 2 / sum(m**2 for m in magnitudes.values()), rtol=1e-4)

    mixture = rng.standard_normal((2, RATE // 2)).astype(np.float32)
    spectrogram = stft(mixture)
    restored = istft(apply_mask(spectrogram, np.ones(spectrogram.shape, np.float32)), length=mixture.shape[1])
    assert np.max(np.abs(restored - mixture)) < 1e-4
    with pytest.raises(ValueError, match="mask shape"):
        apply_mask(spectrogram, np.ones((1, 2, 3)))


def test_oracle_beats_the_mixture_by_a_wide_margin():
    stems = synthetic_stems(2.0, seed=3)
    vocals = stems["vocals"]
    mixture = sum(stems.values())
    estimates = oracle_separation(mixture, {"vocals": vocals, "accompaniment": mixture - vocals}, DEFAULT_STFT)
    assert estimates["vocals"].shape == mixture.shape
    np.testing.assert_allclose(estimates["vocals"] + estimates["accompaniment"], mixture, atol=1e-3)  # masks sum to 1
    assert metrics.sdr(vocals, estimates["vocals"]) > metrics.sdr(vocals, mixture) + 10


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """ROOT/test/{song_a, song_b} plus estimates/<track>/vocals.wav = vocals + a known error."""
    root = tmp_path_factory.mktemp("evaluation")
    references = {}
    for seed, name in enumerate(("song_b", "song_a")):
        stems = synthetic_stems(2.0, seed=seed)
        write_musdb_track(root / "data" / "test" / name, stems)
        error = 0.1 * np.roll(stems["vocals"], 5000, axis=1)
        write_audio(root / "estimates" / name / "vocals.wav", stems["vocals"] + error, RATE)
        references[name] = stems["vocals"]
    return root, references


def test_evaluate_estimates_end_to_end(dataset):
    root, references = dataset
    out = root / "results"
    result = subprocess.run(
        [sys.executable, evaluate.__file__, "--root", root / "data", "--estimates", root / "estimates",
         "--targets", "vocals", "--out", out], capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "Summary over 2 track(s)" in result.stdout
    results = json.loads((out / "results.json").read_text())
    rows = {(row["track"], row["method"]): row for row in results["tracks"]}
    assert sorted({track for track, _ in rows}) == ["song_a", "song_b"]
    by_hand = {}
    for name, vocals in references.items():
        estimate = vocals + 0.1 * np.roll(vocals, 5000, axis=1)
        by_hand[name] = 10 * np.log10(np.sum(vocals.astype(np.float64) ** 2) / np.sum((estimate - vocals) ** 2.0))
        assert rows[(name, "estimates")]["SDR"] == pytest.approx(by_hand[name], abs=0.01)
        assert rows[(name, "oracle IRM")]["SDR"] > rows[(name, "mixture")]["SDR"] + 10
    summary = {entry["method"]: entry for entry in results["summary"]}
    assert summary["estimates"]["SDR_mean"] == pytest.approx(np.mean(list(by_hand.values())), abs=0.01)
    assert results["stft"] == DEFAULT_STFT.to_dict() and results["targets"] == ["vocals"]
    with open(out / "results.csv") as file:
        csv_rows = list(csv.DictReader(file))
    assert len(csv_rows) == 2 * 3  # tracks x (estimates, oracle IRM, mixture)
    assert float(csv_rows[0]["SDR"]) == pytest.approx(rows[(csv_rows[0]["track"], csv_rows[0]["method"])]["SDR"])
    assert (out / "results.png").stat().st_size > 5000


def test_evaluate_accompaniment_and_no_oracle(dataset, tmp_path):
    root, references = dataset
    for track in find_tracks(root / "data", "test"):  # perfect estimates
        mixture, sources = load_track(track, ["accompaniment"], DEFAULT_STFT)
        write_audio(tmp_path / "estimates" / track.name / "vocals.wav", mixture - sources["accompaniment"], RATE)
        write_audio(tmp_path / "estimates" / track.name / "accompaniment.wav", sources["accompaniment"], RATE)
    summary = evaluate.main(["-r", str(root / "data"), "-e", str(tmp_path / "estimates"), "--no-oracle",
                             "-o", str(tmp_path / "out")])
    assert {entry["method"] for entry in summary} == {"estimates", "mixture"}
    perfect = [entry for entry in summary if entry["method"] == "estimates"]
    assert [entry["target"] for entry in perfect] == ["vocals", "accompaniment"]
    assert all(entry["SDR_mean"] > 60 for entry in perfect)


def test_evaluate_errors(dataset, tmp_path):
    root, _ = dataset
    result = subprocess.run(
        [sys.executable, evaluate.__file__, "-r", root / "data", "-e", root / "estimates", "-t", "vocals", "drums",
         "-o", tmp_path], capture_output=True, text=True,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("ERROR: ") and "song_a/drums.wav: estimate not found" in last_line
    assert "Evaluating" not in result.stderr  # checked before any song is scored

    for name in ("song_a", "song_b"):
        write_audio(tmp_path / "short" / name / "vocals.wav", np.zeros((2, RATE), np.float32), RATE)
    with pytest.raises(UserError, match="song_a/vocals.wav: 2 ch x 44100 samples but the mixture"):
        evaluate.main(["-r", str(root / "data"), "-e", str(tmp_path / "short"), "-t", "vocals", "-o", str(tmp_path)])
    with pytest.raises(UserError, match="--estimates .*nowhere: no such folder"):
        evaluate.main(["-r", str(root / "data"), "-e", str(tmp_path / "nowhere"), "-o", str(tmp_path)])
    with pytest.raises(UserError, match="no such folder"):
        evaluate.main(["-r", str(root / "data"), "-s", "valid", "-e", str(root / "estimates")])


def test_evaluate_a_model_checkpoint(dataset, tmp_path):
    """An untrained separator is enough to check the model path: its outputs are scored, its targets enforced."""
    import torch

    from vocal_separation_sanity_check.model import SpectrogramUNet
    from vocal_separation_sanity_check.separator import save_separator

    root, _ = dataset
    torch.manual_seed(0)
    model = SpectrogramUNet(n_targets=1, base_channels=4)
    save_separator(tmp_path / "model.pth", model, DEFAULT_STFT, ["vocals"])
    args = ["-r", str(root / "data"), "-m", str(tmp_path / "model.pth"), "--no-oracle", "-d", "cpu",
            "-o", str(tmp_path / "out")]
    summary = evaluate.main(args)
    scored = {(entry["method"], entry["target"]) for entry in summary}
    assert scored == {(method, target) for method in ("model", "mixture") for target in ("vocals", "accompaniment")}
    assert all(np.isfinite(entry["SDR_mean"]) for entry in summary)
    with pytest.raises(UserError, match="--targets drums: the model gives only vocals, accompaniment"):
        evaluate.main(args + ["-t", "drums"])


def test_the_summary_is_the_mean_of_song_sdrs_and_the_median_of_song_medians():
    """Three songs of known values: the mean, the median and the max over songs all differ, so a swap of the
    aggregation fails here. evaluate.py prints, saves and shows (--report) this one function's result."""
    rows = [{"track": track, "target": "vocals", "method": "model", "SDR": whole, "SDR_median": median,
             "museval_SDR": museval}
            for track, whole, median, museval in (("a", 1.0, 0.0, 3.0), ("b", 2.0, 5.0, -1.0), ("c", 9.0, 6.0, 10.0))]
    rows += [dict(row, method="mixture", SDR=-row["SDR"]) for row in rows]
    entries = song_summary.summarize(rows)
    assert [(entry["method"], entry["target"], entry["tracks"]) for entry in entries] == [
        ("model", "vocals", 3), ("mixture", "vocals", 3)]
    model = entries[0]
    assert model["SDR_mean"] == pytest.approx(4.0)  # not the median 2, nor the max 9
    assert model["SDR_median"] == pytest.approx(5.0)  # not the mean 3.67, nor the max 6
    assert model["museval_SDR"] == pytest.approx(3.0)  # not the mean 4, nor the max 10
    assert entries[1]["SDR_mean"] == pytest.approx(-4.0)
    silent = rows[:3] + [dict(rows[0], track="d", SDR=4.0, SDR_median=float("nan"))]  # a song with no vocal
    assert song_summary.summarize(silent)[0]["SDR_median"] == pytest.approx(5.0)  # its NaN is left out
    assert evaluate.summarize is song_summary.summarize  # the printout's, results.json's and the page's
