import json
import signal
import time

import pytest

from lofi.corpus import melodies
from lofi.corpus.melodies import (
    Melody,
    Rejected,
    check_licence,
    iter_tune_texts,
    load_melodies,
    parse_key,
    parse_tune,
)

FILL = "CDEF GABc | " * 8  # eight plain bars of 4/4 so short examples pass the length filter


def abc(body: str, meter: str = "4/4", key: str = "C", length: str = "1/8", header: str = "") -> str:
    return f"X:1\nT:Test tune\n{header}M:{meter}\nL:{length}\nK:{key}\n{body}\n"


def melody(body: str, **fields: str) -> Melody:
    result = parse_tune("test", "test.abc#X1", abc(body, **fields))
    assert isinstance(result, Melody), result
    return result


@pytest.fixture(scope="module")
def tunes() -> dict[str, tuple[str, str]]:
    return {source: (collection, text) for collection, source, text in iter_tune_texts()}


def parse_real(tunes: dict[str, tuple[str, str]], source: str) -> Melody | Rejected:
    collection, text = tunes[source]
    return parse_tune(collection, source, text)


# --- the tune books -------------------------------------------------------------------------


def test_books_split_into_single_tunes(tunes):
    by_book = {"ryansMammoth": 0, "oneills1850": 0}
    for source, (collection, text) in tunes.items():
        by_book[collection] += 1
        assert text.startswith("X:"), source
        assert sum(line.startswith("X:") for line in text.splitlines()) == 1, source
    assert by_book == {"ryansMammoth": 1059, "oneills1850": 2009}
    first = tunes["0001-0050.abc#X1"][1]
    assert "T: The Enchanted Valley" in first
    assert "Fare You Well" not in first


def test_file_header_is_kept_for_every_tune(tmp_path, monkeypatch):
    (tmp_path / "book.abc").write_text("% a file header\nL:1/16\n\nX:7\nT:One\nK:G\nGABc|\n\nX:8\nT:Two\nK:D\nDEFG|\n")
    monkeypatch.setattr(melodies, "corpus_dir", lambda collection: tmp_path)
    found = list(iter_tune_texts(["mybook"]))
    assert [(collection, source) for collection, source, _ in found] == [
        ("mybook", "book.abc#X7"),
        ("mybook", "book.abc#X8"),
    ]
    for _, _, text in found:
        assert text.startswith("% a file header\nL:1/16\n")
    assert "T:Two" not in found[0][2]
    assert "T:One" not in found[1][2]


def test_unknown_book_is_an_error_not_an_empty_corpus():
    with pytest.raises(FileNotFoundError, match="oneills"):
        list(iter_tune_texts(["oneills"]))


# --- real tunes against their ABC text ------------------------------------------------------


def test_enchanted_valley_first_bar(tunes):
    # K:Gm M:2/4 L:1/16 "G3-A (Bcd=e) | f4": the key's B flat, the written E natural, a slur-dash not a tie
    tune = parse_real(tunes, "0001-0050.abc#X1")
    assert isinstance(tune, Melody)
    assert (tune.title, tune.tonic, tune.mode, tune.beats_per_bar, tune.pickup_beats) == (
        "The Enchanted Valley",
        7,
        "natural_minor",
        2,
        0.0,
    )
    assert tune.notes[:7] == (
        (0.0, 0.75, 67),
        (0.75, 0.25, 69),
        (1.0, 0.25, 70),
        (1.25, 0.25, 72),
        (1.5, 0.25, 74),
        (1.75, 0.25, 76),
        (2.0, 1.0, 77),
    )
    assert tune.source == "0001-0050.abc#X1"
    assert tune.licence.startswith("public domain")


def test_repeated_pickup_lands_before_the_bar_line(tunes):
    # "uF>E | D>FB>c ... | B2d2B2 :|" in B flat, cut time: the anacrusis comes back before bar 9
    tune = parse_real(tunes, "AcrobatsHornpipe.abc#X1")
    assert isinstance(tune, Melody)
    assert (tune.tonic, tune.mode, tune.beats_per_bar, tune.pickup_beats) == (10, "major", 4, 1.0)
    assert tune.notes[:3] == ((-1.0, 0.75, 65), (-0.25, 0.25, 63), (0.0, 0.75, 62))
    second_time = [note for note in tune.notes if 28 <= note[0] < 33]
    assert second_time == [
        (28.0, 1.0, 70),
        (29.0, 1.0, 74),
        (30.0, 1.0, 70),
        (31.0, 0.75, 65),
        (31.75, 0.25, 63),
        (32.0, 0.75, 62),
        (32.75, 0.25, 65),
    ]


