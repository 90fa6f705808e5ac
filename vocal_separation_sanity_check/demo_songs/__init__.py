"""Synthetic multitrack songs for training and testing the separator: the synthesizer behind make_demo_songs.py.

`demo_song(seed, split, index, seconds)` gives song `index` of a set as make_demo_songs.py writes it,
`make_song(seed, seconds)` any one song: {'mixture', 'vocals', 'drums', 'bass', 'other'} -> float32
(2, samples) arrays at 44.1 kHz, mixture = vocals + drums + bass + other.

Why synthesize: the tutorial must run offline and without licences. Why so much detail: a separator trained
here should also do something on real music, so each stem imitates what makes its real counterpart
recognisable, and the accompaniment carries melodies too, so that "harmonic" never simply means "vocal":
- vocals: a glottal pulse train sings a melody (legato, portamento, vibrato, jitter) through moving formants
  (vowels), with consonants, breaths and rests; sometimes a harmony or a double-tracked voice; light reverb;
- drums: kick, snare, hi-hats, toms and cymbals in varied grooves with fills, in a room;
- bass: the chord roots with fifths, octaves and passing notes, in one of four timbres;
- other: guitars (Karplus-Strong: strummed, picked or distorted), piano, pads or organ playing the chords,
  and an instrumental lead line (synth, flute, strings, bell, pluck), sometimes an arpeggio.
Every choice is drawn from one random generator per song, seeded by (seed, split, index), except two that
take turns, so that even 6 songs cover them all: the main chord instrument and the singer's voice.

Modules, in the order a song is made:
    plan       tempo, key, sections and chords that all four stems share; melodies over them
    dsp        filters, noise, panning, oscillators, plucked strings, rooms, the note sampler
    contour    pitch contours (glides, vibrato) for the voice and the instrumental lead
    phonetics  vowels, consonants and syllables, and how they move the voice frame by frame
    voice      the singer and the singing voice: glottal source through moving formants
    vocals     the vocals stem: phrases, harmony, double-tracking, echo
    drums      the drums stem
    bass       the bass stem
    guitars    strummed, picked and distorted guitars playing the chords
    keyboards  piano, pad, organ and arpeggio
    lead       the instrumental lead line
    other      the other stem: chord instruments, lead and arpeggio
    song       one song: the stems from their own generators, and the mix
    song_set   the numbered songs of a set: seeds, names, chord instrument and voice of each
    plot       spectrograms of a song (imports matplotlib, so it is not imported here)
"""
from vocal_separation_sanity_check.demo_songs.other import CHORD_PARTS
from vocal_separation_sanity_check.demo_songs.plan import Note, SongPlan, plan_song
from vocal_separation_sanity_check.demo_songs.song import make_song, mix
from vocal_separation_sanity_check.demo_songs.song_set import (SPLITS, demo_song, planned_tracks, song_rng,
                                                               song_variety, track_name)

__all__ = ["CHORD_PARTS", "Note", "SPLITS", "SongPlan", "demo_song", "make_song", "mix", "plan_song",
           "planned_tracks", "song_rng", "song_variety", "track_name"]
