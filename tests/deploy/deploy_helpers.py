"""Helpers of the deployment tests (a module of its own: every test folder has a conftest).

What they run against: Debian's prometheus and promtool, and real `lofi serve` processes.

Prometheus is the real server from the Debian package (``make setup`` installs it), started on a free
loopback port with its own data folder, scraping every second. ``lofi serve`` runs as a subprocess, the way
an operator runs it, so its signals, exit code and log lines are the real ones.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from helpers import wait_for
from servers import free_port

INSTALL_HINT = "run `make setup`, which installs the prometheus package (prometheus and promtool)"
REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"


def http_json(url: str, data: dict | None = None, headers: dict | None = None) -> tuple[int, dict, dict]:
    """(status, headers, body) of a GET, or of a POST when ``data`` is given; connection errors are 0."""
    body = json.dumps(data).encode() if data is not None else None
    request = urllib.request.Request(url, data=body, headers={"content-type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), json.loads(response.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), json.loads(e.read() or b"null")
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0, {}, {}


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"`{name}` not found: {INSTALL_HINT}", pytrace=False)
    return path


class LofiServer:
    """One `lofi serve` subprocess on a free loopback port; its stderr (the logs) goes to a file."""

    def __init__(self, home: Path, model: Path, **env: str):
        self.home, self.port = home, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = home / f"serve-{self.port}.log"
        home.mkdir(parents=True, exist_ok=True)
        self.env = {
            **os.environ,
            "LOFI_HOME": str(home),
            "LOFI_DEFAULT_MODEL": str(model),
            "LOFI_LOG_FORMAT": "json",
            "LOFI_RATE_LIMIT": "1000/minute",
            "OMP_NUM_THREADS": "1",
            **env,
        }
        self.process: subprocess.Popen | None = None

    def start(self) -> LofiServer:
        lofi = Path(sys.executable).with_name("lofi")  # the venv's entry point, as installed
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [str(lofi), "serve", "--port", str(self.port)], env=self.env, stdout=subprocess.DEVNULL, stderr=log
            )

        def ready() -> bool:
            if self.process.poll() is not None:
                pytest.fail(f"lofi serve exited with {self.process.returncode}:\n{self.log.read_text()[-3000:]}")
            status, _, body = http_json(f"{self.url}/api/v1/ready")
            return status == 200 and body.get("ready")

        wait_for(ready, "lofi serve to be ready")
        return self

    def terminate(self, timeout_s: float = 180.0) -> int:
        """SIGTERM, as Docker and Kubernetes stop a container; the exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            pytest.fail(f"lofi serve still running {timeout_s:g} s after SIGTERM:\n{self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def log_lines(self) -> list[str]:
        return self.log.read_text(encoding="utf-8").splitlines()


class Prometheus:
    """A real Prometheus on loopback, with the given scrape config."""

    def __init__(self, root: Path, scrape_configs: list[dict]):
        import yaml

        self.root, self.port = root, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"}, "scrape_configs": scrape_configs}
        self.config = root / "prometheus.yml"
        self.config.write_text(yaml.safe_dump(config))
        self.log = root / "prometheus.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> Prometheus:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    tool("prometheus"), f"--config.file={self.config}", f"--web.listen-address=127.0.0.1:{self.port}",
                    f"--storage.tsdb.path={self.root / 'data'}",
                ],
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip

        def ready() -> bool:
            if self.process.poll() is not None:
                pytest.fail(f"prometheus exited with {self.process.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=5) as response:
                    return response.status == 200
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                return False

        wait_for(ready, "prometheus to be ready", timeout_s=60)
        return self

    def query(self, promql: str) -> list[dict]:
        status, _, body = http_json(f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql}))
        assert status == 200, body
        return body["data"]["result"]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


SUFFIXES = {
    "counter": ["_total", "_created"],
    "histogram": ["_bucket", "_sum", "_count"],
    "summary": ["_sum", "_count"],
}


def metric_names(page: str) -> set[str]:
    """The series names a /metrics page offers, also those of families with no sample yet (no jobs)."""
    names = set(re.findall(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{| )", page, re.M))
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", page, re.M):
        names |= {name} | {name + suffix for suffix in SUFFIXES.get(kind, [])}
    return names


def lofi_metrics_page(home: Path, model: Path) -> str:
    """The /metrics page of the app over an empty catalog."""
    from fastapi.testclient import TestClient

    from lofi.api import create_app
    from lofi.settings import Settings

    with TestClient(create_app(Settings(home=home, default_model=model), start_workers=False)) as client:
        client.get("/api/v1/health")
        return client.get("/metrics").text
