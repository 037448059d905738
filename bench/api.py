"""The API under load, open loop: latency at a fixed offered rate, and what 1,000 WebSockets leave behind.

`lofi serve` runs as its own process (uvicorn, the embedded worker, the bundled model) on loopback with
a library of LIBRARY tracks (one made by the model, copied under new ids). The load generator is paced
(open loop, as wrk2 does; wrk2 is not packaged in Debian): request i is due at start + i/rate whatever
happened to the ones before it, and its latency runs from that intended time, so time a request spends
waiting for the client (a connection, the CPU) is counted, not omitted. Rows:

(a) `/api/v1/tracks`, first page, at TRACKS_RATE requests/s, the server idle (baseline);
(b) the same while a generation job runs in the worker;
(c) `/api/v1/health` at HEALTH_RATE/s while `/api/v1/tracks` is offered far more than the server can
    answer: past LOFI_MAX_REQUESTS_IN_FLIGHT the excess gets 503 + Retry-After, and health must stay fast;
then 1,000 WebSockets to `/ws/jobs/{id}` opened and closed, and the server's CPU in the 2 s after.

Targets: p99 under 50 ms for (b) and for health in (c); the server's CPU under 5% after the WebSockets.
Run it under the shared lock: `flock /tmp/lofi-bench.lock .venv/bin/python bench/api.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from common import machine, write_section
from lofi.settings import Settings

LIBRARY = 48  # two pages of 24
TRACKS_RATE = 200
OVERLOAD_RATES = (600, 1000)
HEALTH_RATE = 50
SECONDS = 15.0
TIMEOUT_S = 10.0
KEEP_ALIVE_S = 4.0  # a connection idle this long is not reused: uvicorn closes one idle for 5 s
MAX_CONNECTIONS = 256  # per route; a request finding all busy waits for one (and that wait is counted)
WEBSOCKETS = 1000
TARGET_MS = 50.0
DEFAULT_IN_FLIGHT = Settings.model_fields["max_requests_in_flight"].default
FORMER_IN_FLIGHT = 16  # the default before it was measured here: the baseline of (c)
TARGET_CPU = 5.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def lofi_serve(home: Path, *options: str, **env: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """`lofi serve` in a process of its own on a free loopback port; ``env`` are LOFI_ settings."""
    port = free_port()
    environment = {
        **os.environ, "LOFI_HOME": str(home), "LOFI_API_PORT": str(port), "OMP_NUM_THREADS": "1",
        **{f"LOFI_{k.upper()}": v for k, v in env.items()},
    }  # fmt: skip
    with (home / "serve.log").open("ab") as log:
        server = subprocess.Popen(
            [str(Path(sys.executable).with_name("lofi")), "serve", *options], env=environment, stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{base}/api/v1/ready", timeout=5).status_code == 200:
                    break
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"lofi serve did not become ready: see {home / 'serve.log'}")
            time.sleep(0.5)
        yield base, server
    finally:
        server.terminate()
        try:
            server.wait(timeout=90)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def wait_state(base: str, job_id: str, states: tuple[str, ...], timeout_s: float = 900) -> dict:
    deadline = time.monotonic() + timeout_s
    while (job := httpx.get(f"{base}/api/v1/jobs/{job_id}", timeout=30).json())["state"] not in states:
        if time.monotonic() > deadline:
            raise RuntimeError(f"job {job_id} still {job['state']} after {timeout_s} s")
        time.sleep(0.2)
    return job


def make_library(base: str, home: Path, count: int, **headers: str) -> str:
    """One track made by the model, then copied under new ids into the catalog until there are ``count``;
    returns the made track's id."""
    from lofi.catalog import open_catalog
    from lofi.catalog.queries import add_track
    from lofi.settings import Settings

    request = {"mood": "rainy", "minutes": 0.25, "seed": 1, "formats": ["mp3"]}
    job = httpx.post(f"{base}/api/v1/generate", json=request, headers=headers, timeout=60).json()
    job = wait_state(base, job["id"], ("done", "failed", "cancelled"))
    if job["state"] != "done":
        raise RuntimeError(f"the library's first track failed: {job}")
    settings = Settings(home=home)
    made = settings.tracks_dir / job["track_id"]
    with open_catalog(settings.catalog_url) as catalog, catalog.session() as session:
        for i in range(count - 1):
            copy = settings.tracks_dir / f"{job['track_id']}-copy{i:03d}"
            shutil.copytree(made, copy)
            meta = json.loads((copy / "metadata.json").read_text())
            meta |= {"track_id": copy.name, "title": f"{meta.get('title') or 'Track'} {i:03d}"}
            (copy / "metadata.json").write_text(json.dumps(meta))
            add_track(session, copy)
    return job["track_id"]


