"""The quality filter every corpus file passes, whatever its source."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

from symusic import Score

from lofi.instruments import DRUMS, fold_program, part_rank
from lofi.limits import TEMPO_RANGE

SECONDS_RANGE = (15.0, 15 * 60.0)
NOTES_PER_SECOND = (0.5, 40.0)
MAX_TRACKS = 16
MAX_BYTES = 4 * 1024 * 1024


class Rejected(Exception):
    """A file that does not belong in the corpus; the message is the reason."""


@dataclass(frozen=True)
class Checked:
    score: Score  # programs folded onto the palette, empty tracks removed
    bpm: float
    seconds: float
    bars: int
    notes: int
    programs: list[int]


def _first_tempo(score: Score) -> float:
    return round(float(score.tempos[0].qpm), 2) if len(score.tempos) else 120.0


def slow_down(score: Score) -> Score:
    """Halve the tempo of a fast piece until it is in range: the slowed rendition lo-fi is made of."""
    if _first_tempo(score) <= TEMPO_RANGE[1]:
        return score
    out = score.copy()
    while _first_tempo(out) > TEMPO_RANGE[1]:
        for tempo in out.tempos:
            tempo.qpm = tempo.qpm / 2
    return out


def _end_overlaps(track) -> None:
    """A note ends where the next note of the same pitch begins.

    Repeated strums of one pitch whose note-offs are paired to the wrong note-ons otherwise turn
    into notes held for the whole piece.
    """
    notes = sorted(track.notes, key=lambda n: (n.pitch, n.time))
    for a, b in itertools.pairwise(notes):
        if a.pitch == b.pitch and a.time + a.duration > b.time:
            a.duration = max(1, b.time - a.time)


def normalize(score: Score) -> Score:
    """Fold programs onto the lo-fi palette, end overlapping repeats, drop empty or dropped parts, and put
    the parts in lofi's canonical order (drums, bass, harmony, melody: lofi.instruments.part_rank)."""
    out = score.copy()
    kept = []
    for track in out.tracks:
        program = fold_program(track.program, track.is_drum)
        if program is None or len(track.notes) == 0:
            continue
        if not track.is_drum:
            track.program = program
            _end_overlaps(track)
        kept.append(track)
    kept.sort(key=lambda t: part_rank(DRUMS if t.is_drum else t.program, t.is_drum))
    out.tracks = kept
    return out


def check_score(score: Score) -> Checked:
    """Raise Rejected with the reason, or return the normalized score and its facts."""
    for ts in score.time_signatures:
        if (ts.numerator, ts.denominator) != (4, 4):
            raise Rejected(f"time signature {ts.numerator}/{ts.denominator} (the corpus keeps 4/4)")
    non_empty = [t for t in score.tracks if len(t.notes)]
    if not non_empty:
        raise Rejected("no notes")
    if len(non_empty) > MAX_TRACKS:
        raise Rejected(f"{len(non_empty)} tracks with notes (at most {MAX_TRACKS})")
    score = slow_down(score)
    bpm = _first_tempo(score)
    if not TEMPO_RANGE[0] <= bpm <= TEMPO_RANGE[1]:
        raise Rejected(f"tempo {bpm:.0f} BPM outside {TEMPO_RANGE[0]:.0f}-{TEMPO_RANGE[1]:.0f}")
    seconds = float(score.to("second").end())
    if not SECONDS_RANGE[0] <= seconds <= SECONDS_RANGE[1]:
        raise Rejected(f"duration {seconds:.0f} s outside {SECONDS_RANGE[0]:.0f}-{SECONDS_RANGE[1]:.0f} s")
    normalized = normalize(score)
    if not any(not t.is_drum for t in normalized.tracks):
        raise Rejected("no pitched parts (drums only)")
    notes = sum(len(t.notes) for t in normalized.tracks)
    density = notes / seconds
    if not NOTES_PER_SECOND[0] <= density <= NOTES_PER_SECOND[1]:
        raise Rejected(f"note density {density:.1f}/s outside {NOTES_PER_SECOND[0]}-{NOTES_PER_SECOND[1]}")
    bars = max(1, round(score.end() / (score.tpq * 4)))
    programs = sorted({-1 if t.is_drum else t.program for t in normalized.tracks})
    return Checked(normalized, bpm, seconds, bars, notes, programs)


def check_file(path: Path) -> Checked:
    """Parse and check one file; every failure is a Rejected with a reason a person can act on."""
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise Rejected(f"file too large ({size // 1024} KiB, at most {MAX_BYTES // 1024} KiB)")
    with path.open("rb") as fh:
        head = fh.read(4)
    if head != b"MThd":
        raise Rejected("not a MIDI file (no MThd header)")
    try:
        score = Score(str(path))
    except Exception as exc:  # symusic raises plain RuntimeErrors for every kind of damage
        raise Rejected(f"unreadable MIDI: {exc}") from exc
    return check_score(score)
