"""The radio: an hour on the air, and how fast it follows a game.

``hour`` (default 60 minutes): a station with one producer (the one worker) and one listener reading
the MP3 plays in real time. Every 10 s it logs the music buffered ahead, and every 30 s the memory of
this process (the station, the mixer, the encoder's reader) and of the producer and ffmpeg. Counted:
gaps (seconds the mixer had nothing to play), underruns (gaps begun), late (times the player found
itself behind the clock), and bytes the listener got against what the bit rate owes it. Baseline: real
time (the producer's pace, seconds of music made per second). Then the station is stopped and started
again on its folder: the seconds until a listener's first bytes, against a cold start on an empty one.

``adaptive`` (default 50 changes): at 80 BPM (2-bar phrases: 6 s), state changes at random moments, in
turn intensity (layers), the feel (calm or tense: new music, from the spare the station keeps) and a
mood (new music, composed when asked). For each: the seconds
from the request to the first bar heard in the new state, and where that bar lies in the phrase grid
(0: on a boundary). Baseline, in the same run: the wait had the change come at the end of the track
playing (what a playlist's crossfade would do).

    python bench/radio.py [hour|adaptive|both] [--minutes 60] [--changes 50]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from common import machine, write_section
from lofi.radio.producer import ProducerConfig
from lofi.radio.state import FEEL_MOODS, RadioState
from lofi.radio.station import Station, StationConfig
from lofi.radio.stream import BITRATE_KBPS
from lofi.settings import Settings


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return float("nan")


def station(folder: Path, state: RadioState | None = None, seed: int | None = 7) -> Station:
    settings = Settings()
    producer = ProducerConfig(
        settings.default_model, settings.engine, settings.soundfont, settings.preset, settings.lufs
    )
    return Station(StationConfig(folder, producer, seed=seed), state)


class Listener:
    """Reads the MP3 as a listener would, counting bytes; notes when the first ones came."""

    def __init__(self, radio: Station):
        self.bytes, self.first_at = 0, None
        self.queue = radio.broadcaster.subscribe()
        self.thread = threading.Thread(target=self.read, daemon=True)
        self.thread.start()

    def read(self) -> None:
        while (chunk := self.queue.get()) is not None:
            if self.first_at is None:
                self.first_at = time.monotonic()
            self.bytes += len(chunk)


def first_bytes(folder: Path) -> tuple[float, float]:
    """Seconds from starting a station on ``folder`` to a listener's first bytes, and to "now playing"."""
    started = time.monotonic()
    radio = station(folder, seed=None)
    listener = Listener(radio)
    radio.start()
    deadline = started + 300
    while (listener.first_at is None or radio.now is None) and time.monotonic() < deadline:
        time.sleep(0.05)
    if listener.first_at is None or radio.now is None:
        radio.stop()
        return float("nan"), float("nan")
    took = listener.first_at - started, time.monotonic() - started
    radio.stop()
    return took


def hour(minutes: float) -> str:
    folder = Path(tempfile.mkdtemp(prefix="lofi-radio-bench-"))
    radio = station(folder / "radio")
    listener = Listener(radio)
    radio.start()
    log, memory = [], []
    last_log = last_mem = 0.0
    while not radio.on_air.is_set():
        time.sleep(0.1)
    on_air = time.monotonic()
    end = on_air + minutes * 60
    while (now := time.monotonic()) < end:
        if now - last_log >= 10:
            log.append((now - on_air, radio.stats.buffer_s))
            last_log = now
            if len(log) % 6 == 1:  # a line a minute, so a run cut short still says how it went
                s = radio.stats
                print(f"{(now - on_air) / 60:5.1f} min: buffer {s.buffer_s:.0f} s, gaps {s.gap_s} s, underruns "
                      f"{s.underruns}, late {s.late}, tracks {s.pieces}, station {rss_mb(os.getpid()):.0f} MB, "
                      f"producer {rss_mb(radio.producer.process.pid):.0f} MB", flush=True)  # fmt: skip
        if now - last_mem >= 30:
            producer = radio.producer.process.pid
            memory.append((now - on_air, rss_mb(os.getpid()), rss_mb(producer), rss_mb(radio.encoder.process.pid)))
            last_mem = now
        time.sleep(1)
    played = time.monotonic() - on_air
    producer_cpu = cpu_s(radio.producer.process.pid)
    stats = radio.stats
    radio.stop()
    got_s = listener.bytes * 8 / (BITRATE_KBPS * 1000)
    restart = first_bytes(folder / "radio")
    cold = first_bytes(folder / "cold")
    subprocess.run(["rm", "-rf", str(folder)], check=False)
    buffers = [b for _, b in log[3:]]  # after the first track is in
    first_mem, last_memory = memory[1], memory[-1]
    peak = tuple(max(m[i] for m in memory) for i in (1, 2, 3))
    lines = [
        f"A station on the air for {played / 60:.0f} minutes in real time, one producer process (the one worker),",
        "one listener reading the MP3 (run nothing else beside it for a clean figure). Machine: " + machine() + ".",
        "",
        "| measure | result |",
        "|---|---|",
        f"| played | {played / 60:.1f} min, {stats.pieces} tracks made |",
        f"| gaps (nothing to play) | {stats.gap_s:.2f} s in {stats.underruns} underruns |",
        f"| player behind the clock | {stats.late} times |",
        f"| listener's MP3 | {got_s / 60:.1f} min of audio at {BITRATE_KBPS} kbps over {played / 60:.1f} min |",
        f"| music buffered ahead | min {min(buffers):.0f} s, median {statistics.median(buffers):.0f} s, "
        f"max {max(buffers):.0f} s |",
        f"| memory at {first_mem[0] / 60:.0f} min / at {last_memory[0] / 60:.0f} min / peak (MB) | station "
        f"{first_mem[1]:.0f} / {last_memory[1]:.0f} / {peak[0]:.0f}; producer {first_mem[2]:.0f} / "
        f"{last_memory[2]:.0f} / {peak[1]:.0f}; ffmpeg {first_mem[3]:.0f} / {last_memory[3]:.0f} / {peak[2]:.0f} |",
        f"| producer CPU (baseline: real time) | {producer_cpu / 60:.1f} CPU-min for {played / 60:.0f} min on air: "
        f"about {stats.music_s / max(producer_cpu, 1e-9):.0f}x real time |",
        f"| restart on its folder: first bytes / now playing | {restart[0]:.1f} s / {restart[1]:.1f} s |",
        f"| cold start (empty folder): first bytes / now playing | {cold[0]:.1f} s / {cold[1]:.1f} s |",
        "",
        "Buffer depth every minute (s): " + ", ".join(f"{b:.0f}" for t, b in log if int(t) % 60 < 10) + ".",
    ]
    return "\n".join(lines)


