"""The quality gate on hand-built loops: each fault it must catch, one at a time."""

import pytest
from symusic import Note, Track

from helpers import make_score
from lofi.compose.arrange import bars_of
from lofi.compose.gate import fill_problems, loop_problems, melody_problems
from lofi.theory import Key, detect_chords

C_MAJOR = Key.parse("C major")


def _check(score, key=C_MAJOR):
    return loop_problems(score, bars_of(score, count=4), key)


def _without(score, keep):
    for track in score.tracks:
        kept = [n for n in track.notes if keep(track, n)]
        track.notes.clear()
        track.notes.extend(kept)
    return score


def test_a_good_loop_passes():
    problems, _ = _check(make_score(bars=4))
    assert problems == []


def test_the_relative_minor_is_the_same_key_signature():
    assert _check(make_score(bars=4), Key.parse("A minor"))[0] == []


@pytest.mark.parametrize(
    ("fault", "complaint"),
    [
        (lambda t, n: not t.is_drum, "drums in 0 of 4 bars"),
        (lambda t, n: not (t.is_drum and n.pitch == 38 and n.time >= 1920), "backbeat in 1 of 4 bars"),
        (lambda t, n: t.program != 33 or n.time < 3 * 1920, "bass in 3 of 4 bars"),
        (lambda t, n: t.is_drum or t.program == 33, "chords in 0 of 4 bars"),
    ],
)
def test_each_missing_layer_is_named(fault, complaint):
    _, good_score = _check(make_score(bars=4))
    problems, score = _check(_without(make_score(bars=4), fault))
    assert any(complaint in p for p in problems), problems
    assert score < good_score


def test_triads_are_not_lo_fi_chords():
    triads = make_score(bars=4, chords=((48, 52, 55), (53, 57, 60), (55, 59, 62), (48, 52, 55)))
    assert any("seventh chords" in p for p in _check(triads)[0])


def test_a_loop_in_another_key_is_caught():
    problems, _ = _check(make_score(bars=4), Key.parse("F# major"))
    assert any(p.startswith("sounds in") for p in problems)


def test_a_jump_at_the_seam_is_caught():
    jumpy = make_score(bars=4, chords=((50, 53, 57, 60), (43, 47, 50, 53), (48, 52, 55, 59), (69, 72, 76, 79)))
    assert any("jumps" in p and "seam" in p for p in _check(jumpy)[0])


def test_stacked_notes_are_caught():
    score = make_score(bars=4)
    keys = next(t for t in score.tracks if t.program == 4)
    keys.notes.append(keys.notes[0].copy())
    assert "1 stacked notes" in _check(score)[0]


def test_a_cluster_is_not_a_voicing():
    score = make_score(bars=4)
    keys = next(t for t in score.tracks if t.program == 4)
    keys.notes.extend(Note(0, 480, p, 60) for p in range(64, 72))
    assert any("cluster" in p for p in _check(score)[0])


def test_a_fill_must_keep_the_backbeat_and_change_something():
    plain = bars_of(make_score(bars=1), count=1)[0]
    same_score = make_score(bars=1)
    assert "the same as the loop's bar" in fill_problems(same_score, plain, plain)[0]
    fill_score = make_score(bars=1)
    next(t for t in fill_score.tracks if t.is_drum).notes.append(Note(1800, 60, 45, 90))
    assert fill_problems(fill_score, bars_of(fill_score, count=1)[0], plain)[0] == []
    no_snare = _without(make_score(bars=1), lambda t, n: not (t.is_drum and n.pitch == 38))
    assert "no backbeat" in fill_problems(no_snare, bars_of(no_snare, count=1)[0], plain)[0]


@pytest.mark.parametrize(("notes_per_bar", "ok"), [(0, False), (1, False), (2, True), (10, True), (12, False)])
def test_a_melody_is_present_and_sparse(notes_per_bar, ok):
    bars = [{(73, False): [Note(i * 90, 80, 72, 80) for i in range(notes_per_bar)]} for _ in range(4)]
    assert (melody_problems(make_score(bars=4), bars, C_MAJOR)[0] == []) is ok


def test_a_melody_that_pulls_the_loop_out_of_key_is_caught():
    score = make_score(bars=4)
    flute = Track(name="flute", program=73)  # F# and C# over and over: the loop now leans to B minor / D major
    flute.notes.extend(Note(i * 240, 240, (78, 73, 71, 74)[i % 4], 90) for i in range(32))
    score.tracks.append(flute)
    bars = bars_of(score, count=4)
    problems, _ = melody_problems(score, bars, C_MAJOR)
    assert any("with the melody the loop sounds in" in p for p in problems), problems
    assert melody_problems(make_score(bars=4), bars, C_MAJOR)[0] == []  # the same notes over the loop alone


def test_a_melody_that_changes_a_bars_chord_is_caught():
    loop = make_score(bars=4)
    chords = detect_chords(loop, per="bar")
    with_melody = make_score(bars=4)
    flute = Track(name="flute", program=73)  # bar 2 (G7): a loud G-B-D on top drowns the seventh: a plain G
    flute.notes.extend(Note(1920 + i * 480, 480, p, 100) for i in range(4) for p in (79, 83, 86))
    with_melody.tracks.append(flute)
    problems, _ = melody_problems(with_melody, bars_of(with_melody, count=4), C_MAJOR, chords)
    assert "the melody changes the chord of bar 2" in problems, problems
    quiet = make_score(bars=4)
    quiet.tracks.append(Track(name="flute", program=73))
    quiet.tracks[-1].notes.extend(Note(b * 1920, 480, 79, 80) for b in range(4) for _ in range(1))  # G, a 5th/9th
    assert not any(
        "changes the chord" in p for p in melody_problems(quiet, bars_of(quiet, count=4), C_MAJOR, chords)[0]
    )
