import pytest
from hypothesis import given
from hypothesis import strategies as st

from lofi.theory import SCALES, Key, parse_key, scale_pitch_classes

ALL_KEYS = [Key(tonic, mode) for mode in SCALES for tonic in range(12)]
MAJOR_MINOR = [Key(tonic, mode) for mode in ("major", "natural_minor") for tonic in range(12)]
keys = st.builds(Key, st.integers(0, 11), st.sampled_from(list(SCALES)))


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("D minor", Key(2, "natural_minor")),
        ("Dm", Key(2, "natural_minor")),
        ("d min", Key(2, "natural_minor")),
        ("F#", Key(6, "major")),
        ("Bb major", Key(10, "major")),
        ("Ebm", Key(3, "natural_minor")),
        ("A dorian", Key(9, "dorian")),
        ("C mixolydian", Key(0, "mixolydian")),
        ("G harmonic minor", Key(7, "harmonic_minor")),
        ("F# minor", Key(6, "natural_minor")),
        ("E aeolian", Key(4, "natural_minor")),
        ("B♭ Major", Key(10, "major")),
        ("bb", Key(10, "major")),
        ("DM", Key(2, "major")),
        ("c# melodic_minor", Key(1, "melodic_minor")),
        ("A minor-pentatonic", Key(9, "minor_pentatonic")),
        ("  G  ", Key(7, "major")),
    ],
)
def test_parse_reads_what_people_type(text, key):
    assert Key.parse(text) == key
    assert parse_key(text) == key


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("", "note name"),
        ("H minor", "note name"),
        ("minor", "note name"),
        ("D minr", "'minr'"),
        ("C major7", "'major7'"),
    ],
)
def test_parse_says_what_was_wrong_with_examples(text, complaint):
    with pytest.raises(ValueError) as info:
        Key.parse(text)
    message = str(info.value)
    assert complaint in message
    assert repr(text) in message
    assert '"Dm"' in message  # shows examples of what works


@pytest.mark.parametrize(
    ("key", "name"),
    [
        (Key(2, "natural_minor"), "D minor"),
        (Key(10, "major"), "Bb major"),
        (Key(6, "major"), "F# major"),
        (Key(3, "natural_minor"), "Eb minor"),
        (Key(8, "natural_minor"), "G# minor"),
        (Key(1, "major"), "Db major"),
        (Key(1, "natural_minor"), "C# minor"),
        (Key(9, "dorian"), "A dorian"),
        (Key(3, "dorian"), "Eb dorian"),
        (Key(6, "lydian"), "Gb lydian"),
        (Key(7, "harmonic_minor"), "G harmonic minor"),
    ],
)
def test_name_uses_conventional_spelling(key, name):
    assert key.name == name


@pytest.mark.parametrize("key", ALL_KEYS, ids=str)
def test_name_parses_back(key):
    assert key.name.isascii()
    assert Key.parse(key.name) == key


@pytest.mark.parametrize("key", MAJOR_MINOR, ids=str)
def test_token_round_trips_for_all_24_keys(key):
    assert Key.from_token(key.token) == key
    assert key.token.isascii()


def test_tokens_are_unique_and_fixed_spelled():
    assert len({k.token for k in MAJOR_MINOR}) == 24
    assert Key.parse("F# major").token == "Gb_major"
    assert Key.parse("D minor").token == "D_minor"
    assert Key.parse("A dorian").token == "A_minor"  # a mode conditions as its major/minor family


@pytest.mark.parametrize("bad", ["D", "D_dorian", "C#_minor", "X_major", "d_minor"])
def test_from_token_rejects_other_spellings(bad):
    with pytest.raises(ValueError, match="key token"):
        Key.from_token(bad)


@pytest.mark.parametrize(
    ("mode", "quality"),
    [("major", "major"), ("lydian", "major"), ("mixolydian", "major"), ("major_pentatonic", "major"),
     ("natural_minor", "minor"), ("harmonic_minor", "minor"), ("melodic_minor", "minor"), ("dorian", "minor"),
     ("phrygian", "minor"), ("locrian", "minor"), ("minor_pentatonic", "minor"), ("blues", "minor")],
)  # fmt: skip
def test_quality_follows_the_third(mode, quality):
    key = Key(0, mode)
    assert key.quality == quality
    assert (3 in key.pitch_classes) == (quality == "minor")  # the third above the tonic decides


@given(keys, st.integers(-48, 48))
def test_transpose_invariants(key, shift):
    assert key.transpose(12) == key
    assert key.transpose(shift).transpose(-shift) == key
    assert key.transpose(shift).pitch_classes == {(pc + shift) % 12 for pc in key.pitch_classes}
    assert key.transpose(shift).quality == key.quality


@pytest.mark.parametrize("key", MAJOR_MINOR, ids=str)
def test_relative_shares_the_scale_and_flips_quality(key):
    assert key.relative.relative == key
    assert key.relative.pitch_classes == key.pitch_classes
    assert key.relative.quality != key.quality


@pytest.mark.parametrize("key", ALL_KEYS, ids=str)
def test_pitch_classes_are_the_scale(key):
    assert key.pitch_classes == scale_pitch_classes(key.tonic, key.mode)


@pytest.mark.parametrize(
    ("text", "flats"),
    [("F", True), ("C", False), ("G", False), ("Db", True), ("F#", False), ("D minor", True), ("E minor", False),
     ("Eb minor", True), ("G# minor", False), ("D dorian", False), ("G dorian", True)],
)  # fmt: skip
def test_prefers_flats_follows_the_key_signature(text, flats):
    assert Key.parse(text).prefers_flats is flats


def test_keys_sort_and_reject_bad_fields():
    assert sorted([Key(2), Key(0, "natural_minor"), Key(0)]) == [Key(0), Key(0, "natural_minor"), Key(2)]
    with pytest.raises(ValueError, match="0-11"):
        Key(12)
    with pytest.raises(ValueError, match="unknown mode"):
        Key(0, "minor")
