"""training.py's data pipeline: tracks indexed from their headers, examples streamed from disk equal to the
in-memory ones, memory that does not grow with the number of tracks, bounded validation, MUSDB18's validation
split, bad files as one-line errors (also from a DataLoader worker)."""
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch
from torch.utils.data import DataLoader

from audio_helpers import RATE, synthetic_stems, write_musdb_track
from conftest import REPO_ROOT
from utils.errors import UserError
from vocal_separation_sanity_check.audio import DEFAULT_STFT
from vocal_separation_sanity_check.transforms import stft_tensor
from vocal_separation_sanity_check.tracks import MUSDB_VALIDATION_TRACKS, find_tracks, index_track
from vocal_separation_sanity_check.training import (AudioExcerpts, RemixDataset, build_training_data,
                                                    drop_short_tracks, plan_training_data, worker_error_message)

TARGETS = ["vocals"]


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("songs")
    for seed in range(3):
        write_musdb_track(root / "train" / f"song {seed}", synthetic_stems(4.0, seed))
    return root


def test_index_reads_rate_channels_and_length_from_the_headers(root):
    track = index_track(find_tracks(root, "train")[0], ["vocals", "accompaniment"])
    assert (track.sample_rate, track.channels, track.frames) == (RATE, 2, 4 * RATE)
    assert sorted(track.paths) == ["bass", "drums", "mixture", "other", "vocals"]


def test_a_stem_that_disagrees_with_its_mixture_names_both_files(tmp_path):
    folder = write_musdb_track(tmp_path / "train" / "odd", synthetic_stems(2.0))
    sf.write(folder / "vocals.wav", np.zeros((RATE, 2), np.float32), 48000)
    with pytest.raises(UserError, match=r"mixture.wav has 44100 Hz but .*vocals.wav has 48000; export all stems"):
        index_track(find_tracks(tmp_path, "train")[0], TARGETS)
    (folder / "vocals.wav").write_bytes(b"RIFF not really a wav file")
    with pytest.raises(UserError, match=r"vocals.wav: cannot read this audio file"):
        index_track(find_tracks(tmp_path, "train")[0], TARGETS)


def plans(root, shifts):
    plan = plan_training_data(root, TARGETS, DEFAULT_STFT, valid_seconds=10, valid_tracks=14)
    memory = build_training_data(plan, TARGETS, DEFAULT_STFT, 128, shifts, "memory")
    stream = build_training_data(plan, TARGETS, DEFAULT_STFT, 128, shifts, "stream")
    return plan, memory, stream


def test_streamed_examples_equal_the_in_memory_ones_for_a_seed(root):
    _, memory, stream = plans(root, [0.0])
    assert memory.kind == "memory" and stream.kind == "stream"
    assert [memory.frames(song) for song in range(len(memory))] == [stream.frames(song) for song in range(3)]
    cached = RemixDataset(memory, TARGETS, patch_frames=32, length=6, seed=5)
    streamed = RemixDataset(stream, TARGETS, patch_frames=32, length=6, seed=5)
    for index in range(6):
        expected = cached[index]  # (sources, 2, 128 bins, 32 frames), complex
        audio = streamed[index]  # (sources, 2, samples)
        assert audio.shape == (2, 2, DEFAULT_STFT.n_fft + 31 * DEFAULT_STFT.hop_length)
        spectrogram = stft_tensor(audio, DEFAULT_STFT, center=False)[..., :128, :]
        torch.testing.assert_close(spectrogram, expected, atol=2e-4 * expected.abs().max().item(), rtol=0)


def test_streamed_speed_changes_give_the_same_spectra_as_the_cache_roughly(root):
    """With speed changes the stream resamples excerpts, the cache whole songs: the same music, not the same
    last bits (filter edges); the energy of each example agrees within a few percent."""
    _, memory, stream = plans(root, [-2.0, 0.0, 2.0])
    assert [memory.frames(song) for song in range(9)] == [stream.frames(song) for song in range(9)]
    cached = RemixDataset(memory, TARGETS, patch_frames=32, length=8, seed=1)
    streamed = RemixDataset(stream, TARGETS, patch_frames=32, length=8, seed=1,
                            spectrograms_of=(DEFAULT_STFT, 128))
    for index in range(8):
        expected, got = cached[index], streamed[index]
        assert got.shape == expected.shape and got.is_complex()
        ratio = got.abs().square().sum() / expected.abs().square().sum()
        assert 0.9 < ratio < 1.1, (index, ratio)


