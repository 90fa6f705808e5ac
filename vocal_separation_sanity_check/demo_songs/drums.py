"""The drums stem: synthesized kick, snare, hi-hats, toms and cymbals in varied grooves with fills, in a room."""
import numpy as np

from vocal_separation_sanity_check.demo_songs.dsp import add_into, add_reverb, filtered, pan, times
from vocal_separation_sanity_check.demo_songs.plan import SongPlan

Hit = tuple[float, str, float]  # (time s, piece, velocity)


def metallic(t: np.ndarray, base: float, rng: np.random.Generator) -> np.ndarray:
    """Six detuned square waves at inharmonic ratios: the classic drum-machine cymbal."""
    ratios = np.array([1.0, 1.48, 1.8, 2.54, 2.63, 3.9]) * rng.uniform(0.97, 1.03, 6)
    return np.sign(np.sin(2 * np.pi * base * ratios[:, None] * t[None, :] + rng.uniform(0, 6.3, (6, 1)))).sum(0)


def kick(params: np.random.Generator, noise: np.random.Generator, sr: int) -> np.ndarray:
    """A sine whose pitch drops fast, a beater click, and some saturation."""
    t = times(0.6, sr)
    high, low = params.uniform(110, 200), params.uniform(42, 62)
    sweep, decay = params.uniform(0.02, 0.06), params.uniform(0.12, 0.35)
    click_level, drive = params.uniform(0.1, 0.4), params.uniform(1.0, 3.0)
    frequency = low + (high - low) * np.exp(-t / sweep)  # the drum head's pitch drops as it settles
    body = np.sin(2 * np.pi * np.cumsum(frequency) / sr) * np.exp(-t / decay)
    click = filtered(noise.standard_normal(t.size), "highpass", 1500, sr) * np.exp(-t / 0.004) * click_level
    return np.tanh(drive * (body + click)) / np.tanh(drive)


def snare(params: np.random.Generator, noise: np.random.Generator, sr: int) -> np.ndarray:
    """The drum's two lowest modes plus the rattle of the snare wires (band-passed noise)."""
    t = times(0.5, sr)
    tone_hz, tone_level, rattle = params.uniform(170, 240), params.uniform(0.5, 1.2), params.uniform(0.05, 0.12)
    tone = (np.sin(2 * np.pi * tone_hz * t) + 0.6 * np.sin(2 * np.pi * 1.65 * tone_hz * t)) * np.exp(-t / 0.06)
    wires = filtered(noise.standard_normal(t.size), "bandpass", [1500, 9000], sr) * np.exp(-t / rattle)
    return tone_level * tone + wires


def hihat(params: np.random.Generator, noise: np.random.Generator, sr: int,
          decay_range: tuple[float, float]) -> np.ndarray:
    """Metallic squares and noise, high-passed; the decay tells a closed hat from an open one."""
    decay, base, cutoff = params.uniform(*decay_range), params.uniform(300, 450), params.uniform(6000, 9000)
    t = times(min(6 * decay + 0.05, 1.0), sr)
    metal = 0.3 * metallic(t, base, params) + noise.standard_normal(t.size)
    return filtered(metal, "highpass", cutoff, sr, 4) * np.exp(-t / decay)


def cymbal(params: np.random.Generator, noise: np.random.Generator, sr: int, ride: bool) -> np.ndarray:
    """A crash (a long metallic wash) or a ride (clear ringing partials)."""
    decay = params.uniform(1.0, 1.6) if ride else params.uniform(1.3, 2.2)
    t = times(2.6, sr)
    if ride:  # a ride rings with clear inharmonic partials, the stick's ping on top
        partials = params.uniform(2500, 9000, 10)
        decays = params.uniform(0.3, decay, (10, 1))
        tone = (np.sin(2 * np.pi * partials[:, None] * t[None, :]) * np.exp(-t[None, :] / decays)).sum(0)
        hiss = filtered(noise.standard_normal(t.size), "highpass", 5000, sr) * np.exp(-t / 0.25)
        return 0.2 * tone + hiss
    metal = 0.4 * metallic(t, params.uniform(350, 500), params) + noise.standard_normal(t.size)
    envelope = np.exp(-t / decay) * (1 - np.exp(-t / 0.003))
    return filtered(metal, "highpass", params.uniform(3000, 5000), sr, 4) * envelope


