"""The originality check: invariant fingerprints, planted copies found, unrelated music clear."""

from __future__ import annotations

import json

import numpy as np
import pytest
import typer
from symusic import Score
from typer.testing import CliRunner

from helpers import make_score, write_score
from lofi.analysis.originality import (
    OriginalityIndex,
    Reference,
    Scoring,
    Thresholds,
    check,
    fingerprints,
    local_align,
    memorization,
    symbols,
    verdict_for,
)
from lofi.cli import originality as cli
from lofi.corpus.manifest import Entry, write_manifest
from melodies import TPQ, as_line, lead_piece, plant, random_tune


def drums_only() -> Score:
    score = make_score(bars=2)
    kit = [t for t in score.tracks if t.is_drum]
    score.tracks.clear()
    score.tracks.extend(kit)
    return score


@pytest.fixture(scope="module")
def tunes():
    rng = np.random.default_rng(7)
    return [random_tune(rng) for _ in range(40)]


@pytest.fixture(scope="module")
def index(tunes):
    return OriginalityIndex.build(
        (Reference(f"tune{i:02d}.mid", "melody", "Lead"), as_line(t)) for i, t in enumerate(tunes)
    )


@pytest.fixture(scope="module")
def stranger():
    return random_tune(np.random.default_rng(1234), notes=80)


def test_fingerprints_ignore_key_and_tempo(tunes):
    line = as_line(tunes[0], bpm=90)
    moved = as_line(tunes[0], bpm=61, transpose=-5)
    assert fingerprints(line) == fingerprints(moved)
    assert symbols(line).tolist() == symbols(moved).tolist()
    # a change of rhythm is a change of fingerprint
    swung = [(o, d, p) if i != 10 else (o + 0.25, d, p) for i, (o, d, p) in enumerate(tunes[0])]
    assert fingerprints(as_line(swung)) != fingerprints(line)


def test_a_planted_copy_is_flagged_with_its_source_and_span(index, tunes, stranger):
    query, (first, last) = plant(tunes[17], first=20, length=32, host=stranger, at=30)
    verdict = check(lead_piece(query, bpm=72), index)
    assert verdict.verdict == "flagged"
    assert verdict.score >= Thresholds().flag_bits
    m = verdict.match
    assert m.reference.id == "tune17.mid"
    assert verdict.part == "Lead"
    # the matched span lies on the planted notes, and on the excerpt in the reference
    assert first - 1 <= m.query.first <= first + 3
    assert last - 3 <= m.query.last <= last + 1
    assert 20 - 1 <= m.match.first <= 20 + 3
    assert 20 + 31 - 3 <= m.match.last <= 20 + 31 + 1
    # times are seconds in each piece: the query at 72 BPM, the reference at 90 BPM
    assert m.query.start_s == pytest.approx(query[m.query.first][0] * 60 / 72, abs=0.02)
    assert m.match.start_s == pytest.approx(tunes[17][m.match.first][0] * 60 / 90, abs=0.02)
    assert m.match.end_s > m.match.start_s


def test_an_unrelated_melody_is_clear(index, stranger):
    verdict = check(lead_piece(stranger), index)
    assert verdict.verdict == "clear"
    assert verdict.score < Thresholds().review_bits


def test_the_index_agrees_with_brute_force_alignment(index, tunes, stranger):
    query, _ = plant(tunes[3], first=5, length=32, host=stranger, at=10)
    line = as_line(query)
    fast = index.search(line)[0]
    slow = index.brute_force(line)
    assert fast.reference == slow.reference
    assert fast.score == pytest.approx(slow.score)
    assert (fast.query, fast.match) == (slow.query, slow.match)


def test_local_alignment_of_identical_sequences_is_the_sum_of_its_matches():
    q = np.array([3, 7, 7, 1, 9])
    bits = np.array([2.0, 3.0, 1.5, 4.0, 2.5])
    (score, qa, qb, ra, rb), (none, *_) = local_align(q, bits, np.zeros(5), [np.array([5, 3, 7, 7, 1, 9]), q * 0 + 200])
    assert score == pytest.approx(bits.sum())
    assert (qa, qb, ra, rb) == (0, 4, 1, 5)
    assert none == 0.0


def test_a_planted_16_note_copy_with_two_edits_is_flagged(index, tunes, stranger):
    query, (first, last) = plant(tunes[11], first=30, length=16, host=stranger, at=50)
    verdict = check(lead_piece(query, bpm=70), index)
    assert verdict.verdict == "flagged"
    assert verdict.match.reference.id == "tune11.mid"
    assert first - 2 <= verdict.match.query.first and verdict.match.query.last <= last + 2