def test_each_process_draws_its_own_examples(root):
    _, _, stream = plans(root, [0.0])
    first, second = (RemixDataset(stream, TARGETS, 32, 4, seed=seed) for seed in (0, 1))  # rank 0, rank 1
    assert not torch.equal(first[0], second[0])
    assert torch.equal(first[0], RemixDataset(stream, TARGETS, 32, 4, seed=0)[0])  # and repeatably


def test_validation_is_a_bounded_set_of_excerpts(tmp_path):
    for number in range(5):
        write_musdb_track(tmp_path / "train" / f"song {number}", synthetic_stems(10.0, number))
    plan = plan_training_data(tmp_path, TARGETS, DEFAULT_STFT, valid_seconds=1, valid_tracks=3)
    assert len(plan.validation) == 3 and plan.usable_fraction == pytest.approx(0.85)
    assert [name for name, _, _ in plan.validation] == ["song 0", "song 2", "song 4"]  # spread over the set
    for name, mixture, sources in plan.validation:
        whole = sf.read(tmp_path / "train" / name / "mixture.wav", dtype="float32")[0].T
        start = int(0.85 * whole.shape[1])  # 1 s from the start of the held-out end (1.5 s long)
        np.testing.assert_array_equal(mixture, whole[:, start: start + RATE])
        assert sources["vocals"].shape == (2, RATE)


def test_musdb_validation_tracks_in_train_are_used_to_validate(tmp_path):
    names = list(MUSDB_VALIDATION_TRACKS[:2]) + ["A Training Song - One", "A Training Song - Two"]
    for number, name in enumerate(names):
        write_musdb_track(tmp_path / "train" / name, synthetic_stems(3.0, number))
    plan = plan_training_data(tmp_path, TARGETS, DEFAULT_STFT, valid_seconds=2, valid_tracks=14)
    assert sorted(track.name for track in plan.train) == names[2:] and plan.usable_fraction == 1.0
    assert sorted(name for name, _, _ in plan.validation) == sorted(names[:2])
    assert "MUSDB18 validation split" in plan.validation_source


def test_short_tracks_are_skipped_with_a_warning_or_refused(root, caplog):
    tracks = [index_track(track, TARGETS) for track in find_tracks(root, "train")]
    short = index_track(find_tracks(write_musdb_track(root.parent / "short" / "train" / "tiny",
                                                      synthetic_stems(1.0)).parent.parent, "train")[0], TARGETS)
    kept = drop_short_tracks(tracks + [short], 64, [0.0], 0.85, DEFAULT_STFT)
    assert [track.name for track in kept] == [track.name for track in tracks]
    assert "tiny" in caplog.text and "skipped, too short for --patch-frames 64" in caplog.text
    with pytest.raises(UserError, match=r"--patch-frames 64: the longest training song has only \d+ frames"):
        drop_short_tracks([short], 64, [0.0], 0.85, DEFAULT_STFT)


def test_a_file_that_fails_mid_training_is_one_line_from_a_worker(root, tmp_path):
    track = index_track(find_tracks(root, "train")[0], TARGETS)
    broken = tmp_path / "vocals.wav"
    broken.write_bytes(b"this is not audio")
    track = type(track)(track.name, {**track.paths, "vocals": broken}, track.sample_rate, track.channels, track.frames)
    loader = DataLoader(RemixDataset(AudioExcerpts([track], TARGETS, DEFAULT_STFT, [0.0]), TARGETS, 16, 4, seed=0),
                        batch_size=2, num_workers=1)
    with pytest.raises(UserError) as caught:
        next(iter(loader))
    message = worker_error_message(caught.value)
    assert "\n" not in message and message.startswith(f"{broken}: cannot read samples")


