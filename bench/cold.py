"""A cold `lofi generate --minutes 3`, MIDI only and with audio, as a user runs it: a fresh process each time.

Baseline: the same command from a named earlier revision of lofi (BASELINE, checked out into a temporary
git worktree and run with the same Python and packages), interleaved with this tree's runs so both see
the same machine. Each variant has its own LOFI_HOME, made warm by one run first (the ONNX graphs are
exported once per model), so the figures are those of every track after a user's first. The same seeds
for both; the tracks can differ (a decoder that feeds an infill's given notes in one pass gets slightly
other int8 logits, so other notes and other retries of the quality gate), so composing is also timed
apart, over more seeds and every mood, in a warm process.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, machine, write_section

BASELINE = "fda85ee"  # the tree before the start-up and writing work of the speed issue
SEEDS = (11, 12, 13)
TARGETS = {"midi": 2.0, "audio": 8.0}  # seconds, the speed issue's targets for a cold process on 2 cores
COMPOSE_TARGET = 1.0  # seconds to compose a 3-minute track with the default engine on one core
# composing alone: 16 tracks (seeds 21-36, the moods in turn, D minor, 80 BPM) in one warm process
COMPOSE = """
import inspect, json, sys, time
from lofi.compose import Composer, ComposeRequest
from lofi.model import load_checkpoint
from lofi.settings import get_settings
lazy = {"build": False} if "build" in inspect.signature(load_checkpoint).parameters else {}  # newer trees
composer = Composer(load_checkpoint(get_settings().default_model, **lazy), 1)
composer.compose(ComposeRequest(mood="chill", key="D minor", bpm=80, minutes=3, seed=1))
walls = []
for i, seed in enumerate(range(21, 37)):
    mood = ("chill", "jazzy", "sad", "dreamy", "upbeat", "rainy", "sleepy", "nostalgic")[i % 8]
    started = time.perf_counter()
    composer.compose(ComposeRequest(mood=mood, key="D minor", bpm=80, minutes=3, seed=seed))
    walls.append(time.perf_counter() - started)
print(json.dumps(walls))
"""
MODES = {"midi": ["--no-audio"], "audio": []}
LOFI = "from lofi.cli.main import app; app()"  # the `lofi` command, from the tree PYTHONPATH names
# what a worker does: one process, the model loaded once, a track after another (the first one warms it)
WARM = """
import json, sys, time
from pathlib import Path
from lofi.compose import ComposeRequest
from lofi.jobs.pipeline import TrackOptions, run_track
from lofi.model import load_checkpoint
from lofi.settings import get_settings
checkpoint = load_checkpoint(get_settings().default_model)
walls = []
for seed in [1, *map(int, sys.argv[1:])]:
    request = ComposeRequest(mood="chill", key="D minor", bpm=80, minutes=3, seed=seed)
    started = time.perf_counter()
    run_track(checkpoint, request, Path("warm"), TrackOptions())
    walls.append(time.perf_counter() - started)
print(json.dumps(walls[1:]))
"""


def run(src: Path, home: Path, mode: str, seed: int) -> tuple[float, dict]:
    """One cold `lofi generate`; its wall time and the track's step timings."""
    env = {**os.environ, "LOFI_HOME": str(home), "PYTHONPATH": str(src), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-c", LOFI, "generate", "--minutes", "3", "--seed", str(seed),
               "--mood", "chill", "--key", "D minor", "--bpm", "80", *MODES[mode]]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, cwd=home)
    wall = time.perf_counter() - started
    (folder,) = [p for p in (home / "tracks").iterdir() if p.name.endswith(f"-{seed}")]
    timings = json.loads((folder / "metadata.json").read_text())["timings_s"]
    subprocess.run(["rm", "-rf", str(folder)], check=True)  # the next run of this seed makes it anew
    return wall, timings


def warm_walls(src: Path, home: Path) -> list[float]:
    """Wall time of each SEEDS track with audio in one process after a first, warming track."""
    env = {**os.environ, "LOFI_HOME": str(home), "PYTHONPATH": str(src), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", WARM, *map(str, SEEDS)], env=env, check=True, cwd=home,
                         capture_output=True, text=True).stdout  # fmt: skip
    return json.loads(out.strip().splitlines()[-1])


