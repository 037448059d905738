"""Each metric on small pieces whose values are worked out by hand."""

import math

import pytest
from symusic import Note, Score, Tempo, TimeSignature, Track

from helpers import make_score
from lofi.analysis.metrics import (
    TYPICAL_RANGES,
    Metrics,
    chord_irregularity,
    compute_metrics,
    normal_ranges,
    outside,
    quality_score,
)
from lofi.theory import Chord, Key

TPQ = 480
C_MAJOR_SCALE = (60, 62, 64, 65, 67, 69, 71)


def piece(notes=(), drums=(), bpm=120.0, tpq=TPQ):
    """A score from (start beat, length in beats, pitch) triples; ``drums`` the same for a drum track."""
    score = Score(tpq)
    score.tempos.append(Tempo(0, bpm))
    score.time_signatures.append(TimeSignature(0, 4, 4))
    for triples, is_drum in ((notes, False), (drums, True)):
        if triples:
            track = Track(name="drums" if is_drum else "keys", program=0 if is_drum else 4, is_drum=is_drum)
            for start, length, pitch in triples:
                track.notes.append(Note(round(start * tpq), round(length * tpq), pitch, 80))
            score.tracks.append(track)
    return score


def scale_piece():
    """C major scale, one note a beat, quarter notes."""
    return piece([(i, 1, p) for i, p in enumerate(C_MAJOR_SCALE)])


def block_chords(chords, beats_each=4):
    """Root-position triads, each held ``beats_each`` beats, bass on the root an octave below."""
    notes = []
    for i, chord in enumerate(chords):
        root = Chord.parse(chord).root
        third = 3 if chord.endswith("m") else 4
        notes += [(i * beats_each, beats_each, 60 + root + interval) for interval in (0, third, 7)]
        notes.append((i * beats_each, beats_each, 48 + root))
    return piece(notes)


def test_c_major_scale_one_note_a_beat():
    m = compute_metrics(scale_piece(), Key.parse("C major"))
    assert m.pitch_class_entropy == pytest.approx(math.log2(7))  # 7 pitch classes, equally often
    assert m.scale_consistency == 1.0
    assert m.pitch_in_key == 1.0
    assert m.pitch_range == 11
    assert m.empty_beat_rate == 0.0
    assert m.polyphony == pytest.approx(1.0)
    assert m.polyphony_rate == 0.0
    assert m.notes_per_bar == pytest.approx(7 / 2)  # seven notes over two (started) bars
    assert m.mean_ioi_s == pytest.approx(0.5)  # a beat at 120 BPM


def test_pitch_in_key_counts_notes_in_the_given_key():
    # of C D E F G A B only F (E#) and B are in F# major
    assert compute_metrics(scale_piece(), Key.parse("F# major")).pitch_in_key == pytest.approx(2 / 7)
    # no key given: the detected one, which for a plain scale holds every note
    assert compute_metrics(scale_piece()).pitch_in_key == 1.0


def test_scale_consistency_is_the_best_of_the_24_scales():
    m = compute_metrics(piece([*((i, 1, p) for i, p in enumerate(C_MAJOR_SCALE)), (7, 1, 61)]))
    assert m.scale_consistency == pytest.approx(7 / 8)  # C major holds all but the C#
    assert m.pitch_class_entropy == pytest.approx(3.0)  # 8 pitch classes, once each


def test_a_held_triad_has_polyphony_three():
    m = compute_metrics(piece([(0, 4, 60), (0, 4, 64), (0, 4, 67)]))
    assert m.polyphony == pytest.approx(3.0)
    assert m.polyphony_rate == 1.0  # every step has more than two pitches
    assert m.pitch_range == 7
    assert m.pitch_class_entropy == pytest.approx(math.log2(3))


def test_polyphony_rate_counts_steps_over_the_threshold_against_the_whole_song():
    # a triad for two beats, then a single note for two: 3 pitches half the time, 1 the other half
    m = compute_metrics(piece([(0, 2, 60), (0, 2, 64), (0, 2, 67), (2, 2, 72)]))
    assert m.polyphony == pytest.approx(2.0)
    assert m.polyphony_rate == pytest.approx(0.5)
    # a doubled pitch (two tracks on one note) sounds once
    doubled = piece([(0, 4, 60), (0, 4, 60)])
    assert compute_metrics(doubled).polyphony == pytest.approx(1.0)


def test_empty_beat_rate_of_a_silent_bar():
    # bar 1 of three is silent; short notes end inside their beat: beats 4-7 of 12 are empty
    staccato = [(b, 0.9, 60) for b in (*range(4), *range(8, 12))]
    assert compute_metrics(piece(staccato)).empty_beat_rate == pytest.approx(4 / 12)


def test_empty_beat_rate_counts_the_beat_a_note_ends_on_as_muspy_does():
    # legato quarter notes end on the next beat line: MusPy marks that beat too, and the song has
    # length // tpq + 1 = 13 beats, so beats 5, 6 and 7 are the empty ones
    legato = [(b, 1, 60) for b in (*range(4), *range(8, 12))]
    assert compute_metrics(piece(legato)).empty_beat_rate == pytest.approx(3 / 13)


def test_identical_bars_have_groove_consistency_one():
    groove = [(bar * 4 + b / 2, 0.25, 42) for bar in range(4) for b in range(8)]
    assert compute_metrics(piece(drums=groove)).groove_consistency == 1.0
    # hits a few ticks off the grid land on it
    humanized = [(start + (0.02 if i % 3 else -0.02), length, p) for i, (start, length, p) in enumerate(groove)]
    assert compute_metrics(piece(drums=humanized)).groove_consistency == 1.0