MEMORY_PROBE = """
import resource, sys
from pathlib import Path
from vocal_separation_sanity_check.audio import DEFAULT_STFT
from vocal_separation_sanity_check.training import RemixDataset, build_training_data, plan_training_data
plan = plan_training_data(Path(sys.argv[1]), ["vocals"], DEFAULT_STFT, 2, 2)
data = build_training_data(plan, ["vocals"], DEFAULT_STFT, 512, [-1.0, 0.0, 1.0], "stream")
dataset = RemixDataset(data, ["vocals"], 64, 64, seed=0)
for index in range(64):
    dataset[index]
print(data.kind, len(plan.train), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""


def test_memory_does_not_grow_with_the_number_of_tracks(tmp_path):
    """60 tracks of 20 s against 3: the same peak memory (hard links make the big set cheap to build)."""
    source = write_musdb_track(tmp_path / "source", synthetic_stems(20.0))
    for count in (3, 60):
        for number in range(count):
            folder = tmp_path / f"set{count}" / "train" / f"song {number:03d}"
            folder.mkdir(parents=True)
            for path in source.iterdir():
                os.link(path, folder / path.name)
    peaks = {}
    for count in (3, 60):
        result = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(tmp_path / f"set{count}")],
                                capture_output=True, text=True, cwd=REPO_ROOT, timeout=300)
        assert result.returncode == 0, result.stderr
        kind, tracks, peak = result.stdout.split()
        peaks[count] = int(peak)
        assert kind == "stream" and int(tracks) == count
    assert peaks[60] - peaks[3] < 40, peaks  # MB


def test_a_streamed_source_reads_only_its_own_files(root):
    track = index_track(find_tracks(root, "train")[0], ["vocals", "accompaniment"])
    assert track.files_for(["vocals"], with_mixture=False) == ["vocals"]  # a remixed vocal: one file
    assert track.files_for(["vocals"], with_mixture=True) == ["mixture", "vocals"]  # the rest needs the mixture
    assert track.files_for(["accompaniment"], with_mixture=False) == ["drums", "bass", "other"]
    pair = type(track)(track.name, {"mixture": track.paths["mixture"], "vocals": track.paths["vocals"]},
                       track.sample_rate, track.channels, track.frames)
    assert pair.files_for(["accompaniment"], with_mixture=False) == ["mixture", "vocals"]  # mixture - vocals


def test_input_normalization_is_measured_on_streamed_excerpts_too(root):
    from vocal_separation_sanity_check.model import SpectrogramUNet
    from vocal_separation_sanity_check.training import input_statistics, mixture_spectrograms

    _, memory, stream = plans(root, [-1.0, 0.0, 1.0])
    model = SpectrogramUNet(1, max_bin=128, base_channels=4)
    whole = input_statistics(model, mixture_spectrograms(memory))  # every song, whole
    excerpts = input_statistics(model, mixture_spectrograms(stream))  # excerpts at the original speed
    for measured, expected in zip(excerpts, whole):
        assert measured.shape == (model.row_count(128),) and torch.isfinite(measured).all()
        assert (measured - expected).abs().mean() < 0.1 * expected.abs().mean() + 0.05  # the same songs, sampled


# The CPU's pool of segments (SpectrogramPool): large sets on a CPU


def pool(root, slots: int, workers: int, renewed: int = 1, shifts=(0.0,), seed: int = 0):
    from vocal_separation_sanity_check.training import PoolPlan, SpectrogramPool

    plan = plan_training_data(root, TARGETS, DEFAULT_STFT, valid_seconds=10, valid_tracks=14)
    excerpts = AudioExcerpts(plan.train, TARGETS, DEFAULT_STFT, list(shifts), plan.usable_fraction)
    return SpectrogramPool(excerpts, 128, slots, PoolPlan(renewed, workers, seed, segment_frames=43))  # 1 s


def test_pooled_segments_are_the_cached_spectrograms_of_random_stretches(root):
    _, memory, _ = plans(root, [0.0])
    data = pool(root, slots=4, workers=0)  # segments of 43 frames from songs of 3.4 s (146 frames)
    data.start_epoch(1)
    assert len(data) == 4
    for slot in range(4):
        song, start, frames = data.draw(slot)
        assert frames == 43 and data.frames(slot) == 43
        for name in TARGETS + ["rest"]:
            expected = memory.spectrograms[song][name][:, :, start: start + frames]
            torch.testing.assert_close(torch.from_numpy(data.segments[slot][name]), torch.from_numpy(expected),
                                       atol=2e-4 * np.abs(expected).max(), rtol=0)
    item = RemixDataset(data, TARGETS, patch_frames=32, length=2, seed=0)[0]
    assert item.shape == (2, 2, 128, 32) and item.is_complex()


def test_the_pool_renews_a_few_segments_per_epoch_the_same_in_the_background(root):
    background, main = pool(root, 5, workers=1, renewed=2), pool(root, 5, workers=0, renewed=2)
    try:
        history = []
        for epoch in (1, 2, 3):
            background.start_epoch(epoch)
            main.start_epoch(epoch)
            for ours, theirs in zip(background.segments, main.segments):
                np.testing.assert_array_equal(ours["vocals"], theirs["vocals"])  # the same for a seed
            history.append([segment["rest"].copy() for segment in main.segments])
        assert [len(slots) for slots in history] == [5, 5, 5]
        renewed = [not np.array_equal(before, after) for before, after in zip(history[1], history[2])]
        assert renewed == [False, False, True, True, False]  # epoch 3: segments 7 and 8 replaced the oldest, 2 and 3
        resumed = pool(root, 5, workers=0, renewed=2)  # --resume before epoch 3: the same pool
        resumed.start_epoch(3)
        for ours, theirs in zip(resumed.segments, main.segments):
            np.testing.assert_array_equal(ours["rest"], theirs["rest"])
    finally:
        background.close()


def test_data_auto_over_budget_pools_on_a_cpu_and_streams_on_a_gpu(root, monkeypatch, caplog):
    from vocal_separation_sanity_check import training

    caplog.set_level("INFO")
    plan = plan_training_data(root, TARGETS, DEFAULT_STFT, valid_seconds=10, valid_tracks=14)
    monkeypatch.setattr(training, "physical_memory", lambda: 2 * 2**20)  # budget: a quarter, 0.5 MB
    pool_plan = training.PoolPlan.for_training(16, 32, DEFAULT_STFT, 0, 0)
    data = build_training_data(plan, TARGETS, DEFAULT_STFT, 128, [0.0], "auto", "cpu", pool_plan)
    assert pool_plan.segment_frames == 431 and pool_plan.renewed_per_epoch == 1  # 10 s
    assert training.pool_segment_bytes(data.excerpts, 128, 431) == 431 * 2 * 128 * 8 * 2  # 1.8 MB
    assert data.kind == "pool" and data.slots == 1  # 40% of the budget holds none: at least one
    assert "Training data: a pool of 1 random 10-s segments' spectrograms in RAM" in caplog.text
    assert "1 renewed per epoch from 3 tracks by the main process(es)" in caplog.text
    assert build_training_data(plan, TARGETS, DEFAULT_STFT, 128, [0.0], "auto", "cuda").kind == "stream"


def test_pool_renewal_keeps_each_frame_for_at_most_sixteen_patch_frames():
    from vocal_separation_sanity_check.training import PoolPlan

    # CPU defaults: 256 patches of 64 frames an epoch, 431-frame segments: 16384 / (16 * 431) -> 3 segments
    assert PoolPlan.for_training(256, 64, DEFAULT_STFT, 1, 0) == PoolPlan(3, 1, 0, 431)
    assert PoolPlan.for_training(6400, 256, DEFAULT_STFT, 1, 0) == PoolPlan(200, 1, 0, 512)  # the GPU preset's
    assert PoolPlan.for_training(8, 16, DEFAULT_STFT, 1, 0).renewed_per_epoch == 1  # at least one
