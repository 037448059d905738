"""Decoding speed of each inference engine against transformers' ``generate()``, on the default model.

Baseline, measured in the same run: ``GPT2LMHeadModel.generate()`` with its KV cache, sampling with the
same top-k and top-p. Engines decode through lofi.model.generate (grammar, repetition guard, sampling
included) from the same condition prefix. Then the wall time to compose a 3-minute track (A, then B
and A' together, tries batched) per engine, and the quality check: `lofi eval` metrics of tracks from
the int8 and pruned models against fp32 ones (mean over seeds; tolerance: each metric within 15% of
its typical range, lofi.analysis.metrics.TYPICAL_RANGES).
"""

from __future__ import annotations

import statistics
import time

import torch

from common import machine, write_section
from lofi.analysis.metrics import TYPICAL_RANGES, compute_metrics
from lofi.compose import Composer, ComposeRequest
from lofi.model import load_checkpoint
from lofi.model.constraints import Grammar
from lofi.model.engines import available, load_engine, resolve
from lofi.model.engines.lean import LeanEngine
from lofi.model.generate import Continuation, decode
from lofi.model.prune import prune_magnitude
from lofi.settings import get_settings
from lofi.theory import Key
from lofi.tokens.tokenizer import LofiTokenizer

THREADS = 1  # the decode default (lofi.model.runtime); the machine is shared while benchmarks run
NEW_TOKENS = 256
ENGINES = ("hf", "lean", "lean-int8", "onnx", "onnx-int8")
TOLERANCE = 0.15  # of each metric's typical range
QUALITY_SEEDS = tuple(range(1, 9))
CONTROL_SEEDS = tuple(range(101, 109))  # fp32 again on other seeds: how far chance alone moves the means


def baseline(model, prefix: list[int], batch: int) -> float:
    x = torch.tensor([prefix] * batch)
    kwargs = {"do_sample": True, "top_k": 24, "top_p": 0.95, "pad_token_id": 0, "attention_mask": torch.ones_like(x)}
    model.generate(x, max_new_tokens=8, min_new_tokens=8, **kwargs)  # warm-up
    start = time.perf_counter()
    model.generate(x, max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS, **kwargs)
    return batch * NEW_TOKENS / (time.perf_counter() - start)


def engine_rate(engine, prefix: list[int], grammar: Grammar, batch: int) -> float:
    decode(engine, [Continuation(prefix, 1, grammar, seed=0)])  # warm-up (and the ONNX export)
    jobs = [Continuation(prefix, 2, grammar, seed=s) for s in range(batch)]
    start = time.perf_counter()
    out = decode(engine, jobs)
    return sum(len(t) for t in out) / (time.perf_counter() - start)


def compose_s(composer: Composer, minutes: float, seed: int = 7) -> tuple[float, object]:
    request = ComposeRequest(mood="rainy", bpm=72, key="D minor", minutes=minutes, seed=seed)
    start = time.perf_counter()
    result = composer.compose(request)
    return time.perf_counter() - start, result


def quality(checkpoint, make_engine, seeds: tuple[int, ...] = QUALITY_SEEDS) -> dict[str, float]:
    composer = Composer(checkpoint, THREADS, engine="lean")
    composer.engine = make_engine
    rows = [compute_metrics(compose_s(composer, 1.0, seed)[1].score, Key.parse("D minor")) for seed in seeds]
    return {name: statistics.mean(getattr(m, name) for m in rows) for name in TYPICAL_RANGES}


def main() -> None:
    torch.set_num_threads(THREADS)
    checkpoint = load_checkpoint(get_settings().default_model)
    tok = LofiTokenizer.from_dict(checkpoint.tokenizer)
    key = Key.parse("D minor")
    grammar = Grammar(tok, key, 72)
    prefix = tok.condition_ids("rainy", key, 72)
    engines = [name for name in ENGINES if available(name)]

    rates = {"generate() (baseline)": [baseline(checkpoint.model, prefix, b) for b in (1, 8)]}
    for name in engines:
        rates[name] = [engine_rate(load_engine(checkpoint, name), prefix, grammar, b) for b in (1, 8)]
        print(name, rates[name])
    base = rates["generate() (baseline)"]
    lines = ["| engine | tokens/s, batch 1 | vs baseline | tokens/s, batch 8 | vs baseline |", "|---|---|---|---|---|"]
    lines += [
        f"| {n} | {r[0]:.0f} | {r[0] / base[0]:.1f}x | {r[1]:.0f} | {r[1] / base[1]:.1f}x |" for n, r in rates.items()
    ]

    compose_rows = ["| engine | 3-minute track, s | generated tokens | tries |", "|---|---|---|---|"]
    for name in ("hf", resolve("auto"), "lean-int8"):
        seconds, result = compose_s(Composer(checkpoint, THREADS, engine=name), 3.0)
        meta = result.metadata
        compose_rows.append(f"| {name} | {seconds:.1f} | {meta['generated_tokens']} | {meta['section_tries']} |")
        print(compose_rows[-1])

    reference = quality(checkpoint, lambda: LeanEngine(checkpoint.model))
    variants = {
        "fp32, other seeds (control)": lambda: LeanEngine(checkpoint.model),
        "lean-int8": lambda: load_engine(checkpoint, "lean-int8"),
        "pruned 30%": (lambda m: lambda: LeanEngine(m))(prune_magnitude(checkpoint.model, 0.3)),
        "pruned 60%": (lambda m: lambda: LeanEngine(m))(prune_magnitude(checkpoint.model, 0.6)),
    }
    names = list(TYPICAL_RANGES)
    quality_rows = ["| model | " + " | ".join(names) + " | within tolerance |", "|---" * (len(names) + 2) + "|"]
    quality_rows.append("| fp32 | " + " | ".join(f"{reference[n]:.3g}" for n in names) + " | - |")
    for label, make in variants.items():
        got = quality(checkpoint, make, CONTROL_SEEDS if "control" in label else QUALITY_SEEDS)
        ok = all(abs(got[n] - reference[n]) <= TOLERANCE * (TYPICAL_RANGES[n][1] - TYPICAL_RANGES[n][0]) for n in names)
        quality_rows.append(
            f"| {label} | " + " | ".join(f"{got[n]:.3g}" for n in names) + f" | {'yes' if ok else 'no'} |"
        )
        print(quality_rows[-1])

    body = f"""Default model ({checkpoint.model_id}), {THREADS} torch/onnxruntime thread, {machine()}.
Tokens/s: {NEW_TOKENS} new tokens from the condition prefix for the baseline; two bars per row for
the engines (grammar, repetition guard and sampling included). Absolute rates move with whatever
else the machine runs: compare ratios within this table only.

{chr(10).join(lines)}

Composing a 3-minute track (rainy, D minor, 72 BPM, seed 7; `auto` is {resolve("auto")}):

{chr(10).join(compose_rows)}

Quality: mean `lofi eval` metrics of {len(QUALITY_SEEDS)} one-minute tracks per model (seeds
{QUALITY_SEEDS[0]}-{QUALITY_SEEDS[-1]}); tolerance: each metric within {TOLERANCE:.0%} of its typical range of the
fp32 model's mean. The control row is the fp32 model on {len(CONTROL_SEEDS)} other seeds: how far chance alone
moves the means.

{chr(10).join(quality_rows)}

No GPU was lent for this run: the lean-fp16 / lean-bf16 engines (CUDA only) are not measured.
"""
    write_section("generate", body)


if __name__ == "__main__":
    main()
