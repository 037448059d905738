import json

import pytest
from symusic import Score

from helpers import make_score, write_score
from lofi.analysis.figures import compute_figures, stacked_share
from lofi.compose import Composer, ComposeRequest, composer, write_track
from lofi.compose.arrange import bars_of
from lofi.compose.composer import MAX_HARMONY_PARTS, band
from lofi.instruments import BASS_PROGRAMS, MELODY_PROGRAMS
from lofi.theory import Key


def _pitched_notes(score):
    return [n for t in score.tracks if not t.is_drum for n in t.notes]


@pytest.fixture(scope="module")
def composed(tiny_checkpoint):
    request = ComposeRequest(mood="rainy", bpm=72, key="D minor", minutes=0.75, seed=7)
    return Composer(tiny_checkpoint).compose(request)


def test_tempo_length_and_key_are_the_ones_asked_for(composed):
    score = composed.score
    assert [round(t.qpm, 3) for t in score.tempos] == [72.0]
    bars = ComposeRequest(bpm=72, minutes=0.75).total_bars
    assert score.end() == bars * 4 * score.tpq  # whole bars: the resolution chord closes the last one
    scale = Key.parse("D minor").usable_pitch_classes
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


def test_the_arrangement_matches_the_form_in_metadata(composed):
    meta = composed.metadata
    figures = compute_figures(composed.score, meta["form"], meta["chords"])
    assert figures.drum_coverage == 1.0 and figures.bass_coverage == 1.0
    bar = 4 * composed.score.tpq
    start = 0
    for section in meta["form"]:
        end = start + section["bars"] * bar
        drums = [n for t in composed.score.tracks if t.is_drum for n in t.notes if start <= n.time < end]
        assert bool(drums) == section["drums"], section
        start = end


def test_no_stacked_notes_and_the_swing_is_written(composed):
    assert stacked_share(composed.score) == 0.0
    swing = composed.metadata["swing"]
    assert 0.54 <= swing <= 0.62
    eighth = composed.score.tpq // 2
    onsets = [n.time % eighth for t in composed.score.tracks for n in t.notes]
    assert eighth // 2 not in onsets  # no off-beat sixteenth left on the straight grid (test_arrange: where)


def test_metadata_describes_the_track(composed):
    meta = composed.metadata
    assert meta["key"] == "D minor" and meta["bpm"] == 72 and meta["seed"] == 7
    assert meta["request"]["mood"] == "rainy"
    assert len(meta["chords"]) == meta["bars"]
    assert sum(s["bars"] for s in meta["form"]) == meta["bars"]
    assert all({"section", "bars", "loop", "drums", "bass", "melody"} <= set(s) for s in meta["form"])
    assert meta["duration_s"] == pytest.approx(meta["bars"] * 4 * 60 / 72, abs=0.01)


def test_metadata_records_every_pass_and_what_the_gate_rejected(composed):
    meta = composed.metadata
    assert {"loop 1", "fill 1"} <= set(meta["tries"]) == set(meta["quality_gate"])
    for name, tries in meta["tries"].items():
        rejected = meta["quality_gate"][name]
        assert 1 <= tries <= composer.TRIES[name.split()[0]]
        assert len(rejected) in (tries - 1, tries)  # every try before the kept one was rejected for a reason
        assert all(reasons for reasons in rejected)
    # a loop kept after failing every try is named in review; nothing fails silently
    for name, rejected in meta["quality_gate"].items():
        if name.startswith("loop") and len(rejected) == meta["tries"][name]:
            assert any(r.startswith(name) for r in meta["review"])


def test_a_loop_that_fails_every_try_marks_the_track_for_review(tiny_checkpoint, monkeypatch):
    monkeypatch.setattr(composer.gate, "loop_problems", lambda score, bars, key: (["backbeat in 0 of 4 bars"], 0.0))
    composition = Composer(tiny_checkpoint).compose(ComposeRequest(minutes=0.25, seed=1))
    assert composition.metadata["review"] == ["loop 1: backbeat in 0 of 4 bars"]
    assert composition.metadata["tries"]["loop 1"] == composer.TRIES["loop"]


def test_same_request_same_seed_same_bytes(tiny_checkpoint, tmp_path):
    request = ComposeRequest(mood="chill", bpm=80, key="Bb major", minutes=0.3, seed=11)
    folders = [write_track(Composer(tiny_checkpoint).compose(request), tmp_path / str(i)) for i in range(2)]
    assert (folders[0] / "track.mid").read_bytes() == (folders[1] / "track.mid").read_bytes()
    other = Composer(tiny_checkpoint).compose(
        ComposeRequest(mood="chill", bpm=80, key="Bb major", minutes=0.3, seed=12)
    )
    other_folder = write_track(other, tmp_path / "other")
    assert (other_folder / "track.mid").read_bytes() != (folders[0] / "track.mid").read_bytes()