def tom(params: np.random.Generator, noise: np.random.Generator, sr: int, base: float) -> np.ndarray:
    """A pitched drum near `base` Hz whose pitch sags after the hit, with some skin noise."""
    t = times(0.8, sr)
    pitch = base * params.uniform(0.9, 1.1)
    frequency = pitch * (1 + 0.5 * np.exp(-t / 0.04))
    body = np.sin(2 * np.pi * np.cumsum(frequency) / sr) * np.exp(-t / params.uniform(0.2, 0.4))
    skin = filtered(noise.standard_normal(t.size), "bandpass", [pitch * 2, pitch * 12], sr) * np.exp(-t / 0.05)
    return body + 0.3 * skin


DRUM_PIECES = {
    "kick": kick, "snare": snare,
    "hat_closed": lambda p, n, sr: hihat(p, n, sr, (0.025, 0.06)),
    "hat_open": lambda p, n, sr: hihat(p, n, sr, (0.2, 0.4)),
    "crash": lambda p, n, sr: cymbal(p, n, sr, ride=False), "ride": lambda p, n, sr: cymbal(p, n, sr, ride=True),
    "tom_high": lambda p, n, sr: tom(p, n, sr, 180), "tom_mid": lambda p, n, sr: tom(p, n, sr, 130),
    "tom_low": lambda p, n, sr: tom(p, n, sr, 90),
}
DRUM_LEVELS = {"kick": 1.0, "snare": 0.8, "hat_closed": 0.25, "hat_open": 0.25, "crash": 0.3, "ride": 0.25,
               "tom_high": 0.7, "tom_mid": 0.7, "tom_low": 0.7}
GROOVES = {  # one bar of 16ths per lane: x hit, g ghost note, o open hi-hat
    "rock": {"kick": "x.....x.x.......", "snare": "....x.......x...", "hat": "x.x.x.x.x.x.x.x."},
    "four": {"kick": "x...x...x...x...", "snare": "....x.......x...", "hat": "..o...o...o...o."},
    "half": {"kick": "x......x..x.....", "snare": "........x.......", "hat": "x.x.x.x.x.x.x.x."},
    "funk": {"kick": "x..x..x...x..x..", "snare": "....x..g.g..x..g", "hat": "xxxxxxxxxxxxxxxx"},
    "hiphop": {"kick": "x.....x..x......", "snare": "....x.......x...", "hat": "x.x.x.x.x.x.x.xo"},
    "ballad": {"kick": "x.......x.x.....", "snare": "....x.......x...", "hat": "x...x...x...x..."},
    "push": {"kick": "x.x...x.x.x.....", "snare": "....x..x.x..x...", "hat": "x.xxx.xxx.xxx.xx"},
}


def groove_hits(plan: SongPlan, rng: np.random.Generator, bar: int, groove: dict[str, str], fill_from: int,
                quiet_snare: bool, ride: bool) -> list[Hit]:
    """One bar of the groove up to the fill, with accented beats, ghost notes and a rare extra kick."""
    hits = []
    for step in range(16):
        for lane, pattern in groove.items():
            if step >= fill_from or pattern[step] == "." or (quiet_snare and lane == "snare"):
                continue
            piece = {"kick": "kick", "snare": "snare", "hat": "hat_closed"}[lane]
            if lane == "hat" and pattern[step] == "o":
                piece = "hat_open"
            if lane == "hat" and ride:
                piece = "ride"
            velocity = 0.3 if pattern[step] == "g" else 1.0
            if lane == "hat":
                velocity = 1.0 if step % 4 == 0 else 0.7  # the beat is accented
            hits.append((plan.sixteenth_time(bar, step), piece, velocity * rng.uniform(0.85, 1.05)))
        if step % 2 == 0 and groove["kick"][step] == "." and step < fill_from and rng.random() < 0.05:
            hits.append((plan.sixteenth_time(bar, step), "kick", rng.uniform(0.5, 0.8)))
    return hits