@pytest.mark.parametrize(
    ("source", "tonic", "mode", "beats_per_bar", "pickup_beats"),
    [
        ("AWillieWeHaveMissdYouStrathspey.abc#X1", 4, "dorian", 4, 0.5),  # K:Edor M:C
        ("FlowersOfMichiganReel.abc#X1", 9, "mixolydian", 4, 1.0),  # K:Amix M:C|
        ("0001-0050.abc#X3", 7, "natural_minor", 4, 0.5),  # K:Gm M:C, pickup B/2-c/2 at L:1/8
        ("0001-0050.abc#X2", 2, "major", 2, 0.5),  # K:D M:2/4, pickup f-g at L:1/16
    ],
)
def test_key_meter_and_pickup_of_real_tunes(tunes, source, tonic, mode, beats_per_bar, pickup_beats):
    tune = parse_real(tunes, source)
    assert isinstance(tune, Melody)
    assert (tune.tonic, tune.mode, tune.beats_per_bar, tune.pickup_beats) == (
        tonic,
        mode,
        beats_per_bar,
        pickup_beats,
    )
    assert tune.notes[0][0] == -pickup_beats


def test_real_melodies_are_monophonic_and_in_range(tunes):
    sample = list(tunes)[::97]  # about 32 tunes across both books, half of them binary
    parsed = [parse_real(tunes, source) for source in sample]
    kept = [tune for tune in parsed if isinstance(tune, Melody)]
    assert len(kept) >= 10
    for tune in kept:
        onsets = [onset for onset, _, _ in tune.notes]
        assert onsets == sorted(onsets), tune.source
        for (onset, duration, _), (next_onset, _, _) in zip(tune.notes, tune.notes[1:], strict=False):
            assert onset + duration <= next_onset + 1e-9, (tune.source, onset)
        assert all(duration > 0 and 40 <= pitch <= 100 for _, duration, pitch in tune.notes), tune.source
        assert 0 <= tune.pickup_beats < tune.beats_per_bar
        assert onsets[0] >= -tune.pickup_beats
        assert len(tune.notes) >= melodies.MIN_NOTES


def test_six_eight_jig_is_rejected_with_its_meter(tunes):
    assert parse_real(tunes, "BillyORourkesJig.abc#X1") == Rejected(
        "BillyORourkesJig.abc#X1", "meter 6/8 is not binary"
    )


# --- rhythm and pitch rules on small tunes --------------------------------------------------


def test_octaves_key_signature_and_unit_length():
    tune = melody("F2 c2 f2 C2 | " + FILL, key="D")
    assert tune.notes[:4] == ((0.0, 1.0, 66), (1.0, 1.0, 73), (2.0, 1.0, 78), (3.0, 1.0, 61))
    # at L:1/16 a bar of FILL is a bar of 2/4
    assert melody("C4 c4 | " + FILL, meter="2/4", length="1/16").notes[:2] == ((0.0, 1.0, 60), (1.0, 1.0, 72))


def test_accidentals_hold_to_the_end_of_the_bar():
    tune = melody("^c2 c2 =c2 c2 | c8 | " + FILL)
    assert [pitch for _, _, pitch in tune.notes[:5]] == [73, 73, 72, 72, 72]


def test_ties_merge_within_and_across_bars_but_slur_dashes_do_not():
    tune = melody("c4-c4 | G4 A2 B2- | B2 c2 G3-A | " + FILL)
    assert tune.notes[:7] == (
        (0.0, 4.0, 72),
        (4.0, 2.0, 67),
        (6.0, 1.0, 69),
        (7.0, 2.0, 71),
        (9.0, 1.0, 72),
        (10.0, 1.5, 67),
        (11.5, 0.5, 69),
    )


def test_grace_notes_dropped_and_chords_reduced_to_the_top_note():
    tune = melody("{ag}B2 c2 [CEG]2 [c2e2] | " + FILL)
    assert tune.notes[:4] == ((0.0, 1.0, 71), (1.0, 1.0, 72), (2.0, 1.0, 67), (3.0, 1.0, 76))


def test_annotations_and_fermatas_keep_their_notes():
    # music21 alone drops a note annotated ">" and the note after an H fermata
    tune = melody('"A7"c2 ">"d2 He2 "^x"f2 | ' + FILL)
    assert tune.notes[:4] == ((0.0, 1.0, 72), (1.0, 1.0, 74), (2.0, 1.0, 76), (3.0, 1.0, 77))


def test_pickup_has_negative_onsets():
    tune = melody("z d | " + FILL)
    assert tune.pickup_beats == 0.5
    assert tune.notes[:2] == ((-0.5, 0.5, 74), (0.0, 0.5, 60))


def test_one_overfull_bar_is_cut_at_its_bar_line():
    tune = melody("c2 d2 e2 f2 g2 | " + FILL)
    assert tune.notes[3:5] == ((3.0, 1.0, 77), (4.0, 0.5, 60))
    assert 79 not in [pitch for _, _, pitch in tune.notes]


def test_two_overfull_bars_reject_the_tune():
    result = parse_tune("test", "t#X1", abc("c2 d2 e2 f2 g2 | c2 d2 e2 f2 g2 | " + FILL))
    assert isinstance(result, Rejected)
    assert result.reason.startswith("bar lengths do not add up")


