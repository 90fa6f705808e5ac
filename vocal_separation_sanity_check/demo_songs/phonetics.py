"""What a singer says: vowels and consonants, the syllable on each note, and how they move the voice per frame."""
from dataclasses import dataclass, field

import numpy as np

from vocal_separation_sanity_check.demo_songs.plan import Note

VOWELS = {  # F1-F4 in Hz of an adult male voice (Peterson & Barney, Hillenbrand); other singers scale them
    "a": (730, 1090, 2440, 3400), "e": (530, 1840, 2480, 3500), "i": (270, 2290, 3010, 3700),
    "o": (570, 840, 2410, 3300), "u": (300, 870, 2240, 3300), "ae": (660, 1720, 2410, 3400),
    "uh": (640, 1190, 2390, 3400), "ih": (390, 1990, 2550, 3500), "oo": (440, 1020, 2240, 3300),
    "er": (490, 1350, 1690, 3300),
}
VOWEL_NAMES = tuple(VOWELS)
VOWEL_WEIGHTS = np.array([3, 2, 2, 3, 1.5, 1.5, 2, 1.5, 1, 0.7])
VOWEL_WEIGHTS = VOWEL_WEIGHTS / VOWEL_WEIGHTS.sum()
SCHWA = (500, 1500, 2500, 3500)
# Consonants sung with the voice on: their own formant targets and how loud the voice stays through them.
VOICED_CONSONANTS = {
    "m": ((250, 1100, 2200, 3300), 0.35), "n": ((250, 1500, 2500, 3400), 0.35), "l": ((360, 1300, 2700, 3400), 0.6),
    "r": ((420, 1300, 1600, 3300), 0.6), "w": ((300, 700, 2200, 3300), 0.5), "y": ((280, 2200, 3000, 3600), 0.5),
}
# Noisy consonants: band of the noise (Hz), level against the vowels (dB), length (s), voice kept on.
NOISE_CONSONANTS = {
    "s": ((4000, 10000), -9, 0.11, False), "sh": ((2000, 6000), -9, 0.12, False), "f": ((1000, 9000), -20, 0.09, False),
    "z": ((4000, 10000), -15, 0.08, True), "v": ((1000, 8000), -22, 0.07, True),
    "t": ((3000, 9000), -8, 0.012, False), "k": ((1500, 4500), -8, 0.015, False), "p": ((300, 2500), -12, 0.01, False),
    "d": ((2500, 8000), -16, 0.008, True), "b": ((200, 2000), -18, 0.008, True), "g": ((1500, 4000), -16, 0.01, True),
}
PLOSIVES = ("p", "t", "k", "b", "d", "g")
ONSETS = ("", "", "", "l", "m", "n", "s", "t", "k", "d", "b", "p", "h", "sh", "f", "w", "r", "y", "z", "v", "g")
CODAS = ("n", "s", "t", "m", "k", "l", "", "")


def add_syllables(notes: list[Note], rng: np.random.Generator) -> list[Note]:
    """Give each note of a phrase a vowel and an onset consonant, and the phrase's last note a coda."""
    for i, note in enumerate(notes):
        if i > 0 and rng.random() < 0.15:  # melisma: the previous syllable carries on over this note
            note.vowel = notes[i - 1].vowel
        else:
            note.vowel = str(rng.choice(VOWEL_NAMES, p=VOWEL_WEIGHTS))
            note.onset = str(rng.choice(ONSETS))
    notes[-1].coda = str(rng.choice(CODAS))
    return notes


@dataclass
class Articulation:
    """Per control frame: voice loudness, breath-noise loudness and formant targets; plus the noise consonants."""

    frame_rate: float
    voicing: np.ndarray
    aspiration: np.ndarray
    formants: np.ndarray  # (frames, 4): F1-F4 in Hz
    noises: list[tuple[float, float, str, float]] = field(default_factory=list)  # (start s, length s, name, loudness)

    @classmethod
    def silent(cls, n_frames: int, frame_rate: float) -> "Articulation":
        """Nothing said yet: no voice, no breath, the mouth at rest on a neutral vowel."""
        formants = np.tile(np.array(SCHWA, dtype=np.float64), (n_frames, 1))
        return cls(frame_rate, np.zeros(n_frames), np.zeros(n_frames), formants)

    def frames(self, start: float, end: float) -> slice:
        """The control frames from `start` to `end` seconds, cut to the song."""
        n_frames = self.voicing.size
        first, last = np.clip(np.array([start, end]) * self.frame_rate, 0, n_frames)
        return slice(int(first), int(last))

    def consonant(self, name: str, start: float, length: float, loudness: float, vowel: str) -> None:
        """A consonant from `start` for `length` seconds, next to `vowel`."""
        span = self.frames(start, start + length)
        if name in VOICED_CONSONANTS:
            targets, level = VOICED_CONSONANTS[name]
            self.formants[span], self.voicing[span] = targets, level * loudness
        elif name == "h":
            self.voicing[span], self.aspiration[span], self.formants[span] = 0.0, 0.5 * loudness, VOWELS[vowel]
        elif name in PLOSIVES:  # closure (silence or a murmur), burst, then a puff of air before the vowel
            _, _, burst, voiced = NOISE_CONSONANTS[name]
            self.voicing[span] = 0.12 * loudness if voiced else 0.0
            self.noises.append((start + length - burst, burst, name, loudness))
            if not voiced:
                puff = self.frames(start + length, start + length + 0.03)
                self.voicing[puff], self.aspiration[puff] = 0.0, 0.4 * loudness
        else:
            *_, voiced = NOISE_CONSONANTS[name]
            self.voicing[span] = 0.3 * loudness if voiced else 0.0
            self.noises.append((start, length, name, loudness))

    def syllable(self, note: Note, loudness: float, previous: Note | None) -> None:
        """The note's vowel, its onset consonant before the note and its coda at the note's end."""
        self.voicing[self.frames(note.start, note.end)] = loudness
        self.formants[self.frames(note.start, note.end)] = VOWELS[note.vowel]
        if note.onset:
            length = NOISE_CONSONANTS.get(note.onset, (0, 0, 0.07))[2] if note.onset not in PLOSIVES else 0.05
            if previous is not None:
                length = min(length, 0.5 * previous.duration)
            self.consonant(note.onset, note.start - length, length, loudness, note.vowel)
        if note.coda:
            length = min(0.09, 0.4 * note.duration)
            self.consonant(note.coda, note.end - length, length, loudness, note.vowel)

    def phrase(self, phrase: list[Note], rng: np.random.Generator) -> None:
        """A breath before the phrase, then its syllables."""
        first = phrase[0]
        if first.start > 0.6:  # an audible breath in before the phrase
            self.aspiration[self.frames(first.start - 0.4, first.start - 0.1)] = rng.uniform(0.1, 0.25)
        declination = np.linspace(1.0, 0.8, len(phrase))  # phrases lose energy towards the end
        for i, note in enumerate(phrase):
            self.syllable(note, note.velocity * declination[i], phrase[i - 1] if i > 0 else None)


def articulate(phrases: list[list[Note]], n_frames: int, frame_rate: float,
               rng: np.random.Generator) -> Articulation:
    """The articulation of all the phrases.

    Consonants take their time from the end of the previous note, so the vowels land on the beat.
    """
    articulation = Articulation.silent(n_frames, frame_rate)
    for phrase in phrases:
        articulation.phrase(phrase, rng)
    return articulation
