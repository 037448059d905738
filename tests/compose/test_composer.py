import json

import pytest
from symusic import Score

from helpers import make_score, write_score
from lofi.compose import Composer, ComposeRequest, write_track
from lofi.theory import Key


def _pitched_notes(score):
    return [n for t in score.tracks if not t.is_drum for n in t.notes]


@pytest.fixture(scope="module")
def composed(tiny_checkpoint):
    request = ComposeRequest(mood="rainy", bpm=72, key="D minor", minutes=0.5, seed=7)
    return Composer(tiny_checkpoint).compose(request)


def test_tempo_length_and_key_are_the_ones_asked_for(composed):
    score = composed.score
    assert [round(t.qpm, 3) for t in score.tempos] == [72.0]
    bars = ComposeRequest(bpm=72, minutes=0.5).total_bars
    assert score.end() == bars * 4 * score.tpq  # whole bars: the resolution chord closes the last one
    scale = Key.parse("D minor").pitch_classes
    notes = _pitched_notes(score)
    assert notes and all(n.pitch % 12 in scale for n in notes)


def test_the_track_ends_on_the_tonic_without_drums(composed):
    score = composed.score
    last_bar = score.end() - 4 * score.tpq
    drums_at_end = [n for t in score.tracks if t.is_drum for n in t.notes if n.time >= last_bar]
    assert drums_at_end == []
    final = [n for n in _pitched_notes(score) if n.time >= last_bar]
    lowest = min(final, key=lambda n: n.pitch)
    assert lowest.pitch % 12 == Key.parse("D minor").tonic


def test_metadata_describes_the_track(composed):
    meta = composed.metadata
    assert meta["key"] == "D minor" and meta["bpm"] == 72 and meta["seed"] == 7
    assert meta["request"]["mood"] == "rainy"
    assert len(meta["chords"]) == meta["bars"]
    assert sum(s["bars"] for s in meta["form"]) == meta["bars"]
    assert meta["duration_s"] == pytest.approx(meta["bars"] * 4 * 60 / 72, abs=0.01)


def test_same_request_same_seed_same_bytes(tiny_checkpoint, tmp_path):
    request = ComposeRequest(mood="chill", bpm=80, key="Bb major", minutes=0.3, seed=11)
    folders = [write_track(Composer(tiny_checkpoint).compose(request), tmp_path / str(i)) for i in range(2)]
    assert (folders[0] / "track.mid").read_bytes() == (folders[1] / "track.mid").read_bytes()
    other = Composer(tiny_checkpoint).compose(
        ComposeRequest(mood="chill", bpm=80, key="Bb major", minutes=0.3, seed=12)
    )
    other_folder = write_track(other, tmp_path / "other")
    assert (other_folder / "track.mid").read_bytes() != (folders[0] / "track.mid").read_bytes()


def test_track_folder_holds_midi_and_metadata_and_no_temporaries(composed, tmp_path):
    folder = write_track(composed, tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == ["metadata.json", "track.mid"]
    assert json.loads((folder / "metadata.json").read_text())["track_id"] == folder.name
    assert Score(str(folder / "track.mid")).end() == composed.score.end()


def test_free_key_lets_the_model_leave_the_scale(tiny_checkpoint):
    # the tiny model learned D minor pieces with C# (A7) and C major ones: asked for E major
    # without the constraint, it plays notes outside E major's scale
    request = ComposeRequest(bpm=80, key="E major", minutes=0.5, seed=3, strict_key=False)
    notes = _pitched_notes(Composer(tiny_checkpoint).compose(request).score)
    assert any(n.pitch % 12 not in Key.parse("E").pitch_classes for n in notes)


def test_continue_from_a_file(tiny_checkpoint, tmp_path):
    source = write_score(make_score(bars=12, bpm=84), tmp_path / "start.mid")
    request = ComposeRequest(bpm=84, key="D minor", minutes=0.3, seed=1, continue_from=source)
    composition = Composer(tiny_checkpoint).compose(request)
    assert composition.metadata["request"]["continue_from"] == str(source)
    assert composition.score.end() == request.total_bars * 4 * composition.score.tpq


def test_the_band_is_drums_and_at_most_four_pitched_parts(composed):
    pitched = {t.program for t in composed.score.tracks if not t.is_drum and len(t.notes)}
    assert 2 <= len(pitched) <= 4


def test_ensemble_keeps_the_busiest_parts_and_a_bass():
    from symusic import Note, Score, Track

    from lofi.compose.composer import ensemble

    score = Score(480)
    for program, count in ((0, 50), (4, 40), (26, 30), (73, 20), (89, 10), (33, 5)):
        track = Track(program=program)
        track.notes.extend(Note(i * 10, 10, 60, 80) for i in range(count))
        score.tracks.append(track)
    assert ensemble(score) == {-1, 0, 4, 26, 33}  # the bass replaces the fourth busiest part


def test_section_quality_wants_drums_and_filled_bars():
    from lofi.compose.composer import section_quality

    problems, full_score = section_quality(make_score(bars=8), 8)
    assert problems == []
    no_drums, no_drums_score = section_quality(make_score(bars=8, drums=False), 8)
    assert "drums" in no_drums and no_drums_score < full_score
    sparse = make_score(bars=8)
    for track in sparse.tracks:
        if not track.is_drum:
            kept = [n for n in track.notes if n.time < 2 * 4 * 480]  # only the first two bars play
            track.notes.clear()
            track.notes.extend(kept)
    thin, thin_score = section_quality(sparse, 8)
    assert "filled" in thin and thin_score < full_score


def test_the_quality_gate_rejects_silent_beats_and_a_collapsed_range():
    from lofi.compose.composer import section_quality

    gappy = make_score(bars=8)
    for track in gappy.tracks:  # every part rests in bars 3 and 4: eight empty beats of 32
        kept = [n for n in track.notes if not 2 * 1920 <= n.time < 4 * 1920]
        track.notes.clear()
        track.notes.extend(kept)
    assert "empty_beat_rate" in section_quality(gappy, 8)[0]
    narrow = make_score(bars=8, chords=((60, 62, 64, 65),))  # one cluster over and over
    assert "pitch_class_entropy" in section_quality(narrow, 8)[0]
    del narrow.tracks[1]  # without the bass, five semitones from top to bottom
    assert "pitch_range" in section_quality(narrow, 8)[0]


def test_metadata_records_the_tries_and_what_the_gate_rejected(composed):
    meta = composed.metadata
    assert set(meta["section_tries"]) == set(meta["quality_gate"]) == {"A", "B", "A'"}
    for name, tries in meta["section_tries"].items():
        rejected = meta["quality_gate"][name]
        assert 1 <= tries <= 4
        # every try before the kept one was rejected for a named reason
        assert len(rejected) in (tries - 1, tries)
        assert all(reasons for reasons in rejected)


def test_the_fingerprint_names_request_seed_and_model(tiny_checkpoint, composed):
    again = Composer(tiny_checkpoint).compose(ComposeRequest(mood="rainy", bpm=72, key="D minor", minutes=0.5, seed=7))
    assert again.metadata["fingerprint"] == composed.metadata["fingerprint"]
    other = ComposeRequest(mood="rainy", bpm=72, key="D minor", minutes=0.5, seed=8)
    assert other.fingerprint(composed.metadata["model_id"]) != composed.metadata["fingerprint"]
