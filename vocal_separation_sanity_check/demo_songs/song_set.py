"""The numbered songs of a set: each song's seed, name, chord instrument and voice."""
import numpy as np

from vocal_separation_sanity_check.demo_songs.other import CHORD_PARTS
from vocal_separation_sanity_check.demo_songs.song import make_song

SPLITS = ("train", "test")
ARTIST_WORDS = (("Velvet", "Paper", "Neon", "Quiet", "Golden", "Northern", "Electric", "Hollow", "Silver", "Wild",
                 "Midnight", "Crimson", "Lonely", "Broken", "Summer", "Glass", "Static", "Amber"),
                ("Harbour", "Foxes", "Lanterns", "Engines", "Rivers", "Satellites", "Pilots", "Gardens", "Echoes",
                 "Horses", "Strangers", "Machines", "Tides", "Ghosts", "Orchard", "Parade"))
TITLE_WORDS = (("Falling", "Running", "Waiting", "Dancing", "Burning", "Drifting", "Holding", "Chasing", "Calling",
                "Fading", "Dreaming", "Breaking"),
               ("Home", "the Light", "Tonight", "Away", "in Circles", "for You", "the Rain", "Slowly", "Upstream",
                "the Line", "on Fire", "Again"))


def track_name(rng: np.random.Generator) -> str:
    """'Artist - Title' with spaces, as MUSDB names its tracks (and safe as a folder name everywhere)."""
    artist = " ".join(str(rng.choice(words)) for words in ARTIST_WORDS)
    title = " ".join(str(rng.choice(words)) for words in TITLE_WORDS)
    return f"{artist} - {title}"


def song_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """Each song has its own seed, so train and test differ and any one song can be remade alone."""
    return np.random.default_rng([seed, SPLITS.index(split), index])


def song_variety(seed: int, split: str, index: int) -> tuple[str, str]:
    """(main chord instrument, voice) of song `index`: songs walk a seed-shuffled cycle of the six chord
    instruments and alternate male and female voices, so 6 songs hold every instrument and 3 voices of each
    kind. Drawn independently, seed 0's 6 training songs had 3 distorted guitars, no pad alone and 4 male
    voices; a model trained on them did worst on a test song of a pad and a female voice.

    Each new cycle swaps the voices, so 12 training songs hold all 12 (instrument, voice) pairs. Test songs
    start half a cycle on and take the voice that the first training cycle did not give their instrument:
    the first 6 test songs share no pair with the first 6 training songs, and the benchmark measures
    combinations the model has not heard.
    """
    cycle = index // len(CHORD_PARTS)
    step = (index + (0 if split == "train" else len(CHORD_PARTS) // 2)) % len(CHORD_PARTS)
    voice_turn = step + cycle + (0 if split == "train" else 1)
    order = np.random.default_rng(seed).permutation(len(CHORD_PARTS))
    return CHORD_PARTS[order[step]], ("male", "female")[voice_turn % 2]


def demo_song(seed: int, split: str, index: int, seconds: float) -> dict[str, np.ndarray]:
    """Song `index` of `split` in the set made with --seed `seed`: what make_demo_songs.py writes, in memory."""
    main_part, voice = song_variety(seed, split, index)
    return make_song(song_rng(seed, split, index), seconds, main_part=main_part, voice=voice)


def planned_tracks(seed: int, n_train: int, n_test: int) -> list[tuple[str, int, str]]:
    """(split, index, track name) for every song; a rare repeated name gets the song number added."""
    tracks = []
    for split, count in (("train", n_train), ("test", n_test)):
        names = set()
        for index in range(count):
            name = track_name(song_rng(seed, split, index))
            if name in names:
                name = f"{name} {index + 1}"
            names.add(name)
            tracks.append((split, index, name))
    return tracks
