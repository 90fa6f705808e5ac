"""One song: the plan, each stem from its own random generator, and the mix."""
import numpy as np

from vocal_separation_sanity_check.audio import DEFAULT_STFT
from vocal_separation_sanity_check.demo_songs.bass import render_bass
from vocal_separation_sanity_check.demo_songs.drums import render_drums
from vocal_separation_sanity_check.demo_songs.dsp import active_rms, normalized
from vocal_separation_sanity_check.demo_songs.other import render_other
from vocal_separation_sanity_check.demo_songs.plan import plan_song
from vocal_separation_sanity_check.demo_songs.vocals import render_vocals, vocal_phrases
from vocal_separation_sanity_check.demo_songs.voice import random_singer
from vocal_separation_sanity_check.tracks import STEM_NAMES


def mix(stems: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Level the stems (vocals -6..+3 dB against the band), then scale all by one factor so that the
    mixture peaks below 1. The mixture is the float32 sum of the float32 stems, so files add up exactly."""
    levels = {"drums": 0.0, "bass": rng.uniform(-4, 1), "other": rng.uniform(-4, 1)}
    stems = dict(stems)
    for name, level in levels.items():
        stems[name] = normalized(stems[name]) * 10 ** (level / 20)
    band = active_rms(stems["drums"] + stems["bass"] + stems["other"])
    stems["vocals"] = normalized(stems["vocals"]) * band * 10 ** (rng.uniform(-6, 3) / 20)
    peak = np.abs(sum(stems.values())).max()
    scale = rng.uniform(0.5, 0.95) / peak
    song = {name: (stems[name] * scale).astype(np.float32) for name in STEM_NAMES}
    mixture = song["vocals"] + song["drums"] + song["bass"] + song["other"]
    return {"mixture": mixture, **song}


def make_song(rng_or_seed: np.random.Generator | int, seconds: float, sample_rate: int = DEFAULT_STFT.sample_rate,
              main_part: str | None = None, voice: str | None = None) -> dict[str, np.ndarray]:
    """One song in memory: {'mixture', 'vocals', 'drums', 'bass', 'other'} -> float32 (2, samples) arrays.

    'mixture' is the sum of the four stems. The same seed (or generator state) gives the same song.
    `main_part` (one of CHORD_PARTS) and `voice` ("male", "female") fix those two choices; None draws them.
    """
    rng = rng_or_seed if isinstance(rng_or_seed, np.random.Generator) else np.random.default_rng(rng_or_seed)
    plan = plan_song(rng, seconds, sample_rate)
    # each stem draws from its own generator, so a change in one instrument does not reshuffle the others
    seeds = rng.integers(2 ** 63, size=5)
    vocal_rng, drum_rng, bass_rng, other_rng, mix_rng = (np.random.default_rng(seed) for seed in seeds)
    singer = random_singer(vocal_rng, voice)
    phrases = vocal_phrases(plan, singer, vocal_rng)
    stems = {"vocals": render_vocals(plan, vocal_rng, singer, phrases), "drums": render_drums(plan, drum_rng),
             "bass": render_bass(plan, bass_rng), "other": render_other(plan, other_rng, phrases, main_part)}
    return mix(stems, mix_rng)
