"""A server you can leave running: `lofi serve` in a process of its own, as an operator runs it.

WebSockets whose clients left must end (no CPU spent on them, nothing for SIGTERM to wait for), and a
client cannot make itself someone else with a forged X-Forwarded-For.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from api_helpers import lofi_serve
from lofi.catalog import JobState, open_catalog
from lofi.catalog.queries import get_job
from lofi.settings import Settings

V1 = "/api/v1"
REQUEST = {"mood": "rainy", "bpm": 72, "key": "D minor", "minutes": 0.25, "seed": 7, "formats": []}


@pytest.fixture(scope="module")
def served(tmp_path_factory, tiny_checkpoint):
    """`lofi serve --no-workers`: jobs stay queued, so a follower's job never changes state."""
    home = tmp_path_factory.mktemp("serve-home")
    with lofi_serve(home, Path(tiny_checkpoint.path), "--no-workers", rate_limit="3/minute") as (url, process):
        yield url, process


def cpu_seconds(pid: int) -> float:
    """CPU time (user and system) the process has used, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime and stime


def open_websockets(url: str) -> float:
    metrics = httpx.get(f"{url}/metrics", timeout=30).text
    (line,) = [line for line in metrics.splitlines() if line.startswith("lofi_websockets_open ")]
    return float(line.split()[1])


def test_websockets_end_when_their_clients_leave(served):
    url, process = served
    job = httpx.post(f"{url}{V1}/generate", json=REQUEST, timeout=30).json()
    ws_url = url.replace("http", "ws", 1) + f"{V1}/ws/jobs/{job['id']}"
    with contextlib.ExitStack() as sockets:
        for _ in range(200):
            socket = sockets.enter_context(connect(ws_url, open_timeout=30))
            assert json.loads(socket.recv(timeout=30))["state"] == "queued"
        assert open_websockets(url) == 200

    deadline = time.monotonic() + 2  # every handler ends within 2 s of the last close
    while open_websockets(url) > 0:
        assert time.monotonic() < deadline, f"{open_websockets(url):g} WebSocket handlers still running"
        time.sleep(0.1)
    # and the server is idle: under 5% of a core
    before = cpu_seconds(process.pid)
    time.sleep(2)
    assert cpu_seconds(process.pid) - before < 0.1


def test_a_forged_x_forwarded_for_is_not_believed(served):
    """Without LOFI_TRUSTED_PROXIES no peer is a proxy, loopback included: the limit stays the peer's."""
    url, _ = served
    for _ in range(4):  # past LOFI_RATE_LIMIT (3/minute), whatever the other tests used of it
        answer = httpx.post(f"{url}{V1}/generate", json={"mood": "chill"}, timeout=30)
        if answer.status_code == 429:
            break
    assert answer.status_code == 429
    for forged in ("203.0.113.7", "127.0.0.2", "10.1.2.3, 198.51.100.9"):
        answer = httpx.post(f"{url}{V1}/generate", json={"mood": "chill"}, headers={"X-Forwarded-For": forged})
        assert answer.status_code == 429, forged


def test_sigterm_with_open_websockets_and_a_running_job_exits_within_the_grace(tmp_path, tiny_checkpoint):
    """The sockets are closed, the running job gets LOFI_SHUTDOWN_GRACE_S and goes back to the queue."""
    home = tmp_path / "home"
    with lofi_serve(home, Path(tiny_checkpoint.path), shutdown_grace_s="2") as (url, process):
        long = {**REQUEST, "minutes": 10, "formats": ["wav"]}  # minutes of work for the tiny model
        job = httpx.post(f"{url}{V1}/generate", json=long, timeout=30).json()
        waiting = httpx.post(f"{url}{V1}/generate", json={**long, "seed": 8}, timeout=30).json()  # one worker
        deadline = time.monotonic() + 120
        while httpx.get(f"{url}{V1}/jobs/{job['id']}").json()["state"] != "running":
            assert time.monotonic() < deadline, "the job did not start"
            time.sleep(0.2)
        with contextlib.ExitStack() as sockets:
            # followers of the running job, and of the queued one, whose state will not change
            for followed, state in [(job, "running")] * 10 + [(waiting, "queued")] * 10:
                ws_url = url.replace("http", "ws", 1) + f"{V1}/ws/jobs/{followed['id']}"
                socket = sockets.enter_context(connect(ws_url, open_timeout=30))
                assert json.loads(socket.recv(timeout=30))["state"] == state

            started = time.monotonic()
            process.send_signal(signal.SIGTERM)
            try:
                code = process.wait(timeout=2 + 15)  # the grace, and the time to stop a worker and requeue
            except subprocess.TimeoutExpired:
                pytest.fail(f"still running {time.monotonic() - started:.0f} s after SIGTERM")
        assert code == 0

    catalog = open_catalog(Settings(home=home).catalog_url)
    try:
        with catalog.session() as session:
            assert get_job(session, job["id"]).state == JobState.QUEUED  # for the next start
    finally:
        catalog.close()
