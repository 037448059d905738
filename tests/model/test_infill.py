"""Writing one part into given bars (lofi.model.infill) through DecodeBatch, on stub engines.

The given bars are a real piece (tests/helpers.make_score plus a flute line, in lofi's canonical part
order) tokenized by the real LofiTokenizer; the engines are stubs, so what the decoder may write is
decided by the plan alone: random logits explore it over many seeds, biased ones push it to its edges.
"""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pytest
from symusic import Note, Track

from engines import ContextLogits, FixedLogits, RandomLogits
from helpers import TPQ, make_score
from lofi.corpus.quality import normalize
from lofi.instruments import DRUMS, MELODY_PROGRAMS, part_rank
from lofi.model.constraints import Grammar
from lofi.model.generate import Continuation, DecodeBatch, decode, decode_table
from lofi.model.infill import InfillCursor, InfillPlan, drop_parts, parse_bars
from lofi.model.sampling import SamplingConfig
from lofi.theory import Key
from lofi.theory.groove import KIT
from lofi.tokens.tokenizer import LofiTokenizer

KEY = Key(0)  # C major: the piece's chords are ii-V-I-vi in C
BPM = 80
BARS = 4
FREE = SamplingConfig(temperature=1.0, top_k=0, top_p=1.0)  # every allowed token may come


@pytest.fixture(scope="module")
def tok() -> LofiTokenizer:
    return LofiTokenizer.create()


