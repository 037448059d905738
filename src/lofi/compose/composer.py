"""From a request to an arranged Score: generate the materials, lay them out, describe the result."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field, replace

import torch
from symusic import Score

from lofi.analysis.metrics import compute_metrics, outside
from lofi.compose import arrange, form
from lofi.compose.prompt import prompt_tokens
from lofi.compose.request import ComposeRequest
from lofi.instruments import BASS_PROGRAMS, DRUMS
from lofi.model.checkpoint import Checkpoint
from lofi.model.constraints import Grammar
from lofi.model.engines import Engine, load_engine, resolve
from lofi.model.generate import Continuation, DecodeBatch
from lofi.model.runtime import DECODE_THREADS, torch_threads
from lofi.model.sampling import SamplingConfig
from lofi.theory import detect_chords
from lofi.tokens.tokenizer import LofiTokenizer

MAX_TRIES = 4  # a section that is not full is generated again, best of this many
# tries of a section decoded side by side; later ones start only if these fail. One: a step's cost grows
# with its rows (reading each row's KV cache dominates at long contexts), and most first tries pass, so
# speculative tries cost more than they save (6 one-minute tracks: 65 s at one, 85 s at two, onnx-int8)
TRIES_AT_ONCE = 1
MAX_PITCHED_PARTS = 4  # a lo-fi band: drums and at most this many pitched parts, set by section A


@dataclass
class Composition:
    score: Score
    track_id: str
    seed: int
    metadata: dict = field(default_factory=dict)


def _split_bars(tokens: list[int], bar_id: int) -> list[list[int]]:
    bars: list[list[int]] = []
    for t in tokens:
        if t == bar_id or not bars:
            bars.append([])
        bars[-1].append(t)
    return bars


def ensemble(score: Score, size: int = MAX_PITCHED_PARTS) -> frozenset[int]:
    """Drums and the busiest pitched parts of a section (a bass always among them when there is one)."""
    counts = {t.program: len(t.notes) for t in score.tracks if not t.is_drum and len(t.notes)}
    ranked = sorted(counts, key=lambda p: (-counts[p], p))
    chosen = ranked[:size]
    basses = [p for p in ranked if p in BASS_PROGRAMS]
    if basses and not BASS_PROGRAMS & set(chosen):
        chosen = [*chosen[: size - 1], basses[0]]
    return frozenset({DRUMS, *chosen})


# The quality gate: a section outside these ranges is generated again. They are the corpus's 5th-95th
# percentile ranges (lofi.analysis.metrics.TYPICAL_RANGES) widened for a section of a few bars, so the
# gate catches failures (silent beats, a line stuck on a few notes), not merely unusual material.
GATE = {
    "empty_beat_rate": (0.0, 0.125),
    "pitch_range": (24.0, 88.0),
    "pitch_class_entropy": (2.0, 3.59),
    "scale_consistency": (0.8, 1.0),
}
MIN_NOTES_PER_BAR = 4  # a bar with fewer pitched notes reads as a gap in a lo-fi loop
FULL_SHARE = 0.75  # share of bars that must have drums and be filled for a section to pass


def section_quality(score: Score, bars: int) -> tuple[list[str], float]:
    """What is wrong with a section (empty: nothing), and a score to pick the best of several tries.

    Full: drums in most bars, most bars filled with pitched notes, at least two pitched parts; and the
    quality gate's metrics inside their ranges.
    """
    bar_ticks = 4 * score.tpq
    drum_bars: set[int] = set()
    pitched_per_bar = [0] * bars
    parts = 0
    for track in score.tracks:
        if not len(track.notes):
            continue
        parts += not track.is_drum
        for note in track.notes:
            index = note.time // bar_ticks
            if index >= bars:
                continue
            if track.is_drum:
                drum_bars.add(index)
            else:
                pitched_per_bar[index] += 1
    drums = len(drum_bars) / bars
    filled = sum(n >= MIN_NOTES_PER_BAR for n in pitched_per_bar) / bars
    problems = outside(compute_metrics(score.clip(0, bars * bar_ticks), ranges={}), GATE)
    problems += [name for name, ok in (("drums", drums >= FULL_SHARE), ("filled", filled >= FULL_SHARE),
                                       ("parts", parts >= 2)) if not ok]  # fmt: skip
    return problems, drums + filled + min(parts, 3) / 3 - len(problems)


class Composer:
    def __init__(self, checkpoint: Checkpoint, threads: int = DECODE_THREADS, engine: str | None = None):
        self.checkpoint = checkpoint
        self.threads = threads
        self.engine_name = resolve(engine)  # None: settings' engine (LOFI_ENGINE), auto by default
        self.tok = LofiTokenizer.from_dict(checkpoint.tokenizer)

    def _sections(
        self, sections: list[tuple[list[int], int, Grammar]], sampling: SamplingConfig, generator: torch.Generator
    ) -> list[tuple[list[int], dict]]:
        """Tokens of each (prompt, bars, grammar), generated again until they pass section_quality, best of
        MAX_TRIES; and what happened: the tries and what each rejected try got wrong.

        The sections (and their running tries) decode together in one batch. Each try has its own seed, drawn in
        order from ``generator``, and the first try (in order) that passes wins, so the result does not
        depend on which try happens to finish first.
        """
        seeds = [torch.randint(2**62, (MAX_TRIES,), generator=generator).tolist() for _ in sections]
        batch = DecodeBatch(self.engine())
        running: dict[int, tuple[int, int]] = {}  # handle -> (section, try)
        done: list[dict[int, tuple[list[int], list[str], float]]] = [{} for _ in sections]
        outcome: list[tuple[list[int], dict] | None] = [None] * len(sections)
        started = [0] * len(sections)

        def top_up(s: int) -> None:
            while started[s] < MAX_TRIES and sum(r[0] == s for r in running.values()) < TRIES_AT_ONCE:
                prompt, bars, grammar = sections[s]
                job = Continuation(prompt, bars, grammar, sampling, seeds[s][started[s]])
                running[batch.add(job)] = (s, started[s])
                started[s] += 1

        def settle(s: int) -> None:
            rejected = []
            for attempt in range(MAX_TRIES):
                if attempt not in done[s]:
                    return
                tokens, problems, _ = done[s][attempt]
                if not problems:
                    outcome[s] = tokens, {"tries": attempt + 1, "rejected": rejected}
                    break
                rejected.append(problems)
            else:
                best = max(range(MAX_TRIES), key=lambda a: done[s][a][2])  # the first of equals
                outcome[s] = done[s][best][0], {"tries": MAX_TRIES, "rejected": rejected}
            for handle in [h for h, (section, _) in running.items() if section == s]:
                batch.cancel(handle)
                del running[handle]

        for s in range(len(sections)):
            top_up(s)
        while any(o is None for o in outcome):
            for handle, tokens in batch.step():
                if handle not in running:  # a try of a section settled earlier in this same step
                    continue
                s, attempt = running.pop(handle)
                prompt, bars, _ = sections[s]
                problems, score = section_quality(self.tok.decode(prompt[:4] + tokens), bars)
                done[s][attempt] = tokens, problems, score
                settle(s)
                if outcome[s] is None:
                    top_up(s)
        return outcome  # type: ignore[return-value]

    def engine(self) -> Engine:
        """A fresh engine (its own KV cache) for one composition."""
        return load_engine(self.checkpoint, self.engine_name, threads=self.threads)

    def compose(self, request: ComposeRequest) -> Composition:
        with torch_threads(self.threads):
            return self._compose(request)

    def _compose(self, request: ComposeRequest) -> Composition:
        started = time.perf_counter()
        seed = request.seed if request.seed is not None else random.randrange(2**32)
        key, bpm = request.parsed_key, request.bpm
        generator = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)
        sampling = SamplingConfig(request.temperature, request.top_k, request.top_p)
        grammar = Grammar(self.tok, key if request.strict_key else None, bpm)
        prefix = self.tok.condition_ids(request.mood, key, bpm)
        slots = form.plan(request.total_bars)
        length = max(s.bars for s in slots if s.drums)
        half = length // 2
        tries = {}

        body = prefix + (prompt_tokens(request.continue_from, self.tok) if request.continue_from else [])
        ((a_tokens, tries["A"]),) = self._sections([(body, length, grammar)], sampling, generator)
        # the band A chose plays the rest of the track
        band = ensemble(self.tok.decode(prefix + a_tokens))
        grammar = Grammar(self.tok, key if request.strict_key else None, bpm, programs=band)
        a_bars = _split_bars(a_tokens, self.tok.bar_id)
        kept = [t for bar in a_bars[:half] for t in bar]
        # B and A' both follow from A alone: they decode together
        (b_tokens, tries["B"]), (varied, tries["A'"]) = self._sections(
            [(body + a_tokens, length, grammar), (prefix + kept, length - half, grammar)], sampling, generator
        )
        token_materials = {"A": a_tokens, "B": b_tokens, "A'": kept + varied}
        materials = {
            name: arrange.bars_of(self.tok.decode(prefix + tokens), keep=band)
            for name, tokens in token_materials.items()
        }
        score = arrange.arrange(slots, materials, key, bpm)
        seconds = float(score.to("second").end())
        chords = [c.symbol if c else None for c in detect_chords(score, per="bar")]
        model_id = self.checkpoint.model_id
        track_id = f"{request.mood}-{key.token.lower().replace('_', '-')}-{bpm}bpm-{seed}"
        metadata = {
            "track_id": track_id,
            "request": request.to_dict(),
            "seed": seed,
            "model_id": model_id,
            "key": key.name,
            "bpm": bpm,
            "bars": request.total_bars,
            "duration_s": round(seconds, 3),
            "form": [{"section": s.name, "bars": s.bars, "drums": s.drums} for s in slots],
            "chords": chords,
            "instruments": sorted({("drums" if t.is_drum else t.name) for t in score.tracks}),
            "programs": sorted({DRUMS if t.is_drum else t.program for t in score.tracks}),
            "generated_tokens": sum(len(t) for t in (a_tokens, b_tokens, varied)),
            "section_tries": {name: t["tries"] for name, t in tries.items()},
            # the quality gate: what each section's rejected tries got wrong (see section_quality)
            "quality_gate": {name: t["rejected"] for name, t in tries.items()},
            # the seed actually used, so a track composed with a random seed can be found again
            "fingerprint": replace(request, seed=seed).fingerprint(model_id),
            "engine": self.engine_name,
            "timings_s": {"compose": round(time.perf_counter() - started, 3)},
        }
        return Composition(score, track_id, seed, metadata)
