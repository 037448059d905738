"""lofi's own lo-fi hip-hop pieces: loops of held extended chords, a bass on roots and fifths, a
boom-bap beat, and a short melody on top, arranged the way producers arrange loops.

A piece is drawn from a seed by its mood's recipe (``RECIPES``) and rendered to a Score:

- **harmony**: a 2-, 4- or 8-bar loop from the progression bank, voiced with a left-hand root under a
  right-hand rootless voicing (maj7, m7, m9, 9, 11, 13...), each voicing led smoothly from the one before,
  held for a bar or half a bar on Rhodes, piano, guitar or a pad;
- **bass**: the chord's root on the downbeat, fifths, scale-step approach notes into the next root,
  or the kick's rhythm;
- **drums**: one pattern of the boom-bap bank (lofi.corpus.drums) or a vetted MMA drum-machine groove
  for the whole piece, a fill in the last bar of every 8-bar phrase, swing written into the MIDI;
- **melody**: a two-bar motif of chord tones, sparse and repeated, changed where the chords change;
- **arrangement**: intro with the keys alone, drums and bass in at A, the melody at B, a breakdown
  without drums, A again with a new melody, an outro that thins out and ends on the tonic.

The mood label of a piece is the mood whose recipe made it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from symusic import Note, Score, Tempo, TimeSignature, Track

from lofi.corpus import drums
from lofi.instruments import PALETTE, part_rank
from lofi.theory import BANK, Chord, Key, Progression, voice_lead
from lofi.theory.groove import HAND_PERCUSSION
from lofi.theory.progressions import realize_numeral

TPQ = 480
STEP = TPQ // 4  # a sixteenth
BAR = 16 * STEP
PHRASE = 8  # bars: a fill closes every phrase


@dataclass(frozen=True)
class Recipe:
    bpm: tuple[int, int]
    minor_share: float
    progression_tags: tuple[str, ...]
    keys: tuple[int, ...]  # programs of the chord part
    drum_tags: tuple[str, ...]
    keys_rhythms: tuple[str, ...]  # held | halves | comp
    bass_styles: tuple[str, ...]  # root | root-fifth | kick | octave
    pad_share: float = 0.3
    lead_share: float = 0.7
    leads: tuple[int, ...] = (11, 73, 65, 59)


RECIPES: dict[str, Recipe] = {
    "chill": Recipe((72, 90), 0.35, ("chill", "neo-soul"), (4, 0, 26), ("boom bap", "rim", "clap"),
                    ("held", "halves", "comp"), ("root-fifth", "kick", "root")),
    "jazzy": Recipe((78, 95), 0.4, ("jazz",), (26, 0, 4), ("ride", "boom bap", "busy"),
                    ("comp", "halves", "held"), ("root-fifth", "octave"), pad_share=0.1, leads=(65, 59, 11)),
    "sad": Recipe((60, 78), 0.85, ("sad", "rainy"), (0, 4, 48), ("sparse", "rim", "boom bap"),
                  ("held", "halves"), ("root", "root-fifth"), pad_share=0.4, leads=(73, 11, 65)),
    "dreamy": Recipe((64, 82), 0.3, ("dreamy", "neo-soul"), (4, 89, 24), ("rim", "sparse", "clap"),
                     ("held", "halves"), ("root", "root-fifth"), pad_share=0.6, leads=(11, 73)),
    "upbeat": Recipe((84, 95), 0.25, ("upbeat", "chill", "jazz"), (0, 26, 4), ("busy", "boom bap", "clap"),
                     ("comp", "halves"), ("kick", "root-fifth", "octave"), pad_share=0.1, leads=(65, 80, 73)),
    "rainy": Recipe((64, 82), 0.8, ("rainy", "sad", "sleepy"), (4, 0, 24), ("rim", "boom bap", "sparse"),
                    ("held", "halves"), ("root-fifth", "root"), pad_share=0.4, leads=(11, 73, 59)),
    "sleepy": Recipe((60, 74), 0.45, ("sleepy", "dreamy"), (4, 24, 89), ("sparse", "rim"),
                     ("held",), ("root",), pad_share=0.5, lead_share=0.5, leads=(11, 73)),
    "nostalgic": Recipe((70, 88), 0.45, ("nostalgic", "jazz"), (0, 4, 24), ("boom bap", "rim", "ride"),
                        ("held", "halves", "comp"), ("root-fifth", "kick"), leads=(59, 65, 11)),
}  # fmt: skip

# motif rhythms over two bars: (onset step, length in steps), sparse as lo-fi melodies are
MOTIF_RHYTHMS: tuple[tuple[tuple[int, int], ...], ...] = (
    ((0, 6), (6, 2), (8, 8), (20, 4), (24, 8)),
    ((2, 4), (6, 4), (10, 6), (18, 2), (20, 2), (22, 10)),
    ((0, 4), (4, 4), (8, 8), (24, 8)),
    ((4, 2), (6, 2), (8, 4), (12, 12), (28, 4)),
    ((0, 3), (3, 3), (6, 10), (16, 3), (19, 3), (22, 10)),
    ((8, 4), (12, 4), (16, 12), (30, 2)),
    ((0, 8), (10, 2), (12, 4), (16, 6), (22, 2), (24, 8)),
    ((2, 2), (4, 4), (8, 2), (10, 6), (20, 4), (24, 4), (28, 4)),
)
LEAD_RANGE = (67, 86)
KEYS_RANGE = (57, 77)  # the right hand
LEFT_HAND_LOW = 45  # the left hand plays the root in the octave under the right hand: 45-56
BASS_LOW = 31
PAD_RANGE = (60, 79)


@dataclass(frozen=True)
class Section:
    name: str  # intro | A | B | breakdown | A2 | outro
    bars: int
    loop: int  # which loop it plays (0 the main one, 1 the contrast)
    drums: bool
    bass: bool
    lead: int | None  # which motif plays over it, None for none
    keys: bool = True


@dataclass(frozen=True)
class Piece:
    mood: str
    key: Key
    bpm: int
    seed: int
    loops: tuple[str, ...]  # progression names
    pattern: str  # drum pattern name (lofi.corpus.drums)
    keys_program: int
    pad_program: int | None
    lead_program: int | None
    keys_rhythm: str
    bass_style: str
    swing: float
    sections: tuple[Section, ...]
    drum_groove: str | None = None  # an MMA drum-machine groove that replaces the pattern
    fills: tuple[str, ...] = field(default=())

    @property
    def bars(self) -> int:
        return sum(s.bars for s in self.sections)


def _rich(progression: Progression) -> bool:
    """Whether at least four in five of its chords have a seventh (the lo-fi colour the corpus teaches)."""
    chords = [c for bar in progression.realize(Key(0, "major" if progression.mode == "major" else "natural_minor"))
              for c in bar]  # fmt: skip
    return sum(c.has_seventh for c in chords) >= 0.8 * len(chords)


def _progressions(mode: str, tags: tuple[str, ...]) -> list[Progression]:
    rich = [p for p in BANK if p.mode == mode and _rich(p)]
    return [p for p in rich if set(p.tags) & set(tags)] or rich


def _form(rng: random.Random, loop_bars: int, has_lead: bool, two_loops: bool) -> tuple[Section, ...]:
    phrase = max(PHRASE, loop_bars)
    lead_b = 0 if has_lead else None
    lead_a2 = (1 if rng.random() < 0.6 else 0) if has_lead else None
    sections = [Section("intro", rng.choice((2, 4, 4)), 0, drums=False, bass=False, lead=None)]
    sections.append(Section("A", phrase * rng.choice((1, 1, 2)), 0, drums=True, bass=True, lead=None))
    sections.append(Section("B", phrase, 1 if two_loops else 0, drums=True, bass=True, lead=lead_b))
    if rng.random() < 0.5:
        sections.append(Section("breakdown", 4, 0, drums=False, bass=True, lead=lead_b if rng.random() < 0.5 else None))
    sections.append(Section("A2", phrase, 0, drums=True, bass=True, lead=lead_a2))
    sections.append(Section("outro", rng.choice((2, 4)), 0, drums=False, bass=rng.random() < 0.5, lead=None))
    return tuple(sections)


def plan_piece(mood: str, index: int, seed: int = 0, drum_grooves: tuple[str, ...] = (),
               groove_share: float = 0.0) -> Piece:  # fmt: skip
    """Draw one piece of ``mood`` (deterministic in mood, index and seed)."""
    recipe = RECIPES[mood]
    rng = random.Random(f"{seed}:loops:{mood}:{index}")
    mode = "minor" if rng.random() < recipe.minor_share else "major"
    key = Key(rng.randrange(12), "major" if mode == "major" else "natural_minor")
    choices = _progressions(mode, recipe.progression_tags)
    main = rng.choice(choices)
    two_loops = rng.random() < 0.3
    loops = (main.name, rng.choice([p for p in choices if p != main] or choices).name) if two_loops else (main.name,)
    patterns = drums.by_tags(*recipe.drum_tags)
    pattern = rng.choice(patterns)
    groove = rng.choice(drum_grooves) if drum_grooves and rng.random() < groove_share else None
    lead = rng.choice(recipe.leads) if rng.random() < recipe.lead_share else None
    pad = rng.choice((89, 48)) if rng.random() < recipe.pad_share else None
    keys_program = rng.choice(recipe.keys)
    if pad == keys_program:
        pad = None
    return Piece(
        mood=mood,
        key=key,
        bpm=rng.randint(*recipe.bpm),
        seed=rng.randrange(1 << 30),
        loops=loops,
        pattern=pattern.name,
        keys_program=keys_program,
        pad_program=pad,
        lead_program=lead,
        keys_rhythm=rng.choice(recipe.keys_rhythms),
        bass_style=rng.choice(recipe.bass_styles),
        swing=round(min(0.62, max(0.54, pattern.swing + rng.uniform(-0.02, 0.02))), 3),
        sections=_form(rng, len(main.bars), lead is not None, two_loops),
        drum_groove=groove,
        fills=tuple(f.name for f in rng.sample(drums.FILLS, 3)),
    )


# ---- rendering --------------------------------------------------------------------------------------


def _swung(step: int, swing: float) -> int:
    """Tick of a sixteenth step inside a bar, the off-beat sixteenths moved to ``swing``."""
    return step * STEP + (round((swing - 0.5) * 2 * STEP) if step % 2 else 0)


def _segments(bars: list[list[Chord]]) -> list[tuple[int, int, Chord]]:
    """(start step in the loop, length in steps, chord) of every chord of a loop."""
    out = []
    for b, chords in enumerate(bars):
        length = 16 // len(chords)
        out += [(b * 16 + i * length, length, chord) for i, chord in enumerate(chords)]
    return out


def _root_near(pc: int, low: int) -> int:
    return low + (pc - low) % 12


class _Voicer:
    """Voicings led from one to the next across the whole piece."""

    def __init__(self, low: int, high: int, style: str = "rootless"):
        self.low, self.high, self.style = low, high, style
        self.previous: list[int] = []
        self.cache: dict[tuple[Chord, tuple[int, ...]], list[int]] = {}

    def __call__(self, chord: Chord) -> list[int]:
        key = (chord, tuple(self.previous))
        if key not in self.cache:
            self.cache[key] = voice_lead(self.previous, chord, self.low, self.high, self.style)
        self.previous = self.cache[key]
        return self.previous


def _keys_hits(rhythm: str, length: int) -> list[tuple[int, int]]:
    """(onset, length) in steps of the chord part inside a chord segment of ``length`` steps."""
    if rhythm == "held" or length < 8:
        return [(0, length - 1)]
    if rhythm == "halves":
        half = length // 2
        return [(0, half - 1), (half, half - 1)]
    return [(0, 5), (6, length - 7)] if length == 16 else [(0, 5), (6, 2)]  # comp: on 1 and the "and" of 2


def _scale_step(key: Key, pitch: int, direction: int) -> int:
    """The nearest pitch of the key's scale strictly above (1) or below (-1) ``pitch``."""
    p = pitch + direction
    while p % 12 not in key.pitch_classes:
        p += direction
    return p


