"""Decoding speed of each inference engine against transformers' ``generate()``, on the default model.

Baseline, measured in the same run: ``GPT2LMHeadModel.generate()`` with its KV cache, sampling with the
same top-k and top-p. Engines decode through lofi.model.generate (grammar, repetition guard, sampling
included) from the same condition prefix. Each rate is the median of REPEAT runs, the baseline's and
the engines' interleaved, so a slow moment of the machine falls on all of them alike. Then the wall
time to compose a 3-minute track per engine, and the quality check of the int8 and pruned models.

Quality: `lofi eval` metrics of one-minute tracks, SEEDS_PER_MODEL per model, against the fp32 model's
tracks on the same seeds. A metric differs when both hold: a permutation test of the difference of
means rejects at the 5% family-wise level (Bonferroni over the metrics), and the difference is larger
than TOLERANCE of the metric's typical range (lofi.analysis.metrics.TYPICAL_RANGES). A model is within
tolerance when no metric differs. The control row is the fp32 model on other seeds: the rule must not
fire on chance alone.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from common import machine, write_section
from lofi.analysis.figures import compute_figures
from lofi.analysis.metrics import CPI_NGRAM, TYPICAL_RANGES, compute_metrics, range_width
from lofi.compose import Composer, ComposeRequest
from lofi.model import load_checkpoint
from lofi.model.constraints import Grammar
from lofi.model.engines import available, load_engine, resolve
from lofi.model.engines.onnx import OnnxEngine, export_onnx
from lofi.model.generate import Continuation, decode
from lofi.settings import get_settings
from lofi.theory import Key
from lofi.tokens.tokenizer import LofiTokenizer
from prune import prune_magnitude, sparsity

THREADS = 1  # the decode default (lofi.model.runtime); the machine is shared while benchmarks run
NEW_TOKENS = 256
REPEAT = 3
ENGINES = ("hf", "lean", "lean-int8", "onnx", "onnx-int8")
TOLERANCE = 0.15  # of each metric's typical range
SEEDS_PER_MODEL = 24
QUALITY_SEEDS = tuple(range(1, 1 + SEEDS_PER_MODEL))
CONTROL_SEEDS = tuple(range(101, 101 + SEEDS_PER_MODEL))  # fp32 again on other seeds: chance alone
FAMILY_ALPHA = 0.05
PERMUTATIONS = 4000
LOFI_TARGETS = "lo-fi targets met"  # share of the tracks meeting every target of lofi.analysis.figures
COMPOSE_S = "s per track"  # mean wall time to compose one of the one-minute tracks, the gate's retries included


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


def quality(checkpoint, make_engine, seeds: tuple[int, ...]) -> dict[str, list[float]]:
    """Each metric's values over one-minute tracks composed with ``make_engine`` on ``seeds``, under
    LOFI_TARGETS whether each track meets every lo-fi target (1.0) or not (0.0), and under COMPOSE_S the
    seconds each took to compose."""
    composer = Composer(checkpoint, THREADS, engine="lean")
    composer.engine = make_engine
    key = Key.parse("D minor")
    timed = [compose_s(composer, 1.0, seed) for seed in seeds]
    tracks = [track for _, track in timed]
    rows = [compute_metrics(t.score, key) for t in tracks]
    out = {name: [getattr(m, name) for m in rows] for name in TYPICAL_RANGES}
    met = [not compute_figures(t.score, t.metadata["form"], t.metadata["chords"], key).failures() for t in tracks]
    return out | {LOFI_TARGETS: [float(m) for m in met], COMPOSE_S: [seconds for seconds, _ in timed]}


def finite(values: list[float]) -> list[float]:
    """The defined values: a metric such as chord_irregularity is NaN for a track with too few chords."""
    return [v for v in values if np.isfinite(v)]


def mean(values: list[float]) -> float:
    return float(np.mean(finite(values))) if finite(values) else float("nan")


def permutation_p(a: list[float], b: list[float], rng: np.random.Generator) -> float:
    """Two-sided p-value of the difference of means of ``a`` and ``b`` under random relabelling."""
    a, b = finite(a), finite(b)
    pooled = np.array(a + b, dtype=float)
    observed = abs(np.mean(a) - np.mean(b)) if a and b else float("nan")
    if not np.isfinite(observed):
        return float("nan")
    labels = np.argsort(rng.random((PERMUTATIONS, len(pooled))), axis=1) < len(a)
    sums = (labels * pooled).sum(axis=1)
    diffs = np.abs(sums / len(a) - (pooled.sum() - sums) / len(b))
    return float((1 + (diffs >= observed - 1e-12).sum()) / (1 + PERMUTATIONS))


def differing(reference: dict[str, list[float]], got: dict[str, list[float]], rng: np.random.Generator) -> list[str]:
    """The metrics on which ``got`` differs from ``reference`` (see the module's docstring)."""
    alpha = FAMILY_ALPHA / len(reference)
    out = []
    for name, (low, high) in TYPICAL_RANGES.items():
        gap = abs(mean(got[name]) - mean(reference[name]))
        if gap > TOLERANCE * range_width(low, high) and permutation_p(reference[name], got[name], rng) < alpha:
            out.append(name)
    return out


def pruned(model, fraction: float):
    """``model`` with ``fraction`` of its projection weights zeroed, checked before it is measured."""
    out = prune_magnitude(model, fraction)
    if abs(sparsity(out) - fraction) > 0.01:
        raise RuntimeError(f"pruning zeroed {sparsity(out):.3f} of the weights, not {fraction}")
    return out


def onnx_of(model, folder: Path, quantize: str | None = None):
    """A maker of ONNX engines for ``model`` (exported into ``folder``): fast enough to compose many tracks."""
    paths = export_onnx(model, folder, quantize)
    return lambda: OnnxEngine(paths, model.config, threads=THREADS)


def main() -> None:
    torch.set_num_threads(THREADS)
    checkpoint = load_checkpoint(get_settings().default_model)
    tok = LofiTokenizer.from_dict(checkpoint.tokenizer)
    key = Key.parse("D minor")
    grammar = Grammar(tok, key, 72)
    prefix = tok.condition_ids("rainy", key, 72)
    engines = {name: load_engine(checkpoint, name) for name in ENGINES if available(name)}

    samples: dict[str, list[list[float]]] = {"generate() (baseline)": [[], []], **{n: [[], []] for n in engines}}
    for _ in range(REPEAT):
        for i, batch in enumerate((1, 8)):
            samples["generate() (baseline)"][i].append(baseline(checkpoint.model, prefix, batch))
            for name, engine in engines.items():
                samples[name][i].append(engine_rate(engine, prefix, grammar, batch))
    rates = {name: [statistics.median(s) for s in pair] for name, pair in samples.items()}
    base = rates["generate() (baseline)"]
    lines = ["| engine | tokens/s, batch 1 | vs baseline | tokens/s, batch 8 | vs baseline |", "|---|---|---|---|---|"]
    lines += [
        f"| {n} | {r[0]:.0f} | {r[0] / base[0]:.1f}x | {r[1]:.0f} | {r[1] / base[1]:.1f}x |" for n, r in rates.items()
    ]
    print("\n".join(lines))

    compose_rows = [
        "| engine | 3-minute track, s | generated tokens | tries per pass | lo-fi targets missed |",
        "|---|---|---|---|---|",
    ]
    for name in ("hf", "lean", "onnx", "onnx-int8"):
        if not available(name):
            continue
        seconds, result = compose_s(Composer(checkpoint, THREADS, engine=name), 3.0)
        meta = result.metadata
        misses = compute_figures(result.score, meta["form"], meta["chords"], key).failures()
        tries = ", ".join(f"{k} {v}" for k, v in meta["tries"].items())
        compose_rows.append(
            f"| {name} | {seconds:.1f} | {meta['generated_tokens']} | {tries} | {', '.join(misses) or 'none'} |"
        )
        print(compose_rows[-1])

    rng = np.random.default_rng(0)
    names = list(TYPICAL_RANGES)
    quality_rows = [
        "| model | " + " | ".join(names) + f" | {LOFI_TARGETS} | {COMPOSE_S} | metrics that differ |",
        "|---" * (len(names) + 4) + "|",
    ]

    def share(values: dict[str, list[float]]) -> str:
        return f"{int(sum(values[LOFI_TARGETS]))} of {len(values[LOFI_TARGETS])}"

    with tempfile.TemporaryDirectory() as tmp:
        fp32 = onnx_of(checkpoint.model, Path(tmp) / "fp32")
        reference = quality(checkpoint, fp32, QUALITY_SEEDS)
        quality_rows.append(
            "| fp32 | "
            + " | ".join(f"{mean(reference[n]):.3g}" for n in names)
            + f" | {share(reference)} | {mean(reference[COMPOSE_S]):.1f} | - |"
        )
        variants = {
            "fp32, other seeds (control)": (fp32, CONTROL_SEEDS),
            "onnx-int8": (onnx_of(checkpoint.model, Path(tmp) / "fp32", "int8"), QUALITY_SEEDS),
            "lean-int8": (lambda: load_engine(checkpoint, "lean-int8"), QUALITY_SEEDS),
            "pruned 30%": (onnx_of(pruned(checkpoint.model, 0.3), Path(tmp) / "p30"), QUALITY_SEEDS),
            "pruned 60%": (onnx_of(pruned(checkpoint.model, 0.6), Path(tmp) / "p60"), QUALITY_SEEDS),
        }
        for label, (make, seeds) in variants.items():
            got = quality(checkpoint, make, seeds)
            verdict = ", ".join(differing(reference, got, rng)) or "none"
            means = " | ".join(f"{mean(got[n]):.3g}" for n in names)
            quality_rows.append(f"| {label} | {means} | {share(got)} | {mean(got[COMPOSE_S]):.1f} | {verdict} |")
            print(quality_rows[-1])

    body = f"""Default model ({checkpoint.model_id}), {THREADS} torch/onnxruntime thread, {machine()}.
Tokens/s: {NEW_TOKENS} new tokens from the condition prefix for the baseline; two bars per row for
the engines (grammar, repetition guard and sampling included); each the median of {REPEAT} interleaved
runs. Absolute rates move with whatever else the machine runs: compare ratios within this table only.

{chr(10).join(lines)}

Composing a 3-minute track (rainy, D minor, 72 BPM, seed 7; `auto` is {resolve("auto")}). Tracks differ
between fp32 and int8 engines (the logits differ slightly), so the quality gate's retries differ too: one
track's tries decide its time, and the quality table's mean time per track below is the fairer comparison.

{chr(10).join(compose_rows)}

Quality: mean `lofi eval` metrics of {SEEDS_PER_MODEL} one-minute tracks per model (seeds
{QUALITY_SEEDS[0]}-{QUALITY_SEEDS[-1]}; the control: {CONTROL_SEEDS[0]}-{CONTROL_SEEDS[-1]}).
A metric differs from fp32 when a permutation test of the means rejects at {FAMILY_ALPHA:.0%} family-wise
(Bonferroni over {len(names)} metrics) and the gap is over {TOLERANCE:.0%} of the metric's typical range.
The control must show none. "{LOFI_TARGETS}": the tracks that meet every target of the lo-fi figures
(lofi.analysis.figures; the composer's quality gate retries what misses). "{COMPOSE_S}": the mean wall time to
compose one of them, the gate's retries included (the quality gate's tries are where a faster engine can lose
its lead); the quality runs use ONNX engines, the lean-int8 row torch's. A metric undefined for a track
(chord_irregularity needs {CPI_NGRAM} chord changes) is left out of its mean and of its test.

{chr(10).join(quality_rows)}

No GPU was lent for this run: the lean-fp16 / lean-bf16 engines (CUDA only) are not measured.
"""
    write_section("generate", body)


if __name__ == "__main__":
    main()
