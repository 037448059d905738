"""The lo-fi instrument palette: which SoundFont preset plays each part, per mood, chosen by name.

A part's role (keys, guitar, bass, pad, lead, drums) comes from its General MIDI program. The mood then
picks the preset by its name in the SoundFont (e.g. "Rhodes EP", "Brush"), so a SoundFont that lacks a
name falls back to the part's own GM program instead of failing.
"""

from __future__ import annotations

from dataclasses import dataclass

from lofi.moods import check_mood

ROLES = ("keys", "guitar", "bass", "pad", "lead", "drums")


def role_of(program: int, is_drum: bool) -> str:
    """The part a General MIDI program plays in a lo-fi band."""
    if is_drum:
        return "drums"
    if 24 <= program <= 31:
        return "guitar"
    if 32 <= program <= 39:
        return "bass"
    if 40 <= program <= 55 or 88 <= program <= 103:
        return "pad"
    if 56 <= program <= 87 or 104 <= program <= 127:
        return "lead"
    return "keys"  # pianos, electric pianos, chromatic percussion, organs


# Preset names in preference order, per mood and role; a role a mood leaves out keeps the GM program.
PALETTES: dict[str, dict[str, tuple[str, ...]]] = {
    "chill": {
        "keys": ("Rhodes EP",),
        "guitar": ("Jazz Guitar",),
        "bass": ("Fingered Bass",),
        "pad": ("Warm Pad",),
        "drums": ("Jazz", "Standard"),
    },
    "jazzy": {
        "keys": ("Rhodes EP",),
        "guitar": ("Jazz Guitar",),
        "bass": ("Acoustic Bass",),
        "pad": ("Slow Strings",),
        "drums": ("Jazz", "Brush"),
    },
    "sad": {
        "keys": ("Yamaha Grand Piano",),
        "guitar": ("Nylon String Guitar",),
        "bass": ("Acoustic Bass",),
        "pad": ("Slow Strings", "Warm Pad"),
        "drums": ("Brush", "Jazz"),
    },
    "dreamy": {
        "keys": ("Legend EP 2", "Rhodes EP"),
        "guitar": ("Nylon String Guitar",),
        "bass": ("Fretless Bass", "Fingered Bass"),
        "pad": ("Halo Pad", "Warm Pad"),
        "drums": ("Brush", "Jazz"),
    },
    "upbeat": {
        "keys": ("Electric Piano", "Rhodes EP"),
        "guitar": ("Jazz Guitar",),
        "bass": ("Fingered Bass",),
        "pad": ("Warm Pad",),
        "drums": ("Room", "Standard"),
    },
    "rainy": {
        "keys": ("Rhodes EP",),
        "guitar": ("Nylon String Guitar",),
        "bass": ("Acoustic Bass",),
        "pad": ("Warm Pad",),
        "drums": ("Brush", "Jazz"),
    },
    "sleepy": {
        "keys": ("Rhodes EP",),
        "guitar": ("Nylon String Guitar",),
        "bass": ("Acoustic Bass",),
        "pad": ("Halo Pad", "Warm Pad"),
        "drums": ("Brush", "Jazz"),
    },
    "nostalgic": {
        "keys": ("Detuned EP 1", "Rhodes EP"),
        "guitar": ("Jazz Guitar",),
        "bass": ("Fingered Bass",),
        "pad": ("Warm Pad",),
        "drums": ("Jazz", "Standard"),
    },
}


@dataclass(frozen=True)
class Preset:
    bank: int
    number: int
    name: str


def choose(presets: dict[str, Preset], mood: str | None, role: str, program: int) -> Preset:
    """The preset that plays ``role`` in ``mood``; ``presets`` maps SoundFont preset names to presets."""
    if mood is not None:
        for name in PALETTES[check_mood(mood)].get(role, ()):
            if name in presets:
                return presets[name]
    by_number = {(p.bank, p.number): p for p in presets.values()}
    key = (128, 0) if role == "drums" else (0, program)
    return by_number.get(key) or Preset(key[0], key[1], f"program {program}")