def band_piece():
    """Drums, bass, keys (make_score) and a flute line, normalized into lofi's part order."""
    score = make_score(bars=BARS, bpm=BPM)
    flute = Track(name="flute", program=73, is_drum=False)
    for bar in range(BARS):
        for k, pitch in enumerate((72, 74, 76, 79, 77, 74)):  # notes on positions 0, 6, 12, 18, 24, 30
            flute.notes.append(Note(bar * 4 * TPQ + k * 3 * TPQ // 4, TPQ // 2, pitch, 80))
    score.tracks.append(flute)
    return normalize(score)


@pytest.fixture(scope="module")
def piece(tok) -> list[int]:
    """REMI ids of the band piece (with its tempo token)."""
    return tok.encode_body(band_piece())


@pytest.fixture(scope="module")
def prefix(tok) -> list[int]:
    return tok.condition_ids("chill", KEY, BPM)


# reading token ids ----------------------------------------------------------------------------------------


def kind(tok, i: int) -> str:
    return tok.id_to_token[i].split("_", 1)[0]


def value(tok, i: int) -> str:
    return tok.id_to_token[i].split("_", 1)[1]


def notes_of(tok, ids: list[int]) -> list[tuple[int, int, int, int, list[int]]]:
    """(bar, position value, program, pitch token, note ids) of every whole note, in token order."""
    return [
        (b, int(value(tok, position)), int(value(tok, note[0])), note[1], note)
        for b, positions in enumerate(parse_bars(tok, ids))
        for position, notes in positions
        for note in notes
    ]


def positions_by_bar(tok, ids: list[int]) -> list[list[int]]:
    """Position values of every Position token, bar by bar (the raw ids, not parse_bars)."""
    bars: list[list[int]] = []
    for i in ids:
        if i == tok.bar_id:
            bars.append([])
        elif kind(tok, i) == "Position":
            bars[-1].append(int(value(tok, i)))
    return bars


def grammar_breaks(tok, ids: list[int]) -> list[str]:
    """Consecutive tokens that REMI does not allow (the structural grammar, no key or part limits)."""
    structure = decode_table(Grammar(tok))
    names = tok.id_to_token
    return [f"{names[a]} -> {names[b]}" for a, b in itertools.pairwise(ids) if not structure[a, b]]


def track_notes(score) -> dict[tuple[int, bool], list[tuple[int, int, int, int]]]:
    return {
        (DRUMS if t.is_drum else t.program, t.is_drum): sorted(
            (n.time, n.pitch, n.duration, n.velocity) for n in t.notes
        )
        for t in score.tracks
    }


# the given bars and the plan ------------------------------------------------------------------------------


def test_the_piece_is_in_canonical_part_order(tok, piece):
    # the infill's part-order checks below rely on it: inside every position, drums, bass, keys, then melody
    for positions in parse_bars(tok, piece):
        for _, notes in positions:
            ranks = [part_rank(int(value(tok, n[0])), int(value(tok, n[0])) == DRUMS) for n in notes]
            assert ranks == sorted(ranks)
    assert {p for _, _, p, _, _ in notes_of(tok, piece)} == {DRUMS, 4, 33, 73}


def test_parse_bars_reads_whole_notes_and_leaves_tempo_tokens_out(tok, piece):
    score = band_piece()
    bars = parse_bars(tok, piece)
    assert len(bars) == BARS
    tempo = set(tok.ids_of_type("Tempo"))
    assert tempo & set(piece), "the piece's tokens carry a tempo token (the test would prove nothing)"
    flat = [t for positions in bars for position, notes in positions for t in [position, *itertools.chain(*notes)]]
    assert not tempo & set(flat)
    assert sum(len(t.notes) for t in score.tracks) == len(notes_of(tok, piece))
    for *_, note in notes_of(tok, piece):
        kinds = [kind(tok, t) for t in note]
        assert kinds in (["Program", "Pitch", "Velocity", "Duration"], ["Program", "PitchDrum", "Velocity", "Duration"])
    # the piece's ids are the bars' ids plus the tempo token, nothing else
    rebuilt = [
        t for positions in bars for t in [tok.bar_id, *[x for p, n in positions for x in [p, *itertools.chain(*n)]]]
    ]
    assert rebuilt == [t for t in piece if t not in tempo]


def test_parse_bars_drops_a_note_cut_short(tok, piece):
    v = tok.vocab
    whole = parse_bars(tok, piece)
    for tail in (
        [v["Program_33"]],
        [v["Program_33"], v["Pitch_40"]],
        [v["Program_33"], v["Pitch_40"], v["Velocity_63"]],
    ):
        assert parse_bars(tok, piece + tail) == whole, f"a note cut short after {len(tail)} tokens was kept"
    # a broken note inside a bar goes too; the notes after it stay
    second_position = piece.index(v["Position_4"])
    broken = [*piece[:second_position], v["Program_-1"], v["PitchDrum_42"], *piece[second_position:]]
    assert parse_bars(tok, broken) == whole


def test_drop_parts_removes_a_part_and_the_positions_it_leaves_empty(tok):
    ids = tok.encode_body(normalize(make_score(bars=2)))
    without = drop_parts(tok, ids, {DRUMS})
    assert not {kind(tok, t) for t in without} & {"PitchDrum", "Tempo"}
    assert tok.vocab["Program_-1"] not in without
    # drums play every beat and every off-beat; bass and keys only on beats 1 and 3
    assert positions_by_bar(tok, without) == [[0, 16], [0, 16]]
    kept = [n for n in notes_of(tok, ids) if n[2] != DRUMS]
    assert notes_of(tok, without) == kept
    assert len(kept) == 2 * (4 + 2)  # a four-note chord and two bass notes a bar
    # dropping nothing only drops the tempo token; dropping everything leaves the bars
    assert drop_parts(tok, ids, set()) == [t for t in ids if kind(tok, t) != "Tempo"]
    assert drop_parts(tok, ids, {DRUMS, 4, 33}) == [tok.bar_id, tok.bar_id]


def test_the_plan_refuses_bad_given_bars_and_mixed_roles(tok, piece):
    grammar = Grammar(tok, KEY, BPM, drums=KIT)
    given = drop_parts(tok, piece, {DRUMS})
    with pytest.raises(ValueError, match="Bar"):
        InfillPlan(tok, given[1:], {DRUMS}, grammar)
    with pytest.raises(ValueError, match="Bar"):
        InfillPlan(tok, [], {DRUMS}, grammar)
    with pytest.raises(ValueError, match="Bar"):
        InfillPlan(tok, [tok.vocab["Position_0"], *given], {DRUMS}, grammar)
    with pytest.raises(ValueError, match="one role"):
        InfillPlan(tok, given, {DRUMS, 73}, grammar)
    with pytest.raises(ValueError, match="one role"):
        InfillPlan(tok, given, {33, 73}, grammar)  # bass and melody
    with pytest.raises(ValueError, match="no Program token"):
        InfillPlan(tok, given, {5}, grammar)  # not a program the tokenizer knows
    InfillPlan(tok, given, {11, 65, 73}, grammar)  # several programs of one role are fine


# writing a part -----------------------------------------------------------------------------------------


TARGETS = {"drums": {DRUMS}, "flute": {73}, "any lead": {11, 65, 73}}
DRUM_SET = KIT  # the grammar's kit: 22 of the tokenizer's 62 drum notes


def infill(tok, piece, prefix, target: set[int], seeds=range(8), engine_seed=0):
    grammar = Grammar(tok, KEY, BPM, programs={DRUMS, 0, 4, 33, 73}, drums=DRUM_SET)
    given = drop_parts(tok, piece, MELODY_PROGRAMS if target <= MELODY_PROGRAMS else target)
    plan = InfillPlan(tok, given, target, grammar)
    jobs = [Continuation(prefix + piece, BARS, grammar, FREE, seed=s, infill=plan) for s in seeds]
    return grammar, given, decode(RandomLogits(tok.vocab_size, engine_seed), jobs)


@pytest.mark.parametrize("name", list(TARGETS))
def test_an_infill_keeps_the_given_notes_and_writes_only_the_target(tok, piece, prefix, name):
    target = TARGETS[name]
    _, given, results = infill(tok, piece, prefix, target)
    written = 0
    for seed, result in enumerate(results):
        where = f"{name} infill, seed {seed}"
        assert result[0] == tok.bar_id, where
        assert result.count(tok.bar_id) == BARS, f"{where}: the row must end after exactly {BARS} bars"
        assert len(parse_bars(tok, result)) == BARS
        assert not grammar_breaks(tok, result), f"{where}: not REMI: {grammar_breaks(tok, result)[:5]}"
        # the given notes come back exactly, in their order, once the target's notes are taken out
        assert drop_parts(tok, result, target) == given, where
        notes = notes_of(tok, result)
        others = [n for n in notes if n[2] not in target]
        assert [n[4] for n in others] == [n[4] for n in notes_of(tok, given)], where
        inserted = [n for n in notes if n[2] in target]
        assert len(inserted) + len(others) == len(notes), where
        written += len(inserted)
        if target <= MELODY_PROGRAMS:
            assert len({n[2] for n in inserted}) <= 1, f"{where}: a melody infill plays one program"
    assert written > 10 * len(results), f"{name}: the rows wrote {written} notes only (the test would prove little)"


@pytest.mark.parametrize("name", list(TARGETS))
def test_an_infill_keeps_remi_order(tok, piece, prefix, name):
    target = TARGETS[name]
    _, given, results = infill(tok, piece, prefix, target, seeds=range(8, 16), engine_seed=1)
    given_positions = positions_by_bar(tok, given)
    new_positions = 0
    for seed, result in enumerate(results, start=8):
        where = f"{name} infill, seed {seed}"
        for b, values in enumerate(positions_by_bar(tok, result)):
            assert values == sorted(set(values)), f"{where}, bar {b}: positions must strictly increase: {values}"
        new_positions += sum(
            len(set(a) - set(g)) for a, g in zip(positions_by_bar(tok, result), given_positions, strict=True)
        )
        for b, positions in enumerate(parse_bars(tok, result)):
            for position, notes in positions:
                programs = [int(value(tok, n[0])) for n in notes]
                ranks = [part_rank(p, p == DRUMS) for p in programs]
                assert ranks == sorted(ranks), (
                    f"{where}, bar {b}, {tok.id_to_token[position]}: parts out of order (drums first, melody "
                    f"last): {programs}"
                )
        seen = Counter((b, pos, program, pitch) for b, pos, program, pitch, _ in notes_of(tok, result))
        stacked = [k for k, count in seen.items() if count > 1]
        assert not stacked, f"{where}: stacked notes (bar, position, program, pitch id): {stacked[:5]}"
    assert new_positions > 0, f"{name}: no row ever opened a new position between the given ones"


@pytest.mark.parametrize("name", list(TARGETS))
def test_an_infill_follows_the_grammars_pitches_and_decodes(tok, piece, prefix, name):
    target = TARGETS[name]
    _, given, results = infill(tok, piece, prefix, target, seeds=range(16, 24), engine_seed=2)
    given_tracks = track_notes(tok.decode(prefix + given))
    for seed, result in enumerate(results, start=16):
        where = f"{name} infill, seed {seed}"
        for _, _, program, pitch, _ in notes_of(tok, result):
            if program not in target:
                continue
            number = int(value(tok, pitch))
            if program == DRUMS:
                assert kind(tok, pitch) == "PitchDrum" and number in DRUM_SET, f"{where}: drum {number} not in the kit"
            else:
                assert kind(tok, pitch) == "Pitch" and number % 12 in KEY.pitch_classes, (
                    f"{where}: pitch {number} outside {KEY.token}"
                )
        score = tok.decode(prefix + result)
        tracks = track_notes(score)
        counts = Counter((p, p == DRUMS) for _, _, p, _, _ in notes_of(tok, result))
        assert {k: len(v) for k, v in tracks.items() if v} == dict(counts), where
        for part, notes in given_tracks.items():
            assert tracks[part] == notes, f"{where}: the given {part} part changed"
        seen = Counter((t.program, t.is_drum, n.time, n.pitch) for t in score.tracks for n in t.notes)
        assert max(seen.values()) == 1, f"{where}: two notes of one track at one tick and pitch"


def test_a_melody_infill_picks_one_program_and_keeps_it(tok, piece, prefix):
    # several seeds start on different lead programs, and every row stays on its first one
    _, _, results = infill(tok, piece, prefix, TARGETS["any lead"], seeds=range(24, 40), engine_seed=3)
    firsts = set()
    for seed, result in enumerate(results, start=24):
        used = [p for _, _, p, _, _ in notes_of(tok, result) if p in MELODY_PROGRAMS]
        assert used and set(used) == {used[0]}, f"seed {seed}: melody programs {Counter(used)}"
        firsts.add(used[0])
    assert len(firsts) > 1, "every row chose the same lead program (the test would prove nothing)"


def test_the_cursor_puts_given_parts_of_earlier_rank_first(tok, piece):
    """Right after the first Position: a drum infill may write before the bass, a melody must wait."""
    v = tok.vocab
    grammar = Grammar(tok, KEY, BPM, drums=KIT)

    def offered(cursor) -> set[str]:
        return {tok.id_to_token[i] for i in np.flatnonzero(cursor.allowed())}

    drums = InfillPlan(tok, drop_parts(tok, piece, {DRUMS}), {DRUMS}, grammar).cursor()
    assert offered(drums) == {"Bar_None"}
    drums.advance(tok.bar_id)
    assert offered(drums) == {"Position_0"}  # the first given position is at 0: nothing before it
    drums.advance(v["Position_0"])
    assert offered(drums) == {"Program_-1", "Program_33"}  # the kit, or the given bass
    for t in (v["Program_33"], v["Pitch_38"]):  # the bass note is forced once its Program is chosen
        drums.advance(t)
    assert offered(drums) == {"Velocity_95"}
    for t in (v["Velocity_95"], v["Duration_1.0.8"]):
        drums.advance(t)
    assert offered(drums) == {"Program_4"}  # a later part has played: the kit may not come after it

    given = drop_parts(tok, piece, MELODY_PROGRAMS)
    melody = InfillPlan(tok, given, {73}, grammar).cursor()
    melody.advance(tok.bar_id)
    melody.advance(v["Position_0"])
    band = given[2 : given.index(v["Position_4"])]  # drums, bass and keys at position 0
    assert kind(tok, band[0]) == "Program" and len(band) == 4 * 6
    for t in band:  # every token of the band comes first, as given
        assert offered(melody) == {tok.id_to_token[t]}
        melody.advance(t)
    # then the flute, a new position before the next given one (4), or that one; never back, nor past it
    assert offered(melody) == {"Program_73", "Position_1", "Position_2", "Position_3", "Position_4"}


# no stacked notes in an infill ---------------------------------------------------------------------------

PREFERRED = {"drums": ({DRUMS}, "Program_-1", "PitchDrum_36"), "flute": ({73}, "Program_73", "Pitch_72")}


def preferring(tok, pitch: str) -> np.ndarray:
    """Logits that want ``pitch`` above all other pitches and the bar to end; even on every other token.

    Even: a second note at a position is as likely as a move on, and a drum infill all but never plays
    its whole kit at one position (the last test shows what happens when it does).
    """
    logits = np.zeros(tok.vocab_size, np.float32)
    logits[tok.vocab[pitch]] = 12.0
    logits[tok.bar_id] = 2.0
    return logits


def stacking_infill(tok, piece, prefix, name):
    target, _, pitch = PREFERRED[name]
    grammar = Grammar(tok, KEY, BPM, drums=KIT)
    plan = InfillPlan(tok, drop_parts(tok, piece, target | MELODY_PROGRAMS), target, grammar)
    jobs = [Continuation(prefix + piece, BARS, grammar, FREE, seed=s, infill=plan) for s in range(6)]
    return grammar, decode(FixedLogits(preferring(tok, pitch)), jobs)


def repeats(tok, result: list[int], target: set[int]) -> tuple[int, list[tuple]]:
    """(times a target note followed another of its program at its position, the stacked notes)."""
    chances = 0
    seen: Counter = Counter()
    for bar, positions in enumerate(parse_bars(tok, result)):
        for position, notes in positions:
            programs = [int(value(tok, n[0])) for n in notes]
            chances += sum(a == b and b in target for a, b in itertools.pairwise(programs))
            seen.update((bar, position, p, n[1]) for p, n in zip(programs, notes, strict=True))
    return chances, [k for k, count in seen.items() if count > 1]


@pytest.mark.parametrize("name", list(PREFERRED))
def test_an_infill_never_stacks_the_pitch_the_model_wants(tok, piece, prefix, name):
    target, program, pitch = PREFERRED[name]
    grammar, results = stacking_infill(tok, piece, prefix, name)
    # the stub really wants the repeat: after the Program token, the preferred pitch is all but certain
    after_program = decode_table(grammar)[tok.vocab[program]]
    logits = preferring(tok, pitch)
    probs = np.exp(logits[after_program] - logits[after_program].max())
    assert probs[np.flatnonzero(after_program) == tok.vocab[pitch]].item() / probs.sum() > 0.99
    chances = 0
    for seed, result in enumerate(results):
        assert not grammar_breaks(tok, result), f"{name}, seed {seed}: {grammar_breaks(tok, result)[:4]}"
        more, stacked = repeats(tok, result, target)
        chances += more
        assert not stacked, f"{name}, seed {seed}: stacked notes (bar, position, program, pitch id): {stacked[:5]}"
    assert chances >= 10, f"{name}: only {chances} second notes at a position (the test would prove little)"


@pytest.mark.parametrize("name", list(PREFERRED))
def test_without_the_cursors_pitch_mask_the_stub_would_stack(tok, piece, prefix, name, monkeypatch):
    # the control for the test above: a cursor that forgets the pitches it played writes stacked notes
    allowed = InfillCursor.allowed

    def forgetful(self):
        self.used = set()
        return allowed(self)

    monkeypatch.setattr(InfillCursor, "allowed", forgetful)
    _, results = stacking_infill(tok, piece, prefix, name)
    assert sum(len(repeats(tok, r, PREFERRED[name][0])[1]) for r in results) >= 5


# a kit that runs out ------------------------------------------------------------------------------------


def test_a_drum_infill_with_every_drum_played_at_a_position_stays_remi(tok, piece, prefix):
    """A grammar's kit of one drum; the engine wants another drum note at the same position.

    No stacking forbids the second hit, so after the drum Program token nothing is allowed; the row must
    not write the Program token then (or must move on), never a token REMI does not allow (PAD).
    """
    v = tok.vocab
    logits = np.zeros(tok.vocab_size, np.float32)
    logits[v["Program_-1"]] = 8.0
    grammar = Grammar(tok, KEY, BPM, drums={36})
    given = drop_parts(tok, piece, {DRUMS} | MELODY_PROGRAMS)
    plan = InfillPlan(tok, given, {DRUMS}, grammar)
    (result,) = decode(FixedLogits(logits), [Continuation(prefix + piece, BARS, grammar, FREE, infill=plan)])
    breaks = grammar_breaks(tok, result)
    assert not breaks and tok.pad_id not in result, (
        "a drum infill whose kit is all played at one position writes tokens REMI does not allow "
        f"(InfillCursor.allowed offers the drum Program, then an empty pitch mask): {breaks[:4]}"
    )


# writing a bar again when its check refuses it (Continuation.bar_check) ---------------------------------------


def _even_notes(tok, calls):
    """A bar check that passes a bar with an even number of notes (about one bar in two), counting its calls."""

    def check(tokens):
        calls.append(len(tokens))
        return sum(len(notes) for _, notes in parse_bars(tok, tokens)[-1]) % 2 == 0

    return check


def _odd_bars(tok, ids):
    return sum(sum(len(notes) for _, notes in bar) % 2 for bar in parse_bars(tok, ids))


@pytest.mark.parametrize("seed", range(4))
def test_refused_bars_are_written_again_until_they_pass(tok, prefix, seed):
    grammar = Grammar(tok, KEY, BPM, programs={0, 33, DRUMS}, drums=KIT)
    calls: list[int] = []
    job = Continuation(prefix, BARS, grammar, FREE, seed, bar_check=_even_notes(tok, calls), bar_retries=12)
    (result,) = decode(RandomLogits(tok.vocab_size, seed), [job])
    assert len(parse_bars(tok, result)) == BARS and _odd_bars(tok, result) == 0
    assert BARS <= len(calls) <= BARS * 13  # every bar checked, none more often than its retries allow
    table = decode_table(grammar)
    assert all(table[a, b] for a, b in itertools.pairwise(result))  # still the grammar's REMI


def test_without_retries_the_check_only_watches(tok, prefix):
    grammar = Grammar(tok, KEY, BPM, programs={0, 33, DRUMS}, drums=KIT)
    jobs = [
        Continuation(prefix, BARS, grammar, FREE, s, bar_check=_even_notes(tok, []), bar_retries=0) for s in range(6)
    ]
    results = decode(RandomLogits(tok.vocab_size, 0), jobs)
    assert sum(_odd_bars(tok, r) for r in results) > 0  # the control: some bars do have an odd count


def test_a_retried_decode_is_reproducible(tok, prefix):
    grammar = Grammar(tok, KEY, BPM, programs={0, 33, DRUMS}, drums=KIT)
    job = Continuation(prefix, BARS, grammar, FREE, 3, bar_check=_even_notes(tok, []), bar_retries=8)
    assert decode(RandomLogits(tok.vocab_size, 3), [job]) == decode(RandomLogits(tok.vocab_size, 3), [job])


def test_an_infill_bar_written_again_keeps_the_given_notes(tok, piece, prefix):
    # the cursor goes back to where it stood before the refused bar: the given notes come back exactly
    given = drop_parts(tok, piece, set(MELODY_PROGRAMS))
    grammar = Grammar(tok, KEY, BPM, programs={0, 4, 33, 73, DRUMS}, drums=KIT)
    plan = InfillPlan(tok, given, {73}, grammar)
    retried = 0
    for seed in range(4):
        calls: list[int] = []
        job = Continuation(prefix, BARS, grammar, FREE, seed, plan, bar_check=_even_notes(tok, calls), bar_retries=12)
        (result,) = decode(RandomLogits(tok.vocab_size, seed), [job])
        assert drop_parts(tok, result, {73}) == given
        assert _odd_bars(tok, result) == 0
        retried += len(calls) > BARS
    assert retried  # bars were written again, and the given notes still came back exactly


@pytest.mark.parametrize("name", ["flute", "drums"])
def test_forced_runs_fed_in_one_pass_give_the_tokens_of_one_step_each(tok, piece, prefix, name, monkeypatch):
    """The decoder feeds an infill's given notes to the engine in one extend (they need no sampling); the
    tokens, bar retries included, are those of feeding them one step at a time."""
    target = TARGETS[name]
    grammar = Grammar(tok, KEY, BPM, programs={DRUMS, 0, 4, 33, 73}, drums=DRUM_SET)
    plan = InfillPlan(tok, drop_parts(tok, piece, target), target, grammar)

    def run(engine):
        jobs = [Continuation(prefix + piece, BARS, grammar, FREE, seed, plan, _even_notes(tok, []), 6)
                for seed in range(4)]  # fmt: skip
        return decode(engine, jobs)

    extends: list[int] = []
    engine = ContextLogits(tok.vocab_size)
    inner = engine.extend
    engine.extend = lambda row, ids: extends.append(len(ids)) or inner(row, ids)
    chunked = run(engine)
    assert max(extends) >= 3, "no forced run was fed in one pass: the test would prove nothing"
    monkeypatch.setattr(DecodeBatch, "_forced", staticmethod(lambda row, kinds, limit: []))
    assert run(ContextLogits(tok.vocab_size)) == chunked


def test_a_bar_taken_back_after_the_window_slid_inside_it_is_written_again(tok, piece, prefix):
    """A small context: the window slides inside long bars, past their Bar token; a bar the check refuses
    then cannot be cut back in the cache and the row is prefilled from its window instead."""
    grammar = Grammar(tok, KEY, BPM, programs={DRUMS, 0, 4, 33, 73}, drums=DRUM_SET)
    plan = InfillPlan(tok, drop_parts(tok, piece, {73}), {73}, grammar)
    engine = ContextLogits(tok.vocab_size, n_positions=96)
    calls: list[int] = []
    jobs = [
        Continuation(prefix + piece, BARS, grammar, FREE, seed, plan, _even_notes(tok, calls), 6) for seed in range(4)
    ]
    results = decode(engine, jobs)
    assert len(calls) > len(jobs) * BARS  # bars were refused and written again
    for result in results:
        assert drop_parts(tok, result, {73}) == drop_parts(tok, piece, {73}) and _odd_bars(tok, result) == 0
