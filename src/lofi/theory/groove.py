"""The drum kit and the groove: which General MIDI drum notes are which, where the backbeat is, the swing.

Every function takes a symusic Score in ticks; times are measured against its quarter note (``tpq``) in
4/4, which is the only metre lofi composes and keeps in its corpus.
"""

from __future__ import annotations

import numpy as np
from symusic import Score

KICKS = frozenset({35, 36})
# the backbeat is played on a snare, a rim click (side stick) or a clap
BACKBEAT = frozenset({37, 38, 39, 40})
CLOSED_HATS = frozenset({42, 44})
OPEN_HATS = frozenset({46})
RIDES = frozenset({51, 53, 59})
CRASHES = frozenset({49, 52, 55, 57})
TOMS = frozenset({41, 43, 45, 47, 48, 50})
# the drum kit a lo-fi beat is made of: everything above plus nothing else
KIT = KICKS | BACKBEAT | CLOSED_HATS | OPEN_HATS | RIDES | CRASHES | TOMS
# hand and latin percussion (General MIDI 54, 56, 58, 60-81, and the GM2 extensions 82-87: tambourine,
# cowbell, vibraslap, bongos, congas, timbales, agogos, cabasa, maracas, whistles, guiros, claves, wood
# blocks, cuicas, triangles, shaker, jingle bell, belltree, castanets, surdos)
HAND_PERCUSSION = frozenset({54, 56, 58, *range(60, 88)})
# where in an eighth note an off-beat sixteenth may land, straight (0.5) to the heaviest swing: 32nds fall outside
SWING_WINDOW = (0.4, 0.72)


def bar_ticks(score: Score) -> int:
    return 4 * score.tpq


def bar_count(score: Score) -> int:
    """Bars the music spans, up to the end of its last note (the last bar may be partial)."""
    return -(-int(score.end()) // bar_ticks(score))


def drum_hits(score: Score) -> tuple[np.ndarray, np.ndarray]:
    """(onset tick, drum note) of every hit on a drum track."""
    arrays = [t.notes.numpy() for t in score.tracks if t.is_drum and len(t.notes)]
    if not arrays:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    times = np.concatenate([a["time"] for a in arrays]).astype(np.int64)
    pitches = np.concatenate([a["pitch"] for a in arrays]).astype(np.int64)
    return times, pitches


def backbeat_in_bars(score: Score, bars: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per bar: whether any drum hits in it, and whether it has the backbeat.

    The backbeat is a snare, rim or clap within a sixteenth of beat 2 and within a sixteenth of beat 4
    (a laid-back or pushed hit counts; a fill that moves the snare off either beat does not).
    """
    bars = bar_count(score) if bars is None else bars
    times, pitches = drum_hits(score)
    bar, tpq = bar_ticks(score), score.tpq
    has_drums = np.zeros(bars, dtype=bool)
    index = times // bar
    has_drums[index[index < bars]] = True
    beats = np.zeros((bars, 2), dtype=bool)
    snare = np.isin(pitches, list(BACKBEAT))
    for column, beat in enumerate((1, 3)):
        # the bar a hit near beat 2 or 4 belongs to is the bar of the beat it is near
        near = times[snare] - beat * tpq
        owner = np.floor_divide(near + tpq // 4, bar)
        offset = near - owner * bar
        hit = (np.abs(offset) <= tpq // 4) & (owner >= 0) & (owner < bars)
        beats[owner[hit], column] = True
    return has_drums, has_drums & beats.all(axis=1)


def hand_percussion_share(score: Score) -> float:
    """Share of drum hits on hand or latin percussion; NaN without drums."""
    _, pitches = drum_hits(score)
    return float(np.isin(pitches, list(HAND_PERCUSSION)).mean()) if len(pitches) else float("nan")


def swing_ratio(score: Score) -> float:
    """Where the off-beat sixteenths land inside their eighth note: 0.5 straight, 0.54-0.62 lo-fi, 0.67 triplet.

    MPC swing moves only the second sixteenth of each eighth-note pair, to between 50% and 75% of the eighth
    at most. Every onset (drums and pitched parts) between 40% and 72% of an eighth is such a sixteenth
    (a thirty-second note, at 25% or 75%, is not); the ratio is their median position. NaN when nothing
    plays off-beat sixteenths.
    """
    eighth = score.tpq / 2
    onsets = np.concatenate([t.notes.numpy()["time"] for t in score.tracks if len(t.notes)] or [np.zeros(0)])
    phase = (onsets % eighth) / eighth
    off = phase[(phase > SWING_WINDOW[0]) & (phase < SWING_WINDOW[1])]
    return float(np.median(off)) if len(off) else float("nan")
