"""The 'other' stem: one or two instruments playing the chords, an instrumental lead, sometimes an arpeggio."""
from collections.abc import Callable
from functools import partial

import numpy as np

from vocal_separation_sanity_check.demo_songs.dsp import add_reverb, normalized
from vocal_separation_sanity_check.demo_songs.guitars import distorted_guitar, picked_guitar, strummed_guitar
from vocal_separation_sanity_check.demo_songs.keyboards import arpeggio, pad_or_organ, piano
from vocal_separation_sanity_check.demo_songs.lead import lead_line
from vocal_separation_sanity_check.demo_songs.plan import Note, SongPlan

ChordPart = Callable[[SongPlan, np.random.Generator, list[int]], np.ndarray]  # (plan, rng, bars) -> (2, n)
CHORD_INSTRUMENTS: dict[str, ChordPart] = {
    "strummed_guitar": strummed_guitar, "picked_guitar": picked_guitar, "distorted_guitar": distorted_guitar,
    "piano": piano, "pad": partial(pad_or_organ, organ=False), "organ": partial(pad_or_organ, organ=True),
}
CHORD_PARTS = tuple(CHORD_INSTRUMENTS)


def chord_parts(rng: np.random.Generator, main_part: str | None) -> list[str]:
    """One or two different chord instruments; the first is `main_part` if given."""
    n_parts = int(rng.integers(1, 3))
    parts = [main_part or str(rng.choice(CHORD_PARTS))]
    if n_parts == 2:
        parts.append(str(rng.choice([part for part in CHORD_PARTS if part != parts[0]])))
    return parts


def render_other(plan: SongPlan, rng: np.random.Generator, phrases: list[list[Note]],
                 main_part: str | None = None) -> np.ndarray:
    """One or two chord parts (the first is `main_part` if given), the lead line, sometimes an arpeggio."""
    every_bar = list(range(plan.n_bars))
    choruses = [bar for bar in every_bar if plan.sections[bar] in ("chorus", "outro")]
    track = np.zeros((2, plan.n_samples))
    for i, part in enumerate(chord_parts(rng, main_part)):
        bars = every_bar
        if i == 1 and choruses and rng.random() < 0.5:  # a second part can join in the choruses only
            bars = choruses
        track += normalized(CHORD_INSTRUMENTS[part](plan, rng, bars)) * 10 ** (rng.uniform(-3, 2) / 20)
    track += normalized(lead_line(plan, rng, phrases)) * 10 ** (rng.uniform(-3, 2) / 20)
    if rng.random() < 0.35:
        track += normalized(arpeggio(plan, rng, choruses or every_bar)) * 10 ** (rng.uniform(-8, -3) / 20)
    return add_reverb(track, rng, plan.sample_rate, rt60=(0.6, 1.8), wet_db=(-18, -10))
