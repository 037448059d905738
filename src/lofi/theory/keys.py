"""Keys: a tonic and a mode, parsed from what people type."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lofi.theory.pitch import FLAT_NAMES, pitch_name, split_pitch
from lofi.theory.scales import SCALES, scale_pitch_classes

# what people type after the tonic, lower-cased with runs of space, "_" and "-" made one space
_MODE_ALIASES: dict[str, str] = {
    "": "major",
    "maj": "major",
    "major": "major",
    "ionian": "major",
    "m": "natural_minor",
    "min": "natural_minor",
    "minor": "natural_minor",
    "aeolian": "natural_minor",
    "natural minor": "natural_minor",
    "harmonic minor": "harmonic_minor",
    "harm minor": "harmonic_minor",
    "melodic minor": "melodic_minor",
    "mel minor": "melodic_minor",
    "jazz minor": "melodic_minor",
    "mixo": "mixolydian",
    "pentatonic": "major_pentatonic",
    "blues": "blues",
} | {name.replace("_", " "): name for name in SCALES}

# where the mode's tonic sits in its parent major scale: D dorian lives in C major
_PARENT_OFFSET: dict[str, int] = {
    "major": 0,
    "dorian": 2,
    "phrygian": 4,
    "lydian": 5,
    "mixolydian": 7,
    "natural_minor": 9,
    "harmonic_minor": 9,
    "melodic_minor": 9,
    "locrian": 11,
    "major_pentatonic": 0,
    "minor_pentatonic": 9,
    "blues": 9,
}
_MINOR_MODES = frozenset(
    {"natural_minor", "harmonic_minor", "melodic_minor", "dorian", "phrygian", "locrian", "minor_pentatonic", "blues"}
)
# parent majors written with flats: F Bb Eb Ab Db; Gb/F# is the tie, settled by quality below
_FLAT_PARENTS = frozenset({5, 10, 3, 8, 1})
_EXAMPLES = '"D minor", "Dm", "F#", "Bb major", "Ebm", "A dorian", "G harmonic minor"'


@dataclass(frozen=True, order=True)
class Key:
    """A tonic pitch class (0 = C) and a mode named in SCALES."""

    tonic: int
    mode: str = "major"
    # how the tonic was written: "flat" (Ab), "sharp" (G#) or None (the key signature's convention)
    spelling: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not 0 <= self.tonic < 12:
            raise ValueError(f"tonic must be a pitch class 0-11, got {self.tonic}")
        if self.mode not in SCALES:
            raise ValueError(f"unknown mode {self.mode!r}: choose one of {', '.join(SCALES)}")
        if self.spelling not in (None, "flat", "sharp"):
            raise ValueError(f"spelling must be 'flat', 'sharp' or None, not {self.spelling!r}")

    @classmethod
    def parse(cls, text: str) -> Key:
        """Read a key as people type it: "D minor", "Dm", "d min", "F#", "Bb major", "A dorian"."""
        cleaned = text.strip()
        words = re.sub(r"[\s_-]+", " ", cleaned.lower())
        if len(words) > 1 and words in _MODE_ALIASES:  # "blues", "dorian": a mode without its tonic
            raise ValueError(
                f"cannot read key {text!r}: it needs a tonic, a note name A-G, before the mode (e.g. {_EXAMPLES})"
            )
        try:
            tonic, rest = split_pitch(cleaned)
        except ValueError:
            raise ValueError(
                f"cannot read key {text!r}: it must start with a note name A-G (e.g. {_EXAMPLES})"
            ) from None
        written = cleaned[1 : len(cleaned) - len(rest)]
        spelling = "flat" if written and written[0] in "b♭" else "sharp" if written else None
        rest = rest.strip()
        if rest == "M":  # chord-symbol habit: "DM" is D major, "Dm" is D minor
            return cls(tonic, "major", spelling)
        mode = _MODE_ALIASES.get(re.sub(r"[\s_-]+", " ", rest.lower()))
        if mode is None:
            raise ValueError(
                f"cannot read key {text!r}: unknown mode {rest!r} "
                f"(use major, minor/m/min, a church mode or a SCALES name, e.g. {_EXAMPLES})"
            )
        return cls(tonic, mode, spelling)

    @classmethod
    def from_token(cls, token: str) -> Key:
        """Inverse of ``.token``: "D_minor" -> Key(2, "natural_minor")."""
        name, _, quality = token.partition("_")
        if name not in FLAT_NAMES or quality not in ("major", "minor"):
            raise ValueError(
                f"not a key token: {token!r} (expected <tonic>_<major|minor> with tonic in {' '.join(FLAT_NAMES)})"
            )
        return cls(FLAT_NAMES.index(name), "major" if quality == "major" else "natural_minor")

    @property
    def pitch_classes(self) -> frozenset[int]:
        return scale_pitch_classes(self.tonic, self.mode)

    @property
    def usable_pitch_classes(self) -> frozenset[int]:
        """What strict-key composing may play: the scale, and in natural minor its raised seventh too, the
        leading tone of the V7 that minor progressions resolve from (E7 in A minor, as in harmonic minor)."""
        if self.mode == "natural_minor":
            return self.pitch_classes | {(self.tonic + 11) % 12}
        return self.pitch_classes

    @property
    def quality(self) -> str:
        """The major/minor family: what the third above the tonic is."""
        return "minor" if self.mode in _MINOR_MODES else "major"

    @property
    def prefers_flats(self) -> bool:
        """Whether to spell with flats: as the tonic was written, else as the key signature does (F# major
        and G# minor use sharps, Eb minor flats)."""
        if self.spelling is not None:
            return self.spelling == "flat"
        parent = (self.tonic - _PARENT_OFFSET[self.mode]) % 12
        return parent in _FLAT_PARENTS or (parent == 6 and self.quality == "minor")

    @property
    def name(self) -> str:
        """Human name with the conventional spelling: "Bb major", "F# minor", "A dorian"."""
        mode = "minor" if self.mode == "natural_minor" else self.mode.replace("_", " ")
        return f"{pitch_name(self.tonic, self.prefers_flats)} {mode}"

    @property
    def slug(self) -> str:
        """The name for file names and ids: "g-sharp-minor", "b-flat-major", "a-dorian"."""
        tonic, _, mode = self.name.partition(" ")
        accidental = {"#": "-sharp", "b": "-flat"}.get(tonic[1:], "")
        return f"{tonic[0].lower()}{accidental}-{mode.replace(' ', '-')}"

    @property
    def token(self) -> str:
        """Conditioning token with one fixed spelling per pitch class: "Eb_minor", "Gb_major"."""
        return f"{FLAT_NAMES[self.tonic]}_{self.quality}"

    @property
    def relative(self) -> Key:
        """The relative major of a minor-family key, or the relative (natural) minor of a major one."""
        if self.quality == "minor":
            return Key((self.tonic + 3) % 12, "major")
        return Key((self.tonic + 9) % 12, "natural_minor")

    @property
    def family(self) -> Key:
        """The major or natural-minor key of the same tonic and third: what a key-finding profile can tell."""
        return Key(self.tonic, "major" if self.quality == "major" else "natural_minor")

    def agrees(self, heard: Key) -> bool:
        """Whether a key heard in the music is this key or its relative (a key finder's usual confusion)."""
        return heard.family in (self.family, self.family.relative)

    def transpose(self, semitones: int) -> Key:
        return Key((self.tonic + semitones) % 12, self.mode, self.spelling)

    def __str__(self) -> str:
        return self.name


parse_key = Key.parse
