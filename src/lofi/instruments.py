"""The lo-fi instrument palette: every source's General MIDI programs fold onto these few roles.

A small, consistent set of programs gives the model stable parts to learn (keys, guitar, bass, pads,
lead, drums) from sources that each name their instruments differently.
"""

from __future__ import annotations

DRUMS = -1  # MidiTok's program number for the drum track

# program -> role name; the programs the tokenizer knows
PALETTE: dict[int, str] = {
    0: "piano",
    4: "electric piano",
    11: "vibraphone",
    24: "nylon guitar",
    26: "jazz guitar",
    32: "upright bass",
    33: "electric bass",
    48: "strings",
    59: "muted trumpet",
    65: "alto sax",
    73: "flute",
    80: "synth lead",
    89: "warm pad",
    DRUMS: "drums",
}

BASS_PROGRAMS = frozenset({32, 33})
# programs a generated lead melody is played on
LEAD_PROGRAMS: tuple[int, ...] = (11, 73, 65, 59, 4)

# programs that play a melody over the band (the electric piano also plays chords: it counts as harmony)
MELODY_PROGRAMS = frozenset({11, 59, 65, 73, 80})


def part_name(program: int) -> str:
    """What a user calls the part a palette program plays (DRUMS for the kit): drums, bass, keys or lead,
    the names of `lofi vary --part`."""
    if program == DRUMS:
        return "drums"
    return "bass" if program in BASS_PROGRAMS else "lead" if program in MELODY_PROGRAMS else "keys"


def part_rank(program: int, is_drum: bool = False) -> tuple[int, int]:
    """The canonical order of parts in a lofi MIDI file and in its tokens: drums, bass, harmony, melody.

    Within one position the tokenizer writes notes in track order, so a fixed order means the drums of a
    beat always come first and the melody last; lofi.compose relies on it to write one part into a bar.
    """
    role = 0 if is_drum else 1 if program in BASS_PROGRAMS else 3 if program in MELODY_PROGRAMS else 2
    return role, program


# General MIDI program ranges (inclusive) -> palette program; None drops the part (sound effects)
_FOLD: tuple[tuple[int, int, int | None], ...] = (
    (0, 3, 0),
    (4, 7, 4),
    (8, 15, 11),
    (16, 23, 4),  # organs play the electric piano's role
    (24, 25, 24),
    (26, 31, 26),
    (32, 32, 32),
    (33, 39, 33),
    (40, 55, 48),
    (56, 63, 59),
    (64, 71, 65),
    (72, 79, 73),
    (80, 87, 80),
    (88, 103, 89),
    (104, 111, 24),
    (112, 127, None),
)


def fold_program(program: int, is_drum: bool = False) -> int | None:
    """The palette program for a General MIDI program, or None when the part is dropped."""
    if is_drum:
        return DRUMS
    for low, high, target in _FOLD:
        if low <= program <= high:
            return target
    raise ValueError(f"MIDI program {program} is outside 0..127")
