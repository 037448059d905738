"""Musical quality metrics of one track, each following a published definition.

Sources (named in each function's docstring):

- MusPy: Dong, Chen, Berg-Kirkpatrick & McAuley, "MusPy: A Toolkit for Symbolic Music Generation",
  ISMIR 2020 (``muspy.metrics``), collecting metrics of MuseGAN, C-RNN-GAN and the Jazz Transformer.
- Yang & Lerch, "On the evaluation of generative models in music", Neural Computing and
  Applications 32, 2020 (their ``mgeval`` code).
- Wu & Yang, "The Jazz Transformer on the Front Line: Exploring the Shortcomings of AI-composed
  Music through Quantitative Measures", ISMIR 2020 (their ``MusDr`` code).

Pitched notes are the notes of non-drum tracks. A metric that has nothing to measure (no pitched
notes, fewer than two bars, fewer than three chords) is NaN: "undefined", never a made-up 0. No
function here raises on an empty or drums-only score.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields

import numpy as np
from symusic import Score
from symusic.core import ScoreTick

from lofi.theory import Chord, Key, detect_chords, detect_key
from lofi.theory.scales import SCALES

# time steps per quarter note of the piano roll behind polyphony: MusPy's default resolution
POLYPHONY_STEPS_PER_QUARTER = 24
# polyphony rate counts steps with strictly more pitches than this, as MusPy's default does
POLYPHONY_THRESHOLD = 2
# onset grid of groove consistency: sixteenth notes, 16 positions in a 4/4 bar
GROOVE_STEPS_PER_QUARTER = 4
# chord n-grams of the chord progression irregularity (the Jazz Transformer's trigrams)
CPI_NGRAM = 3


@dataclass(frozen=True)
class Metrics:
    """What `compute_metrics` measures of one track; NaN where a metric is undefined for it."""

    pitch_class_entropy: float  # bits, 0 (one pitch class) to log2(12) = 3.585 (all equally often)
    scale_consistency: float  # 0..1, best fraction of notes inside one major or natural-minor scale
    pitch_in_key: float  # 0..1, fraction of notes inside the given (or detected) key's scale
    groove_consistency: float  # 0..1, 1 when every bar has the same onset pattern as the one before
    empty_beat_rate: float  # 0..1, fraction of beats where no note sounds
    polyphony: float  # mean number of pitches sounding, over the steps where at least one does
    polyphony_rate: float  # 0..1, fraction of all steps with more than POLYPHONY_THRESHOLD pitches
    pitch_range: float  # semitones between the lowest and the highest note
    notes_per_bar: float  # pitched notes per bar
    mean_ioi_s: float  # seconds between successive distinct pitched onsets
    chord_irregularity: float  # 0..1, unique chord trigrams over all chord trigrams
    quality: float = math.nan  # 0..1, see quality_score

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def to_dict(self) -> dict[str, float]:
        return {name: float(value) for name, value in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, float]) -> Metrics:
        return cls(**{name: float(data[name]) for name in cls.names() if name in data})


# Typical ranges (5th to 95th percentile, see normal_ranges) of the bundled corpus: the 3,094 accepted
# train-split files of `lofi corpus build` (lofi's own lo-fi loops, MMA's hip-hop and jazz grooves, public-domain
# melodies, OpenMSX), measured once with compute_metrics on the build before hand percussion left every family
# (measured again on today's 3,111: every bound moves by under 4% of its range's width; the most, groove_consistency's
# top, to 0.994). quality_score measures a track against these unless
# given other ranges.
TYPICAL_RANGES: dict[str, tuple[float, float]] = {
    "pitch_class_entropy": (2.6, 3.09),
    "scale_consistency": (0.841, 1.0),
    "pitch_in_key": (0.819, 1.0),
    "groove_consistency": (0.841, 1.0),
    "empty_beat_rate": (0.0, 0.0),  # the corpus never falls silent: MIN_WIDTH gives it a slope
    "polyphony": (1.9, 7.33),
    "polyphony_rate": (0.233, 1.0),
    "pitch_range": (37.0, 62.0),
    "notes_per_bar": (5.86, 33.5),
    "mean_ioi_s": (0.158, 3.22),
    "chord_irregularity": (0.103, 0.914),
}
# a range narrower than this fraction of its own scale (at least 1) is widened to it in quality_score
MIN_WIDTH = 0.05


@dataclass(frozen=True)
class _Notes:
    """Every note of a score as arrays, in ticks."""

    start: np.ndarray
    end: np.ndarray
    pitch: np.ndarray
    drum: np.ndarray

    @property
    def pitched(self) -> np.ndarray:
        return ~self.drum

    @property
    def length(self) -> int:
        """End of the last note: the song length MusPy measures its rates against."""
        return int(self.end.max()) if len(self.end) else 0


def _notes(score: ScoreTick) -> _Notes:
    arrays = [(track.notes.numpy(), track.is_drum) for track in score.tracks if len(track.notes)]
    if not arrays:
        empty = np.zeros(0, dtype=np.int64)
        return _Notes(empty, empty, empty, np.zeros(0, dtype=bool))
    start = np.concatenate([a["time"] for a, _ in arrays]).astype(np.int64)
    duration = np.concatenate([a["duration"] for a, _ in arrays]).astype(np.int64)
    pitch = np.concatenate([a["pitch"] for a, _ in arrays]).astype(np.int64)
    drum = np.concatenate([np.full(len(a["time"]), is_drum) for a, is_drum in arrays])
    return _Notes(start, start + np.maximum(duration, 0), pitch, drum)


def _bar_quarters(score: Score) -> float:
    """Length of a bar in quarter notes, from the first time signature (4/4 when there is none)."""
    if len(score.time_signatures):
        ts = score.time_signatures[0]
        return ts.numerator * 4 / ts.denominator
    return 4.0


def _pitch_class_counts(notes: _Notes) -> np.ndarray:
    return np.bincount(notes.pitch[notes.pitched] % 12, minlength=12).astype(float)


def pitch_class_entropy(counts: np.ndarray) -> float:
    """Shannon entropy in bits of the 12-bin pitch-class histogram of note counts.

    MusPy ``pitch_class_entropy`` (used by the Jazz Transformer, over the whole piece here).
    """
    total = counts.sum()
    if total <= 0:
        return math.nan
    p = counts[counts > 0] / total
    return float(-(p * np.log2(p)).sum()) + 0.0  # + 0.0 turns -0.0 into 0.0


def _scale_mask(tonic: int, intervals: Iterable[int]) -> np.ndarray:
    mask = np.zeros(12)
    mask[[(tonic + step) % 12 for step in intervals]] = 1.0
    return mask


# MusPy's 24 scales: every major and natural-minor scale
_MUSPY_SCALES = np.array([_scale_mask(t, SCALES[m]) for m in ("major", "natural_minor") for t in range(12)])


def scale_consistency(counts: np.ndarray) -> float:
    """The largest fraction of pitched notes inside one of the 24 major and natural-minor scales.

    MusPy ``scale_consistency`` (from C-RNN-GAN): the maximum of ``pitch_in_scale_rate`` over roots and modes.
    """
    total = counts.sum()
    return float((_MUSPY_SCALES @ counts).max() / total) if total > 0 else math.nan


def pitch_in_key(counts: np.ndarray, key: Key) -> float:
    """Fraction of pitched notes whose pitch class is in ``key``'s scale (MusPy ``pitch_in_scale_rate``, MuseGAN)."""
    total = counts.sum()
    return float(counts[sorted(key.pitch_classes)].sum() / total) if total > 0 else math.nan


