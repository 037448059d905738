"""Find the key and the chords of a score."""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from symusic import Score
from symusic.core import ScoreTick

from lofi.theory.chords import Chord
from lofi.theory.keys import Key

# (major, minor) weights for pitch classes above the tonic
# fmt: off
KEY_PROFILES: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    # Krumhansl & Kessler (1982), probe-tone ratings
    "krumhansl": (
        (6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88),
        (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17),
    ),
    # Aarden (2003), from the Essen folksong collection: music21's default key analysis (Stream.analyze("key"))
    "aarden": (
        (17.7661, 0.145624, 14.9265, 0.160186, 19.8049, 11.3587, 0.291248, 22.062, 0.145624, 8.15494, 0.232998,
         4.95122),
        (18.2648, 0.737619, 14.0499, 16.8599, 0.702494, 14.4362, 0.702494, 18.6161, 4.56621, 1.93186, 7.37619,
         1.75623),
    ),
    # Temperley (2007), from the Kostka-Payne harmony textbook corpus
    "temperley": (
        (0.748, 0.060, 0.488, 0.082, 0.670, 0.460, 0.096, 0.715, 0.104, 0.366, 0.057, 0.400),
        (0.712, 0.084, 0.474, 0.618, 0.049, 0.460, 0.105, 0.747, 0.404, 0.067, 0.133, 0.330),
    ),
}
# fmt: on
# the chords detect_chords can name: enough to follow a tune without mistaking passing notes for tensions
DETECT_QUALITIES: tuple[str, ...] = ("maj", "m", "7", "m7", "maj7", "m7b5", "dim", "dim7", "aug", "sus4", "7sus4")
# breaks near ties towards the commoner chord
_QUALITY_PRIOR = {"maj": 0.02, "m": 0.02, "7": 0.01, "m7": 0.01}
_BASS_BONUS = 0.1
# the lowest sounding note counts this many times over in the key histogram: bass lines dwell on
# tonic and dominant (on Bach chorales this lifts Krumhansl-Kessler from about 75% to 88% exact)
_BASS_KEY_WEIGHT = 3.0


@dataclass(frozen=True)
class KeyEstimate:
    key: Key
    correlation: float
    runner_up: Key


