"""Continue many token sequences at once, each by a number of bars, on any engine.

A ``DecodeBatch`` holds rows (one ``Continuation`` each) that join and leave between steps. One step
samples a token for every row from its logits, with the constraints applied to all rows at once on one
[rows, vocab] tensor, then asks the engine for the next logits. Sampling, the grammar and the repetition
guard are the engine's neighbours, not its parts, so every engine yields the same tokens for the same
logits, and each row draws from its own random stream: a row's tokens do not depend on its neighbours.

Sampling is top-k, then top-p within those k, then one draw by inverse CDF from a uniform of the row's
own stream, on numpy arrays (tests/model/test_sampling.py checks it on fixed logits).

No stacked notes: a row never writes the same pitch twice for one program at one position (the pitches
already played there are masked after the Program token), and one program strikes at most
MAX_NOTES_AT_ONCE notes at a position. A row with an ``infill`` plan follows that
plan's cursor instead of the grammar (lofi.model.infill).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from lofi.model.constraints import MAX_NOTES_AT_ONCE, Grammar, decode_table
from lofi.model.engines.base import Engine
from lofi.model.sampling import SamplingConfig
from lofi.tokens.dataset import PREFIX_LEN

if TYPE_CHECKING:
    from lofi.model.infill import InfillCursor, InfillPlan

_UNIFORMS = 512  # a row's random stream is drawn this many numbers at a time
MAX_TOKENS_PER_BAR = 320  # a guard: a dense bar of four parts stays well under this


def window(ids: list[int], limit: int, bar_id: int) -> list[int]:
    """The condition prefix plus the longest tail that starts on a bar and fits in ``limit`` tokens."""
    if len(ids) <= limit:
        return ids
    body = ids[PREFIX_LEN:]
    keep = limit // 2  # slide by half a window so the cache is rebuilt rarely
    tail_start = len(body) - keep
    while tail_start < len(body) and body[tail_start] != bar_id:
        tail_start += 1
    return ids[:PREFIX_LEN] + body[tail_start:]


@dataclass(frozen=True)
class Continuation:
    """One sequence to continue: ``bars`` new bars after ``prompt``, under ``grammar``, seeded by ``seed``."""

    prompt: Sequence[int]
    bars: int
    grammar: Grammar
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    seed: int = 0
    infill: InfillPlan | None = None  # write one part into given bars instead of continuing freely
    # checked on the new tokens each time a bar is complete: a bar it refuses is written again, up to
    # bar_retries times per bar (rejection sampling one bar at a time, not the whole passage)
    bar_check: Callable[[list[int]], bool] | None = None
    bar_retries: int = 0


@dataclass(frozen=True)
class TokenKinds:
    """Which ids open a position (Bar, Position), name a program, or name a pitch: the no-stacking bookkeeping."""

    bar: np.ndarray  # bool [vocab]
    position: np.ndarray  # int [vocab]: a Position token's value, -1 for other tokens
    positions: np.ndarray  # the Position ids in the order of their values
    program: np.ndarray  # bool [vocab]
    pitch: np.ndarray  # bool [vocab]


def token_kinds(grammar: Grammar) -> TokenKinds:
    kinds: Any = getattr(grammar, "_token_kinds", None)
    if kinds is None:
        # a grammar over a vocabulary without names (tests' stand-ins) has no positions or notes to keep
        names = getattr(grammar.tok, "id_to_token", None) or [""] * grammar.masks.shape[0]
        types = np.array([n.split("_", 1)[0] for n in names])
        position = np.array([int(n.split("_")[1]) if t == "Position" else -1
                             for n, t in zip(names, types, strict=True)])  # fmt: skip
        positions = np.flatnonzero(position >= 0)
        kinds = TokenKinds(types == "Bar", position, positions[np.argsort(position[positions])], types == "Program",
                           np.isin(types, ["Pitch", "PitchDrum"]))  # fmt: skip
        grammar._token_kinds = kinds  # cached on the grammar, like its decode table
    return kinds


class _Row:
    def __init__(self, handle: int, job: Continuation, context: list[int]):
        self.handle, self.job = handle, job
        self.history = list(context)
        self.context_len = len(context)
        self.new: list[int] = []
        self.bars_done = 0
        self.run = 1  # how many times history[-1] came in a row (the prompt's own run counts)
        while self.run < len(context) and context[-1 - self.run] == context[-1]:
            self.run += 1
        self.budget = job.bars * MAX_TOKENS_PER_BAR
        self.at_start = len(job.prompt) <= PREFIX_LEN
        self._rng = torch.Generator().manual_seed(job.seed)
        self._uniforms: list[float] = []
        self.cursor = job.infill.cursor() if job.infill is not None else None
        self.program = -1  # the Program token of the note being written
        self.position = -1  # the current position's value in the bar (-1: none yet)
        self.played: dict[int, set[int]] = {}  # program token -> pitch tokens at the current position
        self.bar_start = 0  # the index in ``new`` of the Bar token that opened the bar being written
        self.cursor_at_bar: InfillCursor | None = None  # the infill cursor just after that Bar token
        self.retries = [job.bar_retries] * (job.bars + 1)  # retries left for each bar

    def follow(self, token: int, kinds: TokenKinds) -> None:
        """Keep the position, its played pitches (and the infill cursor) up to date with a chosen token."""
        if self.cursor is not None:
            self.cursor.advance(token)
        if kinds.bar[token] or kinds.position[token] >= 0:
            self.played.clear()
            self.position = int(kinds.position[token])
        elif kinds.program[token]:
            self.program = token
        elif kinds.pitch[token]:
            self.played.setdefault(self.program, set()).add(token)

    def take_back_bar(self) -> bool:
        """Forget what the bar just written holds (its Bar token stays), to write it again. True when the
        engine's cache still holds the bar's Bar token: it is then cut to ``context_len - 1`` and fed that
        token again (for its logits); False when a window slid past it, and the row is prefilled anew."""
        removed = len(self.new) - self.bar_start - 1
        del self.new[self.bar_start + 1 :]
        del self.history[len(self.history) - removed :]
        # the cache is the condition prefix and the newest tokens: the bar's, unless a window slid inside it
        kept = self.context_len - removed >= PREFIX_LEN + 1
        self.context_len = self.context_len - removed if kept else len(self.history)
        if self.cursor_at_bar is not None:
            self.cursor = self.cursor_at_bar.snapshot()
        self.played.clear()  # as just after a Bar token
        self.position, self.run = -1, 1
        return kept

    def bar_refused(self, bar_id: int) -> bool:
        """Whether the bar just completed fails the job's bar check and may be written again."""
        check = self.job.bar_check
        if check is None or self.bars_done < 1 or self.retries[self.bars_done] <= 0:
            return False
        if check(self.new):
            return False
        self.retries[self.bars_done] -= 1
        return True

    def uniform(self) -> float:
        if not self._uniforms:
            self._uniforms = torch.rand(_UNIFORMS, generator=self._rng, dtype=torch.float64).tolist()[::-1]
        return self._uniforms.pop()

    def result(self, bar_id: int) -> list[int]:
        # a section that ran out of budget is closed with empty bars, so the form keeps its length
        return self.new + [bar_id] * (self.job.bars - self.bars_done)