def test_keys_are_spelled_as_asked(tiny_checkpoint):
    sharp = Composer(tiny_checkpoint).compose(ComposeRequest(key="G# minor", minutes=0.3, seed=2))
    assert sharp.track_id.startswith("chill-g-sharp-minor-") and sharp.metadata["key"] == "G# minor"
    chords = [c for c in sharp.metadata["chords"] if c]
    assert chords and not any(len(c) > 1 and c[1] == "b" for c in chords)  # G#m7, not Abm7
    flat = Composer(tiny_checkpoint).compose(ComposeRequest(key="Ab minor", minutes=0.3, seed=2))
    assert flat.track_id.startswith("chill-a-flat-minor-") and flat.metadata["key"] == "Ab minor"
    assert not any("#" in c for c in flat.metadata["chords"] if c)


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


@pytest.mark.parametrize("seed", [1, 2])
def test_continue_from_a_file_goes_on_audibly_or_says_why(tiny_checkpoint, tmp_path, seed):
    # the tiny model may or may not pass the gate: either way the user gets music or a reason, never silence
    source = write_score(make_score(bars=12, bpm=84), tmp_path / "start.mid")
    request = ComposeRequest(bpm=84, key="C major", minutes=0.3, seed=seed, continue_from=source)
    try:
        composition = Composer(tiny_checkpoint).compose(request)
    except ValueError as exc:
        assert f"cannot continue {source}: after {composer.TRIES['loop']} tries" in str(exc)
        return
    assert composition.metadata["request"]["continue_from"] == str(source)
    assert composition.score.end() == request.total_bars * 4 * composition.score.tpq
    figures = compute_figures(composition.score, composition.metadata["form"])
    assert figures.drum_coverage == 1.0 and figures.bass_coverage == 1.0 and figures.backbeat == 1.0


def test_a_continuation_that_stays_silent_says_why(tiny_checkpoint, tmp_path, monkeypatch):
    source = write_score(make_score(bars=8, bpm=84, drums=False), tmp_path / "chorale.mid")
    monkeypatch.setattr(composer.gate, "loop_problems", lambda score, bars, key: (["drums in 0 of 4 bars"], 0.0))
    request = ComposeRequest(bpm=84, key="D minor", minutes=0.3, seed=1, continue_from=source)
    with pytest.raises(ValueError, match=r"cannot continue .*chorale.mid.*drums in 0 of 4 bars"):
        Composer(tiny_checkpoint).compose(request)


def test_the_band_is_drums_a_bass_chords_and_one_melody(composed):
    pitched = {t.program for t in composed.score.tracks if not t.is_drum and len(t.notes)}
    harmony = pitched - BASS_PROGRAMS - MELODY_PROGRAMS
    assert 1 <= len(harmony) <= MAX_HARMONY_PARTS
    assert len(pitched & BASS_PROGRAMS) <= 1 and len(pitched & MELODY_PROGRAMS) <= 1


def test_band_keeps_the_busiest_chord_parts_and_a_bass():
    score = make_score(bars=1)
    from symusic import Note, Track

    for program, count in ((26, 30), (89, 10), (73, 20)):
        track = Track(program=program)
        track.notes.extend(Note(i * 10, 10, 60, 80) for i in range(count))
        score.tracks.append(track)
    # keys 4 notes, bass 2, guitar 30, pad 10, flute 20 (a melody: not a chord part)
    assert band(bars_of(score)) == {-1, 26, 89, 33}


def test_the_fingerprint_names_request_seed_and_model(tiny_checkpoint, composed):
    again = Composer(tiny_checkpoint).compose(ComposeRequest(mood="rainy", bpm=72, key="D minor", minutes=0.75, seed=7))
    assert again.metadata["fingerprint"] == composed.metadata["fingerprint"]
    other = ComposeRequest(mood="rainy", bpm=72, key="D minor", minutes=0.75, seed=8)
    assert other.fingerprint(composed.metadata["model_id"]) != composed.metadata["fingerprint"]


def test_composing_reports_its_progress_pass_by_pass(tiny_checkpoint):
    heard: list[tuple[float, str]] = []
    Composer(tiny_checkpoint).compose(ComposeRequest(minutes=0.5, seed=4), lambda f, m: heard.append((f, m)))
    fractions = [f for f, _ in heard]
    assert fractions == sorted(fractions) and 0 < fractions[0] < 1 and fractions[-1] == 1.0
    assert heard[0][1] == "composing: loop 1 written"


def test_a_later_loop_must_not_repeat_the_first(tiny_checkpoint):
    composer_ = Composer(tiny_checkpoint)
    request = ComposeRequest(seed=1)
    prefix = composer_.tok.condition_ids(request.mood, request.parsed_key, request.bpm)
    loop = composer_.tok.encode_body(make_score(bars=4, bpm=request.bpm))
    grammar = composer.Grammar(composer_.tok, None, request.bpm)
    chords = composer.detect_chords(composer_.tok.decode(prefix + loop), per="bar")
    again = composer_._loop_pass("loop 2", prefix + loop, grammar, request, unlike=chords).check(loop)[0]
    assert "the chords of the first loop" in again
    assert "the chords of the first loop" not in composer_._loop_pass("loop 1", prefix, grammar, request).check(loop)[0]
