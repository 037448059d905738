"""Pitch classes and their names."""

from __future__ import annotations

import re

SHARP_NAMES: tuple[str, ...] = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
FLAT_NAMES: tuple[str, ...] = ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")

_LETTERS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_ACCIDENTALS = {"#": 1, "♯": 1, "b": -1, "♭": -1}
# a letter then any run of sharps or flats; what follows is the caller's business (a mode, a chord quality)
_NOTE = re.compile(r"([A-Ga-g])([#♯b♭]*)")


def split_pitch(text: str) -> tuple[int, str]:
    """Read a note name at the start of ``text``: return its pitch class and the rest of the text."""
    match = _NOTE.match(text)
    if match is None:
        raise ValueError(
            f"not a note name: {text!r} (expected a letter A-G with optional # or b, e.g. 'C', 'F#', 'Bb')"
        )
    letter, accidentals = match.groups()
    shift = sum(_ACCIDENTALS[a] for a in accidentals)
    return (_LETTERS[letter.upper()] + shift) % 12, text[match.end() :]


def pitch_class(name: str) -> int:
    """Pitch class 0-11 of a note name: "C", "c#", "Db", "B♭", "F♯", "Cb" (=11), "E#" (=5)."""
    pc, rest = split_pitch(name.strip())
    if rest:
        raise ValueError(
            f"not a note name: {name!r} (expected a letter A-G with optional # or b, e.g. 'C', 'F#', 'Bb')"
        )
    return pc


def pitch_name(pc: int, flats: bool = False) -> str:
    """ASCII name of a pitch class: sharps ("C#") by default, flats ("Db") on request."""
    return (FLAT_NAMES if flats else SHARP_NAMES)[pc % 12]
