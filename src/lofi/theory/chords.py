"""Chord symbols, their pitch classes and their voicings."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations, product

from lofi.theory.pitch import pitch_class, split_pitch

# intervals above the root, in stacking order (root, third, fifth, seventh, tensions)
QUALITIES: dict[str, tuple[int, ...]] = {
    "maj": (0, 4, 7),
    "m": (0, 3, 7),
    "dim": (0, 3, 6),
    "aug": (0, 4, 8),
    "sus2": (0, 2, 7),
    "sus4": (0, 5, 7),
    "6": (0, 4, 7, 9),
    "m6": (0, 3, 7, 9),
    "7": (0, 4, 7, 10),
    "maj7": (0, 4, 7, 11),
    "m7": (0, 3, 7, 10),
    "m7b5": (0, 3, 6, 10),
    "dim7": (0, 3, 6, 9),
    "mMaj7": (0, 3, 7, 11),
    "7sus4": (0, 5, 7, 10),
    "add9": (0, 4, 7, 14),
    "madd9": (0, 3, 7, 14),
    "9": (0, 4, 7, 10, 14),
    "maj9": (0, 4, 7, 11, 14),
    "m9": (0, 3, 7, 10, 14),
    "9sus4": (0, 5, 7, 10, 14),
    "7b9": (0, 4, 7, 10, 13),
    "7#9": (0, 4, 7, 10, 15),
    "maj7#11": (0, 4, 7, 11, 18),
    # the 11 leaves out the third the natural 11 would rub against, as MMA and most fake books do
    "11": (0, 7, 10, 14, 17),
    "m11": (0, 3, 7, 10, 14, 17),
    # 13ths leave out the 11 for the same reason
    "13": (0, 4, 7, 10, 14, 21),
    "maj13": (0, 4, 7, 11, 14, 21),
    "m13": (0, 3, 7, 10, 14, 21),
}

# lead-sheet root spelling: one name per pitch class, the one fake books use most
CHORD_ROOT_NAMES: tuple[str, ...] = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_SHARP_ROOTS = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_FLAT_ROOTS = ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")

_SUFFIX = {quality: quality for quality in QUALITIES} | {"maj": ""}
# MMA's names where they differ: its "dim" is the dim7, its minor-major seventh is "mM7"
_MMA_SUFFIX = _SUFFIX | {"dim": "mb5", "mMaj7": "mM7", "madd9": "m(add9)", "maj7#11": "M7#11"}
_ALIASES: dict[str, str] = {suffix: quality for quality, suffix in _SUFFIX.items()} | {
    "M": "maj",
    "maj": "maj",
    "min": "m",
    "-": "m",
    "°": "dim",
    "o": "dim",
    "mb5": "dim",
    "+": "aug",
    "M6": "6",
    "min6": "m6",
    "-6": "m6",
    "M7": "maj7",
    "Δ": "maj7",
    "Δ7": "maj7",
    "ma7": "maj7",
    "min7": "m7",
    "-7": "m7",
    "ø": "m7b5",
    "ø7": "m7b5",
    "m7-5": "m7b5",
    "-7b5": "m7b5",
    "°7": "dim7",
    "o7": "dim7",
    "mM7": "mMaj7",
    "m(maj7)": "mMaj7",
    "minmaj7": "mMaj7",
    "-maj7": "mMaj7",
    "7sus": "7sus4",
    "sus": "sus4",
    "add2": "add9",
    "m(add9)": "madd9",
    "M9": "maj9",
    "Δ9": "maj9",
    "min9": "m9",
    "-9": "m9",
    "9sus": "9sus4",
    "M7#11": "maj7#11",
    "Δ#11": "maj7#11",
    "min11": "m11",
    "-11": "m11",
    "M13": "maj13",
    "Δ13": "maj13",
    "min13": "m13",
    "-13": "m13",
}


def _case_free(aliases: dict[str, str]) -> dict[str, str]:
    """Lower-cased aliases that still name one quality ("MAJ7" is safe, "M7" is not)."""
    by_lower: dict[str, set[str]] = {}
    for alias, quality in aliases.items():
        by_lower.setdefault(alias.lower(), set()).add(quality)
    return {alias: qualities.pop() for alias, qualities in by_lower.items() if len(qualities) == 1}


_ALIASES_ANY_CASE = _case_free(_ALIASES)


def _bad_symbol(symbol: str) -> ValueError:
    return ValueError(
        f"cannot read chord symbol {symbol!r}: expected a root (C, F#, Bb) and a quality such as "
        f"m7, maj7, 7, m7b5, dim7, sus4, add9, 13, optionally over a bass (C/E); qualities: {', '.join(QUALITIES)}"
    )


@dataclass(frozen=True)
class Chord:
    """A root pitch class, a quality named in QUALITIES and, for slash chords, a bass pitch class."""

    root: int
    quality: str = "maj"
    bass: int | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.root < 12:
            raise ValueError(f"chord root must be a pitch class 0-11, got {self.root}")
        if self.quality not in QUALITIES:
            raise ValueError(f"unknown chord quality {self.quality!r}: choose one of {', '.join(QUALITIES)}")
        if self.bass is not None and not 0 <= self.bass < 12:
            raise ValueError(f"chord bass must be a pitch class 0-11, got {self.bass}")

    @classmethod
    def parse(cls, symbol: str) -> Chord:
        """Read a chord symbol: "Dm7", "Bbmaj7", "F#m7b5", "G13", "C/E", "B♭Δ7"."""
        text = symbol.strip()
        head, slash, tail = text.rpartition("/")
        try:
            root, suffix = split_pitch(head if slash else text)
            bass = pitch_class(tail) if slash else None
        except ValueError:
            raise _bad_symbol(symbol) from None
        quality = _ALIASES.get(suffix) or _ALIASES_ANY_CASE.get(suffix.lower())
        if quality is None:
            raise _bad_symbol(symbol)
        return cls(root, quality, bass)

    @property
    def pitch_classes(self) -> frozenset[int]:
        """Every pitch class that sounds, the slash bass included."""
        pcs = {(self.root + step) % 12 for step in QUALITIES[self.quality]}
        return frozenset(pcs if self.bass is None else pcs | {self.bass})

    @property
    def has_seventh(self) -> bool:
        """A seventh chord or richer: 7, maj7, m7, m7b5, dim7, mMaj7 and every 9, 11 and 13."""
        steps = {step % 12 for step in QUALITIES[self.quality]}
        return bool(steps & {10, 11}) or self.quality == "dim7"

    @property
    def symbol(self) -> str:
        """Canonical ASCII symbol that Chord.parse reads back: "Bbmaj7", "F#m7b5", "C/E"."""
        return self._spell(CHORD_ROOT_NAMES, _SUFFIX)

    @property
    def mma_symbol(self) -> str:
        """The spelling MMA accepts for this chord."""
        return self._spell(CHORD_ROOT_NAMES, _MMA_SUFFIX)

    def spelled(self, flats: bool) -> str:
        """The symbol spelled for a key: Gbmaj7 in Db major, F#maj7 in B major (see Key.prefers_flats)."""
        return self._spell(_FLAT_ROOTS if flats else _SHARP_ROOTS, _SUFFIX)

    def transpose(self, semitones: int) -> Chord:
        bass = None if self.bass is None else (self.bass + semitones) % 12
        return Chord((self.root + semitones) % 12, self.quality, bass)

    def _spell(self, names: Sequence[str], suffixes: dict[str, str]) -> str:
        bass = "" if self.bass is None else f"/{names[self.bass]}"
        return f"{names[self.root]}{suffixes[self.quality]}{bass}"

    def __str__(self) -> str:
        return self.symbol


