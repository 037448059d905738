"""The lead line of a piece: skyline, named leads, drums left out, bad input named."""

from __future__ import annotations

import numpy as np
import pytest
from symusic import Note, Score, Tempo, TimeSignature, Track

from helpers import make_score, write_score
from lofi.analysis.melody import Line, candidate_lines, lead_line, load_score, skyline

TPQ = 480


def piece(*tracks: Track, bpm: float = 120) -> Score:
    score = Score(TPQ)
    score.tempos.append(Tempo(0, bpm))
    score.time_signatures.append(TimeSignature(0, 4, 4))
    score.tracks.extend(tracks)
    return score


def track(name: str, notes: list[tuple[float, float, int]], program: int = 0, drum: bool = False) -> Track:
    """A track from (onset beats, duration beats, pitch)."""
    t = Track(name=name, program=program, is_drum=drum)
    for onset, duration, pitch in notes:
        t.notes.append(Note(round(onset * TPQ), round(duration * TPQ), pitch, 80))
    return t


CHORDS = [(b, 1.0, p) for b in range(4) for p in (60, 64, 67)]  # a C triad on every beat
TUNE = [(0, 1, 72), (1, 1, 74), (2, 1, 76), (3, 1, 79)]


def test_skyline_takes_the_top_note_of_every_onset():
    score = piece(track("keys", CHORDS, program=4), track("flute", TUNE, program=73))
    line = lead_line(score)
    assert line.pitches.tolist() == [72, 74, 76, 79]
    assert line.part == "top line"
    # 120 BPM: a beat is half a second
    np.testing.assert_allclose(line.onsets_s, [0.0, 0.5, 1.0, 1.5])


def test_chord_tops_make_the_top_line_when_nothing_is_above():
    line = lead_line(piece(track("keys", CHORDS, program=4)))
    assert line.pitches.tolist() == [67, 67, 67, 67]


def test_drums_are_ignored_even_when_highest():
    hats = [(b / 2, 0.25, 81) for b in range(8)]
    line = lead_line(piece(track("keys", CHORDS, program=4), track("kit", hats, drum=True)))
    assert line.pitches.tolist() == [67, 67, 67, 67]
    assert len(line) == 4


def test_a_named_lead_track_wins_over_higher_parts():
    high_pad = [(0, 4, 84), (0, 4, 88)]
    lead = [(0, 0.5, 62), (0.5, 0.5, 64), (1, 1, 65), (2, 2, 67)]
    line = lead_line(piece(track("Pad", high_pad, program=89), track("Lead", lead, program=73)))
    assert line.pitches.tolist() == [62, 64, 65, 67]
    assert line.part == "Lead"


def test_a_strummed_chord_is_one_onset_and_the_line_never_overlaps():
    # a strum: notes 10 ms apart (at 120 BPM, 10 ms is ~10 ticks) read as one chord
    strum = Track(name="guitar", program=24, is_drum=False)
    for i, pitch in enumerate((55, 59, 62, 67)):
        strum.notes.append(Note(i * 10, 4 * TPQ, pitch, 70))
    later = track("flute", [(1, 1, 71), (2, 1, 72)], program=73)
    line = lead_line(piece(strum, later))
    assert line.pitches.tolist() == [67, 71, 72]
    ends = line.onsets_s + line.durations_s
    assert np.all(ends[:-1] <= line.onsets_s[1:] + 1e-9)


def test_skyline_of_unsorted_arrays():
    line = skyline(np.array([1.0, 0.0, 1.0, 0.0]), np.array([1.0, 1.0, 1.0, 1.0]), np.array([60, 50, 65, 55]))
    assert line.pitches.tolist() == [55, 65]
    assert line.onsets_s.tolist() == [0.0, 1.0]


def test_candidate_lines_add_a_single_voice_part_hidden_under_a_pad():
    flute = [(b * 0.5, 0.5, 60 + (b * 5) % 12) for b in range(16)]
    pad = [(0, 8, 79), (0, 8, 84)]
    bass = [(b, 1, 36 + b % 5) for b in range(8)]
    score = piece(track("pad", pad, program=89), track("flute", flute, program=73), track("bass", bass, program=33))
    lines = candidate_lines(score)
    parts = [line.part for line in lines]
    assert parts[0] == "top line"
    assert "flute" in parts
    assert "bass" not in parts  # basses are accompaniment, never the tune
    flute_line = lines[parts.index("flute")]
    assert flute_line.pitches.tolist() == [p for _, _, p in flute]


def test_a_held_chord_hides_the_lower_notes_that_start_under_it():
    # keys hold a chord for the whole bar; the bass moves on beat 3 beneath it: not part of the top line
    line = lead_line(make_score(bars=4, drums=True))
    assert line.pitches.tolist() == [72, 65, 71, 67]


def test_a_lower_note_returns_once_the_high_note_ends():
    line = lead_line(piece(track("a", [(0, 1, 80)]), track("b", [(0.5, 0.5, 60), (1, 1, 62)])))
    assert line.pitches.tolist() == [80, 62]


@pytest.mark.parametrize(
    "score",
    [
        piece(),
        piece(track("kit", [(b, 0.25, 36) for b in range(8)], drum=True)),
        piece(Track(name="empty", program=0, is_drum=False)),
    ],
    ids=["empty", "drums only", "empty track"],
)
def test_no_pitched_notes_is_a_clear_error(score):
    with pytest.raises(ValueError, match="no pitched notes"):
        lead_line(score)


def test_load_score_names_what_is_wrong(tmp_path):
    junk = tmp_path / "notes.mid"
    junk.write_text("this is not MIDI")
    with pytest.raises(ValueError, match="not a readable MIDI file"):
        load_score(junk)
    with pytest.raises(FileNotFoundError):
        load_score(tmp_path / "missing.mid")
    good = write_score(make_score(bars=2), tmp_path / "good.mid")
    assert len(load_score(good).tracks) == 3


def test_line_from_notes_sorts_by_onset():
    line = Line.from_notes([2.0, 0.0, 1.0], [1, 1, 1], [64, 60, 62])
    assert line.pitches.tolist() == [60, 62, 64]
    assert len(line) == 3
