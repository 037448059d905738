"""The closed list of moods: the one place that defines them."""

from __future__ import annotations

MOODS: tuple[str, ...] = (
    "chill",
    "jazzy",
    "sad",
    "dreamy",
    "upbeat",
    "rainy",
    "sleepy",
    "nostalgic",
)


def check_mood(mood: str) -> str:
    """Return ``mood`` normalised, or raise ValueError naming the valid moods."""
    name = mood.strip().lower()
    if name not in MOODS:
        raise ValueError(f"unknown mood {mood!r}: choose one of {', '.join(MOODS)}")
    return name