def _bass_notes(style: str, key: Key, chord: Chord, following: Chord, length: int,
                kicks: list[int]) -> list[tuple[int, int, int]]:  # fmt: skip
    """(onset step, length, pitch) of the bass under one chord segment."""
    root = _root_near(chord.bass if chord.bass is not None else chord.root, BASS_LOW)
    fifth = root + 7 if (root + 7) % 12 in chord.pitch_classes else root
    target = _root_near(following.root, BASS_LOW)
    approach = _scale_step(key, target, -1 if target > root else 1) if target != root else fifth
    if style == "root":
        return [(0, length - 1, root)]
    if length < 16:  # half a bar: the root, and a step into the next chord
        return [(0, length - 3, root), (length - 2, 2, approach)]
    if style == "octave":
        return [(0, 5, root), (6, 2, root + 12), (8, 7, fifth)]
    if style == "kick":
        onsets = sorted({0, *(k for k in kicks if k < length)})
        notes = []
        for i, onset in enumerate(onsets):
            end = onsets[i + 1] if i + 1 < len(onsets) else length
            pitch = root if i < len(onsets) - 1 or len(onsets) == 1 else approach
            notes.append((onset, max(1, end - onset - 1), pitch))
        return notes
    # root-fifth: root, fifth on beat 3, a scale step into the next root on the last eighth
    return [(0, 7, root), (8, 5, fifth), (14, 2, approach)]


