import pytest

from lofi.theory import BANK, Chord, Key, Progression, progression, realize_numeral

C_MAJOR, A_MINOR = Key(0, "major"), Key(9, "natural_minor")


def _key(mode: str, tonic: int) -> Key:
    return Key(tonic, "major" if mode == "major" else "natural_minor")


@pytest.mark.parametrize(
    ("numeral", "key", "symbol"),
    [
        ("ii7", C_MAJOR, "Dm7"),
        ("V7", C_MAJOR, "G7"),
        ("Imaj7", C_MAJOR, "Cmaj7"),
        ("IV", C_MAJOR, "F"),
        ("ii", C_MAJOR, "Dm"),
        ("vi9", C_MAJOR, "Am9"),
        ("viiø7", C_MAJOR, "Bm7b5"),
        ("viim7b5", C_MAJOR, "Bm7b5"),
        ("vii°7", C_MAJOR, "Bdim7"),
        ("viio7", C_MAJOR, "Bdim7"),
        ("#iv°7", C_MAJOR, "F#dim7"),
        ("V13", C_MAJOR, "G13"),
        ("IVmaj9", C_MAJOR, "Fmaj9"),
        ("Vsus4", C_MAJOR, "Gsus4"),
        ("Iadd9", C_MAJOR, "Cadd9"),
        ("I6", C_MAJOR, "C6"),
        ("bII7", C_MAJOR, "Db7"),
        ("bIIImaj7", C_MAJOR, "Ebmaj7"),
        ("bVImaj7", C_MAJOR, "Abmaj7"),
        ("bVII9", C_MAJOR, "Bb9"),
        ("iv7", C_MAJOR, "Fm7"),
        ("V7/ii", C_MAJOR, "A7"),
        ("V7/V", C_MAJOR, "D7"),
        ("V7/vi", C_MAJOR, "E7"),
        ("ii7/V", C_MAJOR, "Am7"),
        ("i9", A_MINOR, "Am9"),
        ("iiø7", A_MINOR, "Bm7b5"),
        ("V7b9", A_MINOR, "E7b9"),
        ("III", A_MINOR, "C"),
        ("VII7", A_MINOR, "G7"),
        ("VImaj7", A_MINOR, "Fmaj7"),
        ("iv7", A_MINOR, "Dm7"),
        ("bIImaj7", A_MINOR, "Bbmaj7"),
        ("imaj7", A_MINOR, "AmMaj7"),
        ("V7/iv", A_MINOR, "A7"),
        ("ii7", Key.parse("Bb"), "Cm7"),
        ("V7", Key.parse("F# minor"), "C#7"),
    ],
)
def test_realize_numeral(numeral, key, symbol):
    assert realize_numeral(numeral, key) == Chord.parse(symbol)


@pytest.mark.parametrize(
    ("numeral", "complaint"),
    [("VIII", "unknown suffix 'I'"), ("x7", "expected an optional b"), ("Iø7", "'ø7' for an upper-case"),
     ("ii7b9", "'7b9' for a lower-case"), ("V7/ii7", "bare numeral"), ("", "expected an optional b")],
)  # fmt: skip
def test_bad_numerals_say_why(numeral, complaint):
    with pytest.raises(ValueError) as info:
        realize_numeral(numeral, C_MAJOR)
    assert complaint in str(info.value)
    assert "V7/ii" in str(info.value)  # examples of what works


def test_bank_is_big_varied_and_well_formed():
    assert len(BANK) >= 40
    assert len({p.name for p in BANK}) == len(BANK)
    major = sum(p.mode == "major" for p in BANK) / len(BANK)
    assert 0.5 <= major <= 0.7
    for p in BANK:
        assert len(p.bars) in (4, 8), p.name
        assert p.tags, p.name
        assert all(1 <= len(bar.split()) <= 2 for bar in p.bars), p.name


def test_bank_covers_the_lofi_staples():
    tags = {t for p in BANK for t in p.tags}
    assert {"jazz", "neo-soul", "sad", "dreamy", "chill"} <= tags
    in_c = {p.name: [c.symbol for bar in p.realize(_key(p.mode, 0)) for c in bar] for p in BANK}
    assert in_c["ii-V-I"] == ["Dm7", "G7", "Cmaj7", "Cmaj7"]
    assert in_c["backdoor ii-V"][:2] == ["Fm7", "Bb7"]
    assert in_c["minor ii-V-i"][:3] == ["Dm7b5", "G7b9", "Cm9"]
    assert in_c["i-iv-VII-III"] == ["Cm7", "Fm7", "Bb7", "Ebmaj7"]
    assert progression("plagal lo-fi").realize(C_MAJOR)[0] == [Chord.parse("Fmaj7")]


def test_every_bank_chord_in_every_key_is_valid_mma(mma_rejects):
    symbols = {
        chord.mma_symbol for p in BANK for tonic in range(12) for bar in p.realize(_key(p.mode, tonic)) for chord in bar
    }
    assert len(symbols) > 100
    assert mma_rejects(symbols) == set()


@pytest.mark.parametrize("prog", BANK, ids=lambda p: p.name)
def test_realize_transposes_with_the_key(prog):
    home = prog.realize(_key(prog.mode, 0))
    for tonic in range(1, 12):
        moved = prog.realize(_key(prog.mode, tonic))
        assert moved == [[c.transpose(tonic) for c in bar] for bar in home]
        assert [len(bar) for bar in moved] == [len(bar.split()) for bar in prog.bars]


def test_modes_realize_through_their_family():
    dorian = progression("dorian vamp").realize(Key.parse("D dorian"))
    assert dorian == [[Chord.parse(s)] for s in ("Dm7", "G7", "Dm7", "G7")]


def test_realize_refuses_the_other_family():
    with pytest.raises(ValueError, match="minor key"):
        progression("minor ii-V-i").realize(C_MAJOR)


@pytest.mark.parametrize(
    ("bars", "mode", "complaint"),
    [(("ii7 V7 I",), "major", "one or two"), ((), "major", "one or two"), (("ii7",), "dorian", "mode"),
     (("ii7", "Vx"), "major", "Vx")],
)  # fmt: skip
def test_progression_checks_itself(bars, mode, complaint):
    with pytest.raises(ValueError, match=complaint):
        Progression("broken", bars, mode, ("test",))


def test_progression_lookup_names_the_choices():
    with pytest.raises(ValueError, match="ii-V-I"):
        progression("nope")
