"""Write one part into bars whose other parts are given: a drum fill under a loop's chords, a melody over it.

The bars' other notes are fed to the model as they are (forced tokens); between them, the model may
insert notes of the target part wherever REMI allows one: inside a position, in the canonical part
order (lofi.instruments.part_rank: drums first, melody last), or at a new position between two given
ones. So the model hears the whole band up to each note it writes, and the given parts stay exactly as
they were.

``InfillPlan`` is the immutable description (built once per pass, shared by its tries); each decoding
row walks it with its own ``InfillCursor``, which says which tokens may come next and follows the ones
that were chosen.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lofi.instruments import DRUMS, part_rank
from lofi.model.constraints import MAX_NOTES_AT_ONCE, Grammar, decode_table
from lofi.tokens.tokenizer import LofiTokenizer

# the tokens of one note: Program, Pitch (or PitchDrum), Velocity, Duration
NOTE_TOKENS = 4
NOTE_TAIL = ("Velocity", "Duration")


@dataclass(frozen=True)
class _Note:
    rank: tuple[int, int]
    tokens: tuple[int, ...]


@dataclass(frozen=True)
class _Position:
    value: int
    token: int
    notes: tuple[_Note, ...]


class InfillPlan:
    """The given notes of some bars (REMI ids that start with a Bar token) and the part to write into them.

    ``target_programs``: the programs the model may write (DRUMS for the kit), all of one role; the first
    note a row writes picks the program its later notes keep. The pitches each may play are the grammar's
    (its key and kit masks).
    """

    def __init__(self, tokenizer: LofiTokenizer, given: list[int], target_programs: set[int], grammar: Grammar,
                 boost: float = 0.0):  # fmt: skip
        """``boost``: added to the target's Program logits wherever a target note may begin (0: the model's
        own odds). A part the given bars do not play is one the model rarely starts on its own."""
        self.tok = tokenizer
        self.boost = boost
        self.vocab = tokenizer.vocab_size
        self.program_of = {i: int(v) for i, v in tokenizer.ids_of_type("Program").items()}
        self.position_of = {i: int(v) for i, v in tokenizer.ids_of_type("Position").items()}
        self.position_token = {v: i for i, v in self.position_of.items()}
        self.target = {i for i, p in self.program_of.items() if p in target_programs}
        self.target_ids = np.array(sorted(self.target))
        if not self.target:
            raise ValueError(f"no Program token for the target programs {sorted(target_programs)}")
        ranks = {part_rank(p, p == DRUMS) for p in target_programs}
        if len({r[0] for r in ranks}) != 1:
            raise ValueError("an infill writes one role (drums, bass, harmony or melody) at a time")
        self.target_rank = min(ranks)
        table = decode_table(grammar)
        self.allowed_pitches = {t: table[t] for t in self.target}
        self.positions = len(self.position_of)
        self.velocity = np.zeros(self.vocab, dtype=bool)
        self.velocity[list(tokenizer.ids_of_type("Velocity"))] = True
        self.duration = np.zeros(self.vocab, dtype=bool)
        self.duration[list(tokenizer.ids_of_type("Duration"))] = True
        self.bar_id = tokenizer.bar_id
        self.bars = self._parse(given)

    def _parse(self, ids: list[int]) -> list[list[_Position]]:
        if not ids or ids[0] != self.bar_id:
            raise ValueError("the given bars must start with a Bar token")
        bars = []
        for positions in parse_bars(self.tok, ids):
            bars.append([
                _Position(self.position_of[token], token, tuple(
                    _Note(part_rank(self.program_of[n[0]], self.program_of[n[0]] == DRUMS), tuple(n)) for n in notes
                ))
                for token, notes in positions
            ])  # fmt: skip
        return bars

    def cursor(self) -> InfillCursor:
        return InfillCursor(self)


class InfillCursor:
    """One row's walk through an InfillPlan."""

    def __init__(self, plan: InfillPlan):
        self.plan = plan
        self.bar = -1  # index of the bar being written (-1: before the first Bar token)
        self.position: int | None = None  # value of the current position
        self.given_index = 0  # given positions of the bar already passed
        self.notes_left: list[_Note] = []  # given notes of the current position still to come
        self.pending: list[int] = []  # the rest of a given note's tokens
        self.in_target = 0  # tokens of a written note still to come (3 after its Program)
        self.target_program: int | None = None  # the Program token of the note being written
        self.program: int | None = None  # the Program token the row writes in (set by its first note)
        self.empty = False  # a new position that has no note yet
        self.used: set[int] = set()  # pitch ids the target program already plays at this position
        self.closed = False  # a given note of a later rank was played: no more target notes here
        self.done = False

    def snapshot(self) -> InfillCursor:
        """A copy to come back to (a bar written again starts from where the cursor stood before it)."""
        copy = InfillCursor.__new__(InfillCursor)
        copy.__dict__.update(self.__dict__)
        copy.notes_left, copy.pending, copy.used = list(self.notes_left), list(self.pending), set(self.used)
        return copy

    def _mask(self, ids) -> np.ndarray:
        mask = np.zeros(self.plan.vocab, dtype=bool)
        mask[list(ids)] = True
        return mask

    def _next_given_position(self) -> _Position | None:
        positions = self.plan.bars[self.bar] if 0 <= self.bar < len(self.plan.bars) else []
        return positions[self.given_index] if self.given_index < len(positions) else None

    def forced(self) -> int | None:
        """The one token that may come next, when the plan leaves no choice (the rest of a given note, a
        given note of an earlier rank); None when the model chooses. The decoder feeds forced tokens in
        one pass instead of one step each."""
        if self.pending:
            return self.pending[0]
        if self.in_target or self.bar < 0 or self.position is None or self.empty:
            return None
        if self.notes_left and self.notes_left[0].rank <= self.plan.target_rank:
            return self.notes_left[0].tokens[0]
        return None

    def allowed(self) -> np.ndarray:
        plan = self.plan
        if self.pending:
            return self._mask([self.pending[0]])
        if self.in_target == 3:
            mask = plan.allowed_pitches[self.target_program].copy()
            mask[list(self.used)] = False
            return mask
        if self.in_target == 2:
            return plan.velocity
        if self.in_target == 1:
            return plan.duration
        options: list[int] = []
        if self.bar < 0:
            return self._mask([plan.bar_id])
        following = self._next_given_position()
        if self.position is None:  # right after a Bar: the first given position, or an earlier new one
            if following is not None:
                options.append(following.token)
            limit = following.value if following is not None else plan.positions
            options += [plan.position_token[v] for v in range(limit)]
            return self._mask(options)
        targets = [self.program] if self.program is not None else sorted(plan.target)
        # a part that is full at this position (every pitch it may play, or MAX_NOTES_AT_ONCE) cannot strike again
        targets = [
            t for t in targets if min(MAX_NOTES_AT_ONCE, np.count_nonzero(plan.allowed_pitches[t])) > len(self.used)
        ]
        if self.empty:
            return self._mask(targets)
        if self.notes_left and self.notes_left[0].rank <= plan.target_rank:
            return self._mask([self.notes_left[0].tokens[0]])  # given parts of earlier rank come first
        if not self.closed:
            options += targets
        if self.notes_left:
            options.append(self.notes_left[0].tokens[0])
            return self._mask(options)
        # the position is complete: the next given position, a new one before it, or the next bar
        limit = following.value if following is not None else plan.positions
        options += [plan.position_token[v] for v in range(self.position + 1, limit)]
        options.append(following.token if following is not None else plan.bar_id)
        return self._mask(options)

    def advance(self, token: int) -> None:
        plan = self.plan
        if self.pending:
            self.pending.pop(0)
            return
        if self.in_target:
            if self.in_target == 3:
                self.used.add(token)
            self.in_target -= 1
            return
        if token == plan.bar_id:
            self.bar += 1
            self.position, self.given_index, self.notes_left = None, 0, []
            self.done = self.bar >= len(plan.bars)
            return
        if token in plan.position_of:
            following = self._next_given_position()
            self.position = plan.position_of[token]
            self.used, self.closed = set(), False
            if following is not None and following.token == token:
                self.notes_left = list(following.notes)
                self.given_index += 1
                self.empty = False
            else:
                self.notes_left, self.empty = [], True
            return
        if token in plan.target:
            self.in_target, self.target_program, self.program, self.empty = 3, token, token, False
            return
        # a given note's Program: the rest of its tokens follow
        note = self.notes_left.pop(0)
        if note.rank > plan.target_rank:
            self.closed = True
        self.pending = list(note.tokens[1:])


