"""Reharmonize a melody with one lo-fi chord per bar."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from lofi.theory.chords import QUALITIES, Chord
from lofi.theory.keys import Key
from lofi.theory.progressions import realize_numeral

_EPS = 1e-6
# (numeral, function): T tonic, S subdominant, D dominant; an applied dominant is marked by its "/"
_MAJOR_CHOICES = (
    ("Imaj7", "T"), ("Imaj9", "T"), ("iii7", "T"), ("vi7", "T"), ("vi9", "T"),
    ("ii7", "S"), ("ii9", "S"), ("IVmaj7", "S"), ("IVmaj9", "S"),
    ("V7", "D"), ("V9", "D"), ("V13", "D"), ("viiø7", "D"),
    ("V7/ii", "D"), ("V7/iii", "D"), ("V7/IV", "D"), ("V7/V", "D"), ("V7/vi", "D"),
)  # fmt: skip
_MINOR_CHOICES = (
    ("i7", "T"), ("i9", "T"), ("IIImaj7", "T"), ("IIImaj9", "T"),
    ("iiø7", "S"), ("iv7", "S"), ("iv9", "S"), ("VImaj7", "S"), ("VImaj9", "S"),
    ("v7", "D"), ("V7", "D"), ("V7b9", "D"), ("VII7", "D"), ("VII9", "D"),
    ("V7/iv", "D"), ("V7/VI", "D"),
)  # fmt: skip
_TENSIONS = (2, 5, 9)  # 9th, 11th, 13th above the root


@dataclass(frozen=True)
class MelodyNote:
    onset_beats: float
    duration_beats: float
    pitch: int

    def __post_init__(self) -> None:
        if self.onset_beats < 0 or self.duration_beats <= 0:
            raise ValueError(f"a melody note needs onset >= 0 and duration > 0, got {self}")


@dataclass(frozen=True)
class _Choice:
    numeral: str
    chord: Chord
    function: str

    @property
    def applied(self) -> bool:
        return "/" in self.numeral


@dataclass(frozen=True)
class _Heard:
    """One note as heard inside one bar."""

    pc: int
    weight: float  # beats sounding in the bar, scaled by how strong the beat it starts on is
    strong: bool  # starts on the downbeat or the half-bar


def is_tension_or_tone(chord: Chord, pc: int) -> bool:
    """Whether ``pc`` sounds right over ``chord``: a chord tone or its 9th, 11th or 13th."""
    return pc in chord.pitch_classes or (pc - chord.root) % 12 in _TENSIONS


def _fit(chord: Chord, pc: int) -> float:
    if pc in chord.pitch_classes:
        return 1.0
    step = (pc - chord.root) % 12
    if step == 5 and 4 in QUALITIES[chord.quality]:
        return 0.0  # the 11th rubs against a major third
    return 0.5 if step in _TENSIONS else -1.0


def _metric_weight(position: float, beats_per_bar: int) -> float:
    if position < _EPS:
        return 2.0
    if beats_per_bar % 2 == 0 and abs(position - beats_per_bar / 2) < _EPS:
        return 1.5
    return 1.0 if abs(position - round(position)) < _EPS else 0.6


def _hear(notes: Sequence[MelodyNote], beats_per_bar: int, n_bars: int) -> list[list[_Heard]]:
    bars: list[list[_Heard]] = [[] for _ in range(n_bars)]
    for note in notes:
        end = note.onset_beats + note.duration_beats
        first = int(note.onset_beats // beats_per_bar + _EPS)
        for bar in range(first, min(n_bars, math.ceil(end / beats_per_bar - _EPS))):
            start = bar * beats_per_bar
            sounding = min(end, start + beats_per_bar) - max(note.onset_beats, start)
            if bar == first:
                position = note.onset_beats - start
                metric = _metric_weight(position, beats_per_bar)
                strong = metric > 1.0
            else:  # tied over the barline: heard on the downbeat, but not struck there
                metric, strong = 1.0, False
            bars[bar].append(_Heard(note.pitch % 12, sounding * metric, strong))
    return bars


def _flow(previous: _Choice, current: _Choice) -> float:
    """How well ``current`` follows ``previous``: falling fifths and T-S-D-T order score."""
    fall = (current.chord.root - previous.chord.root) % 12 == 5
    if previous.applied:
        return 1.0 if fall else -2.0  # an applied dominant must resolve to its target
    score = 1.0 if fall else 0.0
    pair = (previous.function, current.function)
    if pair in (("T", "S"), ("S", "D"), ("D", "T")):
        score += 0.4
    elif pair == ("D", "S"):
        score -= 0.6
    if previous.chord.root == current.chord.root:
        score -= 0.3
    return score


def reharmonize(notes: Sequence[MelodyNote], key: Key, beats_per_bar: int = 4, seed: int = 0) -> list[Chord]:
    """One lo-fi chord per bar under ``notes``, the last bar on the tonic.

    Strong-beat melody notes are kept as chord tones or 9/11/13 tensions whenever any candidate
    allows it; among those, a Viterbi search favours falling fifths (ii-V-I), tonic-subdominant-
    dominant order and resolved applied dominants. ``seed`` breaks near ties the same way each time.
    """
    if not notes:
        return []
    n_bars = math.ceil(max(n.onset_beats + n.duration_beats for n in notes) / beats_per_bar - _EPS)
    family = Key(key.tonic, "major" if key.quality == "major" else "natural_minor")
    table = _MAJOR_CHOICES if family.mode == "major" else _MINOR_CHOICES
    choices = [_Choice(numeral, realize_numeral(numeral, family), function) for numeral, function in table]
    heard = _hear(notes, beats_per_bar, n_bars)
    rng = random.Random(seed)

    local: list[list[float]] = []  # score of each choice in each bar, -inf where it is ruled out
    for bar, bar_notes in enumerate(heard):
        placed = [bar < n_bars - 1 or (c.function == "T" and c.chord.root == family.tonic) for c in choices]
        allowed = [
            ok and all(is_tension_or_tone(c.chord, h.pc) for h in bar_notes if h.strong)
            for c, ok in zip(choices, placed, strict=True)
        ]
        if not any(allowed):  # no chord takes every strong note: keep only the cadence rule
            allowed = placed
        local.append(
            [
                sum(h.weight * _fit(c.chord, h.pc) for h in bar_notes)
                + (0.1 if len(QUALITIES[c.chord.quality]) > 4 else 0.0)  # a 9th or 13th is the lo-fi sound
                - (0.3 if c.applied else 0.0)  # colour, not the default
                + rng.uniform(0.0, 0.25)
                if ok
                else -math.inf
                for c, ok in zip(choices, allowed, strict=True)
            ]
        )

    # Viterbi over bars
    score = [s + (0.3 if c.function == "T" else 0.0) for s, c in zip(local[0], choices, strict=True)]
    back: list[list[int]] = []
    for bar in range(1, n_bars):
        pointers, new = [], []
        for j, current in enumerate(choices):
            i = max(range(len(choices)), key=lambda i: score[i] + _flow(choices[i], current))
            pointers.append(i)
            new.append(score[i] + _flow(choices[i], current) + local[bar][j])
        back.append(pointers)
        score = new
    path = [max(range(len(choices)), key=score.__getitem__)]
    for pointers in reversed(back):
        path.append(pointers[path[-1]])
    return [choices[i].chord for i in reversed(path)]
