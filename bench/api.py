"""The API under load: requests per second and p50/p99 latency at 100 concurrent connections.

`lofi serve` runs as its own process (uvicorn, one embedded worker) on loopback with the bundled model; a
load generator (httpx, asyncio, 100 connections held open) hits `GET /api/v1/health` and
`GET /api/v1/tracks` for a fixed time. Named baseline: the same load with the server idle; then the same
load while a generation job composes and renders a track in the worker. Target: p99 under 50 ms.
"""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from common import machine, write_section

CONNECTIONS = 100
SECONDS = 10.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def load(url: str, seconds: float = SECONDS) -> dict:
    """CONNECTIONS clients each sending requests back to back; latencies of the successful ones."""
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    async with httpx.AsyncClient(limits=limits, timeout=30.0) as client:
        deadline = time.perf_counter() + seconds

        async def one_client() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                response = await client.get(url)
                if response.status_code == 200:
                    latencies.append(time.perf_counter() - start)
                else:
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(one_client() for _ in range(CONNECTIONS)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
        "errors": errors,
    }


def main() -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "LOFI_HOME": home, "LOFI_RATE_LIMIT": "1000/minute", "OMP_NUM_THREADS": "1"}
        server = subprocess.Popen(
            [str(Path(sys.executable).with_name("lofi")), "serve", "--port", str(port)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if httpx.get(f"{base}/api/v1/ready", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("lofi serve did not become ready")
                time.sleep(0.5)
            rows = []
            for route in ("/api/v1/health", "/api/v1/tracks"):
                rows.append(("idle server (baseline)", route, asyncio.run(load(base + route))))
            job = httpx.post(f"{base}/api/v1/generate", json={"mood": "chill", "minutes": 2, "seed": 1}).json()
            while httpx.get(f"{base}/api/v1/jobs/{job['id']}").json()["state"] == "queued":
                time.sleep(0.2)
            for route in ("/api/v1/health", "/api/v1/tracks"):
                state = httpx.get(f"{base}/api/v1/jobs/{job['id']}").json()["state"]
                rows.append((f"a job running (state at start: {state})", route, asyncio.run(load(base + route))))
        finally:
            server.terminate()
            server.wait(timeout=60)
    table = ["| server | route | requests/s | p50 ms | p99 ms | errors |", "|---|---|---|---|---|---|"]
    for label, route, r in rows:
        table.append(
            f"| {label} | `{route}` | {r['rps']:.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['errors']} |"
        )
    body = f"""Method: `lofi serve` (uvicorn, one embedded worker, the bundled model) on loopback; a load generator
of {CONNECTIONS} concurrent keep-alive connections (httpx + asyncio, in its own process, sharing the same 2 cores)
for {SECONDS:.0f} s per row. Baseline: the idle server; then the same load while a 2-minute track is composed
and rendered. Target: p99 under 50 ms. Machine: {machine()}.

{chr(10).join(table)}
"""
    write_section("API under load (bench/api.py)", body)
    print(body)


if __name__ == "__main__":
    main()
