"""The mood rule: every corpus sequence's mood label follows from its family, mode and tempo.

family  the groove family (jazz, ballad, lullaby, bossa, soul from MMA's stdlib; hiphop, rnb, triphop
        from its casio and alexis libraries), "folk" for pieces led by a public-domain melody, "other"
        for game music and users' files
quality major or minor (the key's major/minor family)
band    slow under 70 BPM, mid 70-81, fast 82 and over

The table is the documentation: docs/MODEL_CARD.md prints it. lofi's own pieces (the "lofi" family,
lofi.corpus.loops) are not in the table: each is made by a mood's recipe and keeps that mood.
"""

from __future__ import annotations

SLOW_BELOW, FAST_FROM = 70.0, 82.0
FAMILIES = ("jazz", "ballad", "lullaby", "bossa", "soul", "hiphop", "rnb", "triphop", "folk", "other")

#                      major: slow, mid, fast                     minor: slow, mid, fast
RULE: dict[str, tuple[tuple[str, str, str], tuple[str, str, str]]] = {
    "jazz": (("sleepy", "jazzy", "upbeat"), ("rainy", "jazzy", "jazzy")),
    "ballad": (("dreamy", "nostalgic", "chill"), ("sad", "sad", "rainy")),
    "lullaby": (("sleepy", "sleepy", "dreamy"), ("sad", "rainy", "rainy")),
    "bossa": (("chill", "chill", "upbeat"), ("rainy", "nostalgic", "upbeat")),
    "soul": (("dreamy", "chill", "upbeat"), ("sad", "rainy", "jazzy")),
    "hiphop": (("chill", "chill", "upbeat"), ("sad", "rainy", "jazzy")),
    "rnb": (("dreamy", "nostalgic", "upbeat"), ("sad", "rainy", "nostalgic")),
    "triphop": (("dreamy", "dreamy", "nostalgic"), ("sad", "rainy", "rainy")),
    "folk": (("nostalgic", "nostalgic", "upbeat"), ("sad", "nostalgic", "rainy")),
    "other": (("sleepy", "chill", "upbeat"), ("sad", "rainy", "jazzy")),
}


def tempo_band(bpm: float) -> int:
    return 0 if bpm < SLOW_BELOW else 1 if bpm < FAST_FROM else 2


def mood_for(family: str, quality: str, bpm: float) -> str:
    if family not in RULE:
        raise ValueError(f"unknown family {family!r}: one of {', '.join(FAMILIES)}")
    if quality not in ("major", "minor"):
        raise ValueError(f"quality must be major or minor, not {quality!r}")
    return RULE[family][quality == "minor"][tempo_band(bpm)]
