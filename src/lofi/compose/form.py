"""The form of a track: which section plays in which bars."""

from __future__ import annotations

from dataclasses import dataclass

SECTION_BARS = 8


@dataclass(frozen=True)
class Slot:
    name: str  # intro | A | B | A' | outro
    material: str  # the generated material it plays: A, B or A' (a variation of A)
    bars: int
    drums: bool


def section_length(body_bars: int) -> int:
    return min(SECTION_BARS, max(1, body_bars // 2))


def plan(total_bars: int) -> list[Slot]:
    """Intro, then A B A' B ... filling the body, then an outro ending on the resolution bar."""
    if total_bars < 3:
        raise ValueError("a track needs at least 3 bars")
    if total_bars >= 24:
        intro = outro = 4
    elif total_bars >= 12:
        intro = outro = 2
    elif total_bars >= 6:
        intro = outro = 1
    else:
        intro, outro = 0, 1
    body = total_bars - intro - outro
    length = section_length(body)
    slots = [Slot("intro", "A", intro, drums=False)] if intro else []
    cycle = ("A", "B", "A'", "B")
    i = 0
    while body > 0:
        material = cycle[i % len(cycle)]
        if material == "A'" and i // len(cycle) % 2 == 1:
            material = "A"  # every other round returns to the theme as first heard
        bars = min(length, body)
        slots.append(Slot(material, material, bars, drums=True))
        body -= bars
        i += 1
    slots.append(Slot("outro", "A", outro, drums=False))
    return slots