def groove_consistency(notes: _Notes, tpq: int, bar_quarters: float) -> float:
    """1 minus the mean Hamming distance between consecutive bars' onset patterns, per grid position.

    MusPy ``groove_consistency`` (Jazz Transformer): all notes, drums included, mark their onset on a
    grid of sixteenth notes (onsets rounded to the nearest sixteenth; 16 positions in 4/4) instead of
    MusPy's raw time steps, so a humanized hit lands on its beat. Bars are those the music spans,
    ceil(length / bar): MusPy adds a bar past the end when the music ends on a bar line, which would
    count a phantom empty bar against a perfectly regular piece. NaN below two bars.
    """
    step = tpq / GROOVE_STEPS_PER_QUARTER
    per_bar = round(bar_quarters * GROOVE_STEPS_PER_QUARTER)
    if not len(notes.start) or per_bar < 1:
        return math.nan
    onsets = np.rint(notes.start / step).astype(np.int64)
    bars = max(math.ceil(notes.length / (per_bar * step)), int(onsets.max() // per_bar) + 1)
    if bars < 2:
        return math.nan
    patterns = np.zeros((bars, per_bar), dtype=bool)
    patterns[onsets // per_bar, onsets % per_bar] = True
    return float(1.0 - (patterns[:-1] != patterns[1:]).mean())


def empty_beat_rate(notes: _Notes, tpq: int) -> float:
    """Fraction of beats (quarter notes) where no note, drums included, is played.

    MusPy ``empty_beat_rate`` (from Pypianoroll), followed exactly: the song has length // tpq + 1
    beats, and a note marks every beat from the one it starts in to the one it ends in, both
    included. So a note that ends exactly on a beat line also marks the next beat, and a silence
    after a legato note reads one beat shorter than it sounds. NaN when the score has no length.
    """
    length = notes.length
    if length < 1:
        return math.nan
    n_beats = length // tpq + 1
    covered = np.zeros(n_beats + 1, dtype=np.int64)  # a difference array: +1 where a span starts
    np.add.at(covered, notes.start // tpq, 1)
    np.add.at(covered, notes.end // tpq + 1, -1)
    sounding = np.cumsum(covered[:n_beats]) > 0
    return float(1.0 - sounding.sum() / n_beats)


def _pitches_per_step(notes: _Notes, tpq: int) -> np.ndarray:
    """Distinct pitched notes sounding at each step of a piano roll spanning the whole song (drums included)."""
    step = tpq / POLYPHONY_STEPS_PER_QUARTER
    n_steps = round(notes.length / step)
    pitched = notes.pitched
    start = np.rint(notes.start[pitched] / step).astype(np.int64)
    end = np.maximum(np.rint(notes.end[pitched] / step).astype(np.int64), start + 1)  # a blip still sounds
    n_steps = max(n_steps, int(end.max()) if len(end) else 0)
    roll = np.zeros((n_steps + 1, 128), dtype=np.int32)  # a difference array along time, one column per pitch
    np.add.at(roll, (start, notes.pitch[pitched]), 1)
    np.add.at(roll, (end, notes.pitch[pitched]), -1)
    # two tracks doubling one pitch sound one pitch, as in MusPy's binary piano roll
    return (np.cumsum(roll[:n_steps], axis=0) > 0).sum(axis=1)


def polyphony(per_step: np.ndarray) -> float:
    """Mean number of pitches sounding, over the steps where at least one does (MusPy ``polyphony``).

    The piano roll has POLYPHONY_STEPS_PER_QUARTER steps per quarter note; drums are left out. NaN
    without pitched notes.
    """
    active = per_step > 0
    return float(per_step.sum() / active.sum()) if active.any() else math.nan


def polyphony_rate(per_step: np.ndarray, threshold: int = POLYPHONY_THRESHOLD) -> float:
    """Fraction of all time steps with more than ``threshold`` pitches sounding (MusPy ``polyphony_rate``, MuseGAN).

    The denominator is every step of the song, silent ones and drum-only ones included, as in MusPy;
    MusPy's default threshold 2 with its strict ">" counts steps with three or more pitches.
    """
    return float((per_step > threshold).sum() / len(per_step)) if len(per_step) else math.nan


def pitch_range(notes: _Notes) -> float:
    """Semitones from the lowest to the highest pitched note (MusPy ``pitch_range``; Yang & Lerch's PR).

    NaN without pitched notes (MusPy says 0, which would read as a one-pitch tune).
    """
    pitches = notes.pitch[notes.pitched]
    return float(pitches.max() - pitches.min()) if len(pitches) else math.nan


def notes_per_bar(notes: _Notes, tpq: int, bar_quarters: float) -> float:
    """Pitched notes per bar, over the bars the song spans (ceil of its length in bars).

    Yang & Lerch's note count (NC), made per bar so tracks of different lengths compare; per bar rather
    than per second so that tempo does not change it. 0 for a drums-only track; NaN for an empty one.
    """
    bars = math.ceil(notes.length / (tpq * bar_quarters))
    return float(notes.pitched.sum() / bars) if bars > 0 else math.nan


def mean_ioi_s(score: Score) -> float:
    """Mean seconds between successive distinct onsets of pitched notes (Yang & Lerch's avg IOI).

    Their mgeval takes ``pretty_midi``'s onsets of a single melody; chords here share one onset, so
    onsets are made distinct first. Tempo changes are honoured. NaN below two distinct onsets.
    """
    seconds = score.to("second")
    onsets = [track.notes.numpy()["time"] for track in seconds.tracks if not track.is_drum and len(track.notes)]
    if not onsets:
        return math.nan
    distinct = np.unique(np.round(np.concatenate(onsets), 6))  # float seconds: parts struck together share one onset
    return float(np.diff(distinct).mean()) if len(distinct) >= 2 else math.nan


def chord_irregularity(chords: Sequence[Chord], n: int = CPI_NGRAM) -> float:
    """Chord progression irregularity (CPI, Jazz Transformer): unique chord n-grams over all n-grams.

    ``chords`` is the progression as a lead sheet writes it: one entry per chord change. Wu & Yang's
    MusDr code divides by len - n and so skips the last n-gram; this divides by the true count,
    len - n + 1. NaN when there are fewer than n chords (MusDr says 1.0, which would call a one-chord
    vamp maximally irregular).
    """
    if len(chords) < n:
        return math.nan
    grams = [tuple(chords[i : i + n]) for i in range(len(chords) - n + 1)]
    return len(set(grams)) / len(grams)


def chord_changes(score: Score) -> list[Chord]:
    """The chords of a score, one per change: detected per beat, silent beats dropped, repeats merged.

    Per beat so that two chords in a bar both count; merging repeats turns a chord held for a bar
    into one chord event, as in the Jazz Transformer's lead-sheet chord events.
    """
    changes: list[Chord] = []
    for chord in detect_chords(score, per="beat"):
        if chord is not None and (not changes or changes[-1] != chord):
            changes.append(chord)
    return changes


def range_width(low: float, high: float) -> float:
    """The width of a typical range, widened to MIN_WIDTH of its scale: a point range still has a slope."""
    return max(high - low, MIN_WIDTH * max(abs(low), abs(high), 1.0))


def quality_score(values: Mapping[str, float], ranges: Mapping[str, tuple[float, float]] = TYPICAL_RANGES) -> float:
    """How typical a track is: the mean, over the metrics in ``ranges``, of a closeness score in [0, 1].

    A metric inside its range scores 1; outside, its score falls linearly to 0 at one range-width
    beyond the nearer end (widths below MIN_WIDTH of the metric's scale are widened to it); an
    undefined (NaN) metric scores 0.
    """
    if not ranges:
        return math.nan
    scores = []
    for name, (low, high) in ranges.items():
        value = values.get(name, math.nan)
        if not math.isfinite(value):
            scores.append(0.0)
            continue
        width = range_width(low, high)
        distance = max(low - value, value - high, 0.0)
        scores.append(max(0.0, 1.0 - distance / width))
    return float(np.mean(scores))


def compute_metrics(
    score: Score, key: Key | None = None, *, ranges: Mapping[str, tuple[float, float]] = TYPICAL_RANGES
) -> Metrics:
    """Every metric of ``score``; pitch-in-key against ``key``, or against the detected key when None.

    ``ranges`` are the typical ranges the quality score measures against (see quality_score).
    """
    if not isinstance(score, ScoreTick):
        score = score.to("tick")
    tpq = score.tpq
    notes = _notes(score)
    bar = _bar_quarters(score)
    counts = _pitch_class_counts(notes)
    if key is None and counts.sum() > 0:
        key = detect_key(score).key
    per_step = _pitches_per_step(notes, tpq)
    values = {
        "pitch_class_entropy": pitch_class_entropy(counts),
        "scale_consistency": scale_consistency(counts),
        "pitch_in_key": pitch_in_key(counts, key) if key is not None else math.nan,
        "groove_consistency": groove_consistency(notes, tpq, bar),
        "empty_beat_rate": empty_beat_rate(notes, tpq),
        "polyphony": polyphony(per_step),
        "polyphony_rate": polyphony_rate(per_step),
        "pitch_range": pitch_range(notes),
        "notes_per_bar": notes_per_bar(notes, tpq, bar),
        "mean_ioi_s": mean_ioi_s(score),
        "chord_irregularity": chord_irregularity(chord_changes(score)) if notes.pitched.any() else math.nan,
    }
    return Metrics(**values, quality=quality_score(values, ranges))


def normal_ranges(
    metrics: Sequence[Metrics], low_pct: float = 5.0, high_pct: float = 95.0
) -> dict[str, tuple[float, float]]:
    """Each metric's (low_pct, high_pct) percentiles over ``metrics``, NaNs ignored.

    Metrics undefined for every track have no range and are left out; the quality score is left out
    too, as it is measured against ranges like these.
    """
    if not 0 <= low_pct <= high_pct <= 100:
        raise ValueError(f"percentiles must satisfy 0 <= low <= high <= 100, got {low_pct} and {high_pct}")
    ranges = {}
    for name in Metrics.names():
        if name == "quality":
            continue
        values = np.array([getattr(m, name) for m in metrics], dtype=float)
        values = values[np.isfinite(values)]
        if len(values):
            low, high = np.percentile(values, [low_pct, high_pct])
            ranges[name] = (float(low), float(high))
    return ranges


def outside(metrics: Metrics, ranges: Mapping[str, tuple[float, float]]) -> list[str]:
    """Names of the metrics outside their range; an undefined (NaN) metric counts as outside."""
    found = []
    for name, (low, high) in ranges.items():
        value = getattr(metrics, name)
        if not (math.isfinite(value) and low <= value <= high):
            found.append(name)
    return found
