"""A server you can leave running: `lofi serve` in a process of its own, as an operator runs it.

WebSockets whose clients left must end (no CPU spent on them, nothing for SIGTERM to wait for); a
client cannot make itself someone else with a forged X-Forwarded-For; and past its requests in flight
the server turns work away (503) while /health and /ready go on answering.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from websockets.sync.client import connect

from api_helpers import lofi_serve, write_library
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


@pytest.fixture(scope="module")
def crowded(tmp_path_factory, tiny_checkpoint):
    """`lofi serve` that works on 2 requests at once, with a library of 40 tracks: a page of them takes
    the server a while to list."""
    home = tmp_path_factory.mktemp("crowded-home")
    write_library(home, 40)
    with lofi_serve(home, Path(tiny_checkpoint.path), "--no-workers", max_requests_in_flight="2") as (url, _):
        yield url


def held_request(url: str) -> socket.socket:
    """A request that stays in flight: a POST whose body never comes."""
    parts = urlsplit(url)
    held = socket.create_connection((parts.hostname, parts.port), timeout=30)
    held.sendall(
        f"POST {V1}/generate HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/json\r\n"
        "Content-Length: 64\r\n\r\n".encode()
    )
    return held


def first_answer(url: str, status: int) -> httpx.Response:
    """GET ``url`` until it answers ``status`` (the server has taken in what the test sent it)."""
    deadline = time.monotonic() + 30
    while (answer := httpx.get(url, timeout=30)).status_code != status:
        assert time.monotonic() < deadline, f"{url} still answers {answer.status_code}, not {status}"
        time.sleep(0.05)
    return answer


def test_past_its_requests_in_flight_the_server_answers_503_and_the_probes_still_answer(crowded):
    with contextlib.ExitStack() as sockets:
        for _ in range(2):
            sockets.enter_context(held_request(crowded))
        busy = first_answer(f"{crowded}{V1}/tracks", 503)
        assert busy.headers["retry-after"] == "1" and "busy" in busy.json()["detail"]
        assert httpx.get(f"{crowded}/", timeout=30).status_code == 503  # every route but the probes
        for probe in (f"{V1}/health", f"{V1}/ready", "/metrics", f"{V1}/metrics"):
            assert httpx.get(f"{crowded}{probe}", timeout=30).status_code == 200, probe
    # the clients left without their answers: their places are free again
    first_answer(f"{crowded}{V1}/tracks", 200)


def test_a_flood_is_shed_with_retry_after_while_health_answers_every_time(crowded):
    """64 clients at once ask for pages of the library, 600 times in all, while one client asks for
    /health and /ready over and over: the flood gets 200 or 503 with Retry-After, nothing else; every
    probe answers 200."""

    # an idle connection is dropped by the client before the server's keep-alive (5 s) ends it, or a
    # request sent as the server closes the connection fails (a race of HTTP/1.1, not of this server)
    limits = httpx.Limits(max_connections=64, keepalive_expiry=1)

    async def flood() -> tuple[list[httpx.Response], list[int]]:
        crowd = httpx.AsyncClient(base_url=crowded, timeout=60, limits=limits)
        prober = httpx.AsyncClient(base_url=crowded, timeout=60, limits=limits)
        async with crowd, prober:
            flooding = True

            async def probe() -> list[int]:
                codes = []
                while flooding:
                    codes += [(await prober.get(f"{V1}/health")).status_code]
                    codes += [(await prober.get(f"{V1}/ready")).status_code]
                return codes

            probes = asyncio.create_task(probe())
            answers = await asyncio.gather(*(crowd.get(f"{V1}/tracks?limit=200") for _ in range(600)))
            flooding = False
            return answers, await probes

    answers, probes = asyncio.run(flood())
    codes = Counter(answer.status_code for answer in answers)
    assert set(codes) == {200, 503}, codes  # some served, some turned away, no other answer
    assert all(a.headers["retry-after"] == "1" for a in answers if a.status_code == 503)
    assert len(probes) >= 2 and set(probes) == {200}, Counter(probes)
    # the 503s are in the request metrics, so the operator sees the shedding
    metrics = httpx.get(f"{crowded}/metrics", timeout=30).text
    assert 'lofi_http_requests_total{method="GET",route="/api/v1/tracks",status="503"}' in metrics
