"""The radio's state: what may be asked for, how intensity becomes layers, and the drift between tracks."""

from __future__ import annotations

import itertools
import random

import pytest

from lofi.radio.state import (
    DRIFT_KEYS,
    FEEL_MOODS,
    LAYERS,
    MOOD_WHEEL,
    PieceSpec,
    RadioState,
    levels,
    next_piece,
)
from lofi.theory import Key


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"mood": "loud"}, "unknown mood 'loud'"),
        ({"intensity": 1.5}, "intensity must be between 0 and 1"),
        ({"intensity": None}, "intensity must be a number"),
        ({"tempo": (90, 80)}, "tempo must be a range"),
        ({"tempo": (40, 80)}, "within 50-130"),
        ({"key": "H major"}, "cannot read key"),
        ({"feel": "angry"}, "feel must be one of calm, tense"),
        ({"mood": "upbeat", "feel": "calm"}, "does not go with feel 'calm'"),
        ({"volume": 3}, "unknown state field(s): volume"),
    ],
)
def test_a_bad_change_is_refused_with_a_reason(changes, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        RadioState().changed(**changes)


def test_changes_keep_what_they_do_not_name():
    state = RadioState(mood="rainy", intensity=0.3, key="Dm")
    assert state.key == "D minor"  # normalised as the rest of lofi writes keys
    louder = state.changed(intensity=0.9)
    assert (louder.mood, louder.key, louder.intensity) == ("rainy", "D minor", 0.9)
    assert not state.music_differs(louder)  # intensity is layers, not new music
    assert state.music_differs(state.changed(key="A minor"))
    assert state.changed(mood="").mood is None  # "" gives the choice back to the drift
    # a feel that the mood does not go with frees the mood instead of refusing the feel
    assert RadioState(mood="upbeat").changed(feel="calm").mood is None


def test_intensity_takes_layers_out_and_closes_the_filter():
    quiet, middle, full = levels(0.1), levels(0.4), levels(1.0)
    assert quiet.gains["drums"] == 0 and quiet.gains["lead"] == 0  # below 0.25: no drums
    assert middle.gains["drums"] > 0 and middle.gains["lead"] == 0  # below 0.5: no lead
    assert all(full.gains[name] > 0 for name in LAYERS)
    assert all(levels(i).gains[name] > 0 for i in (0.0, 0.5, 1.0) for name in ("bass", "keys"))
    cutoffs = [levels(i / 10).cutoff_hz for i in range(11)]
    assert cutoffs == sorted(cutoffs) and cutoffs[0] < 2000 and cutoffs[-1] >= 18000


def drift(state: RadioState, count: int, seed: int = 1) -> list[PieceSpec]:
    rng, previous, specs = random.Random(seed), None, []
    for _ in range(count):
        previous = next_piece(state, previous, rng)
        specs.append(previous)
    return specs


def test_the_drift_moves_in_small_steps_and_an_hour_does_not_repeat_itself():
    specs = drift(RadioState(), 200)
    for before, after in itertools.pairwise(specs):
        if after.mood != before.mood:  # a step either way around the wheel
            gap = abs(MOOD_WHEEL.index(after.mood) - MOOD_WHEEL.index(before.mood))
            assert min(gap, len(MOOD_WHEEL) - gap) <= 2, (before.mood, after.mood)
        if after.key != before.key:  # a fifth either way, or the relative major or minor
            a, b = Key.parse(before.key), Key.parse(after.key)
            step = (b.tonic - a.tonic) % 12
            assert step in (5, 7) if a.mode == b.mode else step == (3 if a.mode != "major" else 9), (a, b)
        assert abs(after.bpm - before.bpm) <= 4
        assert 70 <= after.bpm <= 88 and 2 <= after.minutes <= 3 and after.key in DRIFT_KEYS
    hour = specs[:24]  # 24 tracks of 2-3 minutes: an hour
    assert len({s.mood for s in hour}) >= 3 and len({s.key for s in hour}) >= 3 and len({s.bpm for s in hour}) >= 5
    assert len({s.seed for s in specs}) == len(specs)
    assert drift(RadioState(), 20) == drift(RadioState(), 20)  # seeded: a run can be replayed
    assert drift(RadioState(), 20) != drift(RadioState(), 20, seed=2)


def test_the_drift_keeps_to_the_state():
    tense = RadioState(feel="tense", tempo=(70, 90))
    for spec in drift(tense, 100):
        assert tense.fits(spec)
        assert spec.mood in FEEL_MOODS["tense"] and Key.parse(spec.key).mode != "major" and spec.bpm >= 80
    calm = RadioState(feel="calm", tempo=(70, 90))
    assert all(calm.fits(s) and s.bpm <= 80 for s in drift(calm, 100))
    pinned = RadioState(mood="rainy", key="F minor", tempo=(60, 62))
    assert {(s.mood, s.key) for s in drift(pinned, 30)} == {("rainy", "F minor")}
    assert all(60 <= s.bpm <= 62 for s in drift(pinned, 30))
    assert not pinned.fits(PieceSpec("chill", "F minor", 61, 2.0, 1))
