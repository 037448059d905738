"""Roman-numeral progressions and the lo-fi progression bank."""

from __future__ import annotations

import re
from dataclasses import dataclass

from lofi.theory.chords import Chord
from lofi.theory.keys import Key
from lofi.theory.scales import SCALES

_NUMERAL = re.compile(
    r"(?P<accidental>[b#♭♯]?)(?P<degree>VII|VI|IV|V|III|II|I|vii|vi|iv|v|iii|ii|i)(?P<suffix>[^/]*)(?:/(?P<target>.+))?"
)
_DEGREES = ("I", "II", "III", "IV", "V", "VI", "VII")
# suffix -> quality, for upper-case (major-based) and lower-case (minor-based) numerals
_UPPER_SUFFIX = {
    "": "maj",
    "+": "aug",
    "6": "6",
    "7": "7",
    "maj7": "maj7",
    "9": "9",
    "maj9": "maj9",
    "11": "11",
    "13": "13",
    "maj13": "maj13",
    "maj7#11": "maj7#11",
    "7b9": "7b9",
    "7#9": "7#9",
    "sus2": "sus2",
    "sus4": "sus4",
    "7sus4": "7sus4",
    "9sus4": "9sus4",
    "add9": "add9",
}
_LOWER_SUFFIX = {
    "": "m",
    "6": "m6",
    "7": "m7",
    "9": "m9",
    "11": "m11",
    "13": "m13",
    "maj7": "mMaj7",
    "add9": "madd9",
    "°": "dim",
    "o": "dim",
    "°7": "dim7",
    "o7": "dim7",
    "dim7": "dim7",
    "ø": "m7b5",
    "ø7": "m7b5",
    "m7b5": "m7b5",
} | {f"m{suffix}": quality for suffix, quality in (("", "m"), ("6", "m6"), ("7", "m7"), ("9", "m9"), ("11", "m11"))}
_EXAMPLES = "ii7, V7, Imaj7, vi9, iiø7, vii°7, bVII9, #iv°7, V7/ii, V7b9, IVmaj9, i9, Isus4"


def _bad_numeral(numeral: str, why: str) -> ValueError:
    return ValueError(f"cannot read Roman numeral {numeral!r}: {why} (examples: {_EXAMPLES})")


def _degree_root(accidental: str, degree: str, key: Key) -> int:
    """Root of a scale degree: from the major scale in major keys, the natural minor in minor keys."""
    scale = SCALES["major" if key.quality == "major" else "natural_minor"]
    shift = {"b": -1, "♭": -1, "#": 1, "♯": 1}.get(accidental, 0)
    return (key.tonic + scale[_DEGREES.index(degree.upper())] + shift) % 12


def realize_numeral(numeral: str, key: Key) -> Chord:
    """The chord a Roman numeral names in ``key``: "ii7" in C is Dm7, "V7/ii" is A7, "bVII9" is Bb9.

    Case gives the triad (IV major, iv minor); suffixes extend it ("7" is a dominant seventh on an
    upper-case numeral and a minor seventh on a lower-case one). Minor keys count from the minor
    tonic on the natural minor scale, so in A minor VII is G and V7 is E7.
    """
    match = _NUMERAL.fullmatch(numeral.strip())
    if match is None:
        raise _bad_numeral(numeral, "expected an optional b or #, a numeral I-VII or i-vii and a suffix")
    if match["target"]:
        # an applied chord: V7/ii is the V7 of the key whose tonic is ii
        target = _NUMERAL.fullmatch(match["target"])
        if target is None or target["suffix"] or target["target"]:
            raise _bad_numeral(
                numeral, f"the part after '/' must be a bare numeral such as ii or V, not {match['target']!r}"
            )
        mode = "major" if target["degree"].isupper() else "natural_minor"
        key = Key(_degree_root(target["accidental"], target["degree"], key), mode)
    suffixes = _UPPER_SUFFIX if match["degree"].isupper() else _LOWER_SUFFIX
    quality = suffixes.get(match["suffix"])
    if quality is None:
        case = "an upper" if match["degree"].isupper() else "a lower"
        known = ", ".join(s for s in suffixes if s)
        raise _bad_numeral(numeral, f"unknown suffix {match['suffix']!r} for {case}-case numeral (known: {known})")
    return Chord(_degree_root(match["accidental"], match["degree"], key), quality)