def adaptive(changes: int) -> str:
    folder = Path(tempfile.mkdtemp(prefix="lofi-radio-adaptive-"))
    radio = station(folder / "radio", RadioState(tempo=(80, 80), intensity=0.6))
    Listener(radio)
    radio.start()
    radio.on_air.wait()
    rng = random.Random(11)
    time.sleep(5)
    for i in range(changes):
        time.sleep(rng.uniform(2, 8))  # a random moment: anywhere in the phrase grid
        count = len(radio.stats.changes)
        if i % 3 == 0:
            asked = "intensity"
            radio.set_state(intensity=0.9 if radio.state.intensity < 0.5 else 0.2)
        elif i % 3 == 1:
            asked = "feel"
            radio.set_state(feel="calm" if radio.state.feel == "tense" else "tense")
        else:
            asked = "mood"
            moods = [m for m in FEEL_MOODS[radio.state.feel or "calm"] if m != radio.state.mood]
            radio.set_state(mood=rng.choice(moods))
        while len(radio.stats.changes) == count:  # heard before the next one is asked
            time.sleep(0.05)
        radio.stats.changes[-1]["asked"] = asked
        while time.monotonic() < radio.stats.changes[-1]["heard_at"]:
            time.sleep(0.1)
    stats = list(radio.stats.changes)
    radio.stop()
    subprocess.run(["rm", "-rf", str(folder)], check=False)
    lines = [
        f"{changes} state changes at random moments, 80 BPM, 2-bar phrases (6 s), one producer, in turn: intensity,",
        "feel (calm and tense, which the station keeps a spare track for) and a mood within the feel (composed when",
        "asked). Latency: from the request to the first bar heard in the new state (as the server sends it).",
        "Baseline: the same change made at the end of the track playing, as a playlist would.",
        "Machine: " + machine() + ".",
        "",
        "| change | count | median | p90 | max | within 10 s | on a phrase boundary | baseline median (max) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    kinds = (
        ("intensity", "intensity (layers)"),
        ("feel", "feel calm/tense (new music: the spare)"),
        ("mood", "mood (new music: composed then)"),
    )
    for asked, label in kinds:
        rows = [c for c in stats if c.get("asked") == asked]
        if not rows:
            continue
        latency = sorted(c["latency_s"] for c in rows)
        on_grid = sum(1 for c in rows if c["off_boundary_s"] is not None and c["off_boundary_s"] < 0.001)
        waits = [c["until_track_end_s"] for c in rows if c["until_track_end_s"] is not None]
        p90 = latency[min(len(latency) - 1, round(0.9 * (len(latency) - 1)))]
        lines.append(
            f"| {label} | {len(rows)} | {statistics.median(latency):.1f} s | {p90:.1f} s | {max(latency):.1f} s | "
            f"{sum(1 for x in latency if x <= 10)}/{len(rows)} | {on_grid}/{len(rows)} | "
            f"{statistics.median(waits):.0f} s ({max(waits):.0f} s) |"
        )
    ready = sorted(c["ready_s"] for c in stats if "ready_s" in c and c.get("asked") == "mood")
    if ready:
        lines += [
            "",
            "A new-music change waits for its track to be composed and rendered (median "
            f"{statistics.median(ready):.1f} s, max {max(ready):.1f} s here: a short track of 0.75-1 minute, the "
            "drift's after it), then for the next phrase boundary at least an eighth note ahead of what is already "
            "rendered (up to 6 s + 0.375 s + 0.75 s at 80 BPM).",
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", nargs="?", default="both", choices=("hour", "adaptive", "both"))
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--changes", type=int, default=50)
    args = parser.parse_args()
    if args.what in ("adaptive", "both"):
        body = adaptive(args.changes)
        print(body)
        write_section("radio-adaptive", "## The radio follows a game (bench/radio.py adaptive)\n\n" + body)
    if args.what in ("hour", "both"):
        body = hour(args.minutes)
        print(body)
        write_section("radio", f"## The radio, {args.minutes:.0f} minutes on the air (bench/radio.py hour)\n\n" + body)


if __name__ == "__main__":
    main()