def _motif(rng: random.Random, key: Key, segments: list[tuple[int, int, Chord]], rhythm, start_pitch: int,
           ) -> list[tuple[int, int, int]]:  # fmt: skip
    """A two-bar motif repeated over the loop: chord tones on strong onsets, steps between, re-fitted to
    the chord under each repeat. (onset step in the loop, length, pitch)."""
    loop_steps = segments[-1][0] + segments[-1][1]

    def chord_at(step: int) -> Chord:
        return next(c for s, n, c in segments if s <= step % loop_steps < s + n)

    shape: list[int] = []  # scale-degree moves of the motif, applied again on each repeat
    pitch = start_pitch
    for i in range(len(rhythm)):
        shape.append(0 if i == 0 else rng.choice((-2, -1, -1, 1, 1, 2, 0)))
    notes = []
    for repeat in range(max(1, loop_steps // 32)):
        pitch = start_pitch
        for (onset, length), move in zip(rhythm, shape, strict=True):
            step = repeat * 32 + onset
            for _ in range(abs(move)):
                pitch = _scale_step(key, pitch, 1 if move > 0 else -1)
            chord = chord_at(step)
            if onset % 8 == 0:  # strong onsets land on a chord tone
                tones = [p for p in range(LEAD_RANGE[0], LEAD_RANGE[1] + 1) if p % 12 in chord.pitch_classes
                         and p % 12 in key.pitch_classes]  # fmt: skip
                pitch = min(tones or [pitch], key=lambda p: (abs(p - pitch), p))
            in_key = [p for p in range(LEAD_RANGE[0], LEAD_RANGE[1] + 1) if p % 12 in key.pitch_classes]
            pitch = min(in_key, key=lambda p: (abs(p - pitch), p))
            notes.append((step, length, pitch))
    return notes


def render(piece: Piece, groove_drums: Score | None = None) -> Score:
    """The piece as a Score at 480 ticks per quarter, tracks in lofi's canonical order.

    ``groove_drums``: the MMA rendering of ``piece.drum_groove`` over the piece's bars, used instead of
    the pattern bank (its hand percussion left out, its sixteenths swung like the rest).
    """
    rng = random.Random(piece.seed)
    key = piece.key
    loops = []
    for name in piece.loops:
        progression = next(p for p in BANK if p.name == name)
        loops.append(_segments(progression.realize(key)))
    pattern = next(p for p in drums.PATTERNS if p.name == piece.pattern)
    fills = [next(f for f in drums.FILLS if f.name == name) for name in piece.fills]
    laid_back = rng.randint(0, 12)
    parts: dict[int, list[Note]] = {-1: [], 33 if rng.random() < 0.6 else 32: [], piece.keys_program: []}
    bass_program = next(p for p in parts if p in (32, 33))
    if piece.pad_program is not None:
        parts[piece.pad_program] = []
    if piece.lead_program is not None:
        parts[piece.lead_program] = []
    right, pad = _Voicer(*KEYS_RANGE), _Voicer(*PAD_RANGE, style="close")
    motifs = [(rng.choice(MOTIF_RHYTHMS), rng.randint(70, 79)) for _ in range(2)]
    groove_bars = _groove_bars(groove_drums, piece.swing) if groove_drums is not None else None

    def add(program: int, tick: int, length: int, pitch: int, velocity: int) -> None:
        parts[program].append(Note(tick, max(1, length), pitch, max(1, min(127, velocity))))

    bar = 0
    for s_index, section in enumerate(piece.sections):
        segments = loops[section.loop]
        loop_steps = segments[-1][0] + segments[-1][1]
        last = s_index == len(piece.sections) - 1
        lead_notes = []
        if section.lead is not None and piece.lead_program is not None:
            rhythm, start = motifs[section.lead]
            lead_notes = _motif(random.Random(piece.seed + section.lead), key, segments, rhythm, start)
        for offset in range(section.bars):
            at = (bar + offset) * BAR
            loop_step = (offset * 16) % loop_steps
            bar_segments = [
                (s - loop_step, n, c, segments[(i + 1) % len(segments)][2])
                for i, (s, n, c) in enumerate(segments)
                if loop_step <= s < loop_step + 16
            ]
            if last and offset == section.bars - 1:  # the final bar: the tonic, held
                tonic = realize_numeral("Imaj7" if key.quality == "major" else "i7", key)
                bar_segments = [(0, 16, tonic, tonic)]
            for start, length, chord, following in bar_segments:
                tick = at + start * STEP
                if section.keys:
                    voicing = right(chord)
                    left = _root_near(chord.root, LEFT_HAND_LOW)
                    velocity = rng.randint(56, 70)
                    for onset, hold in _keys_hits(piece.keys_rhythm, length):
                        t = tick + _swung(onset, piece.swing)
                        for p in (left, *voicing):
                            add(piece.keys_program, t, hold * STEP, p, velocity + rng.randint(-4, 4))
                    if piece.pad_program is not None and section.name != "intro":
                        for p in pad(chord):
                            add(piece.pad_program, tick, length * STEP - STEP // 2, p, 44)
                if section.bass:
                    kicks = [s - start for s, n, _ in pattern.hits(offset)
                             if n == drums.KICK and start <= s < start + length]  # fmt: skip
                    for onset, hold, pitch in _bass_notes(piece.bass_style, key, chord, following, length, kicks):
                        add(bass_program, tick - start * STEP + _swung(onset + start, piece.swing), hold * STEP, pitch,
                            rng.randint(78, 96))  # fmt: skip
            for step, length, pitch in lead_notes:
                if step // 16 == (offset * 16 % loop_steps) // 16 and not (last and offset == section.bars - 1):
                    add(piece.lead_program, at + _swung(step % 16, piece.swing), length * STEP - STEP // 4, pitch,
                        rng.randint(72, 92))  # fmt: skip
            if section.drums:
                phrase_end = (offset + 1) % PHRASE == 0 or offset == section.bars - 1
                if phrase_end and section.bars >= 4:
                    hits = drums.bar_hits(fills[(bar + offset) // PHRASE % len(fills)], 0, TPQ, rng, piece.swing,
                                          laid_back)  # fmt: skip
                elif groove_bars is not None:
                    hits = groove_bars[offset % len(groove_bars)]
                else:
                    hits = drums.bar_hits(pattern, offset, TPQ, rng, piece.swing, laid_back)
                if offset == 0 and s_index > 0 and piece.sections[s_index - 1].drums and rng.random() < 0.5:
                    hits = [*hits, (0, drums.CRASH, 96, STEP)]
                for tick, note, velocity, length in hits:
                    add(-1, at + tick, length, note, velocity)
        bar += section.bars
    return _score(parts, piece.bpm)


def _groove_bars(score: Score, swing: float) -> list[list[tuple[int, int, int, int]]]:
    """The first two bars of an MMA drum rendering as (tick, note, velocity, length), kit pieces only,
    the off-beat sixteenths swung."""
    scale = TPQ / score.tpq
    bars: list[list[tuple[int, int, int, int]]] = [[], []]
    for track in score.tracks:
        if not track.is_drum:
            continue
        for note in track.notes:
            tick = round(note.time * scale)
            if tick < 2 * BAR and note.pitch not in HAND_PERCUSSION:
                # drum machines place some hits off the grid: on the nearest sixteenth, then swung
                step = round(tick % BAR / STEP)
                if step < 16:
                    bars[tick // BAR].append((_swung(step, swing), note.pitch, note.velocity, STEP))
    return [sorted(b) for b in bars if b] or [[]]


def _score(parts: dict[int, list[Note]], bpm: int) -> Score:
    score = Score(TPQ)
    score.tempos.append(Tempo(0, bpm))
    score.time_signatures.append(TimeSignature(0, 4, 4))
    for program in sorted(parts, key=lambda p: part_rank(p, p == -1)):
        if not parts[program]:
            continue
        track = Track(name=PALETTE[program], program=0 if program == -1 else program, is_drum=program == -1)
        unique = {(n.time, n.pitch): n for n in parts[program]}  # one note per tick and pitch
        track.notes.extend(sorted(unique.values(), key=lambda n: (n.time, n.pitch)))
        score.tracks.append(track)
    return score