def _edited(tune, at: int, change):
    """``tune`` with note ``at`` replaced by ``change(onset, duration, pitch)`` (a list of notes)."""
    return [*tune[:at], *change(*tune[at]), *tune[at + 1 :]]


@pytest.mark.parametrize("edits", [True, False])
def test_a_changed_note_costs_one_edit_not_two(tunes, edits):
    reference = tunes[2][:20]
    query = _edited(reference, 10, lambda o, d, p: [(o, d, p + 1)])
    r, q = symbols(as_line(reference)), symbols(as_line(query)).astype(np.int64)
    assert (q != r).sum() == 2  # the intervals into the moved note and out of it
    scoring = Scoring(edits=edits)
    bits = np.full(len(q), 10.0)
    (score, qa, qb, ra, rb), *_ = local_align(q, bits, np.zeros(len(q)), [r], scoring)
    # 18 symbols, 16 of them matching: one edit, or two mismatched symbols
    assert score == pytest.approx(160 - scoring.mismatch_bits * (1 if edits else 2))
    assert (qa, qb, ra, rb) == (0, 17, 0, 17)


def test_an_ornament_or_a_dropped_note_costs_one_edit(tunes):
    reference = tunes[3][:24]
    ornamented = _edited(reference, 12, lambda o, d, p: [(o, d / 4, p - 1), (o + d / 4, d - d / 4, p)])
    for query, ref in ((ornamented, reference), (reference, ornamented)):  # added in the query, then dropped
        q, r = symbols(as_line(query)).astype(np.int64), symbols(as_line(ref))
        bits = np.full(len(q), 10.0)
        with_edits = local_align(q, bits, np.zeros(len(q)), [r], Scoring())[0][0]
        without = local_align(q, bits, np.zeros(len(q)), [r], Scoring(edits=False))[0][0]
        assert with_edits >= without + Scoring().gap_bits


def test_a_repeated_fingerprint_earns_a_share_of_its_bits(index):
    motif = [3 * 9 + 4, 14 * 9 + 4, 10 * 9 + 5, 16 * 9 + 3]  # four symbols, then the same four again
    q = np.array(motif * 2, dtype=np.int64)
    full, full_partial = index.weights(q, Scoring(repeat_share=1.0))
    bits, partial = index.weights(q)
    # fingerprints of 3 symbols: the fifth (from symbol 4) and sixth (from 5) repeat the first two
    assert bits[:6] == pytest.approx(full[:6])
    assert bits[6:] == pytest.approx(Scoring().repeat_share * full[6:])
    assert partial[6:] == pytest.approx(Scoring().repeat_share * full_partial[6:])
    assert 0 < Scoring().repeat_share < 1


def test_save_and_load_give_the_same_answers(index, tunes, stranger, tmp_path):
    path = index.save(tmp_path / "originality" / "index.npz")
    again = OriginalityIndex.load(path)
    assert again.refs == index.refs
    for name in ("sym", "keys", "post_ref", "post_pos", "df", "bigrams", "trigram_keys"):
        assert np.array_equal(getattr(again, name), getattr(index, name))
    query, _ = plant(tunes[30], first=0, length=24, host=stranger, at=8)
    for line in (as_line(query), as_line(stranger), as_line(tunes[5])):
        assert again.search(line, top=3) == index.search(line, top=3)
    assert OriginalityIndex.load(tmp_path / "originality").refs == index.refs  # a folder works too


def test_a_broken_index_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "index.npz"
    bad.write_bytes(b"not an index")
    with pytest.raises(ValueError, match="lofi originality build"):
        OriginalityIndex.load(bad)
    with pytest.raises(FileNotFoundError, match="lofi originality build"):
        OriginalityIndex.load(tmp_path / "nothing.npz")


def test_merged_replaces_a_reference_with_the_same_id(index, tunes):
    new = [
        (Reference("tune00.mid", "user", "Lead"), as_line(tunes[1])),
        (Reference("mine.mid", "user"), as_line(tunes[2])),
    ]
    merged = index.merged(new)
    assert len(merged) == len(index) + 1
    ids = [r.id for r in merged.refs]
    assert ids.count("tune00.mid") == 1
    assert merged.refs[ids.index("tune00.mid")].source == "user"


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: Score(TPQ), "no melody"),
        (lambda: drums_only(), "no melody"),
        (lambda: lead_piece([(0, 1, 60), (1, 1, 62), (2, 1, 64)], band=False), "no melody"),
    ],
    ids=["empty", "drums only", "three notes"],
)
def test_pieces_without_a_melody_are_clear_with_a_reason(index, make, reason):
    verdict = check(make(), index)
    assert verdict.verdict == "clear"
    assert reason in verdict.reason
    assert verdict.match is None


