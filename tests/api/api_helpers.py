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


def write_library(home: Path, count: int) -> list[dict]:
    """``count`` tracks in ``home``'s catalog, made by code in a moment rather than by the model: folders
    as the pipeline leaves them (metadata.json, track.mid and a real 1280x720 thumbnail.png, about a MB),
    titled "Library track 00"... with a word of their own each ("Harbor 07"), the last one newest.
    Returns their metadata."""
    import json
    import shutil
    from datetime import UTC, datetime, timedelta

    from lofi.catalog import open_catalog
    from lofi.catalog.queries import add_track
    from lofi.publish import art

    settings = Settings(home=home)
    picture = home / "library-thumbnail.png"
    home.mkdir(parents=True, exist_ok=True)
    art.write_thumbnail(picture, art.plan_art(1, "rainy"), "Rainy Harbor", "lofi · rainy · D minor · 72 BPM")
    made = []
    with open_catalog(settings.catalog_url) as catalog, catalog.session() as session:
        for i in range(count):
            track_id = f"library-{i:02d}"
            folder = settings.tracks_dir / track_id
            folder.mkdir(parents=True)
            metadata = {
                "track_id": track_id, "request": {"mood": "rainy", "bpm": 72, "key": "D minor", "minutes": 2.0},
                "seed": i, "model_id": "lofi-tiny-test", "key": "D minor", "bpm": 72, "duration_s": 120.0,
                "title": f"Library track {i:02d} · Harbor {i:02d}",
                "created_at": (datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=i)).isoformat(),
            }  # fmt: skip
            (folder / "metadata.json").write_text(json.dumps(metadata), encoding="utf-8")
            (folder / "track.mid").write_bytes(b"MThd" + bytes(10))
            shutil.copyfile(picture, folder / "thumbnail.png")
            add_track(session, folder)
            made.append(metadata)
    return made


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
