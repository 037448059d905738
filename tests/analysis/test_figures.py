"""The lo-fi figures on small pieces built by hand (480 ticks a quarter, 4/4), their values worked out by hand."""

import math

import pytest
from symusic import Note, Score, Tempo, TimeSignature, Track

from helpers import make_score, write_score
from lofi.analysis.figures import DEFINITIONS, TARGETS, Figures, compute_figures, heard_key, music21_key, summary
from lofi.theory import Key, detect_key

TPQ = 480
BAR = 4 * TPQ
EIGHTH = TPQ // 2
KICK, SNARE, HAT = 36, 38, 42
ON_2_AND_4 = (TPQ, 3 * TPQ)
C, Am, F, G, Dm = (60, 64, 67), (57, 60, 64), (53, 57, 60), (55, 59, 62), (62, 65, 69)
LOOP = [C, Am, F, G] * 2
FORM = [{"section": "intro", "bars": 2, "drums": False}, {"section": "A", "bars": 4, "drums": True}]


def piece(keys=(), bass=(), drums=(), bass_program=33):
    """A score from (tick, ticks long, pitch) notes on a keys, a bass and a drum track; empty ones left out."""
    score = Score(TPQ)
    score.tempos.append(Tempo(0, 80))
    score.time_signatures.append(TimeSignature(0, 4, 4))
    for name, notes, program in (("keys", keys, 4), ("bass", bass, bass_program), ("drums", drums, 0)):
        if notes:
            track = Track(name=name, program=program, is_drum=name == "drums")
            for tick, length, pitch in notes:
                track.notes.append(Note(tick, length, pitch, 80))
            score.tracks.append(track)
    return score


def held(chords):
    """Keys notes holding each chord (a tuple of pitches) for one bar."""
    return [(bar * BAR, BAR, pitch) for bar, chord in enumerate(chords) for pitch in chord]