VOICING_STYLES: tuple[str, ...] = ("close", "drop2", "shell", "rootless")


def _by_importance(steps: Iterable[int]) -> list[int]:
    """Chord steps, the ones that name the chord first: third (or sus), seventh (or sixth),
    altered fifth, tensions from the top down, fifth, root."""
    steps = list(steps)
    has_third = any(s in (3, 4) for s in steps)

    def rank(step: int) -> tuple[int, int]:
        if step in (3, 4) or (step in (2, 5) and not has_third):
            return 0, 0
        if step in (9, 10, 11):
            return 1, 0
        if step in (6, 8):
            return 2, 0
        if step > 12:
            return 3, -step
        return (4, 0) if step == 7 else (5, 0)

    return sorted(steps, key=rank)


def _tones(chord: Chord, style: str) -> list[int]:
    """The pitch classes a style plays, most important first."""
    ordered = [(chord.root + step) % 12 for step in _by_importance(QUALITIES[chord.quality])]
    upper = [pc for pc in ordered if pc != chord.root]
    if style == "close":
        return ordered
    if style == "drop2":
        return ordered[:4]
    if style == "shell":  # a slash bass stands in for the root
        base = chord.root if chord.bass is None else chord.bass
        return [base, *[pc for pc in ordered if pc != base][:2]]
    if style == "rootless":
        # a triad without its root is a bare interval that no longer names the chord
        return upper[:4] if len(ordered) >= 4 else ordered
    raise ValueError(f"unknown voicing style {style!r}: choose one of {', '.join(VOICING_STYLES)}")


