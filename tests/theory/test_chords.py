import pytest
from hypothesis import given
from hypothesis import strategies as st

from lofi.theory import QUALITIES, VOICING_STYLES, Chord, motion, voice_lead, voicing

REQUIRED = [
    "maj", "m", "dim", "aug", "6", "m6", "7", "maj7", "m7", "m7b5", "dim7", "mMaj7", "9", "maj9", "m9", "11", "m11",
    "13", "maj13", "sus2", "sus4", "7sus4", "add9", "madd9", "7b9", "7#9", "9sus4",
]  # fmt: skip
chords = st.builds(Chord, st.integers(0, 11), st.sampled_from(list(QUALITIES)), st.none() | st.integers(0, 11))


def test_every_required_quality_exists():
    assert set(REQUIRED) <= set(QUALITIES)


@pytest.mark.parametrize(
    ("symbol", "chord", "pcs"),
    [
        ("Dm7", Chord(2, "m7"), {2, 5, 9, 0}),
        ("Bbmaj7", Chord(10, "maj7"), {10, 2, 5, 9}),
        ("F#m7b5", Chord(6, "m7b5"), {6, 9, 0, 4}),
        ("Cmaj9", Chord(0, "maj9"), {0, 4, 7, 11, 2}),
        ("G13", Chord(7, "13"), {7, 11, 2, 5, 9, 4}),
        ("Asus4", Chord(9, "sus4"), {9, 2, 4}),
        ("Eadd9", Chord(4, "add9"), {4, 8, 11, 6}),
        ("C/E", Chord(0, "maj", 4), {0, 4, 7}),
        ("Bdim7", Chord(11, "dim7"), {11, 2, 5, 8}),
        ("Dm9", Chord(2, "m9"), {2, 5, 9, 0, 4}),
        ("C7/Bb", Chord(0, "7", 10), {0, 4, 7, 10}),
        ("Am7/G", Chord(9, "m7", 7), {9, 0, 4, 7}),
        ("D/F#", Chord(2, "maj", 6), {2, 6, 9}),
        ("G/A", Chord(7, "maj", 9), {7, 11, 2, 9}),  # a bass outside the triad still sounds
    ],
)
def test_parse_reads_symbols(symbol, chord, pcs):
    assert Chord.parse(symbol) == chord
    assert chord.pitch_classes == pcs


@pytest.mark.parametrize(
    ("alias", "canonical"),
    [("CM7", "Cmaj7"), ("CΔ7", "Cmaj7"), ("CMAJ7", "Cmaj7"), ("C-7", "Cm7"), ("Cmin7", "Cm7"), ("Cø7", "Cm7b5"),
     ("C°7", "Cdim7"), ("Co7", "Cdim7"), ("C+", "Caug"), ("Cm(maj7)", "CmMaj7"), ("Csus", "Csus4"),
     ("C7sus", "C7sus4"), ("B♭m7", "Bbm7"), ("C♯m", "Dbm"), ("cm7", "Cm7"), ("Gb7", "F#7"), ("Cm(add9)", "Cmadd9")],
)  # fmt: skip
def test_aliases_read_as_the_canonical_chord(alias, canonical):
    assert Chord.parse(alias) == Chord.parse(canonical)
    assert Chord.parse(alias).symbol == canonical


@pytest.mark.parametrize("bad", ["", "H7", "Cxyz", "C/H", "m7", "C7/", "Cmaj7/E/G"])
def test_parse_rejects_nonsense_with_a_helpful_message(bad):
    with pytest.raises(ValueError, match="cannot read chord symbol") as info:
        Chord.parse(bad)
    assert "m7b5" in str(info.value)


@pytest.mark.parametrize("quality", QUALITIES)
def test_symbol_round_trips_for_every_root_and_bass(quality):
    for root in range(12):
        for bass in (None, *range(12)):
            chord = Chord(root, quality, bass)
            assert chord.symbol.isascii()
            assert Chord.parse(chord.symbol) == chord
            assert Chord.parse(chord.mma_symbol) == chord  # MMA spellings read back too


@pytest.mark.parametrize(("flats", "expected"), [(True, "Gbmaj7/Bb"), (False, "F#maj7/A#")])
def test_spelled_follows_the_key(flats, expected):
    chord = Chord(6, "maj7", 10)
    assert chord.spelled(flats) == expected
    assert Chord.parse(chord.spelled(flats)) == chord


