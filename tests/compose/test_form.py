import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lofi.compose import ComposeRequest
from lofi.compose.form import LOOP_BARS, MAX_MELODIES_PER_LOOP, melodies, plan


def _bar_owners(sections):
    """(section, bar inside the section) for every bar of the track."""
    return [(s, offset) for s in sections for offset in range(s.bars)]


@given(st.integers(min_value=3, max_value=400))
def test_the_form_fills_the_length_exactly(total):
    sections = plan(total)
    assert sum(s.bars for s in sections) == total
    assert all(s.bars > 0 for s in sections)
    outro = sections[-1]
    assert outro.name == "outro" and not outro.drums and outro.melody is None
    if sections[0].name == "intro":  # the keys and the bass, no drums yet
        assert not sections[0].drums and sections[0].keys and sections[0].melody is None
    # the bass never leaves: every bar's chord is the loop's, intro and outro included
    assert all(s.bass for s in sections)
    body = [s for s in sections if s.name not in ("intro", "outro")]
    assert body and all(s.bass for s in body)  # the bass plays under every bar between intro and outro
    assert body[0].drums and body[0].loop == 0
    assert body[-1].drums  # a breakdown returns to the drums before the outro


@given(st.integers(min_value=32, max_value=400))
def test_the_harmony_loops_under_most_bars(total):
    # the bar four bars back plays the same bar of the same loop in at least 80% of the bars
    owners = _bar_owners(plan(total))
    same = [
        (a.loop, i % LOOP_BARS) == (b.loop, j % LOOP_BARS)
        for (a, i), (b, j) in zip(owners[LOOP_BARS:-1], owners[: -LOOP_BARS - 1], strict=True)
    ]
    assert sum(same) / len(same) >= 0.8


def test_a_three_minute_track_brings_layers_in_and_out():
    sections = plan(ComposeRequest(bpm=80, minutes=3).total_bars)
    names = [s.name for s in sections]
    assert names[:5] == ["intro", "A", "A'", "breakdown", "A''"]
    a, b, breakdown, a2 = sections[1:5]
    assert a.drums and a.melody is None  # drums in at A
    assert b.melody is not None and a2.melody is not None and a2.melody != b.melody  # a new top line at A'
    assert not breakdown.drums and breakdown.bass  # the breakdown drops the drums, not the bass
    assert {s.loop for s in sections} == {0}  # three minutes on one loop


def test_long_tracks_get_more_loops_and_more_melodies():
    short, long = (
        plan(ComposeRequest(bpm=80, minutes=3).total_bars),
        plan(ComposeRequest(bpm=80, minutes=10).total_bars),
    )
    assert len({s.loop for s in long}) >= 3 > len({s.loop for s in short})
    assert len(melodies(long)) > len(melodies(short))
    # every loop comes back to the first one in between
    loops = [s.loop for s in long if s.name not in ("intro", "outro")]
    changes = [(a, b) for a, b in itertools.pairwise(loops) if a != b]
    assert all(0 in change for change in changes)


def test_melodies_are_written_once_per_loop_and_index():
    sections = plan(400)
    wanted = melodies(sections)
    assert len(wanted) == len(set(wanted))
    assert all(0 <= index < MAX_MELODIES_PER_LOOP for _, index in wanted)


def test_the_form_says_what_plays_where():
    entry = plan(60)[2].to_dict()
    assert entry == {"section": "A'", "bars": 8, "loop": 0, "drums": True, "bass": True, "melody": True, "keys": True}


def test_a_form_needs_three_bars():
    with pytest.raises(ValueError, match="at least 3 bars"):
        plan(2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mood": "angry"}, "unknown mood"),
        ({"bpm": 200}, "bpm must be"),
        ({"minutes": 20}, "minutes must be"),
        ({"key": "H major"}, "cannot read key"),
        ({"key": "blues"}, "needs a tonic"),
        ({"seed": -1}, "seed must be"),
        ({"swing": 0.8}, "swing must be"),
    ],
)
def test_requests_are_checked_with_useful_messages(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ComposeRequest(**kwargs)


def test_total_bars_is_the_nearest_whole_bar():
    assert ComposeRequest(bpm=72, minutes=2).total_bars == 36
    assert ComposeRequest(bpm=75, minutes=0.25).total_bars == 5
    assert ComposeRequest(bpm=90, minutes=3).total_bars == 68
