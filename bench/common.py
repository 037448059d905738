"""Shared by every benchmark: the machine's description and one section of docs/BENCHMARKS.md per benchmark.

Each benchmark times its subject against a named baseline in the same run, then calls ``write_section``,
which replaces only its own part of docs/BENCHMARKS.md (between markers), so benchmarks run alone or
together (``make bench``) leave the others' tables in place.
"""

from __future__ import annotations

import os
import platform
import re
import statistics
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

from lofi.files import atomic_write

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "docs" / "BENCHMARKS.md"
HEADER = """# Benchmarks

Written by `make bench` (each `bench/*.py` replaces its own section). Every figure is measured in the run
that wrote it, next to a named baseline measured in the same run on the same machine. Never compare
figures from different machines.
"""


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, torch {torch.__version__}"


def timed(fn: Callable[[], object], repeat: int = 3) -> tuple[float, object]:
    """Median wall time of ``repeat`` calls, and the last call's result."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def write_section(name: str, body: str) -> None:
    """Put ``body`` (Markdown) under ``## name`` in docs/BENCHMARKS.md, replacing that section only."""
    begin, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    stamp = f"_{date.today().isoformat()}, {machine()}_"
    block = f"{begin}\n## {name}\n{stamp}\n\n{body.strip()}\n{end}\n"
    text = REPORT.read_text(encoding="utf-8") if REPORT.exists() else HEADER
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end) + r"\n?", re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + block
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(REPORT, lambda p: p.write_text(text, encoding="utf-8"))
