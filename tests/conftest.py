import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

# Tests run in parallel workers, one per core: a second torch thread per worker oversubscribes the
# machine, and torch then runs many times slower. Child processes inherit the setting.
os.environ.setdefault("OMP_NUM_THREADS", "1")
torch.set_num_threads(1)


@pytest.fixture
def lofi_home(tmp_path, monkeypatch):
    """A fresh LOFI_HOME for one test, with the settings cache cleared around it."""
    from lofi.settings import get_settings

    home = tmp_path / "home"
    monkeypatch.setenv("LOFI_HOME", str(home))
    get_settings.cache_clear()
    yield home
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """A tiny model trained for a few seconds on code-built pieces (see models.py); once per test process."""
    from models import train_tiny_checkpoint

    return train_tiny_checkpoint(tmp_path_factory.mktemp("runs"))


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of a throwaway PostgreSQL's ``postgres`` (admin) database; stopped after the session."""
    from servers import PostgresServer, postgres_bin_dir

    # a folder straight under /tmp: pytest's own are private to root, and the server's user must get in
    root = Path(tempfile.mkdtemp(prefix="lofi-pg-"))
    server = PostgresServer(postgres_bin_dir(), root)
    try:
        port = server.start()
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def rtmp_server(tmp_path_factory) -> Iterator[str]:
    """``rtmp://127.0.0.1:<port>/live`` of a throwaway nginx RTMP server; a stream key goes after it."""
    from servers import RtmpServer

    server = RtmpServer(tmp_path_factory.mktemp("rtmp"))
    try:
        port = server.start()
        yield f"rtmp://127.0.0.1:{port}/live"
    finally:
        server.stop()