@dataclass(frozen=True)
class Progression:
    """A named chord loop: one string per bar holding one or two Roman numerals."""

    name: str
    bars: tuple[str, ...]
    mode: str  # "major" or "minor": the key family the numerals count from
    tags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.mode not in ("major", "minor"):
            raise ValueError(f"progression {self.name!r}: mode must be 'major' or 'minor', not {self.mode!r}")
        if not self.bars or any(not 1 <= len(bar.split()) <= 2 for bar in self.bars):
            raise ValueError(f"progression {self.name!r}: every bar needs one or two numerals, got {self.bars}")
        self.realize(Key(0, "major" if self.mode == "major" else "natural_minor"))  # fail early on a typo

    def realize(self, key: Key) -> list[list[Chord]]:
        """The chords of each bar in ``key``, whose major/minor family must match the progression's."""
        if key.quality != self.mode:
            raise ValueError(
                f"progression {self.name!r} is {self.mode}; realize it in a {self.mode} key, not {key.name}"
            )
        return [[realize_numeral(numeral, key) for numeral in bar.split()] for bar in self.bars]


def _major(name: str, bars: str, *tags: str) -> Progression:
    return Progression(name, tuple(bar.strip() for bar in bars.split("|")), "major", tags)


def _minor(name: str, bars: str, *tags: str) -> Progression:
    return Progression(name, tuple(bar.strip() for bar in bars.split("|")), "minor", tags)


