"""Originality check: query latency against an index of 10,000 melodies, next to brute-force alignment.

    python bench/originality.py [--melodies 10000] [--queries 40] [--brute 3]

The melodies are synthetic random walks (folk-like steps, leaps and rhythms, 100-250 notes), which is
enough for the index's size and speed. Queries are half planted copies (32 notes of a reference,
transposed, slower, one changed note, one ornament, inside an unrelated melody) and half unrelated
melodies. The baseline aligns each query against every reference with the same scoring, which is
what the index's candidate retrieval avoids; a few of its queries are timed and compared with the
index's answers.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from common import timed, write_section
from lofi.analysis.melody import Line
from lofi.analysis.originality import CANDIDATES, OriginalityIndex, Reference, check_lines, verdict_for

TARGET_MS = 50.0
DURATIONS = np.array([0.25, 0.5, 0.5, 0.5, 0.5, 0.75, 1.0, 1.0, 1.5, 2.0])  # beats
STEPS = np.array([-7, -5, -4, -3, -2, -2, -1, -1, 0, 1, 1, 2, 2, 3, 4, 5, 7])


def random_melody(rng: np.random.Generator, notes: int, bpm: float = 90.0) -> Line:
    beats = rng.choice(DURATIONS, notes)
    onsets = np.concatenate(([0.0], np.cumsum(beats[:-1])))
    pitches, pitch = [], int(rng.integers(60, 72))
    for step in rng.choice(STEPS, notes):
        pitch += step if 55 <= pitch + step <= 84 else -step  # bounce off the register's edges
        pitches.append(pitch)
    return Line.from_notes(onsets * 60 / bpm, beats * 60 / bpm, pitches)


def planted(rng: np.random.Generator, ref: Line, host: Line, length: int = 32) -> Line:
    """``length`` notes of ``ref`` a fourth up and 1.5x slower, one note changed, one ornament, in ``host``."""
    start = int(rng.integers(0, len(ref) - length))
    on = (ref.onsets_s[start : start + length] - ref.onsets_s[start]) * 1.5
    du = ref.durations_s[start : start + length] * 1.5
    pitch = ref.pitches[start : start + length].astype(int) + 5
    pitch[10] += 1
    grace = 0.25 * (on[21] - on[20])
    on = np.insert(on, 20, on[20])
    du = np.insert(du, 20, grace)
    pitch = np.insert(pitch, 20, pitch[20] + 2)
    on[21] += grace
    at = len(host) // 2
    offset = host.onsets_s[at]
    shift = on[-1] + du[-1]
    return Line.from_notes(
        np.concatenate([host.onsets_s[:at], on + offset, host.onsets_s[at:] + shift]),
        np.concatenate([host.durations_s[:at], du, host.durations_s[at:]]),
        np.concatenate([host.pitches[:at], pitch, host.pitches[at:]]),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--melodies", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=40)
    parser.add_argument("--brute", type=int, default=4, help="queries also answered by brute force")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)

    lines = [random_melody(rng, int(rng.integers(100, 251))) for _ in range(args.melodies)]
    refs = [Reference(f"synthetic/{i:05d}", "synthetic") for i in range(len(lines))]
    build_s, index = timed(lambda: OriginalityIndex.build(zip(refs, lines, strict=True)), repeat=1)
    notes = sum(len(line) for line in lines)
    with tempfile.TemporaryDirectory() as tmp:
        path = index.save(Path(tmp) / "index.npz")
        size_mb = path.stat().st_size / 1e6
        load_s, index = timed(lambda: OriginalityIndex.load(path), repeat=3)

    queries, sources = [], []
    for n in range(args.queries):
        host = random_melody(rng, int(rng.integers(100, 251)))
        if n % 2 == 0:
            source = int(rng.integers(len(lines)))
            queries.append(planted(rng, lines[source], host))
            sources.append(refs[source].id)
        else:
            queries.append(host)
            sources.append(None)
    index.search(queries[0])  # first call builds the information tables
    latencies, verdicts = [], []
    for line in queries:
        start = time.perf_counter()
        verdicts.append(check_lines([line], index))
        latencies.append(1000 * (time.perf_counter() - start))
    flagged_right = sum(
        v.flagged and v.match.reference.id == s for v, s in zip(verdicts, sources, strict=True) if s
    ) / max(1, sum(s is not None for s in sources))
    false_flags = sum(v.flagged for v, s in zip(verdicts, sources, strict=True) if s is None)

    brute_ms, same_verdict, same_best = [], 0, 0
    for line, verdict in zip(queries[: args.brute], verdicts, strict=False):
        start = time.perf_counter()
        slow = index.brute_force(line)
        brute_ms.append(1000 * (time.perf_counter() - start))
        slow_score = slow.score if slow else 0.0
        same_verdict += verdict_for(slow_score) == verdict.verdict
        found = verdict.match
        same_best += bool(slow and found and slow.reference == found.reference and abs(slow.score - found.score) < 1e-6)

    median_ms = statistics.median(latencies)
    p90_ms = float(np.percentile(latencies, 90))
    brute = statistics.median(brute_ms) if brute_ms else float("nan")
    body = f"""
Query latency of the originality check (`check_lines`, one line: candidate retrieval from the inverted
index, then banded alignment of the best {CANDIDATES} candidates) against {args.melodies:,} synthetic melodies
({notes:,} notes), next to the baseline: full local alignment of the query against every reference with
the same scoring (`OriginalityIndex.brute_force`). Queries are 100-250-note melodies, half of them
holding a planted 32-note copy (transposed, slower, one changed note, one ornament).

| | median | p90 |
|---|---|---|
| index query | {median_ms:.1f} ms | {p90_ms:.1f} ms |
| brute-force alignment (baseline, {len(brute_ms)} queries) | {brute:,.0f} ms | |

- Target: a query answers in under {TARGET_MS:.0f} ms: **{"met" if median_ms < TARGET_MS else "not met"}**
  (median; p90 {p90_ms:.1f} ms). Speed-up over the baseline: {brute / median_ms:,.0f}x.
- Same verdict as brute force: {same_verdict} of {len(brute_ms)} queries (alternately planted and unrelated);
  same best reference and score: {same_best}. (An unrelated query's best chance match may share no
  5-note fingerprint with the query; the index then reports a lower score, still `clear`.)
- Planted copies flagged with their source: {100 * flagged_right:.0f}%; unrelated melodies flagged:
  {false_flags} of {sum(s is None for s in sources)}.
- Building the index: {build_s:.1f} s; file {size_mb:.1f} MB; loading it: {1000 * load_s:.0f} ms.
"""
    write_section("originality", body)
    print(body)


if __name__ == "__main__":
    main()