def parse_bars(tokenizer: LofiTokenizer, ids: list[int]) -> list[list[tuple[int, list[list[int]]]]]:
    """Bars of REMI ids as [(Position id, [note ids...])...]; tempo tokens and broken notes are left out.

    A note is its Program and the Pitch, Velocity and Duration after it; a note cut short (a decoding row
    that ran out of budget) is dropped, as MidiTok's decoder would drop it.
    """
    kinds = {i: name.split("_", 1)[0] for i, name in enumerate(tokenizer.id_to_token)}
    bars: list[list[tuple[int, list[list[int]]]]] = []
    i = 0
    while i < len(ids):
        kind = kinds[ids[i]]
        if kind == "Bar":
            bars.append([])
        elif kind == "Position" and bars:
            bars[-1].append((ids[i], []))
        elif kind == "Program" and bars and bars[-1]:
            note = ids[i : i + NOTE_TOKENS]
            if [kinds[t] for t in note[1:]] in (["Pitch", *NOTE_TAIL], ["PitchDrum", *NOTE_TAIL]):
                bars[-1][-1][1].append(note)
                i += NOTE_TOKENS
                continue
        i += 1
    return bars


def drop_parts(tokenizer: LofiTokenizer, ids: list[int], programs: set[int]) -> list[int]:
    """REMI ids of whole bars without the notes of ``programs`` (and without tempo tokens); positions left
    empty go too."""
    program_of = {i: int(v) for i, v in tokenizer.ids_of_type("Program").items()}
    out: list[int] = []
    for positions in parse_bars(tokenizer, ids):
        out.append(tokenizer.bar_id)
        for token, notes in positions:
            kept = [t for note in notes if program_of[note[0]] not in programs for t in note]
            if kept:
                out += [token, *kept]
    return out
