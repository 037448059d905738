import itertools

import pytest

from lofi.theory import FLAT_NAMES, SCALES, SHARP_NAMES, pitch_class, pitch_name, scale_pitch_classes


@pytest.mark.parametrize(
    ("name", "pc"),
    [("C", 0), ("c#", 1), ("Db", 1), ("B♭", 10), ("F♯", 6), ("Cb", 11), ("E#", 5), ("B#", 0), ("Fb", 4),
     ("g", 7), (" A ", 9), ("Ebb", 2), ("F##", 7)],
)  # fmt: skip
def test_pitch_class_reads_spellings(name, pc):
    assert pitch_class(name) == pc


@pytest.mark.parametrize("bad", ["", "H", "Cm", "C 4", "#C", "do", "C$"])
def test_pitch_class_rejects_non_notes(bad):
    with pytest.raises(ValueError, match="not a note name") as info:
        pitch_class(bad)
    assert "'F#'" in str(info.value)  # the message shows what a note name looks like


@pytest.mark.parametrize("pc", range(12))
@pytest.mark.parametrize("flats", [False, True])
def test_pitch_name_round_trips_and_is_ascii(pc, flats):
    name = pitch_name(pc, flats)
    assert name.isascii()
    assert pitch_class(name) == pc
    assert name == (FLAT_NAMES if flats else SHARP_NAMES)[pc]


def test_pitch_name_wraps_octaves():
    assert pitch_name(61) == "C#"
    assert pitch_name(61, flats=True) == "Db"


@pytest.mark.parametrize("scale", SCALES)
def test_scales_start_on_the_tonic_and_rise_within_an_octave(scale):
    steps = SCALES[scale]
    assert steps[0] == 0
    assert all(a < b for a, b in itertools.pairwise(steps))
    assert steps[-1] < 12


@pytest.mark.parametrize(
    ("tonic", "scale", "same_as"),
    [(2, "dorian", (0, "major")), (4, "phrygian", (0, "major")), (5, "lydian", (0, "major")),
     (7, "mixolydian", (0, "major")), (9, "natural_minor", (0, "major")), (11, "locrian", (0, "major")),
     (9, "minor_pentatonic", (0, "major_pentatonic"))],
)  # fmt: skip
def test_modes_share_their_parent_scale(tonic, scale, same_as):
    assert scale_pitch_classes(tonic, scale) == scale_pitch_classes(*same_as)


def test_scale_pitch_classes_values():
    assert scale_pitch_classes(9, "harmonic_minor") == {9, 11, 0, 2, 4, 5, 8}
    assert scale_pitch_classes(0, "blues") == {0, 3, 5, 6, 7, 10}


def test_unknown_scale_names_the_choices():
    with pytest.raises(ValueError, match="dorian"):
        scale_pitch_classes(0, "hungarian")