@pytest.mark.parametrize(
    ("body", "meter", "reason"),
    [
        ("CDE CDE | " * 10, "6/8", "meter 6/8 is not binary"),
        ("C2 D2 E2 | " * 10, "3/4", "meter 3/4 is not binary"),
        (FILL + "[M:3/4] C2 D2 E2 |", "4/4", "meter changes to 3/4"),
        ("C2 D2 E2 F2 | G8 | A4 B4 | c8 |]", "4/4", "too short (8 notes)"),
        ("CDEF GABc | " * 4, "4/4", "under 8 bars (4)"),
    ],
)
def test_rejections_say_why(body, meter, reason):
    assert parse_tune("test", "t#X1", abc(body, meter=meter)) == Rejected("t#X1", reason)


def test_garbage_is_rejected_not_raised(monkeypatch):
    assert isinstance(parse_tune("test", "t#X1", "no ABC here at all"), Rejected)
    assert isinstance(parse_tune("test", "t#X1", "X:1\nM:4/4\nK:C\n]]]:|((([[[ %\x00\n"), Rejected)

    def broken_parser(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("music21.converter.parse", broken_parser)
    assert parse_tune("test", "t#X1", abc(FILL)) == Rejected("t#X1", "parse error: RuntimeError: boom")


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("Gm", (7, "natural_minor")),
        ("Ador", (9, "dorian")),
        ("Amix", (9, "mixolydian")),
        ("D", (2, "major")),
        ("Bb", (10, "major")),
        ("F#m", (6, "natural_minor")),
        ("E minor", (4, "natural_minor")),
        ("EM", (4, "natural_minor")),  # ABC modes are case-insensitive: M is minor, as music21 reads it
        ("Glyd", (7, "lydian")),
        ("Bphr", (11, "phrygian")),
        ("Bn", None),
    ],
)
def test_parse_key(field, expected):
    assert parse_key(field) == expected


# --- licence --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "Z:Copyright 2003 A. Fiddler",
        "N:non-commercial use only",
        "N: Noncommercial use permitted",
        "% (c) 1998 Someone",
        "Z:All rights reserved",
        "N:Not for redistribution",
        "Z:Licensed under CC-BY-NC-SA 4.0",
        "H:Used by permission of the publisher",
    ],
)
def test_restrictive_header_rejects(line):
    text = abc(FILL, header=line + "\n")
    reason = check_licence(text)
    assert reason is not None and line in reason
    assert parse_tune("test", "t#X1", text) == Rejected("t#X1", reason)


@pytest.mark.parametrize(
    "line",
    [
        'Z: "Transcribed by Norbert Paap, norbertp@bdu.uva.nl"',
        "Z: Contributed by Ray Davies,  ray:davies99.freeserve.co.uk",
        "Z: 1997 by John Chambers <jc@trillian.mit.edu>",
        "T: The Book of Rights",
        "B: Ryan's Mammoth Collection",
    ],
)
def test_credits_are_not_restrictions(line):
    assert check_licence(abc(FILL, header=line + "\n")) is None


# --- loading, cache and workers -------------------------------------------------------------


def forbid_parsing(monkeypatch):
    def fail(task):
        raise AssertionError(f"parsed {task[1]} although the cache is current")

    monkeypatch.setattr(melodies, "_parse_with_timeout", fail)


def test_cache_round_trip_and_rebuilds(tmp_path, monkeypatch):
    cache = tmp_path / "melodies.jsonl"
    first = load_melodies(cache, collections=("oneills1850",), limit=6)
    assert len(first[0]) + len(first[1]) == 6
    assert first[0] and first[1]  # the first six hold 2/4, C and 4/4 tunes, a jig and a waltz
    assert [p.name for p in tmp_path.iterdir()] == ["melodies.jsonl"]  # no temporary file left

    with monkeypatch.context() as patch:
        forbid_parsing(patch)
        assert load_melodies(cache, collections=("oneills1850",), limit=6) == first

    cache.write_text(cache.read_text()[:200])  # a cache cut short by a crash
    assert load_melodies(cache, collections=("oneills1850",), limit=6) == first

    header, *records = cache.read_text().splitlines()
    stale = json.loads(header) | {"music21": "0.0.1"}
    cache.write_text("\n".join([json.dumps(stale), *records]) + "\n")
    calls = []
    real = melodies._parse_with_timeout
    monkeypatch.setattr(melodies, "_parse_with_timeout", lambda task: calls.append(task) or real(task))
    assert load_melodies(cache, collections=("oneills1850",), limit=6) == first
    assert len(calls) == 6
    assert json.loads(cache.read_text().splitlines()[0])["music21"] != "0.0.1"


def test_workers_give_the_same_result_as_one_process():
    serial = load_melodies(collections=("oneills1850",), limit=4)
    assert load_melodies(collections=("oneills1850",), limit=4, workers=2) == serial


def test_a_runaway_tune_times_out(monkeypatch):
    before = signal.getsignal(signal.SIGALRM)
    monkeypatch.setattr(melodies, "parse_tune", lambda collection, source, text: time.sleep(5))
    # had the alarm not cut the parse short, the stand-in parser would have returned None after its sleep
    assert melodies._parse_with_timeout(("test", "slow#X1", "", 0.2)) == Rejected("slow#X1", "timed out")
    assert signal.getsignal(signal.SIGALRM) is before