@given(chords, st.integers(-36, 36))
def test_transpose_moves_every_pitch_class(chord, shift):
    moved = chord.transpose(shift)
    assert moved.pitch_classes == {(pc + shift) % 12 for pc in chord.pitch_classes}
    assert moved.quality == chord.quality
    assert chord.transpose(12) == chord
    assert moved.transpose(-shift) == chord


def test_every_quality_on_every_root_is_valid_mma(mma_rejects):
    symbols = [Chord(root, q).mma_symbol for q in QUALITIES for root in range(12)]
    symbols += [Chord(root, q, (root + 4) % 12).mma_symbol for q in QUALITIES for root in range(12)]
    assert mma_rejects(symbols) == set()


def test_mma_check_does_reject_bad_symbols(mma_rejects):
    # the check itself must be able to fail: MMA's "dim" is a dim7, so the triad needs "mb5"
    assert mma_rejects(["Cmadd9", "CmMaj7", "Cmb5"]) == {"Cmadd9", "CmMaj7"}


def _third_and_seventh(chord: Chord) -> set[int]:
    steps = QUALITIES[chord.quality]
    guide = [s for s in steps if s in (3, 4, 10, 11)] or [s for s in steps if s in (2, 5)]
    return {(chord.root + s) % 12 for s in guide}


@pytest.mark.parametrize("style", VOICING_STYLES)
@pytest.mark.parametrize("quality", QUALITIES)
def test_voicings_stay_in_range_and_play_chord_tones(style, quality):
    for root in range(12):
        for bass in (None, (root + 7) % 12, (root + 1) % 12):
            chord = Chord(root, quality, bass)
            notes = voicing(chord, 48, 76, style)
            pcs = {n % 12 for n in notes}
            assert all(48 <= n <= 76 for n in notes)
            assert notes == sorted(set(notes))
            assert pcs <= chord.pitch_classes
            assert _third_and_seventh(chord) <= pcs  # the tones that name the chord are always there
            if bass is not None:
                assert notes[0] % 12 == bass
            if style == "close":
                assert pcs == chord.pitch_classes
            if style == "rootless" and len(set(QUALITIES[quality])) >= 4 and bass is None:
                assert root not in pcs
            if style == "shell" and bass is None:
                assert root in pcs


def test_voicing_examples():
    assert voicing(Chord.parse("Cmaj7"), style="close") == [59, 60, 64, 67]
    assert voicing(Chord.parse("Dm7"), style="shell") == [50, 60, 65]
    drop2 = voicing(Chord.parse("G7"), style="drop2")
    assert sorted(n % 12 for n in drop2) == [2, 5, 7, 11]
    assert drop2[1] - drop2[0] > 4  # the dropped voice opens the bottom


def test_voicing_rejects_impossible_ranges_and_styles():
    with pytest.raises(ValueError, match="widen the range"):
        voicing(Chord.parse("G13"), 60, 64, "close")
    with pytest.raises(ValueError, match="rootless"):
        voicing(Chord.parse("C"), style="spread")


@pytest.mark.parametrize(
    ("a", "b", "moved"),
    [([60, 64, 67], [60, 64, 67], 0), ([60, 64, 67], [59, 65, 67], 2), ([60, 64], [60, 64, 67], 3),
     ([48, 60], [60], 12)],
)  # fmt: skip
def test_motion_counts_semitones(a, b, moved):
    assert motion(a, b) == moved
    assert motion(b, a) == moved


@given(st.lists(chords, min_size=2, max_size=6), st.sampled_from(VOICING_STYLES))
def test_voice_lead_moves_no_more_than_a_fresh_voicing(progression, style):
    current = voicing(progression[0], style=style)
    for chord in progression[1:]:
        led = voice_lead(current, chord, style=style)
        fresh = voicing(chord, style=style)
        assert motion(current, led) <= motion(current, fresh)
        assert {n % 12 for n in led} == {n % 12 for n in fresh}  # the same chord tones
        assert all(48 <= n <= 76 for n in led)
        if chord.bass is not None:
            assert led[0] % 12 == chord.bass
        current = led


def test_voice_lead_ii_V_I_moves_by_steps():
    dm9 = voicing(Chord.parse("Dm9"))
    g13 = voice_lead(dm9, Chord.parse("G13"))
    cmaj9 = voice_lead(g13, Chord.parse("Cmaj9"))
    assert motion(dm9, g13) <= 2
    assert motion(g13, cmaj9) <= 8
    assert voice_lead([], Chord.parse("Cmaj9")) == voicing(Chord.parse("Cmaj9"))
