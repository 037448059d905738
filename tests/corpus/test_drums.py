import random
from collections import Counter

import pytest

from lofi.corpus import drums
from lofi.corpus.drums import FILLS, PATTERNS, VELOCITY, Pattern, bar_hits
from lofi.theory.groove import BACKBEAT, KICKS, KIT

BANK = PATTERNS + FILLS
TPQ = 480
SIXTEENTH = TPQ // 4


def _bars(pattern: Pattern) -> list[tuple[int, list[tuple[int, int, int]]]]:
    return [(bar, pattern.hits(bar)) for bar in range(pattern.bars)]


def test_the_bank_is_large_enough_and_its_names_are_unique():
    assert len(PATTERNS) >= 40
    assert len(FILLS) >= 8
    names = [p.name for p in BANK]
    repeated = [name for name, n in Counter(names).items() if n > 1]
    assert not repeated, f"names used twice: {repeated}"


@pytest.mark.parametrize("pattern", BANK, ids=lambda p: p.name)
def test_every_bar_has_a_kick_on_one_and_the_backbeat_on_two_and_four(pattern):
    for bar, hits in _bars(pattern):
        kick_steps = {step for step, note, _ in hits if note in KICKS}
        backbeat_steps = {step for step, note, _ in hits if note in BACKBEAT}
        assert 0 in kick_steps, f"{pattern.name}, bar {bar}: no kick on step 0"
        assert {4, 12} <= backbeat_steps, f"{pattern.name}, bar {bar}: backbeat on steps {sorted(backbeat_steps)}"


@pytest.mark.parametrize("pattern", BANK, ids=lambda p: p.name)
def test_every_pattern_swings_like_an_mpc_on_a_real_kit(pattern):
    assert 0.54 <= pattern.swing <= 0.62
    assert {note for note, _ in pattern.lanes} <= KIT  # no hand percussion in lofi's own beats
    for note, steps in pattern.lanes:
        # "|" splits whole bars: a misplaced one would shift every hit after it
        assert all(len(chunk) == drums.STEPS for chunk in steps.split("|")), f"{pattern.name}: lane {note} {steps!r}"


def test_fills_are_one_bar():
    assert [f.name for f in FILLS if f.bars != 1] == []


def test_bars_wrap_around():
    two = next(p for p in PATTERNS if p.bars == 2)
    assert two.hits(2) == two.hits(0)
    assert two.hits(3) == two.hits(1)
    assert two.hits(0) != two.hits(1)


@pytest.mark.parametrize(
    ("lanes", "message"),
    [
        (((36, "X" + "." * 15), (38, "....X.......X.")), "same whole number of 16-step bars"),
        (((36, "X" + "." * 14),), "same whole number of 16-step bars"),
        (((36, "X......z..x....."),), "unknown step letters"),
    ],
)
def test_a_malformed_pattern_is_refused_with_the_reason(lanes, message):
    with pytest.raises(ValueError, match=message):
        Pattern("broken", lanes, 0.56)


def test_a_swing_outside_the_mpc_range_is_refused():
    with pytest.raises(ValueError, match="swing"):
        Pattern("triplet+", ((36, "X" + "." * 15),), 0.7)


@pytest.mark.parametrize("swing", [None, 0.5, 0.54, 0.58, 0.62])
def test_odd_sixteenths_land_on_the_swung_tick_and_even_ones_on_the_grid(swing):
    pattern = Pattern("all steps", ((drums.HAT, "x" * 16), (drums.KICK, "X" + "." * 15)), 0.6)
    used = pattern.swing if swing is None else swing
    hits = bar_hits(pattern, 0, TPQ, random.Random(1), swing)
    assert len(hits) == len(pattern.hits(0))
    for (step, note, _), (tick, hit_note, _, duration) in zip(pattern.hits(0), hits, strict=True):
        expected = step * SIXTEENTH + (round((used - 0.5) * 2 * SIXTEENTH) if step % 2 else 0)
        assert (tick, hit_note) == (expected, note), f"step {step}"
        assert duration == SIXTEENTH


def test_laid_back_ticks_move_only_the_backbeat():
    # a ghost snare on step 11 and hats on every eighth: only steps 4 and 12 of the snare move
    pattern = next(p for p in PATTERNS if p.name == "boom bap late")
    straight = bar_hits(pattern, 0, TPQ, random.Random(7))
    late = bar_hits(pattern, 0, TPQ, random.Random(7), laid_back_ticks=10)
    moved = []
    for (tick, note, velocity, _), (late_tick, late_note, late_velocity, _) in zip(straight, late, strict=True):
        assert (note, velocity) == (late_note, late_velocity)
        if late_tick != tick:
            moved.append((note, tick))
            assert late_tick == tick + 10
    assert sorted(moved) == [(drums.SNARE, 4 * SIXTEENTH), (drums.SNARE, 12 * SIXTEENTH)]


def test_rim_and_clap_backbeats_are_laid_back_too():
    for name, note in (("rim walk", drums.RIM), ("clap", drums.CLAP)):
        pattern = next(p for p in PATTERNS if p.name == name)
        straight = bar_hits(pattern, 0, TPQ, random.Random(2))
        late = bar_hits(pattern, 0, TPQ, random.Random(2), laid_back_ticks=8)
        moved = sorted((n, t) for (t, n, _, _), (lt, _, _, _) in zip(straight, late, strict=True) if lt != t)
        assert moved == [(note, 4 * SIXTEENTH), (note, 12 * SIXTEENTH)], name


def test_velocities_vary_a_little_around_their_letter():
    pattern = Pattern("forces", ((drums.HAT, "gggg" + "oooo" + "xxxx" + "XXXX"), (drums.KICK, "X" + "." * 15)), 0.56)
    letters = "gggg" + "oooo" + "xxxx" + "XXXX"
    rng = random.Random(5)
    seen: dict[str, set[int]] = {c: set() for c in VELOCITY}
    for _ in range(50):
        for tick, note, velocity, _ in bar_hits(pattern, 0, TPQ, rng):
            if note != drums.HAT:
                continue
            letter = letters[tick // SIXTEENTH]  # swing moves a hit less than a sixteenth
            assert abs(velocity - VELOCITY[letter]) <= 5, f"{letter}: {velocity}"
            seen[letter].add(velocity)
    for letter, values in seen.items():
        assert len(values) >= 3, f"{letter!r} always hit at {sorted(values)}: a drum machine, not a drummer"
    # the forces stay in order: the loudest ghost note is softer than the softest accent
    assert max(seen["g"]) < min(seen["o"]) < min(seen["x"]) < min(seen["X"])


def test_bar_hits_are_deterministic_for_a_seeded_random():
    pattern = next(p for p in PATTERNS if p.bars == 2)
    for bar in range(2):
        a = bar_hits(pattern, bar, TPQ, random.Random(11), 0.58, 6)
        b = bar_hits(pattern, bar, TPQ, random.Random(11), 0.58, 6)
        assert a == b
    assert bar_hits(pattern, 0, TPQ, random.Random(11)) != bar_hits(pattern, 0, TPQ, random.Random(12))


def test_by_tags_selects_patterns_carrying_any_tag():
    rides = drums.by_tags("ride")
    assert rides and all("ride" in p.tags for p in rides)
    either = drums.by_tags("ride", "rim")
    assert set(either) == {p for p in PATTERNS if {"ride", "rim"} & set(p.tags)}
    assert drums.by_tags() == list(PATTERNS)
