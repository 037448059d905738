"""What the queue's tests run against: Redis on loopback, the tiny model, real worker processes.

Redis is the real server from the Debian package (``make setup`` installs it), started once on a free
port with no persistence. Celery workers run as their own process groups, so a test can SIGKILL a whole
worker the way the kernel's OOM killer or a lost machine would.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import soundfile
from PIL import Image
from symusic import Score

from helpers import wait_for
from lofi.catalog import JobRecord, JobState
from lofi.catalog.models import FINISHED
from lofi.jobs.queue import JobQueue, QueueConfig
from servers import free_port

INSTALL_HINT = "run `make setup`, which installs the redis-server package"


def wait_until_rendering(queue: JobQueue, job_id: str) -> JobRecord:
    """The job once it renders its audio, which takes seconds: the moment to kill its worker."""

    def rendering_or_ended() -> JobRecord | None:
        job = queue.status(job_id)
        return job if job.message == "rendering" or job.state in FINISHED else None

    job = wait_for(rendering_or_ended, "the job to render")
    assert job.state is JobState.RUNNING, f"the job ended before it rendered: {job.state} {job.error}"
    return job


def make_config(folder: Path, model: Path, **overrides: Any) -> QueueConfig:
    """A queue on a SQLite catalog in ``folder``, with short heartbeats and polls for tests."""
    values: dict[str, Any] = {
        "catalog_url": f"sqlite:///{folder / 'lofi.db'}",
        "tracks_dir": folder / "tracks",
        "run_dir": folder / "run",
        "default_model": model,
        "poll_s": 0.2,
        "heartbeat_s": 1.0,
    }
    return QueueConfig(**(values | overrides))


def composed_with_seed(tracks_dir: Path, seed: int) -> dict:
    """The metadata of the one track folder composed with ``seed`` (the compose step has written it)."""
    found = [json.loads(m.read_text()) for m in tracks_dir.glob("*/metadata.json")]
    (metadata,) = [m for m in found if m["seed"] == seed]
    return metadata


def assert_complete_track(folder: Path, audio: bool) -> None:
    """Every file of the track folder is whole, and no temporary of an interrupted write is left."""
    leftovers = [p for p in folder.rglob("*") if p.name.startswith(".") or p.name.endswith(".tmp")]
    assert leftovers == [], f"half-written files left in {folder}: {leftovers}"
    metadata = json.loads((folder / "metadata.json").read_text())
    assert Score(str(folder / "track.mid")).note_num() > 0
    files = ["pianoroll.png", *(metadata["audio"]["files"] if audio else [])]
    for name in files:
        path = folder / name
        if path.suffix == ".png":
            with Image.open(path) as image:
                image.load()
        elif path.suffix in (".wav", ".flac"):
            data, rate = soundfile.read(path)
            assert abs(len(data) / rate - metadata["audio"]["duration_s"]) < 1.0, name
        elif path.suffix == ".mp3":
            from pedalboard.io import AudioFile

            with AudioFile(str(path)) as f:
                assert abs(f.read(f.frames).shape[1] / f.samplerate - metadata["audio"]["duration_s"]) < 1.0


@pytest.fixture(scope="session", autouse=True)
def session_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """LOFI_HOME for this session and every worker process it starts, never the user's own."""
    from lofi.settings import get_settings

    home = tmp_path_factory.mktemp("home")
    before = os.environ.get("LOFI_HOME")
    os.environ["LOFI_HOME"] = str(home)
    get_settings.cache_clear()
    yield home
    if before is None:
        os.environ.pop("LOFI_HOME")
    else:
        os.environ["LOFI_HOME"] = before
    get_settings.cache_clear()


# ---------------------------------------------------------------------------------------------- Redis


def _pings(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5).ping())
    except redis.exceptions.ConnectionError:
        return False


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``redis://127.0.0.1:<port>`` of a throwaway redis-server, stopped after the session."""
    binary = shutil.which("redis-server") or ("/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else "")
    if not binary:
        pytest.fail(f"redis-server not found: {INSTALL_HINT}", pytrace=False)
    folder = tmp_path_factory.mktemp("redis")
    port = free_port()
    no_disk = ["--save", "", "--appendonly", "no", "--dir", str(folder)]
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", *no_disk]
    with (folder / "redis.log").open("wb") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    url = f"redis://127.0.0.1:{port}"
    try:
        wait_for(lambda: process.poll() is not None or _pings(url), "redis-server to start", timeout_s=30)
        if process.poll() is not None:
            pytest.fail(f"redis-server exited: {(folder / 'redis.log').read_text()[-2000:]}", pytrace=False)
        yield url
    finally:
        process.terminate()
        process.wait(10)


_databases = itertools.count()


def empty_redis_db(server: str) -> str:
    """The URL of a Redis database of its own (Redis has 16), emptied."""
    url = f"{server}/{next(_databases) % 16}"
    redis.Redis.from_url(url).flushdb()
    return url


@pytest.fixture
def redis_url(redis_server: str) -> str:
    return empty_redis_db(redis_server)


# ---------------------------------------------------------------------------------------------- model


@pytest.fixture(scope="session")
def tiny_model(tiny_checkpoint) -> Path:
    """The tiny checkpoint's folder."""
    return Path(tiny_checkpoint.path)


# ---------------------------------------------------------------------------------------------- workers

CELERY_WORKER = (
    "import json, sys\n"
    "from lofi.jobs.distributed import run_worker\n"
    "from lofi.jobs.queue import QueueConfig\n"
    "run_worker(QueueConfig.from_dict(json.loads(sys.argv[1])), concurrency=1)\n"
)


class WorkerProcess:
    """A Celery worker in a process group of its own, its output in a log file."""

    def __init__(self, config: QueueConfig, log: Path):
        self.log = log
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-c", CELERY_WORKER, json.dumps(config.to_dict())],
                stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,
            )  # fmt: skip

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self) -> None:
        wait_for(lambda: " ready." in self.output() or self.process.poll() is not None, "a Celery worker to start")
        if self.process.poll() is not None:
            pytest.fail(f"the Celery worker exited ({self.process.returncode}):\n{self.output()[-3000:]}")

    def kill(self, sig: signal.Signals = signal.SIGKILL) -> None:
        """Send ``sig`` to the whole group (the worker and its pool processes) and wait for it."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(15)
