"""sources.py: songs read in blocks at any rate, in bounded memory, equal to reading and resampling them whole."""
import re

import numpy as np
import pytest
import soundfile as sf

from separator_helpers import RATE, song
from utils.errors import UserError
from vocal_separation_sanity_check.audio import resample
from vocal_separation_sanity_check.sources import (INPUT_BLOCK_SECONDS, array_source, excerpt, open_audio,
                                                   resample_blocks, resampled)


def test_a_file_at_another_rate_is_streamed_in_bounded_memory_and_equals_resampling_it_whole(tmp_path):
    mixture = resample(song(12.0), RATE, 48000)
    sf.write(tmp_path / "song.wav", mixture.T, 48000, subtype="FLOAT")
    source = open_audio(tmp_path / "song.wav")
    assert (source.sample_rate, source.length, source.channels) == (48000, mixture.shape[1], 2)
    at_model_rate = resampled(source, RATE)
    whole = resample(mixture, 48000, RATE)
    assert at_model_rate.length == whole.shape[1]
    # Overlapping blocks in increasing order, as separate_blocks() reads them (1 s blocks, 0.5 s context)
    block, context = RATE, RATE // 2
    for start in range(0, at_model_rate.length, block):
        first, stop = max(0, start - context), min(at_model_rate.length, start + block + context)
        np.testing.assert_allclose(at_model_rate.read(first, stop), whole[:, first:stop], atol=1e-6)
        # What the reader holds: from this block's start, plus a second or two read ahead, never the whole song
        held = at_model_rate.read.buffer.shape[1]
        assert held <= (stop - first) + 2 * INPUT_BLOCK_SECONDS * RATE
    with pytest.raises(ValueError, match="increasing order"):
        at_model_rate.read(0, 100)


def test_resampled_blocks_come_back_at_exactly_the_length_asked_for():
    audio = resample(song(3.0), RATE, 32000)[:, :-13]
    blocks = [audio[:, start:start + 7000] for start in range(0, audio.shape[1], 7000)]
    length = round(audio.shape[1] * 48000 / 32000) + 1  # one more than soxr gives: padded
    joined = np.concatenate(list(resample_blocks(blocks, 32000, 48000, length)), axis=1)
    assert joined.shape == (2, length)
    whole = resample(audio, 32000, 48000)
    np.testing.assert_allclose(joined[:, : whole.shape[1]], whole, atol=1e-6)
    same_rate = list(resample_blocks(blocks, 32000, 32000, audio.shape[1]))
    assert all(a is b for a, b in zip(same_rate, blocks))  # nothing done at the same rate


def test_an_excerpt_reads_its_part_and_stops_at_the_end():
    audio = song(3.0)
    source = array_source(audio, RATE, "song.wav")
    part = excerpt(source, 0.5, 1.0)
    assert part.length == RATE
    np.testing.assert_array_equal(part.read(100, 200), audio[:, RATE // 2 + 100: RATE // 2 + 200])
    assert excerpt(source, 2.5, 10.0).length == RATE // 2  # a duration past the end: to the end
    assert excerpt(source) is source
    for start, duration, message in ((3.0, None, "--start 3: past the end of song.wav (3.0 s long)"),
                                     (-1.0, None, "--start -1: must be 0 or more seconds"),
                                     (0.0, 0.0, "--duration 0: must be a positive number of seconds")):
        with pytest.raises(UserError, match=re.escape(message)):
            excerpt(source, start, duration)
