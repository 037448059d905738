"""Lay the written loops out along the form, layer by layer, and close the track with a resolution."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field

from symusic import Note, Score, Tempo, TimeSignature, Track

from lofi.compose.form import LOOP_BARS, PHRASE_BARS, Section, melody_of
from lofi.instruments import BASS_PROGRAMS, DRUMS, MELODY_PROGRAMS, PALETTE, part_rank
from lofi.theory import Key, voicing
from lofi.theory.progressions import realize_numeral

TPQ = 480
BAR = 4 * TPQ
SIXTEENTH = TPQ // 4
Part = tuple[int, bool]  # (program, is_drum)
Bar = dict[Part, list[Note]]  # notes of one bar, times relative to the bar


def role(part: Part) -> str:
    program, is_drum = part
    if is_drum:
        return "drums"
    if program in BASS_PROGRAMS:
        return "bass"
    return "melody" if program in MELODY_PROGRAMS else "harmony"


@dataclass
class Loop:
    """A loop the model wrote, and what was written over it."""

    bars: list[Bar]
    fill: Bar | None = None  # the drums of the last bar of a phrase
    melodies: dict[int, list[Bar]] = field(default_factory=dict)  # index -> the melody's bars


def bars_of(score: Score, keep: Collection[int] | None = None, count: int | None = None) -> list[Bar]:
    """Notes of a decoded passage, bar by bar, with times relative to their bar at TPQ.

    ``keep`` limits the parts to those programs (DRUMS for the kit); ``count`` pads with empty bars.
    """
    scale = TPQ / score.tpq
    bars: list[Bar] = [defaultdict(list) for _ in range(count or 0)]
    for track in score.tracks:
        part = (DRUMS if track.is_drum else track.program, track.is_drum)
        if keep is not None and part[0] not in keep:
            continue
        for note in track.notes:
            start = round(note.time * scale)
            index = start // BAR
            if count is not None and index >= count:
                continue
            while len(bars) <= index:
                bars.append(defaultdict(list))
            bars[index][part].append(
                Note(start - index * BAR, max(1, round(note.duration * scale)), note.pitch, note.velocity)
            )
    return bars


def resolution_bar(key: Key, parts: set[Part]) -> Bar:
    """The tonic chord held for a whole bar on the keys, with the root in the bass: the final cadence."""
    tonic = realize_numeral("Imaj7" if key.quality == "major" else "i7", key)
    harmony = sorted(p for p in parts if role(p) == "harmony")
    keys_part = (4, False) if (4, False) in harmony or not harmony else harmony[0]
    bass_part = next((p for p in sorted(parts) if role(p) == "bass"), (33, False))
    chord = [p for p in voicing(tonic, 55, 74, style="rootless") if p % 12 in key.pitch_classes]
    bass_root = 36 + (tonic.root - 36) % 12
    return {keys_part: [Note(0, BAR, p, 64) for p in chord], bass_part: [Note(0, BAR, bass_root, 72)]}


def _layers(section: Section) -> set[str]:
    layers = {"harmony"} if section.keys else set()
    layers |= {"drums"} if section.drums else set()
    layers |= {"bass"} if section.bass else set()
    return layers | ({"melody"} if section.melody is not None else set())


def _section_bar(section: Section, loop: Loop, offset: int, within: int) -> Bar:
    """What one bar of a section plays: bar ``within`` of the loop's layers, a fill closing a phrase, the
    melody on top."""
    layers = _layers(section)
    content: Bar = {p: n for p, n in loop.bars[within].items() if role(p) in layers and role(p) != "melody"}
    closes_phrase = (offset + 1) % PHRASE_BARS == 0 or offset == section.bars - 1
    if "drums" in layers and loop.fill is not None and closes_phrase and section.bars >= LOOP_BARS:
        content = {p: n for p, n in content.items() if role(p) != "drums"} | loop.fill
    which = melody_of(section)
    if which is not None and which[1] in loop.melodies:
        content |= loop.melodies[which[1]][within]
    return content


def arrange(sections: list[Section], loops: list[Loop], key: Key, bpm: int) -> Score:
    """One Score: each section plays its loop bar after bar. A note never rings past the end of its loop's
    turn or of its section, so the loop's seam stays clean."""
    notes: dict[Part, list[Note]] = defaultdict(list)
    heard: set[Part] = set()
    # the loop keeps time from the first bar of the body: an intro shorter than the loop plays its last
    # bars, so that the harmony runs on without a break into A
    start_of_body = sections[0].bars if sections[0].name == "intro" else 0
    bar = 0
    for index, section in enumerate(sections):
        for offset in range(section.bars):
            within = (bar + offset - start_of_body) % LOOP_BARS
            content = _section_bar(section, loops[section.loop], offset, within)
            if index == len(sections) - 1 and offset == section.bars - 1:
                content = resolution_bar(key, heard or {(4, False)})
            turn_end = min(offset - within + LOOP_BARS, section.bars)
            limit = (bar + turn_end) * BAR
            start = (bar + offset) * BAR
            for part, part_notes in content.items():
                heard.add(part)
                for n in part_notes:
                    end = min(start + n.time + n.duration, limit)
                    if end > start + n.time:
                        notes[part].append(Note(start + n.time, end - start - n.time, n.pitch, n.velocity))
        bar += section.bars
    score = Score(TPQ)
    score.tempos.append(Tempo(0, bpm))
    score.time_signatures.append(TimeSignature(0, 4, 4))
    for (program, is_drum), part_notes in sorted(notes.items(), key=lambda item: part_rank(*item[0])):
        track = Track(name=PALETTE.get(program, "part"), program=0 if is_drum else program, is_drum=is_drum)
        track.notes.extend(sorted(part_notes, key=lambda n: (n.time, n.pitch)))
        score.tracks.append(track)
    return score


def swing(score: Score, ratio: float, undo: bool = False) -> Score:
    """Move every off-beat sixteenth to ``ratio`` of its eighth note (MPC swing; 0.5 leaves the score straight).

    Only notes that start exactly on an off-beat sixteenth move; a note keeps its end, so held chords and
    lines stay legato. ``undo``: the straight score that swinging at ``ratio`` made, its notes moved back.
    """
    out = score.copy()
    eighth = out.tpq // 2
    shift = round((ratio - 0.5) * eighth)
    if shift == 0:
        return out
    start, move = (eighth // 2 + shift, -shift) if undo else (eighth // 2, shift)
    for track in out.tracks:
        for note in track.notes:
            if note.time % eighth == start:
                end = note.time + note.duration
                note.time += move
                note.duration = max(1, end - note.time) if not track.is_drum else note.duration
    return out