def compose_walls(src: Path, home: Path) -> list[float]:
    """Seconds to compose each of COMPOSE's tracks, one thread, in a process that composed one before."""
    env = {**os.environ, "LOFI_HOME": str(home), "PYTHONPATH": str(src), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", COMPOSE], env=env, check=True, cwd=home,
                         capture_output=True, text=True).stdout  # fmt: skip
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        baseline = scratch / "baseline"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(baseline), BASELINE],
                       check=True, capture_output=True)  # fmt: skip
        try:
            variants = {"this tree": ROOT / "src", f"baseline ({BASELINE})": baseline / "src"}
            homes = {name: scratch / f"home-{i}" for i, name in enumerate(variants)}
            for name, src in variants.items():  # warm each home: the ONNX export happens here
                homes[name].mkdir()
                run(src, homes[name], "midi", 1)
            results: dict[tuple[str, str], list[tuple[float, dict]]] = {}
            for mode in MODES:
                for seed in SEEDS:
                    for name, src in variants.items():
                        results.setdefault((name, mode), []).append(run(src, homes[name], mode, seed))
            warm = {name: warm_walls(src, homes[name]) for name, src in variants.items()}
            composing = {name: compose_walls(src, homes[name]) for name, src in variants.items()}
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(baseline)], check=False)
    table = [
        "| command | variant | wall, median s | compose | render | publish | rest (start-up, imports) | target |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for mode, flags in MODES.items():
        for name in variants:
            runs = results[name, mode]
            wall = statistics.median(w for w, _ in runs)
            step = {s: statistics.median(t.get(s, 0.0) for _, t in runs) for s in ("compose", "render", "publish")}
            rest = statistics.median(w - sum(t.get(s, 0.0) for s in ("compose", "analyze", "render", "publish"))
                                     for w, t in runs)  # fmt: skip
            target = f"<= {TARGETS[mode]:g} s: {'met' if wall <= TARGETS[mode] else 'not met'}"
            command = f"`lofi generate --minutes 3 {' '.join(flags)}`".replace(" `", "`")
            table.append(f"| {command} | {name} | {wall:.1f} | {step['compose']:.1f} | {step['render']:.1f} | "
                         f"{step['publish']:.1f} | {rest:.1f} | {target if name == 'this tree' else ''} |")  # fmt: skip
    for name in variants:
        wall = statistics.median(warm[name])
        target = f"<= 5 s: {'met' if wall <= 5 else 'not met'}" if name == "this tree" else ""
        table.append(f"| the same, in a warm process (a worker) | {name} | {wall:.1f} | | | | | {target} |")
    for name in variants:
        walls = composing[name]
        median = statistics.median(walls)
        target = f"<= {COMPOSE_TARGET:g} s: {'met' if median <= COMPOSE_TARGET else 'not met'}"
        table.append(f"| composing alone, warm, 16 tracks (mean {statistics.mean(walls):.1f} s, slowest "
                     f"{max(walls):.1f} s) | {name} | {median:.1f} | {median:.1f} | | | | "
                     f"{target if name == 'this tree' else ''} |")  # fmt: skip
    body = f"""Method: `lofi generate --minutes 3` (chill, D minor, 80 BPM, seeds {", ".join(map(str, SEEDS))}) in a
fresh process each run, timed from outside; MIDI only (`--no-audio`: MIDI, piano roll, cover, thumbnail,
words) and with audio (wav, mp3, FLAC stems, spectrogram, waveform too). Baseline: the same commands from
revision {BASELINE} in a git worktree, interleaved with this tree's. Each variant's LOFI_HOME is warmed by
one run first (the ONNX graphs are exported once per model). The step columns are the track's own timings
(metadata.json), medians of the runs; "rest" is the wall time around them: interpreter start-up, imports,
loading the model. The warm rows make the same tracks with audio in one process that has loaded the model
and made one track before (as a worker does: `run_track` from Python, no start-up). The last rows compose
16 tracks of 3 minutes (seeds 21-36, the eight moods in turn, D minor, 80 BPM; one thread) in one warm
process, after a first: the composer's own time, its quality gate's retries included. Machine: {machine()}.

{chr(10).join(table)}
"""
    write_section("Cold start (bench/cold.py)", body)
    print(body)


if __name__ == "__main__":
    main()
