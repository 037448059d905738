"""The lo-fi figures: does a track sound like lo-fi hip hop, in numbers anyone can check against the MIDI.

Each figure's definition is in DEFINITIONS (the `lofi eval` report prints them). They follow what
producers describe (docs: shared LOFI.md): a steady backbeat, drums and bass under every bar of the
sections that have them, the harmony looping, no duplicated notes, a drum kit rather than hand
percussion, extended chords, swung sixteenths, and a key a listener (and music21) hears as the one asked for.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
from symusic import Score
from symusic.core import ScoreTick

from lofi.theory import Chord, Key, detect_chords, detect_key
from lofi.theory.groove import backbeat_in_bars, bar_count, bar_ticks, hand_percussion_share, swing_ratio

BASS_RANGE = range(32, 40)  # General MIDI's basses (lofi's palette folds them onto 32 and 33)
# section names of the form that frame a track: the bass may rest there
FRAME_SECTIONS = frozenset({"intro", "outro"})

DEFINITIONS: dict[str, str] = {
    "backbeat": "share of bars with drums that have a snare, rim or clap within a 16th of beat 2 and of beat 4",
    "drum_coverage": "share of the bars of sections marked drums=true that have a drum hit",
    "bass_coverage": "share of the bars outside the intro and outro where a bass note (GM programs 32-39) starts",
    "loop_repetition": "share of bars, from the fifth on, whose chord (detected per bar over the pitched parts) "
    "is the chord of the bar four bars back",
    "stacked_notes": "share of note-ons that duplicate another one of the same part at the same tick and pitch",
    "hand_percussion": "share of drum hits on hand or latin percussion (GM 54, 56, 58, 60-87)",
    "chord_richness": "share of the chords in metadata.json (one per bar) that have a seventh: 7, maj7, m7, "
    "m7b5, dim7 and every richer chord",
    "swing": "median position of the off-beat 16ths inside their eighth note (onsets at 40-72% of an eighth; "
    "0.5 straight, 0.54-0.62 lo-fi)",
    "key_agreement": "1 when music21's default key analysis (Krumhansl-Schmuckler correlation with the "
    "Aarden-Essen profiles over the pitched notes' durations) finds the asked key or its relative, else 0",
}
# the targets the lo-fi issue set, as (low, high): a figure inside them passes
TARGETS: dict[str, tuple[float, float]] = {
    "backbeat": (0.9, 1.0),
    "drum_coverage": (1.0, 1.0),
    "bass_coverage": (0.95, 1.0),
    "loop_repetition": (0.75, 1.0),
    "stacked_notes": (0.0, 0.0),
    "hand_percussion": (0.0, 0.05),
    "chord_richness": (0.8, 1.0),
    "swing": (0.54, 0.62),
    "key_agreement": (0.95, 1.0),
}


@dataclass(frozen=True)
class Figures:
    backbeat: float
    drum_coverage: float
    bass_coverage: float
    loop_repetition: float
    stacked_notes: float
    hand_percussion: float
    chord_richness: float
    swing: float
    key_agreement: float = math.nan  # undefined when no key was asked

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def to_dict(self) -> dict[str, float | None]:
        return {k: (None if isinstance(v, float) and math.isnan(v) else round(v, 4)) for k, v in asdict(self).items()}

    def score(self) -> float:
        """Share of the defined figures that meet their target: 1 for a track that is lo-fi in every respect."""
        defined = [name for name in TARGETS if math.isfinite(getattr(self, name))]
        return 1.0 - len(self.failures()) / len(defined) if defined else math.nan

    def failures(self) -> list[str]:
        """Names of the figures outside their target (undefined figures are not failures)."""
        return [
            name
            for name, (low, high) in TARGETS.items()
            if math.isfinite(getattr(self, name)) and not low - 1e-9 <= getattr(self, name) <= high + 1e-9
        ]


def _share(flags: Iterable[bool]) -> float:
    values = list(flags)
    return float(np.mean(values)) if values else math.nan


def section_bars(form: Sequence[Mapping] | None, bars: int) -> list[Mapping]:
    """The form section each bar belongs to ({} past the form or without one)."""
    owners: list[Mapping] = []
    for section in form or ():
        owners += [section] * int(section["bars"])
    return (owners + [{}] * bars)[:bars]


def stacked_share(score: Score) -> float:
    """Share of note-ons that repeat another of the same track at the same tick and pitch."""
    total = duplicates = 0
    for track in score.tracks:
        notes = track.notes.numpy()
        if not len(notes["time"]):
            continue
        keys = notes["time"].astype(np.int64) * 128 + notes["pitch"]
        total += len(keys)
        duplicates += len(keys) - len(np.unique(keys))
    return duplicates / total if total else math.nan


def bass_bars(score: Score, bars: int) -> np.ndarray:
    """Per bar: whether a bass note starts in it."""
    flags = np.zeros(bars, dtype=bool)
    for track in score.tracks:
        if track.is_drum or track.program not in BASS_RANGE:
            continue
        index = track.notes.numpy()["time"].astype(np.int64) // bar_ticks(score)
        flags[index[index < bars]] = True
    return flags


def loop_share(chords: Sequence[Chord | None], back: int = 4) -> float:
    pairs = [(chords[i], chords[i - back]) for i in range(back, len(chords)) if chords[i] is not None]
    return _share(a == b for a, b in pairs)


def compute_figures(
    score: Score,
    form: Sequence[Mapping] | None = None,
    chords: Sequence[str | None] | None = None,
    key: Key | None = None,
) -> Figures:
    """Every figure of ``score``. ``form`` is metadata.json's form (sections with bars and drums); without
    it, drum coverage is undefined and bass coverage counts every bar. ``chords`` are the chord symbols per
    bar (metadata.json's); detected per bar when left out. ``key`` is the asked key; without it, key
    agreement is undefined. Key agreement runs music21's algorithm on the notes here (lofi.theory.detect,
    profile "aarden"); music21_key runs music21 itself on a file, which `lofi eval` does to check it."""
    if not isinstance(score, ScoreTick):
        score = score.to("tick")
    # the form says how long the track is: a silent last bar still counts, a chord ringing past the end does not
    bars = sum(int(s["bars"]) for s in form) if form else bar_count(score)
    owners = section_bars(form, bars)
    has_drums, backbeat = backbeat_in_bars(score, bars)
    drum_sections = [i for i, s in enumerate(owners) if s.get("drums")]
    body = [i for i, s in enumerate(owners) if s.get("section") not in FRAME_SECTIONS]
    bass = bass_bars(score, bars)
    detected = detect_chords(score, per="bar")
    named = [Chord.parse(c) if c else None for c in chords] if chords is not None else detected
    return Figures(
        backbeat=_share(backbeat[has_drums]),
        drum_coverage=_share(has_drums[drum_sections]) if form is not None else math.nan,
        bass_coverage=_share(bass[body]),
        loop_repetition=loop_share(detected),
        stacked_notes=stacked_share(score),
        hand_percussion=hand_percussion_share(score),
        chord_richness=_share(c.has_seventh for c in named if c is not None),
        swing=swing_ratio(score),
        key_agreement=_agreement(score, key),
    )


def _agreement(score: Score, key: Key | None) -> float:
    if key is None:
        return math.nan
    try:
        return float(key.agrees(heard_key(score)))
    except ValueError:  # no pitched notes: no key is heard
        return 0.0


def heard_key(score: Score) -> Key:
    """The key music21's default analysis finds, computed on the score's notes (see compute_figures)."""
    return detect_key(score, "aarden", bass_weight=1.0).key


def music21_key(midi: Path) -> Key:
    """The key music21's default analysis (Krumhansl-Schmuckler with Aarden-Essen weights) hears in a MIDI
    file, music21 reading the file itself: the outside judge's view (about a second a track)."""
    from music21 import converter  # heavy: imported only when a key is asked for

    found = converter.parse(str(midi)).analyze("key")
    tonic = found.tonic.pitchClass
    return Key(tonic, "major" if found.mode == "major" else "natural_minor")


def summary(per_track: Sequence[Figures]) -> dict[str, float]:
    """Each figure's mean over the tracks where it is defined."""
    out = {}
    for name in Figures.names():
        values = np.array([getattr(f, name) for f in per_track], dtype=float)
        values = values[np.isfinite(values)]
        out[name] = float(values.mean()) if len(values) else math.nan
    return out