def fill_hits(plan: SongPlan, rng: np.random.Generator, bar: int, fill_from: int) -> list[Hit]:
    """A fill: snare or toms rolling down, getting louder, into the next bar."""
    drums = ["snare"] if rng.random() < 0.3 else ["tom_high", "tom_mid", "tom_low"]
    hits = []
    for step in range(fill_from, 16):
        if rng.random() < 0.85:
            piece = drums[min(len(drums) - 1, (step - fill_from) * len(drums) // (16 - fill_from))]
            velocity = 0.6 + 0.4 * (step - fill_from) / (16 - fill_from)
            hits.append((plan.sixteenth_time(bar, step), piece, velocity))
    return hits


def drum_hits(plan: SongPlan, rng: np.random.Generator) -> list[Hit]:
    """(time s, piece, velocity) for the whole song: a groove per section, fills, crashes, human timing."""
    names = list(GROOVES)
    verse, chorus = (GROOVES[names[i]] for i in rng.choice(len(names), 2))
    ride_in_chorus = rng.random() < 0.4
    sparse_intro = rng.random() < 0.5
    fill_chance = rng.uniform(0.3, 0.8)
    hits = []
    for bar, section in enumerate(plan.sections):
        groove = chorus if section in ("chorus", "outro") else GROOVES["half"] if section == "break" else verse
        new_section = bar > 0 and section != plan.sections[bar - 1]
        last_of_section = bar + 1 < plan.n_bars and plan.sections[bar + 1] != section
        fill_from = 16
        if (last_of_section or bar % 4 == 3) and bar + 1 < plan.n_bars and rng.random() < fill_chance:
            fill_from = int(rng.choice([8, 12, 12]))
        hits += groove_hits(plan, rng, bar, groove, fill_from, quiet_snare=section == "intro" and sparse_intro,
                            ride=section == "chorus" and ride_in_chorus)
        if new_section or (bar == 0 and plan.n_bars > 4 and rng.random() < 0.5):
            hits.append((plan.sixteenth_time(bar, 0), "crash", rng.uniform(0.8, 1.0)))
        if fill_from < 16:
            hits += fill_hits(plan, rng, bar, fill_from)
    return [(time + rng.normal(0, 0.004), piece, velocity) for time, piece, velocity in hits]


def drum_kit(plan: SongPlan, rng: np.random.Generator) -> dict[str, list[np.ndarray]]:
    """Each piece as three stereo hits, panned where it stands in the kit."""
    side = float(rng.choice([-1, 1]))  # drummer's or audience's view
    positions = {"kick": 0.0, "snare": rng.uniform(-0.1, 0.1), "hat_closed": side * rng.uniform(0.2, 0.5),
                 "crash": -side * rng.uniform(0.2, 0.6), "ride": -side * rng.uniform(0.3, 0.6),
                 "tom_high": side * 0.4, "tom_mid": side * 0.1, "tom_low": -side * 0.4}
    positions["hat_open"] = positions["hat_closed"]
    kit = {}
    for piece, render in DRUM_PIECES.items():  # same drum, three hits that differ in the noise only
        seed = int(rng.integers(2 ** 32))
        sounds = [render(np.random.default_rng(seed), np.random.default_rng([seed, v]), plan.sample_rate)
                  for v in range(3)]
        fade_out = np.minimum(1.0, np.linspace(20.0, 0.0, sounds[0].size))  # the last 5% fades: no click
        kit[piece] = [pan(DRUM_LEVELS[piece] * sound * fade_out, positions[piece]) for sound in sounds]
    return kit


def render_drums(plan: SongPlan, rng: np.random.Generator) -> np.ndarray:
    """The drums stem, stereo (2, n_samples): the kit playing the song's hits, in a room."""
    sr = plan.sample_rate
    kit = drum_kit(plan, rng)
    track = np.zeros((2, plan.n_samples))
    hits = sorted(drum_hits(plan, rng))
    hat_times = [time for time, piece, _ in hits if piece.startswith("hat")]
    for time, piece, velocity in hits:
        sound = kit[piece][int(rng.integers(3))] * velocity
        if piece == "hat_open":  # the next hi-hat hit closes (chokes) the open one
            later = [t for t in hat_times if t > time + 0.01]
            if later:
                keep = int((later[0] - time) * sr)
                sound = sound[:, :keep] * np.linspace(1, 0, min(keep, sound.shape[1])) ** 0.3
        add_into(track, time * sr, sound)
    return add_reverb(track, rng, sr, rt60=(0.3, 0.9), wet_db=(-20, -12))