BANK: tuple[Progression, ...] = (
    # major: ii-V families
    _major("ii-V-I", "ii7 | V7 | Imaj7 | Imaj7", "jazz", "chill"),
    _major("lush ii-V-I", "ii9 | V13 | Imaj9 | Imaj9", "neo-soul", "jazz", "dreamy"),
    _major("ii-V loop", "ii9 | V13 | ii9 | V13", "jazz", "chill"),
    _major("sus cadence", "ii9 | V9sus4 | V7b9 | Imaj9", "jazz", "dreamy"),
    _major("long ii-V-I", "Imaj7 | Imaj7 | iii7 | vi7 | ii7 | V7 | Imaj7 | Imaj7", "jazz", "nostalgic"),
    _major("I-vi-ii-V", "Imaj7 | vi7 | ii7 | V7", "jazz", "chill"),
    _major("iii-vi-ii-V", "iii7 | vi7 | ii7 | V7", "jazz", "chill"),
    _major("two-chord turnaround", "Imaj7 vi7 | ii7 V7 | Imaj7 vi7 | ii7 V7", "jazz", "upbeat"),
    _major(
        "rhythm changes A",
        "Imaj7 vi7 | ii7 V7 | iii7 vi7 | ii7 V7 | Imaj7 V7/IV | IVmaj7 iv7 | iii7 vi7 | ii7 V7",
        "jazz",
        "upbeat",
    ),
    # major: secondary dominants and substitutes
    _major("I-VI7-ii-V", "Imaj7 | V7/ii | ii7 | V7", "jazz", "nostalgic"),
    _major("V of V", "Imaj7 | ii7 | V7/V | V7", "jazz", "nostalgic"),
    _major("tritone turnaround", "Imaj7 | vi7 | ii7 | bII7", "jazz"),
    _major("tritone ii-V-I", "ii9 | bII7 | Imaj9 | Imaj9", "jazz", "chill"),
    _major("backdoor ii-V", "iv7 | bVII7 | Imaj7 | Imaj7", "jazz", "nostalgic"),
    _major("backdoor nine", "Imaj9 | IVmaj9 | iv9 | bVII9", "dreamy", "nostalgic"),
    _major("Dameron turnaround", "Imaj7 | bIIImaj7 | bVImaj7 | bIImaj7", "jazz", "dreamy"),
    _major("borrowed lift", "Imaj7 | bVImaj7 | bVII9 | Imaj7", "dreamy", "nostalgic"),
    _major("lydian float", "Imaj7 | II7 | IVmaj7 | Imaj7", "dreamy"),
    _major("lydian shimmer", "Imaj7 | Imaj7#11 | IVmaj9 | IVmaj7#11", "dreamy", "sleepy"),
    # major: plagal and neo-soul colours
    _major("plagal lo-fi", "IVmaj7 | Imaj7 | IVmaj7 | Imaj7", "chill", "dreamy"),
    _major("minor plagal", "Imaj7 | IVmaj7 | iv6 | Imaj7", "sad", "nostalgic"),
    _major("I-I7-IV-iv", "Imaj7 | V7/IV | IVmaj7 | iv7", "nostalgic", "sad"),
    _major("neo-soul drift", "IVmaj9 | iii7 | vi9 | ii9 V7", "neo-soul", "dreamy"),
    _major("neo-soul cascade", "IVmaj7 | V7/vi | vi7 | v7 V7/IV", "neo-soul", "jazz"),
    _major("neo-soul one-four", "Imaj9 | IVmaj9 | Imaj9 | IVmaj9", "neo-soul", "chill"),
    _major("Imaj9-ii9 vamp", "Imaj9 | ii9 | Imaj9 | ii9", "chill", "sleepy"),
    _major(
        "neo-soul eight",
        "Imaj9 | Imaj9 | iii7 | V7/ii | ii9 | ii9 | V13 | V13",
        "neo-soul",
        "jazz",
    ),
    # major: pop loops dressed in sevenths
    _major("axis", "Imaj7 | V7 | vi7 | IVmaj7", "chill", "upbeat"),
    _major("sensitive", "vi7 | IVmaj7 | Imaj7 | V7", "sad", "chill"),
    _major("descending thirds", "Imaj7 | vi7 | IVmaj7 | ii7", "chill", "sleepy"),
    _major("royal road", "IVmaj7 | V7 | iii7 | vi7 | IVmaj7 | V7 | Imaj7 | Imaj7", "nostalgic", "upbeat"),
    _major("canon", "Imaj7 | V7 | vi7 | iii7 | IVmaj7 | Imaj7 | IVmaj7 | V7", "nostalgic", "chill"),
    _major("add9 sunrise", "Iadd9 | vi7 | IVadd9 | V7sus4", "upbeat", "chill"),
    # minor
    _minor("minor ii-V-i", "iiø7 | V7b9 | i9 | i9", "jazz", "sad"),
    _minor("minor turnaround", "i7 | VImaj7 | iiø7 | V7b9", "jazz", "rainy"),
    _minor("i-iv-v", "i7 | iv7 | v7 | i7", "sad", "rainy"),
    _minor("i-iv-VII-III", "i7 | iv7 | VII7 | IIImaj7", "chill", "sad"),
    _minor("Andalusian", "i7 | VII7 | VImaj7 | V7", "sad", "rainy"),
    _minor("dorian vamp", "i7 | IV7 | i7 | IV7", "chill", "jazz"),
    _minor("dorian nine", "i9 | IV9 | i9 | IV9", "neo-soul", "chill"),
    _minor("minor plagal drift", "i9 | iv9 | i9 | iv9", "sleepy", "sad"),
    _minor("minor epic", "i7 | VImaj7 | IIImaj7 | VII7", "sad", "nostalgic"),
    _minor("i-VI-iv-V", "i7 | VImaj7 | iv7 | V7", "sad", "rainy"),
    _minor("minor descent", "i7 | v7 | VImaj7 | iv7", "sad", "sleepy"),
    _minor("minor neo-soul", "i9 | iv9 | VII9 | IIImaj9", "neo-soul", "dreamy"),
    _minor("dorian sway", "i9 | ii7 | i9 | ii7", "dreamy", "chill"),
    _minor("VI-VII-i rise", "VImaj7 | VII7 | i7 | i7", "nostalgic", "dreamy"),
    _minor("minor iv-V sway", "i9 | iv9 | i9 | V7#9", "jazz", "rainy"),
    _minor("rainy eight", "i9 | i9 | VImaj9 | VImaj9 | iv9 | iv9 | V7b9 | V7b9", "rainy", "sleepy"),
    _minor("phrygian tilt", "i7 | bIImaj7 | i7 | bIImaj7", "dreamy", "rainy"),
    _minor("line cliche", "i | imaj7 | i7 | i6", "jazz", "sad"),
    _minor("harmonic cadence", "i9 | iv7 | V7b9 | i9", "sad", "jazz"),
    _minor("minor blues eight", "i7 | iv7 | i7 | i7 | VI7 | V7 | i7 | V7", "jazz", "rainy"),
    _minor(
        "autumn cycle",
        "iv7 | VII7 | IIImaj7 | VImaj7 | iiø7 | V7b9 | i7 | i7",
        "jazz",
        "nostalgic",
    ),
)


def progression(name: str) -> Progression:
    """The BANK progression called ``name``."""
    for candidate in BANK:
        if candidate.name == name:
            return candidate
    raise ValueError(f"no progression named {name!r}: choose one of {', '.join(p.name for p in BANK)}")
