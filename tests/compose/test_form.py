import pytest
from hypothesis import given
from hypothesis import strategies as st

from lofi.compose import ComposeRequest
from lofi.compose.form import plan


@given(st.integers(min_value=3, max_value=400))
def test_the_form_fills_the_length_exactly(total):
    slots = plan(total)
    assert sum(s.bars for s in slots) == total
    assert slots[-1].name == "outro" and not slots[-1].drums
    assert all(s.bars > 0 for s in slots)
    body = [s for s in slots if s.name not in ("intro", "outro")]
    assert {"A", "B"} <= {s.material for s in body}  # two distinct generated sections at least
    assert all(s.drums for s in body)
    if slots[0].name == "intro":
        assert not slots[0].drums


def test_a_long_form_returns_to_the_theme_varied():
    names = [s.name for s in plan(60)]
    assert names[:5] == ["intro", "A", "B", "A'", "B"]
    assert names[-1] == "outro"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mood": "angry"}, "unknown mood"),
        ({"bpm": 200}, "bpm must be"),
        ({"minutes": 20}, "minutes must be"),
        ({"key": "H major"}, "cannot read key"),
        ({"seed": -1}, "seed must be"),
    ],
)
def test_requests_are_checked_with_useful_messages(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ComposeRequest(**kwargs)


def test_total_bars_is_the_nearest_whole_bar():
    assert ComposeRequest(bpm=72, minutes=2).total_bars == 36
    assert ComposeRequest(bpm=75, minutes=0.25).total_bars == 5
    assert ComposeRequest(bpm=90, minutes=3).total_bars == 68
