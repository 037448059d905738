"""From a request to an arranged Score: the model writes loops, fills and melodies; the form lays them out.

1. **Loops.** The model writes the first loop (LOOP_BARS bars of drums, bass and chords) from the condition
   tokens (and the bars of a ``--continue`` file); longer tracks get more loops, each written after the
   first. The loop that plays decides the band: drums, the bass, one or two chord parts.
2. **Fills.** For each loop, the model writes the drums of the loop's last bar again under its chords: the
   fill that closes a phrase.
3. **Melodies.** Over each loop that the form gives a melody, the model writes one into the loop's bars
   (the band as written, the melody inserted between its notes: lofi.model.infill).
4. **Arrangement.** The form (lofi.compose.form) lays the loops out with their layers; the swing is written
   into the MIDI at the end.

Every pass goes through the quality gate (lofi.compose.gate). A loop that fails every try is kept (the
best try) and the track is marked ``review`` with the reasons; a fill or a melody that fails every try is
left out and the reason recorded. Decoding never stacks notes (lofi.model.generate).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import torch
from symusic import Score

import lofi.compose.arrange as arrange  # not through lofi.compose, whose __init__ imports this module
import lofi.compose.form as form
import lofi.compose.gate as gate
from lofi.compose.arrange import Bar, Loop, role
from lofi.compose.prompt import prompt_tokens
from lofi.compose.request import ComposeRequest
from lofi.instruments import BASS_PROGRAMS, DRUMS, MELODY_PROGRAMS, PALETTE
from lofi.model.checkpoint import Checkpoint
from lofi.model.constraints import Grammar
from lofi.model.engines import Engine, load_engine, resolve
from lofi.model.generate import Continuation, DecodeBatch
from lofi.model.infill import InfillPlan, drop_parts
from lofi.model.runtime import DECODE_THREADS, torch_threads
from lofi.model.sampling import SamplingConfig
from lofi.progress import Progress, no_progress
from lofi.theory import Key, detect_chords
from lofi.theory.groove import KIT
from lofi.tokens.dataset import PREFIX_LEN
from lofi.tokens.tokenizer import LofiTokenizer

TRIES = {"loop": 8, "fill": 3, "melody": 3}  # best of this many when no try passes the gate
MELODY_BOOST = 2.0  # nats added to a melody note's logit where one may begin (see _melody_pass)
BAR_RETRIES = 4  # a bar of a loop or a melody that its bar check refuses is written again up to this often
MAX_HARMONY_PARTS = 2  # a lo-fi band: drums, a bass, and one or two chord parts (keys, guitar, pad)
LOOP_PROGRAMS = frozenset(p for p in PALETTE if p not in MELODY_PROGRAMS)
# the swing written into each mood's MIDI (MPC-style, off-beat 16ths), before a per-track nudge
MOOD_SWING = {"chill": 0.57, "jazzy": 0.6, "sad": 0.56, "dreamy": 0.56, "upbeat": 0.58, "rainy": 0.57,
              "sleepy": 0.56, "nostalgic": 0.58}  # fmt: skip
SWING_NUDGE = 0.015  # a track's swing is its mood's, nudged by up to this much (inside the lo-fi 0.54-0.62)


@dataclass
class Composition:
    score: Score
    track_id: str
    seed: int
    metadata: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Pass:
    """One thing for the model to write: a prompt, how many bars, the rules, and the gate it must pass."""

    name: str
    prompt: list[int]
    bars: int
    grammar: Grammar
    check: Callable[[list[int]], tuple[list[str], float]]
    tries: int
    infill: InfillPlan | None = None
    bar_check: Callable[[list[int]], bool] | None = None  # each bar as it is written (see Continuation)
    sampling: SamplingConfig | None = None  # its own sampling, else the request's


@dataclass
class Outcome:
    tokens: list[int]
    tries: int
    rejected: list[list[str]]  # what each rejected try got wrong
    problems: list[str]  # what the kept try gets wrong (empty: it passed)


def split_bars(tokens: list[int], bar_id: int) -> list[list[int]]:
    bars: list[list[int]] = []
    for t in tokens:
        if t == bar_id or not bars:
            bars.append([])
        bars[-1].append(t)
    return bars


def band(loop: list[Bar]) -> frozenset[int]:
    """The parts of a loop that play on: drums, the bass that covers most bars, its busiest one or two chord parts."""
    counts: dict[int, int] = {}
    covered: dict[int, int] = {}
    for bar in loop:
        for (program, is_drum), notes in bar.items():
            key = DRUMS if is_drum else program
            counts[key] = counts.get(key, 0) + len(notes)
            covered[key] = covered.get(key, 0) + bool(notes)
    ranked = sorted(counts, key=lambda p: (-counts[p], p))
    basses = sorted((p for p in counts if p in BASS_PROGRAMS), key=lambda p: (-covered[p], -counts[p], p))[:1]
    harmony = [p for p in ranked if p != DRUMS and p not in BASS_PROGRAMS and p not in MELODY_PROGRAMS]
    return frozenset({DRUMS, *basses, *harmony[:MAX_HARMONY_PARTS]})


def track_swing(mood: str, seed: int) -> float:
    return round(min(0.62, max(0.54, MOOD_SWING[mood] + random.Random(seed).uniform(-SWING_NUDGE, SWING_NUDGE))), 3)


class Composer:
    def __init__(self, checkpoint: Checkpoint, threads: int = DECODE_THREADS, engine: str | None = None):
        self.checkpoint = checkpoint
        self.threads = threads
        self.engine_name = resolve(engine)  # None: settings' engine (LOFI_ENGINE), auto by default
        self.tok = LofiTokenizer.from_dict(checkpoint.tokenizer)

    def engine(self) -> Engine:
        """A fresh engine (its own KV cache) for one composition."""
        return load_engine(self.checkpoint, self.engine_name, threads=self.threads)

    def write(self, passes: list[Pass], sampling: SamplingConfig, generator: torch.Generator) -> list[Outcome]:
        """Each pass decoded until a try passes its gate (best of its tries otherwise), the passes side by
        side in one batch, one try of each at a time. Each try has its own seed, drawn in order from
        ``generator``, so the result does not depend on the order in which tries finish."""
        seeds = [torch.randint(2**62, (p.tries,), generator=generator).tolist() for p in passes]
        batch = DecodeBatch(self.engine())
        running: dict[int, int] = {}  # handle -> pass
        tried: list[list[tuple[list[int], list[str], float]]] = [[] for _ in passes]
        outcome: list[Outcome | None] = [None] * len(passes)

        def start(i: int) -> None:
            p = passes[i]
            retries = BAR_RETRIES if p.bar_check is not None else 0
            job = Continuation(p.prompt, p.bars, p.grammar, p.sampling or sampling, seeds[i][len(tried[i])],
                               p.infill, p.bar_check, retries)  # fmt: skip
            running[batch.add(job)] = i

        for i in range(len(passes)):
            start(i)
        while running:
            for handle, tokens in batch.step():
                i = running.pop(handle)
                problems, score = passes[i].check(tokens)
                tried[i].append((tokens, problems, score))
                rejected = [t[1] for t in tried[i] if t[1]]
                if not problems:
                    outcome[i] = Outcome(tokens, len(tried[i]), rejected, [])
                elif len(tried[i]) == passes[i].tries:
                    best = max(tried[i], key=lambda t: t[2])  # the first of equals
                    outcome[i] = Outcome(best[0], len(tried[i]), rejected, best[1])
                else:
                    start(i)
        return outcome  # type: ignore[return-value]

    def compose(self, request: ComposeRequest, progress: Progress | None = None) -> Composition:
        """The track ``request`` asks for; ``progress`` hears the share of the passes done and the last one."""
        with torch_threads(self.threads):
            return self._compose(request, progress or no_progress)

    # the passes ----------------------------------------------------------------------------------------

    def _bars(self, tokens: list[int], prefix: list[int], count: int) -> tuple[Score, list[Bar]]:
        score = self.tok.decode(prefix + tokens)
        return score, arrange.bars_of(score, count=count)

    def _as_played(self, tokens: list[int], prefix: list[int], count: int) -> tuple[Score, list[Bar]]:
        """A loop as the band will play it: the parts band() keeps, the others left out."""
        score, bars = self._bars(tokens, prefix, count)
        players = band(bars)
        score.tracks = [t for t in score.tracks if (DRUMS if t.is_drum else t.program) in players]
        bars = [{p: n for p, n in bar.items() if (DRUMS if p[1] else p[0]) in players} for bar in bars]
        return score, bars

    def _loop_pass(self, name: str, prompt: list[int], grammar: Grammar, request: ComposeRequest,
                   unlike: list | None = None) -> Pass:  # fmt: skip
        """A loop; ``unlike``: the chords (one a bar) of the first loop, which a later loop must not repeat."""
        prefix = prompt[:PREFIX_LEN]

        def check(tokens: list[int]) -> tuple[list[str], float]:
            score, bars = self._as_played(tokens, prefix, form.LOOP_BARS)
            problems, value = gate.loop_problems(score, bars, request.parsed_key)
            chords = detect_chords(score, per="bar")[: form.LOOP_BARS]
            if unlike is not None and sum(a != b for a, b in zip(chords, unlike, strict=False)) < 2:
                problems.append("the chords of the first loop")
                value -= 1
            return problems, value

        def bar_check(tokens: list[int]) -> bool:
            written = tokens.count(self.tok.bar_id)
            score, bars = self._as_played(tokens, prefix, written)
            return not gate.bar_problems(score, bars, written - 1)

        return Pass(name, prompt, form.LOOP_BARS, grammar, check, TRIES["loop"], bar_check=bar_check)

    def _fill_pass(self, name: str, prefix: list[int], loop_tokens: list[int], grammar: Grammar,
                   sampling: SamplingConfig) -> Pass:  # fmt: skip
        bars = split_bars(loop_tokens, self.tok.bar_id)
        given = drop_parts(self.tok, bars[-1], {DRUMS})
        context = prefix + loop_tokens + [t for bar in bars[:-1] for t in bar]
        plain = arrange.bars_of(self.tok.decode(prefix + bars[-1]), count=1)[0]

        def check(tokens: list[int]) -> tuple[list[str], float]:
            score, (fill,) = self._bars(tokens, prefix, 1)
            return gate.fill_problems(score, fill, plain)

        plan = InfillPlan(self.tok, given, {DRUMS}, grammar)
        # the whole distribution: the loop's own drum bar is the likeliest, a fill lives in the tail
        full = SamplingConfig(temperature=sampling.temperature, top_k=0, top_p=1.0)
        return Pass(name, context, 1, grammar, check, TRIES["fill"], plan, sampling=full)

    def _melody_pass(self, name: str, prefix: list[int], loop_tokens: list[int], grammar: Grammar,
                     programs: set[int], key: Key, sampling: SamplingConfig) -> Pass:  # fmt: skip
        bars = split_bars(loop_tokens, self.tok.bar_id)
        given = [t for bar in bars for t in drop_parts(self.tok, bar, MELODY_PROGRAMS)]
        context = prefix + [t for bar in bars[-2:] for t in bar]  # the model has heard the loop's turn
        chords = detect_chords(self.tok.decode(prefix + given), per="bar")

        def check(tokens: list[int]) -> tuple[list[str], float]:
            score, written = self._bars(tokens, prefix, len(bars))
            return gate.melody_problems(score, written, key, chords)

        def bar_check(tokens: list[int]) -> bool:
            count = tokens.count(self.tok.bar_id)
            score, written = self._bars(tokens, prefix, count)
            return not gate.melody_bar_problems(score, written, count - 1, chords)

        # at each point where a melody note may begin, the band's next given note is far likelier: the whole
        # distribution is sampled (no top-k or nucleus cut) and a melody note's odds are raised by
        # MELODY_BOOST, else the melody rarely begins at all; the gate keeps it sparse
        plan = InfillPlan(self.tok, given, programs, grammar, boost=MELODY_BOOST)
        full = SamplingConfig(temperature=sampling.temperature, top_k=0, top_p=1.0)
        return Pass(name, context, len(bars), grammar, check, TRIES["melody"], plan, bar_check, full)

    def _compose(self, request: ComposeRequest, progress: Progress) -> Composition:
        started = time.perf_counter()
        seed = request.seed if request.seed is not None else random.randrange(2**32)
        key, bpm = request.parsed_key, request.bpm
        generator = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)
        sampling = SamplingConfig(request.temperature, request.top_k, request.top_p)
        strict = key if request.strict_key else None
        prefix = self.tok.condition_ids(request.mood, key, bpm)
        sections = form.plan(request.total_bars)
        n_loops = max(s.loop for s in sections) + 1
        outcomes: dict[str, Outcome] = {}
        wanted = form.melodies(sections)
        total = 2 * n_loops + len(wanted)  # the passes: loops, fills, melodies

        def settled(name: str) -> None:
            progress(len(outcomes) / total, f"composing: {name} written")

        # 1. the first loop, then the others after it, with the band the first one chose
        body = prefix + (prompt_tokens(request.continue_from, self.tok) if request.continue_from else [])
        loop_grammar = Grammar(self.tok, strict, bpm, programs=LOOP_PROGRAMS, drums=KIT)
        (first,) = self.write([self._loop_pass("loop 1", body, loop_grammar, request)], sampling, generator)
        outcomes["loop 1"] = first
        settled("loop 1")
        if request.continue_from and first.problems:
            raise ValueError(
                f"cannot continue {request.continue_from}: after {first.tries} tries the continuation still has "
                f"{'; '.join(first.problems)} (a file with drums, a bass and chords continues best)"
            )
        players = band(self._bars(first.tokens, prefix, form.LOOP_BARS)[1])
        # the parts that did not make the band leave the loop: what follows hears what the track plays
        loop_tokens = [drop_parts(self.tok, first.tokens, set(PALETTE) - players)]
        band_grammar = Grammar(self.tok, strict, bpm, programs=players, drums=KIT)
        first_chords = detect_chords(self.tok.decode(prefix + loop_tokens[0]), per="bar")
        others = [self._loop_pass(f"loop {k + 1}", prefix + loop_tokens[0], band_grammar, request, first_chords)
                  for k in range(1, n_loops)]  # fmt: skip
        for p, outcome in zip(others, self.write(others, sampling, generator), strict=True):
            outcomes[p.name] = outcome
            loop_tokens.append(outcome.tokens)
            settled(p.name)

        # 2. a fill for every loop and the first melody; 3. the other melodies, on the first one's instrument
        melody_grammar = Grammar(self.tok, strict, bpm, programs=players | MELODY_PROGRAMS, drums=KIT)
        passes = [
            self._fill_pass(f"fill {k + 1}", prefix, t, band_grammar, sampling) for k, t in enumerate(loop_tokens)
        ]
        if wanted:
            loop, index = wanted[0]
            passes.append(self._melody_pass(f"melody {loop + 1}.{index + 1}", prefix, loop_tokens[loop],
                                            melody_grammar, set(MELODY_PROGRAMS), key, sampling))  # fmt: skip
        results = dict(zip((p.name for p in passes), self.write(passes, sampling, generator), strict=True))
        outcomes |= results
        settled(passes[-1].name)
        if len(wanted) > 1:
            chosen = self._melody_program(results[passes[-1].name], prefix, form.LOOP_BARS)
            rest = [self._melody_pass(f"melody {loop + 1}.{index + 1}", prefix, loop_tokens[loop], melody_grammar,
                                      {chosen}, key, sampling) for loop, index in wanted[1:]]  # fmt: skip
            outcomes |= dict(zip((p.name for p in rest), self.write(rest, sampling, generator), strict=True))
            settled(rest[-1].name)

        loops = self._materials(loop_tokens, outcomes, prefix, wanted, players)
        swing = request.swing if request.swing is not None else track_swing(request.mood, seed)
        score = arrange.swing(arrange.arrange(sections, loops, key, bpm), swing)
        return self._describe(request, seed, score, sections, swing, outcomes, started)

    def _melody_program(self, outcome: Outcome, prefix: list[int], bars: int) -> int:
        _, written = self._bars(outcome.tokens, prefix, bars)
        programs = [p for bar in written for (p, drum), ns in bar.items() if ns and p in MELODY_PROGRAMS]
        return max(set(programs), key=programs.count) if programs else min(MELODY_PROGRAMS)

    def _materials(self, loop_tokens: list[list[int]], outcomes: dict[str, Outcome], prefix: list[int],
                   wanted: list[tuple[int, int]], players: frozenset[int]) -> list[Loop]:  # fmt: skip
        loops = []
        for k, tokens in enumerate(loop_tokens):
            bars = self._bars(tokens, prefix, form.LOOP_BARS)[1]
            loop = Loop([{p: n for p, n in bar.items() if (DRUMS if p[1] else p[0]) in players} for bar in bars])
            fill = outcomes[f"fill {k + 1}"]
            if not fill.problems:
                written = self._bars(fill.tokens, prefix, 1)[1][0]
                loop.fill = {p: n for p, n in written.items() if role(p) == "drums"}
            loops.append(loop)
        for loop, index in wanted:
            melody = outcomes[f"melody {loop + 1}.{index + 1}"]
            if not melody.problems:
                written = self._bars(melody.tokens, prefix, form.LOOP_BARS)[1]
                loops[loop].melodies[index] = [{p: n for p, n in bar.items() if role(p) == "melody"} for bar in written]
        return loops

    def _describe(self, request: ComposeRequest, seed: int, score: Score, sections: list[form.Section],
                  swing: float, outcomes: dict[str, Outcome], started: float) -> Composition:  # fmt: skip
        key = request.parsed_key
        model_id = self.checkpoint.model_id
        track_id = f"{request.mood}-{key.slug}-{request.bpm}bpm-{seed}"
        review = [f"{name}: {'; '.join(o.problems)}" for name, o in outcomes.items()
                  if o.problems and name.startswith("loop")]  # fmt: skip
        left_out = [f"{name}: {'; '.join(o.problems)}" for name, o in outcomes.items()
                    if o.problems and not name.startswith("loop")]  # fmt: skip
        metadata = {
            "track_id": track_id,
            "request": request.to_dict(),
            "seed": seed,
            "model_id": model_id,
            "key": key.name,
            "bpm": request.bpm,
            "bars": request.total_bars,
            "duration_s": round(float(score.to("second").end()), 3),
            "form": [s.to_dict() for s in sections],
            "chords": [c.spelled(key.prefers_flats) if c else None for c in detect_chords(score, per="bar")],
            "swing": swing,
            "instruments": sorted({("drums" if t.is_drum else t.name) for t in score.tracks}),
            "programs": sorted({DRUMS if t.is_drum else t.program for t in score.tracks}),
            "generated_tokens": sum(len(o.tokens) for o in outcomes.values()),
            "tries": {name: o.tries for name, o in outcomes.items()},
            # the quality gate: what each rejected try got wrong, pass by pass (see lofi.compose.gate)
            "quality_gate": {name: o.rejected for name, o in outcomes.items()},
            # a loop that failed every try is kept, and the track says so; a fill or melody is left out
            "review": review,
            "left_out": left_out,
            # the seed actually used, so a track composed with a random seed can be found again
            "fingerprint": replace(request, seed=seed).fingerprint(model_id),
            "engine": self.engine_name,
            "timings_s": {"compose": round(time.perf_counter() - started, 3)},
        }
        return Composition(score, track_id, seed, metadata)