def _stack(order: Sequence[int], bottom: int) -> list[int]:
    """Pitch classes stacked upward, each the nearest above the one before, from MIDI note ``bottom``."""
    notes = [bottom]
    for pc in order[1:]:
        notes.append(notes[-1] + ((pc - notes[-1]) % 12 or 12))
    return notes


def _candidates(chord: Chord, style: str, low: int, high: int) -> list[list[int]]:
    tones = _tones(chord, style)
    if style == "shell":
        orders = [tones, [tones[0], *reversed(tones[1:])]]
    else:  # close position and its inversions
        close = sorted(tones, key=lambda pc: (pc - chord.root) % 12)
        orders = [close[i:] + close[:i] for i in range(len(close))]
    stacks = [_stack(order, bottom) for order in orders for bottom in range(low, high + 1) if bottom % 12 == order[0]]
    if style == "drop2":
        stacks = [sorted([*s[:-2], s[-2] - 12, s[-1]]) for s in stacks]
    if chord.bass is not None:
        # slash chords: the bass goes under the voicing unless an inversion already has it there
        stacks = [s if s[0] % 12 == chord.bass else [s[0] - ((s[0] - chord.bass) % 12 or 12), *s] for s in stacks]
    return [s for s in stacks if low <= s[0] and s[-1] <= high]


def voicing(chord: Chord, low: int = 48, high: int = 76, style: str = "rootless") -> list[int]:
    """MIDI pitches for ``chord`` inside [low, high], centred in the range.

    close: every chord tone within an octave; drop2: four-note close voicing with the second voice
    from the top dropped an octave; shell: root, third and seventh; rootless: third, seventh and
    tensions for the left hand over a bass that plays the root (triads keep their root).
    A slash chord's bass is the lowest note.
    """
    centre = (low + high) / 2
    candidates = _candidates(chord, style, low, high)
    if not candidates and chord.bass is not None:
        # a wide drop2 over a slash bass may not fit; close position over the bass spans under two octaves
        candidates = _candidates(chord, "close", low, high)
    if not candidates:
        raise ValueError(f"cannot voice {chord.symbol} as {style} between {low} and {high}: widen the range")
    return min(candidates, key=lambda notes: (abs(sum(notes) / len(notes) - centre), notes))


def motion(a: Sequence[int], b: Sequence[int]) -> int:
    """Semitones travelled from voicing a to voicing b (both non-empty).

    Voices pair bottom to top; when one voicing has more notes, its extra notes travel to the
    nearest note of the other.
    """
    big, small = (sorted(a), sorted(b)) if len(a) >= len(b) else (sorted(b), sorted(a))
    if not small:
        raise ValueError("motion needs two non-empty voicings")

    def cost(kept: tuple[int, ...]) -> int:
        paired = sum(abs(big[i] - s) for i, s in zip(kept, small, strict=True))
        return paired + sum(min(abs(note - s) for s in small) for i, note in enumerate(big) if i not in kept)

    return min(cost(kept) for kept in combinations(range(len(big)), len(small)))


def voice_lead(
    previous: Sequence[int], chord: Chord, low: int = 48, high: int = 76, style: str = "rootless"
) -> list[int]:
    """The voicing of ``chord`` (the tones ``voicing`` would play) that moves least from ``previous``."""
    fresh = voicing(chord, low, high, style)
    if not previous:
        return fresh
    # notes more than an octave from every previous note only add motion, so search near them
    near = range(max(low, min(previous) - 12), min(high, max(previous) + 12) + 1)
    placements = []
    for pc in sorted({note % 12 for note in fresh}):
        options = [n for n in near if n % 12 == pc] or [n for n in range(low, high + 1) if n % 12 == pc]
        placements.append(options)
    candidates = [sorted(notes) for notes in product(*placements)]
    if chord.bass is not None:
        candidates = [notes for notes in candidates if notes[0] % 12 == chord.bass]
    candidates.append(fresh)
    centre = (low + high) / 2
    return min(candidates, key=lambda n: (motion(previous, n), abs(sum(n) / len(n) - centre), n))