@dataclass
class Result:
    """What one paced stream of requests got: a latency (from the intended send time) per request."""

    route: str
    rate: float
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)  # inf: no answer (timeout, connection error)
    statuses: Counter = field(default_factory=Counter)
    late_sends: int = 0  # requests the client itself sent over 1 ms after their intended time

    def percentile(self, q: float) -> float:
        values = sorted(self.latencies_ms)
        if not values:
            return math.nan
        return values[min(len(values) - 1, math.ceil(q / 100 * len(values)) - 1)]

    @property
    def answered_per_s(self) -> float:
        return sum(n for s, n in self.statuses.items() if isinstance(s, int)) / self.seconds


class Pool:
    """Keep-alive HTTP/1.1 connections to one server, opened as needed up to MAX_CONNECTIONS; one idle
    longer than the server keeps it (uvicorn: 5 s) is closed rather than reused, as HTTP clients do."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []
        self.opened = 0
        self.freed = asyncio.Condition()

    async def take(self, fresh: bool = False) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bool]:
        """A connection, and whether it was used before."""
        async with self.freed:
            while not self.idle and self.opened >= MAX_CONNECTIONS:
                await self.freed.wait()
            while self.idle:
                reader, writer, since = self.idle.pop()
                if not fresh and time.monotonic() - since < KEEP_ALIVE_S:
                    return reader, writer, True
                writer.close()
                self.opened -= 1
            self.opened += 1
        try:
            reader, writer = await asyncio.open_connection(self.host, self.port)
        except OSError:
            await self.drop()
            raise
        return reader, writer, False

    async def give_back(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async with self.freed:
            self.idle.append((reader, writer, time.monotonic()))
            self.freed.notify()

    async def drop(self, writer: asyncio.StreamWriter | None = None) -> None:
        if writer is not None:
            writer.close()
        async with self.freed:
            self.opened -= 1
            self.freed.notify()

    def close(self) -> None:
        for _, writer, _ in self.idle:
            writer.close()


async def request(pool: Pool, raw: bytes, retry: bool = True) -> int:
    """Send one GET on a pooled connection; its status once the whole body is read. A reused connection
    the server closed before answering is retried once on a new one (a GET may be sent again)."""
    reader, writer, reused = await pool.take(fresh=not retry)
    try:
        writer.write(raw)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        lines = head.lower().split(b"\r\n")
        length = next((int(line[15:]) for line in lines if line.startswith(b"content-length:")), 0)
        await reader.readexactly(length)
    except (asyncio.IncompleteReadError, ConnectionError) as exc:
        await pool.drop(writer)
        if reused and retry and not getattr(exc, "partial", b""):
            return await request(pool, raw, retry=False)
        raise
    except BaseException:
        await pool.drop(writer)
        raise
    await pool.give_back(reader, writer)
    return status


async def paced(base: str, route: str, rate: float, seconds: float, start_at: float) -> Result:
    """GET ``route`` at ``rate`` per second for ``seconds`` from ``start_at`` (time.time()), open loop."""
    host, port = base.removeprefix("http://").split(":")
    raw = f"GET {route} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: */*\r\n\r\n".encode()
    pool, result = Pool(host, int(port)), Result(route, rate, seconds)
    loop = asyncio.get_running_loop()

    async def one(intended: float) -> None:
        try:
            status = await asyncio.wait_for(request(pool, raw), TIMEOUT_S)
        except TimeoutError:
            result.statuses["timeout"] += 1
            result.latencies_ms.append(math.inf)
            return
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            result.statuses[type(exc).__name__] += 1
            result.latencies_ms.append(math.inf)
            return
        result.statuses[status] += 1
        result.latencies_ms.append((loop.time() - intended) * 1000)

    start = loop.time() + max(0.0, start_at - time.time())
    tasks = []
    for i in range(int(rate * seconds)):
        intended = start + i / rate
        if (delay := intended - loop.time()) > 0:
            await asyncio.sleep(delay)
        elif delay < -0.001:
            result.late_sends += 1
        tasks.append(asyncio.create_task(one(intended)))
    await asyncio.gather(*tasks)
    pool.close()
    return result


def _stream(base: str, route: str, rate: float, seconds: float, start_at: float) -> Result:
    with contextlib.suppress(ImportError):
        import uvloop  # the client's own overhead, lower: less of the shared cores taken from the server

        uvloop.install()
    return asyncio.run(paced(base, route, rate, seconds, start_at))


def run_paced(base: str, *streams: tuple[str, float], seconds: float = SECONDS) -> list[Result]:
    """Each stream from a process of its own, all starting together: a client busy sending one route's
    flood must not delay (and so add latency to) another route's requests."""
    start_at = time.time() + 1.5  # the processes are up by then
    with ProcessPoolExecutor(len(streams)) as pool:
        runs = [pool.submit(_stream, base, route, rate, seconds, start_at) for route, rate in streams]
        return [run.result() for run in runs]


