"""Helpers of the API tests (a module of its own: every test folder has a conftest)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from lofi.settings import Settings


def make_settings(home: Path, model: Path, **overrides) -> Settings:
    return Settings(home=home, default_model=model, **overrides)


def wait_job(client: TestClient, job_id: str, timeout_s: float = 300.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        job = client.get(f"/api/v1/jobs/{job_id}").json()
        if job["state"] in ("done", "failed", "cancelled"):
            return job
        if time.monotonic() > deadline:
            pytest.fail(f"job {job_id} still {job['state']} after {timeout_s} s")
        time.sleep(0.2)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serving(app) -> Iterator[str]:
    """``app`` served by uvicorn on a free loopback port, in a thread; yields its base URL.

    uvicorn's own forwarded-header handling is off, as in `lofi serve`: whom to believe is the app's
    business (LOFI_TRUSTED_PROXIES).
    """
    import uvicorn

    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", proxy_headers=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@contextlib.contextmanager
def lofi_serve(home: Path, model: Path, *options: str, **env: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """`lofi serve` as a user starts it, in a process of its own on a free loopback port.

    ``env`` are settings without their prefix (``rate_limit="2/minute"`` is LOFI_RATE_LIMIT). Yields the
    base URL and the process; stops it (SIGTERM, then SIGKILL) unless the test did. Its output is in
    ``home/serve.log``.
    """
    port = free_port()
    home.mkdir(parents=True, exist_ok=True)
    environment = {
        **os.environ,
        "LOFI_HOME": str(home),
        "LOFI_DEFAULT_MODEL": str(model),
        "LOFI_API_PORT": str(port),
        **{f"LOFI_{name.upper()}": value for name, value in env.items()},
    }
    lofi = str(Path(sys.executable).with_name("lofi"))
    with (home / "serve.log").open("ab") as log:
        process = subprocess.Popen([lofi, "serve", *options], env=environment, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/api/v1/health", timeout=5).status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"lofi serve did not start:\n{(home / 'serve.log').read_text()[-3000:]}")
            time.sleep(0.2)
        yield url, process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