def test_a_file_that_is_not_midi_raises(index, tmp_path):
    junk = tmp_path / "song.mid"
    junk.write_bytes(b"RIFF....WAVEfmt ")
    with pytest.raises(ValueError, match="not a readable MIDI file"):
        check(junk, index)


def test_memorization_is_the_share_flagged_with_its_sources(index, tunes, stranger):
    copy, _ = plant(tunes[9], first=10, length=32, host=stranger, at=40)
    found = memorization([lead_piece(copy), lead_piece(stranger)], index)
    assert (found["tracks"], found["flagged"], found["rate"]) == (2, 1, 0.5)
    assert sum(found["by_source"].values()) == 1 and len(found["scores_bits"]) == 2
    assert found["scores_bits"][0] > found["scores_bits"][1]  # the copy matches far better
    worst = found["worst"]  # the copy, with where it matched
    assert worst["track"] == 0 and worst["verdict"] == "flagged"
    assert worst["match"]["reference"]["id"] == "tune09.mid" and worst["match"]["notes"] >= 28
    assert memorization([], index)["rate"] == 0.0 and memorization([], index)["worst"] is None


def test_verdict_levels_and_json():
    t = Thresholds(review_bits=10, flag_bits=20)
    assert [verdict_for(x, t) for x in (0, 9.9, 10, 19.9, 20)] == ["clear", "clear", "review", "review", "flagged"]
    assert Scoring().mismatch_bits > 0


# ------------------------------------------------------------------------------------------------ the CLI


@pytest.fixture
def cli_app():
    app = typer.Typer()
    app.add_typer(cli.app, name="originality")
    app.command()(cli.check)
    return app