def beat(bars, snares=ON_2_AND_4, moved=None, silent=(), offbeat=None):
    """Drum notes: kick on 1 and 3, the snare at ``snares`` ticks into the bar (in bar ``moved`` on beat 3
    only), a hat every eighth, plus a hat ``offbeat`` ticks after each eighth if given; ``silent`` bars empty."""
    hits = []
    for bar in range(bars):
        if bar in silent:
            continue
        start = bar * BAR
        hits += [(start, KICK), (start + 2 * TPQ, KICK)]
        hits += [(start + tick, SNARE) for tick in ((2 * TPQ,) if bar == moved else snares)]
        hits += [(start + i * EIGHTH, HAT) for i in range(8)]
        if offbeat is not None:
            hits += [(start + i * EIGHTH + offbeat, HAT) for i in range(8)]
    return [(tick, TPQ // 4, pitch) for tick, pitch in hits]


def test_backbeat_with_the_snare_moved_in_one_bar_of_four():
    assert compute_figures(piece(drums=beat(4, moved=2))).backbeat == 0.75


@pytest.mark.parametrize(("late", "backbeat"), [(100, 1.0), (-100, 1.0), (130, 0.0), (-130, 0.0)])
def test_backbeat_allows_a_sixteenth_either_side(late, backbeat):
    assert compute_figures(piece(drums=beat(4, snares=(TPQ + late, 3 * TPQ + late)))).backbeat == backbeat


@pytest.mark.parametrize("pitch", [37, 39])
def test_backbeat_on_a_rim_click_or_clap(pitch):
    drums = [(t, n, pitch if p == SNARE else p) for t, n, p in beat(4)]
    assert compute_figures(piece(drums=drums)).backbeat == 1.0


def test_backbeat_counts_only_bars_with_drums():
    figures = compute_figures(piece(keys=held(LOOP), drums=beat(8, silent=(0, 1, 6, 7))))
    assert figures.backbeat == 1.0
    assert math.isnan(compute_figures(piece(keys=held(LOOP))).backbeat)


@pytest.mark.parametrize("silent", [(0, 1, 3), (3,)], ids=["quiet-intro", "drums-in-intro"])
def test_drum_coverage_of_the_drum_sections(silent):
    # A's second bar (bar 3) lost its drums; the drumless intro neither counts nor helps
    score = piece(keys=held(LOOP[:6]), drums=beat(6, silent=silent))
    assert compute_figures(score, form=FORM).drum_coverage == 0.75
    assert math.isnan(compute_figures(score).drum_coverage)


def test_form_bars_after_the_music_stops_count_as_missing():
    # the form promises 4 bars of drums and bass; every part stops after 3
    score = piece(keys=held(LOOP[:3]), bass=[(bar * BAR, TPQ, 36) for bar in range(3)], drums=beat(3))
    figures = compute_figures(score, form=[{"section": "A", "bars": 4, "drums": True}])
    assert (figures.drum_coverage, figures.bass_coverage) == (0.75, 0.75), (
        "BUG in lofi.analysis.figures.compute_figures: it counts bar_count(score) bars, so section_bars cuts "
        "the form at the end of the music and a drum/bass section's silent last bars are never counted as missing"
    )


def test_a_chord_ringing_past_the_form_adds_no_bar_that_needs_a_bass():
    form = [{"section": "A", "bars": 4}, {"section": "outro", "bars": 1}]
    keys = [(bar * BAR, BAR + (bar == 4), pitch) for bar in range(5) for pitch in C]  # last chord: 1 tick over
    score = piece(keys=keys, bass=[(bar * BAR, TPQ, 36) for bar in range(4)])
    assert compute_figures(score, form=form).bass_coverage == 1.0, (
        "BUG in lofi.analysis.figures.compute_figures: a note ending 1 tick into the bar after the form makes a "
        "bar with section {} (section_bars), which is not intro/outro, so it enters `body` and needs a bass note"
    )


def test_bass_coverage_counts_bars_where_a_bass_note_starts_outside_intro_and_outro():
    form = [{"section": "intro", "bars": 1}, {"section": "A", "bars": 4}, {"section": "outro", "bars": 1}]
    # bass notes start in bars 0 (intro), 1, 2 and 4; the one in bar 2 rings through bar 3 without restarting
    bass = [(0, TPQ, 36), (BAR, TPQ, 36), (2 * BAR, 2 * BAR, 41), (4 * BAR, TPQ, 43)]
    score = piece(keys=held(LOOP[:6]), bass=bass)
    assert compute_figures(score, form=form).bass_coverage == 0.75
    assert compute_figures(score).bass_coverage == pytest.approx(4 / 6)


@pytest.mark.parametrize(("program", "coverage"), [(32, 1.0), (33, 1.0), (39, 1.0), (31, 0.0), (40, 0.0)])
def test_bass_coverage_counts_the_general_midi_basses(program, coverage):
    bass = [(bar * BAR, TPQ, 36) for bar in range(4)]
    assert compute_figures(piece(keys=held(LOOP[:4]), bass=bass, bass_program=program)).bass_coverage == coverage


def test_bass_coverage_ignores_a_drum_track_on_a_bass_program():
    score = piece(keys=held(LOOP[:4]), bass=[(0, TPQ, 36)])
    kit = Track(name="drums", program=33, is_drum=True)
    kit.notes.extend(Note(bar * BAR, TPQ // 4, KICK, 90) for bar in range(4))
    score.tracks.append(kit)
    assert compute_figures(score).bass_coverage == 0.25


@pytest.mark.parametrize(
    ("chords", "repetition"),
    [(LOOP, 1.0), ([C, Am, F, G, C, Dm, F, G], 0.75), ([C, Am, F, G, C, Am, F, Dm], 0.75), (LOOP[:4], math.nan)],
    ids=["loop", "bar-6-differs", "bar-8-differs", "too-short"],
)
def test_loop_repetition_compares_each_bar_with_four_bars_back(chords, repetition):
    found = compute_figures(piece(keys=held(chords))).loop_repetition
    assert found == repetition or (math.isnan(repetition) and math.isnan(found))


def test_loop_repetition_listens_to_the_notes_not_the_chord_symbols():
    score = piece(keys=held([C, Am, F, G, C, Dm, F, G]))
    assert compute_figures(score, chords=["C", "Am", "F", "G"] * 2).loop_repetition == 0.75


TEN_WITH_TWO_REPEATS = [(i * TPQ, TPQ, 60 + i) for i in range(8)] + [(0, TPQ, 60), (3 * TPQ, TPQ // 2, 63)]


@pytest.mark.parametrize(
    ("score", "stacked"),
    [
        (piece(keys=TEN_WITH_TWO_REPEATS), 0.2),
        (piece(keys=[(0, TPQ, 60)] * 3), 2 / 3),
        (piece(keys=[(0, TPQ, 48)], bass=[(0, TPQ, 48)]), 0.0),  # the same note on two parts is a doubling
        (piece(keys=held([C, F])), 0.0),  # a chord: same tick, other pitches
        (piece(keys=[(0, TPQ, 60), (TPQ, TPQ, 60)]), 0.0),  # a repeated note: same pitch, other tick
    ],
    ids=["two-in-ten", "thrice", "two-tracks", "chord", "repeated-note"],
)
def test_stacked_notes_share_of_duplicate_note_ons_within_a_part(score, stacked):
    assert compute_figures(score).stacked_notes == pytest.approx(stacked)


def test_hand_percussion_share_of_drum_hits():
    hand = [(i * EIGHTH, TPQ // 4, pitch) for i, pitch in enumerate((62, 63, 64, 75, 82))]
    kit = beat(1)  # two kicks, two snares and eight hats: 12 hits
    assert compute_figures(piece(drums=hand + kit)).hand_percussion == pytest.approx(5 / 17)
    assert compute_figures(piece(drums=kit)).hand_percussion == 0.0
    assert math.isnan(compute_figures(piece(keys=held(LOOP))).hand_percussion)


@pytest.mark.parametrize(
    ("chords", "richness"),
    [
        (["Cmaj7", "Dm7", "G", None, "Am"], 0.5),
        (["Cmaj7", "Am7", "Fmaj7", "G7"], 1.0),
        (["C", "Am", "F", "G"], 0.0),
        (["Bm7b5", "E7b9", "Am9", "Cdim7"], 1.0),
    ],
)
def test_chord_richness_of_the_given_symbols(chords, richness):
    # the notes play plain triads: the symbols alone decide
    assert compute_figures(piece(keys=held(LOOP)), chords=chords).chord_richness == richness


@pytest.mark.parametrize("chords", [[], [None, None]])
def test_chord_richness_is_nan_without_chords(chords):
    assert math.isnan(compute_figures(piece(keys=held(LOOP)), chords=chords).chord_richness)


def test_chord_richness_detected_when_no_symbols_are_given():
    cmaj7, dm7 = (60, 64, 67, 71), (62, 65, 69, 72)
    assert compute_figures(piece(keys=held([cmaj7, dm7, G, Am]))).chord_richness == 0.5
    assert compute_figures(piece(keys=held(LOOP))).chord_richness == 0.0


@pytest.mark.parametrize(("offbeat", "swing"), [(120, 0.5), (139, 139 / 240), (150, 0.625)])
def test_swing_of_the_offbeat_sixteenths(offbeat, swing):
    assert compute_figures(piece(drums=beat(2, offbeat=offbeat))).swing == pytest.approx(swing)


def test_swing_is_nan_with_only_quarter_notes():
    quarters = [(i * TPQ, TPQ, 60 + i % 3) for i in range(8)]
    assert math.isnan(compute_figures(piece(keys=quarters)).swing)


def c_major_piece():
    """I-IV-V-I in C under a C major scale melody."""
    melody = [(i * TPQ, TPQ, pitch) for i, pitch in enumerate((72, 74, 76, 77, 79, 81, 83, 84) * 2)]
    return piece(keys=held([C, F, G, C]) + melody, bass=[(bar * BAR, BAR, 36 + (0, 5, 7, 0)[bar]) for bar in range(4)])


def a_minor_piece():
    """i-iv-V-i in A minor under an A harmonic minor melody."""
    melody = [(i * TPQ, TPQ, pitch) for i, pitch in enumerate((69, 71, 72, 74, 76, 77, 80, 81) * 2)]
    chords = [Am, (57, 62, 65), (56, 59, 64), Am]  # Am Dm E Am
    return piece(keys=held(chords) + melody, bass=[(bar * BAR, BAR, 33 + (0, 5, 7, 0)[bar]) for bar in range(4)])


@pytest.mark.parametrize(
    ("asked", "agreement"),
    [("C major", 1.0), ("A minor", 1.0), ("A dorian", 1.0), ("F# major", 0.0), ("C minor", 0.0), ("G major", 0.0)],
)
def test_key_agreement_accepts_the_key_or_its_relative(asked, agreement):
    assert compute_figures(c_major_piece(), key=Key.parse(asked)).key_agreement == agreement


def test_key_agreement_undefined_without_a_key_and_zero_without_pitched_notes():
    assert math.isnan(compute_figures(c_major_piece()).key_agreement)
    assert compute_figures(piece(drums=beat(4)), key=Key.parse("C major")).key_agreement == 0.0


@pytest.mark.parametrize(
    ("build", "key"),
    [(c_major_piece, "C major"), (a_minor_piece, "A minor"), (make_score, None)],
    ids=["c-major", "a-minor", "helpers-make_score"],
)
def test_music21_hears_the_key_the_studio_computes(tmp_path, build, key):
    score = build()
    heard = music21_key(write_score(score, tmp_path / "piece.mid"))
    assert heard == detect_key(score, "aarden", bass_weight=1.0).key == heard_key(score)
    if key is not None:
        assert heard == Key.parse(key).family


def passing():
    """Figures at the low end of every target."""
    return {name: low for name, (low, _) in TARGETS.items()}


def test_targets_and_definitions_name_every_figure():
    assert set(TARGETS) == set(DEFINITIONS) == set(Figures.names())


def test_figures_inside_every_target_pass():
    assert Figures(**passing()).failures() == []
    assert Figures(**passing()).score() == 1.0
    highs = Figures(**{name: high for name, (_, high) in TARGETS.items()})
    assert highs.failures() == []


def test_figures_outside_their_targets_fail():
    figures = Figures(**{**passing(), "swing": 0.5, "stacked_notes": 0.1, "drum_coverage": 0.9999})
    assert figures.failures() == ["drum_coverage", "stacked_notes", "swing"]
    assert figures.score() == pytest.approx(1 - 3 / 9)


def test_undefined_figures_neither_pass_nor_fail():
    figures = Figures(**{**passing(), "drum_coverage": math.nan, "key_agreement": math.nan, "swing": 0.7})
    assert figures.failures() == ["swing"]
    assert figures.score() == pytest.approx(1 - 1 / 7)
    assert math.isnan(Figures(**dict.fromkeys(TARGETS, math.nan)).score())
    assert figures.to_dict()["drum_coverage"] is None


def test_summary_averages_each_figure_over_the_tracks_that_define_it():
    one = Figures(**{**passing(), "swing": 0.5, "key_agreement": math.nan, "drum_coverage": math.nan})
    two = Figures(**{**passing(), "swing": 0.6, "key_agreement": 0.0, "drum_coverage": math.nan})
    means = summary([one, two])
    assert means["swing"] == pytest.approx(0.55)
    assert means["key_agreement"] == 0.0
    assert math.isnan(means["drum_coverage"])
    assert means["backbeat"] == pytest.approx(TARGETS["backbeat"][0])