def test_groove_consistency_of_alternating_bars():
    # bar A: onsets on every beat (4 of 16 sixteenths); bar B: on beats 1 and 3; A B A B
    notes = [(bar * 4 + b, 0.5, 60) for bar in range(4) for b in ((0, 1, 2, 3) if bar % 2 == 0 else (0, 2))]
    # every neighbouring pair differs in 2 of 16 positions
    assert compute_metrics(piece(notes)).groove_consistency == pytest.approx(1 - 2 / 16)


def test_groove_consistency_counts_drums_and_needs_two_bars():
    one_bar = piece([(0, 1, 60)], drums=[(b, 0.25, 36) for b in range(4)])
    assert math.isnan(compute_metrics(one_bar).groove_consistency)


def test_chord_irregularity_of_a_known_progression():
    loop = ["C", "Am", "F", "G"] * 3
    assert chord_irregularity(loop) == pytest.approx(4 / 10)  # 10 trigrams, 4 of them distinct
    assert chord_irregularity(["C", "F", "G", "Am", "Dm", "Em"]) == 1.0
    assert math.isnan(chord_irregularity(["C", "G"]))


def test_chord_irregularity_of_a_score_merges_held_chords():
    # detected per beat, a chord held for a bar is one chord event: C Am F G C Am F G, 6 trigrams, 4 distinct
    loop = compute_metrics(block_chords(["C", "Am", "F", "G"] * 2))
    assert loop.chord_irregularity == pytest.approx(4 / 6)
    # C held over two bars is still one event: C F G C F G, 4 trigrams, 3 distinct
    held = compute_metrics(block_chords(["C", "C", "F", "G"] * 2))
    assert held.chord_irregularity == pytest.approx(3 / 4)


def test_tempo_changes_the_seconds_not_the_bars():
    slow = compute_metrics(piece([(i, 1, p) for i, p in enumerate(C_MAJOR_SCALE)], bpm=60))
    fast = compute_metrics(scale_piece())
    assert slow.mean_ioi_s == pytest.approx(1.0)
    assert slow.notes_per_bar == fast.notes_per_bar


def test_a_score_in_seconds_gives_the_same_metrics():
    score = make_score(bars=8)
    assert compute_metrics(score.to("second")).to_dict() == pytest.approx(compute_metrics(score).to_dict())


def test_empty_score_is_undefined_not_an_error():
    m = compute_metrics(Score(TPQ))
    for name in Metrics.names():
        if name != "quality":
            assert math.isnan(getattr(m, name)), name
    assert m.quality == 0.0


def test_drums_only_has_no_pitch_metrics_but_a_groove():
    groove = [(bar * 4 + b, 0.25, 36) for bar in range(4) for b in range(4)]
    m = compute_metrics(piece(drums=groove))
    for name in ("pitch_class_entropy", "scale_consistency", "pitch_in_key", "polyphony", "pitch_range"):
        assert math.isnan(getattr(m, name)), name
    assert math.isnan(m.mean_ioi_s) and math.isnan(m.chord_irregularity)
    assert m.groove_consistency == 1.0
    assert m.empty_beat_rate == 0.0
    assert m.notes_per_bar == 0.0 and m.polyphony_rate == 0.0
    assert 0.0 <= m.quality < 0.5


def test_a_full_band_is_a_typical_track():
    m = compute_metrics(make_score(bars=16), Key.parse("C major"))
    assert m.quality > 0.8
    assert 0.0 <= m.quality <= 1.0
    assert Metrics.from_dict(m.to_dict()) == m


def test_quality_score_falls_linearly_outside_a_range():
    ranges = {"polyphony": (2.0, 4.0)}
    assert quality_score({"polyphony": 3.0}, ranges) == 1.0
    assert quality_score({"polyphony": 5.0}, ranges) == pytest.approx(0.5)  # half a range-width above
    assert quality_score({"polyphony": 0.0}, ranges) == 0.0  # a full width below
    assert quality_score({"polyphony": math.nan}, ranges) == 0.0
    both = {"polyphony": (2.0, 4.0), "pitch_range": (10.0, 20.0)}
    assert quality_score({"polyphony": 3.0, "pitch_range": 25.0}, both) == pytest.approx(0.75)
    # a point range still has a slope
    assert 0.0 < quality_score({"empty_beat_rate": 0.01}, {"empty_beat_rate": (0.0, 0.0)}) < 1.0
    assert set(TYPICAL_RANGES) == set(Metrics.names()) - {"quality"}


def _metrics(**values):
    base = dict.fromkeys(Metrics.names(), 0.5)
    return Metrics(**(base | values))


def test_normal_ranges_are_percentiles_and_outside_names_the_misfits():
    tracks = [_metrics(polyphony=float(p), pitch_range=math.nan if p == 0 else 20.0) for p in range(101)]
    ranges = normal_ranges(tracks)
    assert ranges["polyphony"] == pytest.approx((5.0, 95.0))
    assert ranges["pitch_range"] == (20.0, 20.0)  # the NaN is ignored
    assert "quality" not in ranges
    assert outside(_metrics(polyphony=50.0, pitch_range=20.0), ranges) == []
    assert outside(_metrics(polyphony=99.0, pitch_range=math.nan), ranges) == ["polyphony", "pitch_range"]
    with pytest.raises(ValueError, match="percentiles"):
        normal_ranges(tracks, 90, 10)