def invoke(app, *args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_add_then_check_from_the_command_line(cli_app, lofi_home, tunes, stranger, tmp_path):
    folder = tmp_path / "catalogue"
    for i in (4, 8):
        write_score(lead_piece(tunes[i]), folder / f"song{i}.mid")
    (folder / "notes.mid").write_text("not midi")
    write_score(drums_only(), folder / "sub" / "beat.mid")

    added = invoke(cli_app, "originality", "add", folder)
    assert added.exit_code == 0, added.output
    assert "added 2" in added.output
    assert "notes.mid" in added.output and "beat.mid" in added.output  # skipped, with the reason
    assert (lofi_home / "originality" / "index.npz").exists()

    copy, _ = plant(tunes[8], first=8, length=32, host=stranger, at=20)
    flagged = invoke(cli_app, "check", write_score(lead_piece(copy, bpm=70), tmp_path / "new.mid"), "--json")
    assert flagged.exit_code == 1, flagged.output
    data = json.loads(flagged.output)
    assert data["verdict"] == "flagged"
    assert data["match"]["reference"]["id"].endswith("song8.mid")
    assert data["match"]["query"]["first"] < data["match"]["query"]["last"]

    clear = invoke(cli_app, "check", write_score(lead_piece(stranger), tmp_path / "other.mid"))
    assert clear.exit_code == 0, clear.output
    assert "clear" in clear.output

    junk = invoke(cli_app, "check", folder / "notes.mid")
    assert junk.exit_code == 2
    assert "not a readable MIDI file" in junk.output


def test_check_without_an_index_says_how_to_build_one(cli_app, lofi_home, tmp_path, monkeypatch):
    from lofi.settings import get_settings

    monkeypatch.setenv("LOFI_DEFAULT_MODEL", str(tmp_path / "a-model-without-an-index"))
    get_settings.cache_clear()
    result = invoke(cli_app, "check", write_score(make_score(bars=2), tmp_path / "a.mid"))
    assert result.exit_code == 2
    assert "lofi originality build" in result.output


def test_check_uses_the_bundled_model_s_index_out_of_the_box(cli_app, lofi_home, tmp_path):
    result = invoke(cli_app, "check", "--json", write_score(make_score(bars=2), tmp_path / "a.mid"))
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["verdict"] == "clear"


def test_build_indexes_the_training_split_and_keeps_added_melodies(cli_app, lofi_home, tunes, tmp_path):
    corpus = lofi_home / "corpus"
    entries = []
    for i, split in enumerate(["train", "train", "val"]):
        path = f"midi/melody/{i}.mid"
        write_score(lead_piece(tunes[20 + i]), corpus / path)
        entries.append(Entry(path=path, source="melody", status="accepted", split=split, has_lead=True))
    write_manifest(corpus / "manifest.jsonl", entries)
    mine = tmp_path / "mine"
    write_score(lead_piece(tunes[30]), mine / "mine.mid")
    assert invoke(cli_app, "originality", "add", mine).exit_code == 0

    built = invoke(cli_app, "originality", "build")
    assert built.exit_code == 0, built.output
    refs = OriginalityIndex.load(lofi_home / "originality" / "index.npz").refs
    assert sorted(r.id for r in refs if r.source == "melody") == ["midi/melody/0.mid", "midi/melody/1.mid"]
    assert [r.id.endswith("mine.mid") for r in refs if r.source == "added"] == [True]


def test_build_without_a_corpus_is_one_clear_error(cli_app, lofi_home):
    result = invoke(cli_app, "originality", "build")
    assert result.exit_code == 2
    assert "lofi corpus build" in result.output


def test_a_track_is_checked_against_its_model_s_index_and_the_user_s(index, tunes, stranger, tmp_path, lofi_home):
    """A checkpoint folder's originality.npz (what the model learned) and LOFI_HOME's index (what the user
    built or added) are both used: a copy of a melody in either is found."""
    from lofi.analysis.originality import MODEL_INDEX, default_index_path, index_paths, load_indexes

    model = tmp_path / "model"
    model.mkdir()
    assert index_paths(model) == []
    with pytest.raises(FileNotFoundError, match="the model has none"):
        load_indexes([])
    index.subset(range(20)).save(model / MODEL_INDEX, compressed=True)
    index.subset(range(20, 40)).save(default_index_path())
    assert index_paths(model) == [model / MODEL_INDEX, default_index_path()]
    both = load_indexes(index_paths(model))
    assert len(both) == 40 and load_indexes(index_paths(model)) is both  # read once while the files stand
    index.subset(range(20, 30)).save(default_index_path())  # the user rebuilds theirs: it is read again
    assert len(load_indexes(index_paths(model))) == 30
    index.subset(range(20, 40)).save(default_index_path())
    for source in (3, 33):  # one tune of the model's index, one of the user's
        copy, _ = plant(tunes[source], first=10, length=32, host=stranger, at=40)
        found = check(lead_piece(copy), both)
        assert found.flagged and found.match.reference.id == f"tune{source:02d}.mid"


def test_a_match_with_an_accompaniment_reference_informs_and_never_flags(tunes, stranger, tmp_path):
    """A chord pattern's top line or a groove is not protected: a copy of a reference without a lead is
    reported beside the verdict, which comes from the melody references alone."""
    from lofi.analysis.originality import ACCOMPANIMENT

    refs = [(Reference(f"tune{i:02d}.mid", "melody", "Lead"), as_line(t)) for i, t in enumerate(tunes[:20])]
    refs.append((Reference("loops/00042.mid", "loops", "top line", ACCOMPANIMENT), as_line(tunes[30])))
    index = OriginalityIndex.build(refs)
    backing, _ = plant(tunes[30], first=10, length=32, host=stranger, at=40)
    found = check(lead_piece(backing), index)
    assert found.verdict == "clear" and found.accompaniment is not None
    assert found.accompaniment.reference.id == "loops/00042.mid" and found.accompaniment.score >= 60
    melody, _ = plant(tunes[3], first=10, length=32, host=stranger, at=40)
    assert check(lead_piece(melody), index).flagged  # a melody reference still flags
    saved = OriginalityIndex.load(index.save(tmp_path / "i.npz"))
    assert saved.refs[-1].kind == ACCOMPANIMENT and saved.refs[0].kind == "melody"  # kept in the file


def test_a_piece_with_a_melody_is_judged_by_it_and_its_backing_copy_informs(index, tunes, stranger):
    """A flute plays an original tune; an electric piano's single line copies a reference: the verdict
    comes from the melody (clear), the copy is named beside it as accompaniment."""
    from symusic import Note, Track

    score = lead_piece(stranger)  # "Lead" on a flute (program 73): the melody
    backing, _ = plant(tunes[5], first=10, length=32, host=stranger[:20], at=10)
    keys = Track(name="Keys", program=4, is_drum=False)
    for onset, duration, pitch in backing:
        keys.notes.append(Note(round(onset * TPQ), max(1, round(duration * TPQ)), pitch - 12, 70))
    score.tracks.append(keys)
    found = check(score, index)
    assert found.verdict == "clear" and found.part == "Lead"
    assert found.accompaniment is not None and found.accompaniment.reference.id == "tune05.mid"
    assert found.accompaniment.score >= Thresholds().flag_bits  # it would have flagged as a melody
