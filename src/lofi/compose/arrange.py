"""Lay generated sections out along the form and close the track with a resolution."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection

from symusic import Note, Score, Tempo, TimeSignature, Track

from lofi.compose.form import Slot
from lofi.instruments import BASS_PROGRAMS, DRUMS, PALETTE
from lofi.theory import Key, voicing
from lofi.theory.progressions import realize_numeral

TPQ = 480
BAR = 4 * TPQ
Part = tuple[int, bool]  # (program, is_drum)


def bars_of(score: Score, keep: Collection[int] | None = None) -> list[dict[Part, list[Note]]]:
    """Notes of a decoded section, bar by bar, with times relative to their bar at TPQ.

    ``keep`` limits the parts to those programs (DRUMS for the kit).
    """
    scale = TPQ / score.tpq
    bars: list[dict[Part, list[Note]]] = []
    for track in score.tracks:
        part = (DRUMS if track.is_drum else track.program, track.is_drum)
        if keep is not None and part[0] not in keep:
            continue
        for note in track.notes:
            start = round(note.time * scale)
            index = start // BAR
            while len(bars) <= index:
                bars.append(defaultdict(list))
            bars[index][part].append(
                Note(start - index * BAR, max(1, round(note.duration * scale)), note.pitch, note.velocity)
            )
    return bars


def resolution_bar(key: Key, parts: set[Part]) -> dict[Part, list[Note]]:
    """The tonic chord held for a whole bar on the keys, with the root in the bass: the final cadence."""
    tonic = realize_numeral("Imaj7" if key.quality == "major" else "i7", key)
    pitched = sorted(p for p, drum in parts if not drum and p not in BASS_PROGRAMS)
    keys_program = 4 if (4, False) in parts or not pitched else pitched[0]
    bass_program = next((p for p, drum in sorted(parts) if p in BASS_PROGRAMS and not drum), 33)
    chord = [p for p in voicing(tonic, 55, 74, style="rootless") if p % 12 in key.pitch_classes]
    bass_root = 36 + (tonic.root - 36) % 12
    return {
        (keys_program, False): [Note(0, BAR, p, 64) for p in chord],
        (bass_program, False): [Note(0, BAR, bass_root, 72)],
    }


def arrange(slots: list[Slot], materials: dict[str, list[dict[Part, list[Note]]]], key: Key, bpm: int) -> Score:
    """One Score: each slot plays its material's bars; drums only where the slot has them."""
    notes: dict[Part, list[Note]] = defaultdict(list)
    bar = 0
    heard: set[Part] = set()
    for index, slot in enumerate(slots):
        bars = list(materials[slot.material][: slot.bars])
        bars += [{}] * (slot.bars - len(bars))
        if index == len(slots) - 1:
            bars[-1] = resolution_bar(key, heard or {(4, False)})
        for offset, content in enumerate(bars):
            for part, part_notes in content.items():
                if part[1] and not slot.drums:
                    continue
                heard.add(part)
                start = (bar + offset) * BAR
                for n in part_notes:
                    # a note never rings past the end of its section
                    end = min(start + n.time + n.duration, (bar + slot.bars) * BAR)
                    notes[part].append(Note(start + n.time, max(1, end - start - n.time), n.pitch, n.velocity))
        bar += slot.bars
    score = Score(TPQ)
    score.tempos.append(Tempo(0, bpm))
    score.time_signatures.append(TimeSignature(0, 4, 4))
    for (program, is_drum), part_notes in sorted(notes.items()):
        track = Track(name=PALETTE.get(program, "part"), program=0 if is_drum else program, is_drum=is_drum)
        track.notes.extend(sorted(part_notes, key=lambda n: (n.time, n.pitch)))
        score.tracks.append(track)
    return score
