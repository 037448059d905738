"""The drum-kit facts of lofi.theory.groove on beats built by hand at 480 ticks a quarter."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from symusic import Note, Score, Tempo, TimeSignature, Track

from lofi.theory.groove import (
    BACKBEAT,
    HAND_PERCUSSION,
    KIT,
    backbeat_in_bars,
    bar_count,
    hand_percussion_share,
    swing_ratio,
)

TPQ = 480
BAR = 4 * TPQ
EIGHTH = TPQ // 2
KICK, RIM, SNARE, CLAP, HAT = 36, 37, 38, 39, 42
ON_2_AND_4 = (TPQ, 3 * TPQ)  # ticks into the bar of beats 2 and 4


def score_of(drums=(), pitched=(), length=TPQ // 4):
    """A 4/4 score from (tick, pitch) hits on a drum track and (tick, pitch) notes on a keys track."""
    score = Score(TPQ)
    score.tempos.append(Tempo(0, 80))
    score.time_signatures.append(TimeSignature(0, 4, 4))
    for hits, is_drum in ((drums, True), (pitched, False)):
        if hits:
            track = Track(name="drums" if is_drum else "keys", program=0 if is_drum else 4, is_drum=is_drum)
            for tick, pitch in hits:
                track.notes.append(Note(tick, length, pitch, 90))
            score.tracks.append(track)
    return score


def groove(snares_per_bar, snare=SNARE):
    """Kick on 1 and 3, a hat every eighth, and per bar the snare at the given ticks into the bar."""
    hits = []
    for bar, snares in enumerate(snares_per_bar):
        start = bar * BAR
        hits += [(start, KICK), (start + 2 * TPQ, KICK)]
        hits += [(start + i * EIGHTH, HAT) for i in range(8)]
        hits += [(start + tick, snare) for tick in snares]
    return score_of(drums=hits)


def sixteenths(offbeat, bars=2, pitch=HAT):
    """Sixteenth hats: one on every eighth and one ``offbeat`` ticks after it."""
    hits = []
    for eighth in range(8 * bars):
        hits += [(eighth * EIGHTH, pitch), (eighth * EIGHTH + offbeat, pitch)]
    return score_of(drums=hits)


def test_backbeat_in_every_bar():
    has_drums, backbeat = backbeat_in_bars(groove([ON_2_AND_4] * 4))
    assert has_drums.tolist() == [True] * 4
    assert backbeat.tolist() == [True] * 4


@pytest.mark.parametrize(
    "moved",
    [(2 * TPQ,), (TPQ,), (3 * TPQ,), (TPQ, 2 * TPQ)],
    ids=["snare-on-3-only", "beat-4-missing", "beat-2-missing", "beat-4-moved-to-3"],
)
def test_a_bar_missing_beat_2_or_4_has_no_backbeat(moved):
    has_drums, backbeat = backbeat_in_bars(groove([ON_2_AND_4, ON_2_AND_4, moved, ON_2_AND_4]))
    assert has_drums.all()
    assert backbeat.tolist() == [True, True, False, True]


@pytest.mark.parametrize(
    ("shift", "counts"),
    [(0, True), (100, True), (-100, True), (120, True), (-120, True), (130, False), (-130, False), (240, False)],
)
def test_a_laid_back_or_pushed_snare_counts_within_a_sixteenth(shift, counts):
    _, backbeat = backbeat_in_bars(groove([(TPQ + shift, 3 * TPQ + shift)] * 2))
    assert backbeat.tolist() == [counts] * 2


@pytest.mark.parametrize(("pitch", "counts"), [(RIM, True), (SNARE, True), (CLAP, True), (40, True), (HAT, False)])
def test_the_backbeat_is_a_snare_rim_or_clap(pitch, counts):
    _, backbeat = backbeat_in_bars(groove([ON_2_AND_4] * 2, snare=pitch))
    assert backbeat.tolist() == [counts] * 2


def test_a_hit_a_few_ticks_early_belongs_to_the_bar_of_its_beat():
    # only bar 2 has a backbeat, each hit 5 ticks ahead of beats 2 and 4
    snares = [(), (), (TPQ - 5, 3 * TPQ - 5), ()]
    _, backbeat = backbeat_in_bars(groove(snares))
    assert backbeat.tolist() == [False, False, True, False]


def test_a_bar_without_drums_has_no_backbeat_even_if_the_next_bar_pushes_into_it():
    # bar 1 is silent on the drums; bar 2's beat-2 snare is 100 ticks early, still well inside bar 2
    hits = [(0, KICK), (TPQ, SNARE), (3 * TPQ, SNARE), (2 * BAR + TPQ - 100, SNARE), (2 * BAR + 3 * TPQ, SNARE)]
    has_drums, backbeat = backbeat_in_bars(score_of(drums=hits))
    assert has_drums.tolist() == [True, False, True]
    assert backbeat.tolist() == [True, False, True]


def test_bars_argument_pads_or_cuts_the_answer():
    score = groove([ON_2_AND_4] * 4)
    has_drums, backbeat = backbeat_in_bars(score, bars=6)
    assert has_drums.tolist() == [True] * 4 + [False] * 2
    assert backbeat.tolist() == [True] * 4 + [False] * 2
    has_drums, backbeat = backbeat_in_bars(score, bars=2)
    assert has_drums.tolist() == backbeat.tolist() == [True, True]


def test_no_drums_means_no_bar_has_drums():
    has_drums, backbeat = backbeat_in_bars(score_of(pitched=[(0, 60), (BAR, 64)]))
    assert has_drums.tolist() == backbeat.tolist() == [False, False]


@pytest.mark.parametrize(("length", "bars"), [(TPQ, 1), (BAR, 1), (BAR + 1, 2), (4 * BAR, 4), (4 * BAR + 1, 5)])
def test_bar_count_runs_to_the_end_of_the_last_note(length, bars):
    assert bar_count(score_of(pitched=[(0, 60)], length=length)) == bars


def test_bar_count_of_an_empty_score_is_zero():
    assert bar_count(score_of()) == 0


def test_kit_and_hand_percussion_do_not_overlap():
    assert not KIT & HAND_PERCUSSION
    assert BACKBEAT <= KIT
    assert {62, 63, 64, 75, 82} <= HAND_PERCUSSION


@pytest.mark.parametrize(
    ("hand", "kit", "share"),
    [
        ((62, 63, 64, 75, 82), (KICK, SNARE, HAT, HAT, HAT), 0.5),
        ((82,), (KICK, SNARE, HAT), 0.25),
        ((), (KICK, SNARE, HAT), 0.0),
        ((62, 75), (), 1.0),
    ],
)
def test_hand_percussion_share(hand, kit, share):
    hits = [(i * EIGHTH, pitch) for i, pitch in enumerate(hand + kit)]
    assert hand_percussion_share(score_of(drums=hits)) == pytest.approx(share)


def test_hand_percussion_counts_only_drum_tracks():
    # pitch 62 on a keys track is a D, not a conga
    score = score_of(drums=[(0, KICK)], pitched=[(0, 62), (TPQ, 63)])
    assert hand_percussion_share(score) == 0.0


@pytest.mark.parametrize("score", [score_of(), score_of(pitched=[(0, 62)])], ids=["empty", "keys-only"])
def test_hand_percussion_share_is_nan_without_drums(score):
    assert math.isnan(hand_percussion_share(score))


@pytest.mark.parametrize("offbeat", [120, 130, 139, 150, 160])
def test_swing_ratio_is_where_the_offbeat_sixteenth_lands(offbeat):
    assert swing_ratio(sixteenths(offbeat)) == pytest.approx(offbeat / EIGHTH)


def test_swing_ratio_counts_pitched_parts_too():
    notes = [(eighth * EIGHTH + delta, 60) for eighth in range(8) for delta in (0, 144)]
    assert swing_ratio(score_of(pitched=notes)) == pytest.approx(0.6)


def test_swing_ratio_is_the_median_offbeat():
    hits = [(0, HAT), (130, HAT), (EIGHTH, HAT), (EIGHTH + 140, HAT), (2 * EIGHTH, HAT), (2 * EIGHTH + 160, HAT)]
    assert swing_ratio(score_of(drums=hits)) == pytest.approx(140 / EIGHTH)


@pytest.mark.parametrize(
    "score",
    [
        score_of(),
        score_of(drums=[(beat * TPQ, KICK) for beat in range(8)]),
        score_of(pitched=[(i * EIGHTH, 60) for i in range(16)]),
        sixteenths(60),  # thirty-seconds and flams sit outside the middle of the eighth
        sixteenths(200),
    ],
    ids=["empty", "quarters", "eighths", "32nds", "late-flams"],
)
def test_swing_ratio_is_nan_without_offbeat_sixteenths(score):
    assert math.isnan(swing_ratio(score))


@settings(max_examples=40, deadline=None)
@given(ratio=st.floats(min_value=0.5, max_value=0.67), bars=st.integers(min_value=1, max_value=4))
def test_swing_ratio_recovers_the_swing_of_a_hat_pattern(ratio, bars):
    found = swing_ratio(sixteenths(round(ratio * EIGHTH), bars=bars))
    # the offbeat lands on a whole tick: at most half a tick off
    assert abs(found - ratio) <= 0.5 / EIGHTH + 1e-12