def cpu_seconds(pid: int) -> float:
    """CPU time (user and system) the process has used, from /proc (its worker processes not counted)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def websockets_then_cpu(base: str, pid: int, job_id: str, count: int = WEBSOCKETS) -> dict:
    """Open ``count`` WebSockets following ``job_id`` (50 at a time), read the first event, close; then
    the server's CPU over the 2 s after the last close, and the sockets its metrics still count open."""
    from websockets.asyncio.client import connect

    url = base.replace("http", "ws", 1) + f"/api/v1/ws/jobs/{job_id}"

    async def one(gate: asyncio.Semaphore) -> None:
        async with gate, connect(url, open_timeout=60) as ws:
            await asyncio.wait_for(ws.recv(), 60)

    async def all_of_them() -> None:
        gate = asyncio.Semaphore(50)
        await asyncio.gather(*(one(gate) for _ in range(count)))

    started = time.monotonic()
    asyncio.run(all_of_them())
    took = time.monotonic() - started
    before, at = cpu_seconds(pid), time.monotonic()
    time.sleep(2.0)
    cpu = (cpu_seconds(pid) - before) / (time.monotonic() - at) * 100
    metrics = httpx.get(f"{base}/metrics", timeout=30).text
    (line,) = [line for line in metrics.splitlines() if line.startswith("lofi_websockets_open ")]
    return {"count": count, "seconds": took, "cpu_pct": cpu, "still_open": float(line.split()[1])}


def row(label: str, r: Result) -> str:
    statuses = ", ".join(f"{s}: {n}" for s, n in sorted(r.statuses.items(), key=lambda kv: str(kv[0])))
    return (
        f"| {label} | `{r.route}` | {r.rate:.0f} | {r.answered_per_s:.0f} | {r.percentile(50):.1f} | "
        f"{r.percentile(99):.1f} | {r.percentile(100):.1f} | {statuses} | {r.late_sends} |"
    )


def verdict(value: float, target: float, unit: str) -> str:
    return f"**met** ({value:.1f} {unit} < {target:g})" if value < target else f"**not met** ({value:.1f} {unit})"


def overloaded(base: str, rows: list[str], in_flight: int) -> list[tuple[Result, Result]]:
    """(c): /tracks offered more than the server answers, /health alongside, at each OVERLOAD_RATES."""
    results = []
    for rate in OVERLOAD_RATES:
        tracks, health = run_paced(base, ("/api/v1/tracks", rate), ("/api/v1/health", HEALTH_RATE))
        label = f"(c) /tracks offered {rate}/s, {in_flight} in flight"
        rows += [row(label, tracks), row(label, health)]
        results.append((tracks, health))
    return results


