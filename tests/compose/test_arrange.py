"""The arrangement on hand-made loops: layers in and out by section, fills, melodies, clean seams, swing."""

from collections import defaultdict

import pytest
from symusic import Note

from lofi.compose.arrange import BAR, TPQ, Loop, arrange, swing
from lofi.compose.form import LOOP_BARS, PHRASE_BARS, Section
from lofi.theory import Key

DRUM, BASS, KEYS, FLUTE = (-1, True), (33, False), (4, False), (73, False)
CHORD_ROOTS = (62, 55, 60, 57)  # Dm7 G7 Cmaj7 Am7: one chord a bar


def _loop(hang: bool = False) -> Loop:
    bars = []
    for b, root in enumerate(CHORD_ROOTS):
        bar = {
            DRUM: [Note(0, 60, 36, 100), Note(TPQ, 60, 38, 100), Note(3 * TPQ, 60, 38, 100)],
            BASS: [Note(0, TPQ, root - 24, 90)],
            KEYS: [Note(0, BAR - 10, root + d, 60) for d in (0, 3, 7, 10)],
        }
        if hang and b == LOOP_BARS - 1:  # a chord that would ring two bars past the loop's end
            bar[KEYS] = [Note(0, 3 * BAR, root, 60)]
        bars.append(bar)
    fill = {
        DRUM: [
            Note(0, 60, 36, 100),
            Note(TPQ, 60, 38, 100),
            Note(3 * TPQ, 60, 38, 100),
            Note(3 * TPQ + 240, 60, 45, 90),
        ]
    }
    melody = [{FLUTE: [Note(0, TPQ, 74 + b, 80)]} for b in range(LOOP_BARS)]
    return Loop(bars, fill=fill, melodies={0: melody})


SECTIONS = [
    Section("intro", 4, 0, drums=False, bass=False),
    Section("A", 8, 0, drums=True, bass=True),
    Section("B", 8, 0, drums=True, bass=True, melody=0),
    Section("breakdown", 4, 0, drums=False, bass=True),
    Section("outro", 4, 0, drums=False, bass=False),
]


def _per_bar(score):
    """part -> bar index -> notes (times absolute)."""
    out = defaultdict(lambda: defaultdict(list))
    for track in score.tracks:
        part = (-1, True) if track.is_drum else (track.program, False)
        for note in track.notes:
            out[part][note.time // BAR].append(note)
    return out


@pytest.fixture(scope="module")
def arranged():
    return arrange(SECTIONS, [_loop()], Key.parse("D minor"), 80)


def test_layers_follow_the_sections(arranged):
    bars = _per_bar(arranged)
    intro, a, b, breakdown, outro = range(0, 4), range(4, 12), range(12, 20), range(20, 24), range(24, 28)
    assert all(bars[KEYS][i] for i in [*intro, *a, *b, *breakdown])  # the keys play throughout
    assert not any(bars[DRUM][i] for i in [*intro, *breakdown, *outro])
    assert all(bars[DRUM][i] for i in [*a, *b])
    assert not any(bars[BASS][i] for i in intro) and all(bars[BASS][i] for i in [*a, *b, *breakdown])
    assert set(bars[FLUTE]) == set(b)  # the melody only where the form has one


def test_a_fill_closes_each_phrase(arranged):
    bars = _per_bar(arranged)
    tom = 45
    with_fill = sorted(i for i, notes in bars[DRUM].items() if any(n.pitch == tom for n in notes))
    assert with_fill == [4 + PHRASE_BARS - 1, 12 + PHRASE_BARS - 1]


def test_the_harmony_repeats_every_loop(arranged):
    bars = _per_bar(arranged)
    pitches = [sorted(n.pitch for n in bars[KEYS][i]) for i in range(24)]
    assert all(pitches[i] == pitches[i - LOOP_BARS] for i in range(LOOP_BARS, 24))


def test_the_last_bar_resolves_on_the_tonic(arranged):
    last = max(_per_bar(arranged)[BASS])
    assert last == 27
    assert min(n.pitch for t in arranged.tracks for n in t.notes if n.time >= 27 * BAR) % 12 == 2  # D


def test_no_note_hangs_across_the_loops_seam():
    score = arrange(SECTIONS[:2], [_loop(hang=True)], Key.parse("D minor"), 80)
    keys = next(t for t in score.tracks if t.program == 4)
    for note in keys.notes:
        turn_end = (note.time // (LOOP_BARS * BAR) + 1) * LOOP_BARS * BAR
        assert note.time + note.duration <= turn_end


def test_tracks_come_in_canonical_order(arranged):
    assert [("drums" if t.is_drum else t.program) for t in arranged.tracks] == ["drums", 33, 4, 73]


def test_swing_moves_only_the_off_beat_sixteenths():
    score = arrange(SECTIONS[1:2], [_loop()], Key.parse("D minor"), 80)
    drums = next(t for t in score.tracks if t.is_drum)
    drums.notes.append(Note(120, 60, 42, 70))  # an off-beat 16th
    drums.notes.append(Note(240, 60, 42, 70))  # an off-beat 8th: stays
    swung = swing(score, 0.6)
    times = sorted(n.time for t in swung.tracks if t.is_drum for n in t.notes if n.pitch == 42)
    assert times == [144, 240]
    assert swing(score, 0.5).tracks[0].notes[0].time == score.tracks[0].notes[0].time


def test_undoing_the_swing_gives_the_straight_score_back():
    score = arrange(SECTIONS[1:2], [_loop()], Key.parse("D minor"), 80)
    score.tracks[0].notes.append(Note(120, 60, 42, 70))  # an off-beat 16th on the drums
    score.tracks[1].notes.append(Note(1920 + 360, 200, 45, 70))  # and in the bass, held
    straight = [[(n.time, n.duration, n.pitch) for n in t.notes] for t in score.tracks]
    swung = swing(score, 0.58)
    assert [[(n.time, n.duration, n.pitch) for n in t.notes] for t in swung.tracks] != straight
    back = swing(swung, 0.58, undo=True)
    assert [[(n.time, n.duration, n.pitch) for n in t.notes] for t in back.tracks] == straight


def test_a_short_intro_plays_the_loops_last_bars_so_the_harmony_runs_on():
    sections = [Section("intro", 2, 0, drums=False, bass=True), Section("A", 8, 0, drums=True, bass=True),
                Section("outro", 2, 0, drums=False, bass=True)]  # fmt: skip
    score = arrange(sections, [_loop()], Key.parse("D minor"), 80)
    bass = next(t for t in score.tracks if t.program == 33)
    roots = [n.pitch + 24 for n in sorted(bass.notes, key=lambda n: n.time)]
    # the intro plays loop bars 3 and 4, A starts on bar 1: one unbroken cycle of four chords
    assert roots[:10] == [CHORD_ROOTS[(i + 2) % 4] for i in range(10)]
