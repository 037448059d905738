"""Melodies for the originality tests: random folk-ish tunes, a tune as a lead over a band, and a planted
copy (transposed, slower, a note changed, an ornament) of part of one tune inside another."""

from __future__ import annotations

import numpy as np
from symusic import Note, Score, Tempo, TimeSignature, Track

from helpers import make_score
from lofi.analysis.melody import Line

TPQ = 480
DURATIONS = (0.5, 0.5, 0.5, 0.5, 1.0, 1.0, 0.25, 0.25, 1.5, 2.0)  # beats; a folk-ish mix


def random_tune(rng: np.random.Generator, notes: int = 64) -> list[tuple[float, float, int]]:
    """A random walk in (onset beats, duration beats, pitch), mostly steps, sometimes leaps."""
    out, beat, pitch = [], 0.0, int(rng.integers(62, 74))
    for _ in range(notes):
        duration = float(rng.choice(DURATIONS))
        out.append((beat, duration, pitch))
        beat += duration
        step = int(rng.choice([-2, -1, 1, 2, -3, 3, 0, 4, -4, 5, -5, 7]))
        pitch = int(np.clip(pitch + step, 55, 86))
    return out


def as_line(tune, bpm: float = 90.0, transpose: int = 0) -> Line:
    spb = 60.0 / bpm
    return Line.from_notes(
        [o * spb for o, _, _ in tune], [d * spb for _, d, _ in tune], [p + transpose for _, _, p in tune]
    )


def lead_piece(tune, bpm: float = 90.0, band: bool = True) -> Score:
    """The tune on a "Lead" flute over the helpers' keys, bass and drums."""
    score = make_score(bars=8, bpm=bpm) if band else Score(TPQ)
    if not band:
        score.tempos.append(Tempo(0, bpm))
        score.time_signatures.append(TimeSignature(0, 4, 4))
    lead = Track(name="Lead", program=73, is_drum=False)
    for onset, duration, pitch in tune:
        lead.notes.append(Note(round(onset * TPQ), max(1, round(duration * TPQ)), pitch, 90))
    score.tracks.append(lead)
    return score


def plant(source, first: int, length: int, host, at: int, transpose: int = 5, slower: float = 1.5):
    """``source[first:first+length]`` transposed and slower, one note changed and one ornament, in ``host``."""
    excerpt = [(o, d, p) for o, d, p in source[first : first + length]]
    base = excerpt[0][0]
    copy = [((o - base) * slower, d * slower, p + transpose) for o, d, p in excerpt]
    o, d, p = copy[6]
    copy[6] = (o, d, p + 1)  # a changed note
    o, d, p = copy[12]
    grace = d / 4
    copy[12:13] = [(o, grace, p + 2), (o + grace, d - grace, p)]  # an ornament: an upper neighbour before it
    start = host[at][0]
    length_beats = copy[-1][0] + copy[-1][1]
    placed = [(start + o, d, p) for o, d, p in copy]
    tail = [(o + length_beats, d, p) for o, d, p in host[at:]]
    return host[:at] + placed + tail, (at, at + len(copy) - 1)