def main() -> None:
    settings = {"rate_limit": "100000/minute"}
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        with lofi_serve(home, **settings) as (base, server):
            make_library(base, home, LIBRARY)
            run_paced(base, ("/api/v1/tracks", 50), seconds=3)  # warm: imports, the catalog's caches
            rows = [row("(a) idle server", run_paced(base, ("/api/v1/tracks", TRACKS_RATE))[0])]

            job = httpx.post(f"{base}/api/v1/generate", json={"mood": "chill", "minutes": 3, "seed": 2}, timeout=60)
            job_id = job.json()["id"]
            wait_state(base, job_id, ("running",))
            during = []
            for part in ("its first", "its next"):
                (result,) = run_paced(base, ("/api/v1/tracks", TRACKS_RATE))
                state = httpx.get(f"{base}/api/v1/jobs/{job_id}", timeout=60).json()["state"]
                rows.append(row(f"(b) a job running, {part} {SECONDS:.0f} s (state after: {state})", result))
                during.append(result)
            httpx.delete(f"{base}/api/v1/jobs/{job_id}", timeout=60)
            overload = overloaded(base, rows, DEFAULT_IN_FLIGHT)
        with lofi_serve(home, **settings, max_requests_in_flight=str(FORMER_IN_FLIGHT)) as (base, server):
            run_paced(base, ("/api/v1/tracks", 50), seconds=3)
            former = overloaded(base, rows, FORMER_IN_FLIGHT)
        # the WebSockets on a server without workers: the followed job stays queued, its state never
        # changes, so only a handler that notices its client left can end
        with lofi_serve(home, "--no-workers", **settings) as (base, server):
            queued = httpx.post(f"{base}/api/v1/generate", json={"mood": "sad", "seed": 3}, timeout=60).json()["id"]
            sockets = websockets_then_cpu(base, server.pid, queued)

    b_verdict = verdict(max(r.percentile(99) for r in during), TARGET_MS, "ms")
    c_verdict = verdict(max(h.percentile(99) for _, h in overload), TARGET_MS, "ms")
    c_former = verdict(max(h.percentile(99) for _, h in former), TARGET_MS, "ms")
    ws_verdict = verdict(sockets["cpu_pct"], TARGET_CPU, "%")
    table = [
        "| load | route | offered/s | answered/s | p50 ms | p99 ms | max ms | answers | late sends |",
        "|---|---|---|---|---|---|---|---|---|",
        *rows,
    ]
    body = f"""Method: `lofi serve` (uvicorn, the embedded worker, the bundled model) on loopback with a library
of {LIBRARY} tracks (one made by the model, copied under new ids); a paced open-loop client (asyncio and uvloop,
raw HTTP/1.1 keep-alive, up to {MAX_CONNECTIONS} connections per route, each route from a process of its
own so one route's flood does not delay another's requests; in this script): request i is due at
start + i/rate and its latency runs from that intended time, so a request held up by the client or by
the server's backlog is counted, not omitted (no coordinated omission). {SECONDS:.0f} s per row;
"late sends" counts requests the client itself sent over 1 ms late (its own CPU share on the shared
cores). "answers" counts statuses; timeouts ({TIMEOUT_S:.0f} s) count as infinite latency. (b) runs while
a 3-minute track is composed and rendered, from the moment it starts; (c) offers `/tracks` above capacity
alongside `/health` at {HEALTH_RATE}/s (no job running), LOFI_MAX_REQUESTS_IN_FLIGHT at its default
({DEFAULT_IN_FLIGHT}) and, as the baseline, at {FORMER_IN_FLIGHT} (the default before this measurement).
Machine: {machine()}, shared with other work; the client runs on the same cores as the server.

{chr(10).join(table)}

WebSockets: {sockets["count"]} opened to `/ws/jobs/{{id}}` (a queued job whose state never changes), each
read its first event and closed, 50 at a time, in {sockets["seconds"]:.1f} s; then the server process used
{sockets["cpu_pct"]:.1f}% of a core over the next 2 s, with {sockets["still_open"]:.0f} sockets still open by
its own count.

Reading it (from probes of each cause): in (b) the job's worker process composes and renders at a full
core, with MMA subprocesses beside it, on the same 2 cores as the server and the client; the workers run
at niceness +10, so the server gets a CPU first (at equal priority the p99 of the job's first 15 s was
211 ms, on this machine, the run before). In (c) the event loop
that parses every request, sheds the excess and answers `/health` shares the GIL with the threads that
run the admitted routes: with 16 of them busy it gets the GIL too seldom, and `/health` waits as long as
the routes do; with 4 it keeps up, until the offered load is high enough that parsing and shedding
alone fill the loop.

Targets:
- (b) `/tracks` at {TRACKS_RATE}/s while a job runs, p99 under {TARGET_MS:g} ms (the worse row): {b_verdict}.
- (c) `/health` p99 under {TARGET_MS:g} ms with `/tracks` overloaded (the worse row): with
  LOFI_MAX_REQUESTS_IN_FLIGHT at its default ({DEFAULT_IN_FLIGHT}), {c_verdict}; at {FORMER_IN_FLIGHT}, {c_former}.
- CPU after {sockets["count"]} WebSockets under {TARGET_CPU:g}%: {ws_verdict}.
"""
    write_section("API under load (bench/api.py)", body)
    print(body)


if __name__ == "__main__":
    main()
