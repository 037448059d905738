"""Fixtures of the deployment tests: real `lofi serve` subprocesses and a real Prometheus (deploy_helpers.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from deploy_helpers import LofiServer, Prometheus


@pytest.fixture
def lofi_server(tmp_path, tiny_checkpoint) -> Iterator[Callable[..., LofiServer]]:
    """Starts `lofi serve` subprocesses over one LOFI_HOME (``tmp_path/home``); killed after the test."""
    started: list[LofiServer] = []

    def start(**env: str) -> LofiServer:
        server = LofiServer(tmp_path / "home", Path(tiny_checkpoint.path), **env)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.kill()


@pytest.fixture
def prometheus(tmp_path) -> Iterator[Callable[[list[dict]], Prometheus]]:
    started: list[Prometheus] = []

    def start(scrape_configs: list[dict]) -> Prometheus:
        root = tmp_path / f"prometheus-{len(started)}"
        root.mkdir()
        server = Prometheus(root, scrape_configs)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()
