"""The quality gate: what a written loop, fill or melody must be before the composer keeps it.

Each check returns the list of what is wrong (empty: it passes) and a score to pick the best of several
tries when none passes. The checks are the lo-fi figures of lofi.analysis.figures, asked of a few bars.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from symusic import Score

from lofi.compose.arrange import Bar, role
from lofi.theory import Key, detect_chords, detect_key
from lofi.theory.groove import backbeat_in_bars

MIN_SEVENTHS = 1.0  # share of a loop's bars whose chord has a seventh: a loop repeats, so one triad bar is 25%
MAX_SEAM_JUMP = 7  # semitones the harmony's middle may move from the loop's last chord to its first
MAX_CHORD_NOTES = 6  # notes one part strikes at once: more is a cluster, not a voicing
MELODY_NOTES = (1.5, 10)  # notes per bar, on average, of a melody over a loop: present, and sparse


def _harmony_centre(bar: Bar, first: bool) -> float | None:
    """Mean pitch of the harmony's first (or last) chord in a bar."""
    notes = [n for part, ns in bar.items() if role(part) == "harmony" for n in ns]
    if not notes:
        return None
    onset = min(n.time for n in notes) if first else max(n.time for n in notes)
    return float(np.mean([n.pitch for n in notes if n.time == onset]))


def loop_problems(score: Score, bars: list[Bar], key: Key) -> tuple[list[str], float]:
    """A loop: drums with the backbeat and a bass in every bar, a seventh chord in most, the asked key
    (or its relative), and no jump in the harmony where the last bar goes back to the first."""
    count = len(bars)
    problems = []
    has_drums, backbeat = backbeat_in_bars(score, count)
    # one bass part under every bar (the band keeps one bass: two that take turns leave gaps)
    basses = {p for bar in bars for p, ns in bar.items() if role(p) == "bass" and ns}
    bass = max(([bool(bar.get(p)) for bar in bars] for p in basses), key=sum, default=[False] * count)
    chords = detect_chords(score, per="bar")[:count] if score.end() > 0 else []
    chords += [None] * (count - len(chords))
    sevenths = sum(bool(c and c.has_seventh) for c in chords)
    if not has_drums.all():
        problems.append(f"drums in {has_drums.sum()} of {count} bars")
    elif not backbeat.all():
        problems.append(f"backbeat in {backbeat.sum()} of {count} bars")
    if not all(bass):
        problems.append(f"bass in {sum(bass)} of {count} bars")
    if any(c is None for c in chords):
        problems.append(f"chords in {sum(c is not None for c in chords)} of {count} bars")
    elif sevenths < MIN_SEVENTHS * count:
        problems.append(f"seventh chords in {sevenths} of {count} bars")
    try:
        heard = detect_key(score, "aarden", bass_weight=1.0).key  # music21's default key analysis
        if not key.agrees(heard):
            problems.append(f"sounds in {heard.name}")
    except ValueError:
        problems.append("no pitched notes")
    onsets = [(b, p, n.time, n.pitch) for b, bar in enumerate(bars) for p, ns in bar.items() for n in ns]
    if len(onsets) != len(set(onsets)):  # decoding never stacks notes; a loop that did must not pass
        problems.append(f"{len(onsets) - len(set(onsets))} stacked notes")
    widest = max((Counter(n.time for n in ns).most_common(1)[0][1] for bar in bars for p, ns in bar.items()
                  if ns and role(p) != "drums"), default=0)  # fmt: skip
    if widest > MAX_CHORD_NOTES:
        problems.append(f"a cluster of {widest} notes struck at once")
    last, first = _harmony_centre(bars[-1], first=False), _harmony_centre(bars[0], first=True)
    if last is not None and first is not None and abs(last - first) > MAX_SEAM_JUMP:
        problems.append(f"the harmony jumps {abs(last - first):.0f} semitones at the seam")
    score_ = has_drums.mean() + backbeat.mean() + np.mean(bass) + sevenths / count - len(problems)
    return problems, float(score_)


def bar_problems(score: Score, bars: list[Bar], index: int) -> list[str]:
    """One bar of a loop as it is written: drums with the backbeat, a bass note, a seventh chord."""
    bar = bars[index]
    problems = []
    _, backbeat = backbeat_in_bars(score, index + 1)
    if not any(role(p) == "drums" and ns for p, ns in bar.items()):
        problems.append("no drums")
    elif not backbeat[index]:
        problems.append("no backbeat")
    if not any(role(p) == "bass" and ns for p, ns in bar.items()):
        problems.append("no bass")
    chords = detect_chords(score, per="bar")
    chord = chords[index] if index < len(chords) else None
    if chord is None or not chord.has_seventh:
        problems.append("no seventh chord")
    return problems