class DecodeBatch:
    """Rows decoding together on one engine. Not thread-safe: one thread steps it."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.rows: list[_Row] = []
        with torch.inference_mode():  # engines return inference tensors; rows are written in place
            self.logits = torch.empty(0, engine.vocab_size)
        self._next_handle = 0
        self._fresh: dict[tuple[int, ...], int] = {}  # contexts prefilled since the last step -> row

    def __len__(self) -> int:
        return len(self.rows)

    @torch.inference_mode()
    def add(self, job: Continuation) -> int:
        if job.bars < 0:
            raise ValueError("bars must be 0 or more")
        bar_id = job.grammar.tok.bar_id
        context = window(list(job.prompt), self.engine.n_positions - 1, bar_id)
        row = _Row(self._next_handle, job, context)
        self._next_handle += 1
        index = len(self.rows)
        self.engine.reserve(index + 1)
        key = tuple(context)
        if key in self._fresh:  # tries of one section share their prompt: prefill it once
            source = self._fresh[key]
            self.engine.copy(source, index)
            logits = self.logits[source]
        else:
            logits = self.engine.prefill(index, context).cpu()  # sampling runs on the CPU
            self._fresh[key] = index
        self.rows.append(row)
        self.logits = torch.cat([self.logits, logits[None]])
        return row.handle

    @torch.inference_mode()
    def cancel(self, handle: int) -> None:
        for index, row in enumerate(self.rows):
            if row.handle == handle:
                self._remove(index)
                return

    def _remove(self, index: int) -> None:
        last = len(self.rows) - 1
        self.engine.move(last, index)
        self.rows[index] = self.rows[last]
        self.logits[index] = self.logits[last]
        self.rows.pop()
        self.logits = self.logits[:last]
        self._fresh.clear()

    def _sample(self) -> list[int]:
        # numpy, not torch: on [rows, vocab] arrays a numpy op costs about a microsecond, a torch op
        # several, and a step samples once per token
        rows = self.rows
        vocab = self.engine.vocab_size
        previous = [vocab if (r.at_start and not r.new) else r.history[-1] for r in rows]
        grammars = {id(r.job.grammar): r.job.grammar for r in rows}
        if len(grammars) == 1:
            allowed = decode_table(rows[0].job.grammar)[previous]
        else:
            allowed = np.stack([decode_table(r.job.grammar)[p] for r, p in zip(rows, previous, strict=True)])
        for i, r in enumerate(rows):
            if r.cursor is not None:  # an infill row: its plan says what may come
                allowed[i] = r.cursor.allowed()
                continue
            if r.new and r.program == r.history[-1] and r.program in r.played:  # no stacked notes
                allowed[i, list(r.played[r.program])] = False
            for program, pitches in r.played.items():  # a part that is full here cannot strike again
                room = min(MAX_NOTES_AT_ONCE, np.count_nonzero(decode_table(r.job.grammar)[program]))
                if allowed[i, program] and len(pitches) >= room:
                    allowed[i, program] = False
            if r.position >= 0:  # positions only move forward inside a bar (a repeat would stack notes)
                allowed[i, token_kinds(r.job.grammar).positions[: r.position + 1]] = False
            if not allowed[i].any():  # the rules above left nothing: the grammar alone decides
                allowed[i] = decode_table(r.job.grammar)[previous[i]]
            limit = r.job.sampling.repeat_limit  # the repetition guard: no token more than repeat_limit in a row
            if limit and r.run >= limit and len(r.history) >= limit:
                allowed[i, r.history[-1]] = False
        configs = [r.job.sampling for r in rows]
        logits = np.where(allowed, self.logits.numpy(), -np.inf)
        for i, r in enumerate(rows):  # an infill plan may make its part likelier to begin a note
            if r.cursor is not None and r.cursor.plan.boost and allowed[i, r.cursor.plan.target_ids].any():
                logits[i, r.cursor.plan.target_ids] += r.cursor.plan.boost
        logits /= np.array([[c.temperature] for c in configs], np.float32)
        ks = [c.top_k if 0 < c.top_k < vocab else vocab for c in configs]
        k = max(ks)
        every = np.arange(len(rows))[:, None]
        if k < vocab:  # the k largest, then sorted: most likely first
            order = np.argpartition(logits, vocab - k, axis=1)[:, vocab - k :]
            values = logits[every, order]
        else:
            order, values = np.broadcast_to(np.arange(vocab), logits.shape), logits
        by_value = np.argsort(-values, axis=1, kind="stable")
        order, values = order[every, by_value], values[every, by_value]
        if min(ks) < k:
            values[np.arange(k) >= np.array(ks)[:, None]] = -np.inf
        with np.errstate(invalid="ignore"):  # a row with nothing allowed draws its most likely token
            probs = np.exp(values - values[:, :1])
            cumulative = probs.cumsum(axis=1)
            # top-p: keep tokens while the mass before them is under p (the most likely one always stays);
            # they are a prefix of the sorted row, so the cumulative sums of the kept ones do not change
            top_p = np.array([[c.top_p] for c in configs])
            kept = ((cumulative - probs < top_p * cumulative[:, -1:]) | (top_p >= 1.0)).sum(axis=1)
            kept = np.maximum(kept, 1)
            total = cumulative[every[:, 0], kept - 1]
            draws = np.array([r.uniform() for r in rows]) * total
            choice = np.minimum((cumulative < draws[:, None]).sum(axis=1), kept - 1)
        return order[every[:, 0], choice].tolist()

    @torch.inference_mode()
    def step(self) -> list[tuple[int, list[int]]]:
        """One sampled token for every row (and after it, for an infill row, the tokens its plan forces);
        the rows that finished, as (handle, new tokens)."""
        if not self.rows:
            return []
        tokens = self._sample()
        finished, limit = [], self.engine.n_positions
        fed: dict[int, list[int]] = {}  # row handle -> the tokens the engine appends to its context
        for i in reversed(range(len(self.rows))):
            row, token = self.rows[i], tokens[i]
            bar_id = row.job.grammar.tok.bar_id
            kinds = token_kinds(row.job.grammar)
            if token == bar_id and row.bar_refused(bar_id):
                if row.take_back_bar():
                    self.engine.truncate(i, row.context_len - 1)
                else:  # stepped with its Bar token like the others, then prefilled from its new window below
                    row.context_len = self.engine.n_positions
                fed[row.handle] = [row.history[-1]]  # its Bar token again: the logits after it
                continue
            if token == bar_id and row.bars_done == row.job.bars:
                finished.append(i)
                continue
            row.bars_done += token == bar_id
            self._append(row, token, kinds)
            fed[row.handle] = [token, *self._forced(row, kinds, limit)]
            if len(row.new) >= row.budget:
                finished.append(i)
        done = []
        for i in sorted(finished, reverse=True):
            done.append((self.rows[i].handle, self.rows[i].result(self.rows[i].job.grammar.tok.bar_id)))
            self._remove(i)
        self._fresh.clear()
        if any(len(fed[r.handle]) > 1 for r in self.rows):
            # runs of forced tokens: each row appends its own in one pass
            for i, row in enumerate(self.rows):
                self.logits[i] = self.engine.extend(i, fed[row.handle])
        elif self.rows:
            self.logits = self.engine.step(torch.tensor([fed[r.handle][0] for r in self.rows])).cpu()
        for i, row in enumerate(self.rows):
            if row.context_len >= limit:  # a full window slides (or moved past a bar taken back): rebuilt
                context = window(row.history, limit - 1, row.job.grammar.tok.bar_id)
                row.context_len = len(context)
                self.logits[i] = self.engine.prefill(i, context)
        return done[::-1]

    @staticmethod
    def _append(row: _Row, token: int, kinds: TokenKinds) -> None:
        row.follow(token, kinds)
        if kinds.bar[token]:
            row.bar_start = len(row.new)
            if row.cursor is not None:
                row.cursor_at_bar = row.cursor.snapshot()
        row.run = row.run + 1 if token == row.history[-1] else 1
        row.new.append(token)
        row.history.append(token)
        row.context_len += 1

    @staticmethod
    def _forced(row: _Row, kinds: TokenKinds, limit: int) -> list[int]:
        """The tokens an infill row's plan forces next (no Bar: a bar's end goes through its check), taken
        as if sampled: each uses up its uniform, so the row's stream and tokens are those of one step each."""
        run: list[int] = []
        while row.cursor is not None and len(row.new) < row.budget and row.context_len < limit - 1:
            token = row.cursor.forced()
            if token is None or kinds.bar[token]:
                break
            row.uniform()
            DecodeBatch._append(row, token, kinds)
            run.append(token)
        return run


def decode(engine: Engine, jobs: Sequence[Continuation]) -> list[list[int]]:
    """Continue every job to the end, together; new tokens in the order of ``jobs``."""
    batch = DecodeBatch(engine)
    handles = [batch.add(job) for job in jobs]
    results: dict[int, list[int]] = {}
    while batch:
        results.update(batch.step())
    return [results[h] for h in handles]
