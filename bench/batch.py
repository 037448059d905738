"""Tracks per hour on this machine: `lofi batch` with one worker (the baseline) and with two.

Each run makes the same TRACKS one-minute tracks (same moods, keys, tempos and seeds: the work is equal)
with audio, in a fresh LOFI_HOME, through the real queue and its worker processes, timed end to end
from the command line as a user runs it. Tracks per hour = tracks / wall time.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import machine, write_section

TRACKS = 4
MINUTES = 1.0


def run(workers: int) -> float:
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "LOFI_HOME": home, "OMP_NUM_THREADS": "1"}
        command = [
            str(Path(sys.executable).with_name("lofi")), "batch", "--count", str(TRACKS), "--workers", str(workers),
            "--minutes", str(MINUTES), "--seed", "100", "--moods", "chill,rainy,jazzy,sleepy",
        ]  # fmt: skip
        started = time.perf_counter()
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - started


def main() -> None:
    rows = []
    for workers in (1, 2):
        seconds = run(workers)
        rows.append((workers, seconds, TRACKS / seconds * 3600))
    baseline = rows[0][2]
    table = ["| workers | wall time (s) | tracks per hour | vs 1 worker |", "|---|---|---|---|"]
    for workers, seconds, per_hour in rows:
        table.append(f"| {workers} | {seconds:.0f} | {per_hour:.0f} | {per_hour / baseline:.2f}x |")
    body = f"""Method: `lofi batch --count {TRACKS} --minutes {MINUTES:g}` with audio (dusty preset, mastering, stems,
pictures, cover and thumbnail; no video), the bundled model, a fresh LOFI_HOME per run, timed from the
command line including worker start-up. Baseline: one worker. Machine: {machine()}.

{chr(10).join(table)}
"""
    write_section("Batch throughput (bench/batch.py)", body)
    print(body)


if __name__ == "__main__":
    main()