def melody_bar_problems(score: Score, bars: list[Bar], index: int, loop_chords: list) -> list[str]:
    """One bar of a melody as it is written: begun by the second bar, sparse, the bar's chord unchanged."""
    problems = []
    played = [sum(len(ns) for p, ns in bar.items() if role(p) == "melody") for bar in bars[: index + 1]]
    if index >= 1 and not any(played):
        problems.append("no melody yet")
    if played[index] > MELODY_NOTES[1]:
        problems.append(f"{played[index]} melody notes")
    chords = detect_chords(score, per="bar")
    if index < len(loop_chords) and (chords[index] if index < len(chords) else None) != loop_chords[index]:
        problems.append("the melody changes the chord")
    return problems


def fill_problems(score: Score, fill: Bar, plain: Bar) -> tuple[list[str], float]:
    """A fill: drums that keep the backbeat and differ from the loop's own bar."""
    problems = []
    drums = sorted((n.time, n.pitch) for p, ns in fill.items() if role(p) == "drums" for n in ns)
    same = sorted((n.time, n.pitch) for p, ns in plain.items() if role(p) == "drums" for n in ns)
    if not drums:
        problems.append("no drums")
    _, backbeat = backbeat_in_bars(score, 1)
    if not backbeat.all():
        problems.append("no backbeat")
    if drums == same:
        problems.append("the same as the loop's bar")
    return problems, -float(len(problems))


def melody_problems(
    score: Score, bars: list[Bar], key: Key, loop_chords: list | None = None
) -> tuple[list[str], float]:
    """A melody over a loop: present but sparse, the loop with it still in the asked key, and each bar's chord
    still the loop's (``loop_chords``, one per bar): a melody colours the harmony, it does not change it."""
    notes = sum(len(ns) for bar in bars for p, ns in bar.items() if role(p) == "melody")
    low, high = MELODY_NOTES
    per_bar = notes / max(1, len(bars))
    problems = []
    if per_bar < low:
        problems.append(f"{per_bar:.1f} melody notes a bar (fewer than {low})")
    elif per_bar > high:
        problems.append(f"{per_bar:.1f} melody notes a bar (more than {high})")
    if notes and not key.agrees(heard := detect_key(score, "aarden", bass_weight=1.0).key):
        problems.append(f"with the melody the loop sounds in {heard.name}")
    if notes and loop_chords is not None:
        heard_chords = detect_chords(score, per="bar")[: len(loop_chords)]
        changed = [i + 1 for i, (a, b) in enumerate(zip(heard_chords, loop_chords, strict=False)) if a != b]
        if changed:
            problems.append(f"the melody changes the chord of bar {', '.join(map(str, changed))}")
    return problems, -abs(per_bar - (low + high) / 2) - 10 * len(problems)


def part_problems(
    score: Score, bars: list[Bar], written: str, key: Key, before: list[Bar], loop_chords: list
) -> tuple[list[str], float]:
    """One part written again over a turn of a finished track (``lofi vary``): it plays where it played
    ``before`` and keeps what the composer's gate asks of it (drums the backbeat, a bass note a bar, seventh
    chords in the key, a sparse melody that keeps the chords); and it is not the part it replaces."""
    count = len(bars)

    def notes(bar: Bar) -> list[tuple]:
        return sorted((n.time, n.pitch, n.duration) for p, ns in bar.items() if role(p) == written for n in ns)

    problems = []
    played = [bool(notes(bar)) for bar in before]
    if written == "melody":
        problems += melody_problems(score, bars, key, loop_chords)[0]
    elif [bool(notes(bar)) for bar in bars] != played:
        problems.append(f"{written} in {sum(bool(notes(bar)) for bar in bars)} of {count} bars, not {sum(played)}")
    if written == "drums":
        _, backbeat = backbeat_in_bars(score, count)
        if not all(backbeat[i] for i in range(count) if played[i]):
            problems.append(f"backbeat in {int(backbeat.sum())} of {sum(played)} bars")
    if written == "harmony":
        chords = (detect_chords(score, per="bar")[:count] if score.end() > 0 else []) + [None] * count
        sevenths = sum(bool(c and c.has_seventh) for c in chords[:count])
        if sevenths < MIN_SEVENTHS * count:
            problems.append(f"seventh chords in {sevenths} of {count} bars")
        try:
            if not key.agrees(heard := detect_key(score, "aarden", bass_weight=1.0).key):
                problems.append(f"sounds in {heard.name}")
        except ValueError:
            problems.append("no pitched notes")
    if [notes(bar) for bar in bars] == [notes(bar) for bar in before]:
        problems.append(f"the same {written} as before")
    return problems, -float(len(problems))