def _pitched_notes(score: Score) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(start, duration, pitch) of every note outside drum tracks."""
    tracks = [track.notes.numpy() for track in score.tracks if not track.is_drum and len(track.notes)]
    if not tracks:
        return np.zeros(0), np.zeros(0), np.zeros(0, dtype=np.int64)
    starts = np.concatenate([t["time"] for t in tracks]).astype(float)
    durations = np.concatenate([t["duration"] for t in tracks]).astype(float)
    pitches = np.concatenate([t["pitch"] for t in tracks]).astype(np.int64)
    return starts, durations, pitches


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    x, y = x - x.mean(), y - y.mean()
    norm = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / norm) if norm > 0 else 0.0  # a flat histogram favours no key


def _is_bass(starts: np.ndarray, durations: np.ndarray, pitches: np.ndarray) -> np.ndarray:
    """Whether each note is the lowest one sounding when it starts."""
    ends = starts + durations
    sounding: list[tuple[int, float]] = []  # heap of (pitch, end) of notes started so far
    flags = np.zeros(len(starts), dtype=bool)
    for i in np.lexsort((pitches, starts)):
        heapq.heappush(sounding, (pitches[i], ends[i]))
        while sounding and sounding[0][1] <= starts[i]:  # drop notes that ended before this one began
            heapq.heappop(sounding)
        flags[i] = bool(sounding) and sounding[0][0] == pitches[i]
    return flags


def detect_key(
    source: Score | Iterable[tuple[int, float]], profile: str = "krumhansl", bass_weight: float = _BASS_KEY_WEIGHT
) -> KeyEstimate:
    """The major or natural-minor key whose profile best matches the duration-weighted pitch classes.

    ``source`` is a symusic Score (drum tracks ignored; the lowest sounding note weighs ``bass_weight``
    times) or (pitch, duration) pairs, which carry no timing and so no bass. ``profile="aarden",
    bass_weight=1`` is music21's default key analysis: Pearson correlation of the duration histogram with
    the Aarden-Essen profiles.
    """
    if profile not in KEY_PROFILES:
        raise ValueError(f"unknown key profile {profile!r}: choose one of {', '.join(KEY_PROFILES)}")
    if isinstance(source, Score):
        starts, durations, pitches = _pitched_notes(source)
        if bass_weight != 1.0:
            durations = durations * np.where(_is_bass(starts, durations, pitches), bass_weight, 1.0)
    else:
        pairs = np.array(list(source), dtype=float).reshape(-1, 2)
        pitches, durations = pairs[:, 0].astype(np.int64), pairs[:, 1]
    histogram = np.bincount(pitches % 12, weights=durations, minlength=12)
    if histogram.sum() <= 0:
        raise ValueError("no pitched notes with a positive duration to detect a key from")
    profiles = dict(zip(("major", "natural_minor"), (np.array(p) for p in KEY_PROFILES[profile]), strict=True))
    keys = [Key(tonic, mode) for mode in profiles for tonic in range(12)]
    scores = np.array([_pearson(histogram, np.roll(profiles[k.mode], k.tonic)) for k in keys])
    best, second = np.argsort(-scores, kind="stable")[:2]
    return KeyEstimate(keys[best], float(scores[best]), keys[second])


def _templates() -> tuple[list[Chord], np.ndarray]:
    chords = [Chord(root, quality) for quality in DETECT_QUALITIES for root in range(12)]
    matrix = np.zeros((len(chords), 12))
    for row, chord in enumerate(chords):
        matrix[row, list(chord.pitch_classes)] = 1.0
    return chords, matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


_CHORDS, _TEMPLATES = _templates()
_ROOTS = np.array([chord.root for chord in _CHORDS])
_PRIOR = np.array([_QUALITY_PRIOR.get(chord.quality, 0.0) for chord in _CHORDS])


def _windows(score: Score, per: str, last: float) -> np.ndarray:
    """Window boundaries in ticks, from 0 to the end of the last note: every quarter note or every downbeat."""
    if per == "beat":
        return np.arange(int(np.ceil(last / score.ticks_per_quarter)) + 1) * float(score.ticks_per_quarter)
    return np.array([0.0, *(t for t in score.get_downbeats() if 0 < t < last), last])


def detect_chords(score: Score, per: str = "beat") -> list[Chord | None]:
    """The chord in each beat (a quarter note) or bar of ``score``; None where fewer than two pitch classes sound.

    Each window's pitch classes are weighted by how long they sound inside it and matched against
    chord templates (cosine similarity); the lowest note gives a small bonus to chords rooted on it.
    """
    if per not in ("beat", "bar"):
        raise ValueError(f"per must be 'beat' or 'bar', not {per!r}")
    if not isinstance(score, ScoreTick):
        score = score.to("tick")
    starts, durations, pitches = _pitched_notes(score)
    if not len(starts):
        return []
    ends = starts + durations
    bounds = _windows(score, per, ends.max())
    n_windows = len(bounds) - 1

    # one row per (note, window it sounds in)
    first = np.searchsorted(bounds, starts, "right") - 1
    final = np.maximum(first, np.searchsorted(bounds, ends, "left") - 1)
    spans = final - first + 1
    note = np.repeat(np.arange(len(starts)), spans)
    window = first[note] + (np.arange(len(note)) - np.repeat(np.cumsum(spans) - spans, spans))
    overlap = np.minimum(ends[note], bounds[window + 1]) - np.maximum(starts[note], bounds[window])
    chroma = np.zeros((n_windows, 12))
    np.add.at(chroma, (window, pitches[note] % 12), np.maximum(overlap, 0.0))

    # the bass hint: lowest note struck in the window or sounding through a quarter of it
    length = np.diff(bounds)[window]
    counts = (overlap > 0) & ((starts[note] >= bounds[window]) | (overlap >= length / 4))
    lowest = np.full(n_windows, 128)
    np.minimum.at(lowest, window[counts], pitches[note][counts])

    sounding = (chroma > 0).sum(axis=1)
    norms = np.linalg.norm(chroma, axis=1, keepdims=True)
    similarity = (chroma / np.where(norms > 0, norms, 1.0)) @ _TEMPLATES.T
    similarity += _PRIOR + _BASS_BONUS * (_ROOTS[None, :] == (lowest % 12)[:, None])
    best = similarity.argmax(axis=1)
    return [_CHORDS[b] if n >= 2 else None for b, n in zip(best, sounding, strict=True)]
