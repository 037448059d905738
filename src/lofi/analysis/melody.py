"""The lead line of a piece: one note at a time, in seconds, ready to be fingerprinted.

A piece's lead is the track named as one ("Lead", "Melody", "Solo", ...) when there is such a track;
otherwise it is the top line (skyline: the highest sounding note at each onset) of every pitched part,
which for an accompaniment is the top voice of its chords. Generated tracks name their parts by
instrument, not role, so the originality check also looks at each single-voice part on its own
(``candidate_lines``).
"""

from __future__ import annotations

import heapq
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from symusic import Score

from lofi.instruments import BASS_PROGRAMS, MELODY_PROGRAMS

# onsets closer than this are one chord (humanized or strummed), not two melody notes
CHORD_TOLERANCE_S = 0.03
_LEAD_NAME = re.compile(r"lead|melod|solo|vocal|voice|tune|theme", re.IGNORECASE)
# a part is a single voice when at most this share of its onsets carry more than one note
_MAX_CHORDAL_SHARE = 0.2
MIN_CANDIDATE_NOTES = 8


@dataclass(frozen=True)
class Line:
    """A monophonic line: onsets (strictly increasing), durations and MIDI pitches, one row per note."""

    onsets_s: np.ndarray  # float64
    durations_s: np.ndarray  # float64
    pitches: np.ndarray  # int16
    part: str = ""  # which track(s) it was taken from, for people reading a verdict

    def __len__(self) -> int:
        return len(self.pitches)

    @classmethod
    def from_notes(cls, onsets_s, durations_s, pitches, part: str = "") -> Line:
        """A line from note arrays already one at a time; sorted by onset."""
        on = np.asarray(onsets_s, dtype=np.float64)
        order = np.argsort(on, kind="stable")
        return cls(
            on[order],
            np.asarray(durations_s, dtype=np.float64)[order],
            np.asarray(pitches, dtype=np.int16)[order],
            part,
        )


def load_score(path: Path | str) -> Score:
    """Read a MIDI file, or raise ``ValueError`` saying it is not one (symusic's errors vary by fault)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    try:
        return Score(str(path))
    except Exception as exc:  # any parse failure means the same thing to the caller
        raise ValueError(f"{path} is not a readable MIDI file ({exc})") from None


def skyline(onsets_s: np.ndarray, durations_s: np.ndarray, pitches: np.ndarray, part: str = "") -> Line:
    """The notes heard on top: at each onset its highest note, unless a higher note is still sounding.

    Chord notes within ``CHORD_TOLERANCE_S`` count as one onset; a note that overlaps the next onset by
    less than that does not hide it (legato). Each kept note is cut where the next one starts, so the
    line never overlaps itself.
    """
    on = np.asarray(onsets_s, dtype=np.float64)
    dur = np.asarray(durations_s, dtype=np.float64)
    pitch = np.asarray(pitches, dtype=np.int16)
    if len(on) == 0:
        return Line.from_notes(on, dur, pitch, part)
    order = np.argsort(on, kind="stable")
    on, dur, pitch = on[order], dur[order], pitch[order]
    # a new group starts where the gap to the previous onset exceeds the tolerance
    group = np.cumsum(np.concatenate(([True], np.diff(on) > CHORD_TOLERANCE_S)))
    by_height = np.lexsort((-pitch, group))  # within a group, highest first
    top = by_height[np.flatnonzero(np.diff(group[by_height], prepend=0))]
    first = np.flatnonzero(np.diff(group, prepend=0))  # the group's onset is its earliest note
    bounds = [*first[1:], len(on)]
    end = on + dur
    sounding: list[tuple[int, float]] = []  # max-heap by pitch of notes started so far: (-pitch, end)
    keep = np.zeros(len(first), dtype=bool)
    for g, (start, stop) in enumerate(zip(first, bounds, strict=True)):
        t = on[start]
        while sounding and sounding[0][1] <= t + CHORD_TOLERANCE_S:
            heapq.heappop(sounding)  # lazily drop notes that have ended (or end within the tolerance)
        keep[g] = not sounding or -sounding[0][0] <= pitch[top[g]]
        for n in range(start, stop):
            heapq.heappush(sounding, (-int(pitch[n]), float(end[n])))
    line_on, line_dur, line_pitch = on[first][keep], dur[top][keep], pitch[top][keep]
    next_on = np.concatenate((line_on[1:], [np.inf]))
    return Line(line_on, np.minimum(line_dur, next_on - line_on), line_pitch, part)


def _pitched_tracks(score: Score) -> list:
    tracks = [t for t in score.to("second").tracks if not t.is_drum and len(t.notes)]
    if not tracks:
        raise ValueError("the piece has no pitched notes (empty, or drums only)")
    return tracks


def _arrays(tracks: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    parts = [t.notes.numpy() for t in tracks]
    return (
        np.concatenate([p["time"] for p in parts]).astype(np.float64),
        np.concatenate([p["duration"] for p in parts]).astype(np.float64),
        np.concatenate([p["pitch"] for p in parts]).astype(np.int16),
    )


def _name(track) -> str:
    return track.name or f"program {track.program}"


def lead_line(score: Score) -> Line:
    """The lead track's line when a track is named as a lead, else the top line of all pitched parts.

    Raises ``ValueError`` when the piece has no pitched notes.
    """
    tracks = _pitched_tracks(score)
    leads = [t for t in tracks if _LEAD_NAME.search(t.name or "")]
    chosen = leads or tracks
    part = ", ".join(_name(t) for t in leads) if leads else "top line"
    return skyline(*_arrays(chosen), part=part)


def melody_line(score: Score) -> Line | None:
    """The line of the piece's melody parts (a track named as a lead, or a melody instrument: flute, sax,
    trumpet...), or None when it has none; the originality verdict comes from this line when there is one."""
    try:
        tracks = _pitched_tracks(score)
    except ValueError:
        return None
    melody = [t for t in tracks if _LEAD_NAME.search(t.name or "") or t.program in MELODY_PROGRAMS]
    if not melody:
        return None
    return skyline(*_arrays(melody), part=", ".join(_name(t) for t in melody))


def _single_voice(track) -> bool:
    times = track.notes.numpy()["time"]
    if len(times) < MIN_CANDIDATE_NOTES:
        return False
    rounded = np.round(times / CHORD_TOLERANCE_S)
    onsets = len(np.unique(rounded))
    return (len(times) - onsets) <= _MAX_CHORDAL_SHARE * onsets


def candidate_lines(score: Score) -> list[Line]:
    """Every line worth checking: the lead line, then each single-voice non-bass part on its own.

    A generated track's melody may sit under a higher pad or arpeggio, so the top line alone can miss it.
    """
    lines = [lead_line(score)]
    seen = {lines[0].pitches.tobytes() + lines[0].onsets_s.tobytes()}
    for track in _pitched_tracks(score):
        if track.program in BASS_PROGRAMS or not _single_voice(track):
            continue
        line = skyline(*_arrays([track]), part=_name(track))
        key = line.pitches.tobytes() + line.onsets_s.tobytes()
        if key not in seen:
            seen.add(key)
            lines.append(line)
    return lines
