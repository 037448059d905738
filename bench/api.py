"""The API under load: requests per second and p50/p99 latency at 100 concurrent connections.

`lofi serve` runs as its own process (uvicorn, one embedded worker) on loopback with the bundled model; a
load generator (wrk, Debian's package: 100 keep-alive connections, each sending requests back to back)
hits `GET /api/v1/health` and `GET /api/v1/tracks` for a fixed time. Named baseline: the same load with
the server idle; then the same load while a generation job composes and renders a track in the worker.
Target: p99 under 50 ms.
"""

from __future__ import annotations

import os
import re
import socket
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


def _ms(text: str) -> float:
    """wrk's duration ("812.00us", "3.41ms", "1.20s") in milliseconds."""
    for unit, factor in (("us", 1e-3), ("ms", 1.0), ("s", 1e3), ("m", 6e4)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * factor
    raise ValueError(f"not a wrk duration: {text!r}")


def load(url: str, seconds: float = SECONDS) -> dict:
    """wrk holding CONNECTIONS keep-alive connections, each sending requests back to back (closed loop)."""
    command = ["wrk", "-t", "1", "-c", str(CONNECTIONS), "-d", f"{seconds:g}s", "--latency", url]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    found = dict(re.findall(r"^ *(50|99)% +(\S+) *$", out, flags=re.MULTILINE))
    if "99" not in found:
        raise RuntimeError(f"wrk gave no latency distribution:\n{out}")
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_ms": _ms(found["50"]),
        "p99_ms": _ms(found["99"]),
        "errors": (int(errors.group(1)) if errors else 0)
        + (sum(map(int, socket_errors.groups())) if socket_errors else 0),
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
                rows.append(("idle server (baseline)", route, load(base + route)))
            job = httpx.post(
                f"{base}/api/v1/generate", json={"mood": "chill", "minutes": 2, "seed": 1}, timeout=60
            ).json()
            while httpx.get(f"{base}/api/v1/jobs/{job['id']}", timeout=60).json()["state"] == "queued":
                time.sleep(0.2)
            for route in ("/api/v1/health", "/api/v1/tracks"):
                state = httpx.get(f"{base}/api/v1/jobs/{job['id']}", timeout=60).json()["state"]
                rows.append((f"a job running (state at start: {state})", route, load(base + route)))
        finally:
            server.terminate()
            server.wait(timeout=60)
    table = ["| server | route | requests/s | p50 ms | p99 ms | errors |", "|---|---|---|---|---|---|"]
    for label, route, r in rows:
        table.append(
            f"| {label} | `{route}` | {r['rps']:.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['errors']} |"
        )
    body = f"""Method: `lofi serve` (uvicorn, one embedded worker, the bundled model) on loopback; a load
generator of {CONNECTIONS} concurrent keep-alive connections (`wrk -t 1 -c {CONNECTIONS} --latency`, closed loop:
each connection sends its next request when the last is answered; on the same 2 cores) for {SECONDS:.0f} s per
row. Baseline: the idle server; then the same load while a 2-minute track is composed and rendered.
Target: p99 under 50 ms. Machine: {machine()}.

{chr(10).join(table)}

Reading it: in a closed loop the mean latency is the number of connections over the throughput
(Little's law), so with 100 connections a p99 under 50 ms needs well over 2,000 requests/s from one
uvicorn process on one core; `/api/v1/tracks` (a catalog query and its JSON) manages
{rows[1][2]["rps"]:.0f}/s here. Errors are wrk's 2-second timeouts and non-2xx answers.
"""
    write_section("API under load (bench/api.py)", body)
    print(body)


if __name__ == "__main__":
    main()
