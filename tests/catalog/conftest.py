"""A throwaway PostgreSQL server on loopback, and catalogs on both backends.

The server is the real thing from the Debian package (``make setup`` installs it): initdb into a temporary
folder, postgres on 127.0.0.1 with a free port, one fresh database per test. PostgreSQL refuses to run as
root, so under root (containers, CI) its programs run as the ``postgres`` system user.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from lofi.catalog import Catalog, open_catalog

INSTALL_HINT = "run `make setup`, which installs the postgresql package"
BACKENDS = ["sqlite", "postgresql"]


def _bin_dir() -> Path:
    """The newest PostgreSQL server programs on this machine: Debian keeps them out of PATH."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0
    )
    on_path = shutil.which("pg_ctl")
    for folder in [*reversed(candidates), *([Path(on_path).parent] if on_path else [])]:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    pytest.fail(f"PostgreSQL server programs (initdb, pg_ctl) not found: {INSTALL_HINT}", pytrace=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Server:
    """One postgres process over its own data folder, run as a non-root user when we are root."""

    def __init__(self, bin_dir: Path, root: Path):
        self.bin_dir, self.root = bin_dir, root
        self.data, self.log = root / "data", root / "postgres.log"
        self.user: pwd.struct_passwd | None = None
        if os.geteuid() == 0:
            try:
                self.user = pwd.getpwnam("postgres")
            except KeyError:
                pytest.fail(f"running as root and there is no `postgres` user to run the server as: {INSTALL_HINT}")
            os.chown(root, self.user.pw_uid, self.user.pw_gid)

    def run(self, *args: str) -> None:
        as_user = {}
        if self.user is not None:
            as_user = {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}
        env = {**os.environ, "LC_ALL": "C", "HOME": str(self.root)}
        done = subprocess.run(
            [str(self.bin_dir / args[0]), *args[1:]], env=env, capture_output=True, text=True, check=False, **as_user
        )
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
            pytest.fail(f"{' '.join(args[:2])} failed ({done.returncode}):\n{done.stdout}{done.stderr}\n{log}")

    def start(self) -> int:
        self.run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--no-sync")
        port = _free_port()
        # a throwaway server: no durability needed, so no waiting on the disk either
        options = (
            f"-c listen_addresses=127.0.0.1 -p {port} -k {self.root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self.run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60", "start")
        return port

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self.run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of the server's ``postgres`` database (the admin one); stopped after the session."""
    bin_dir = _bin_dir()
    # a folder straight under /tmp: pytest's own are private to root, and the server's user must get in
    root = Path(tempfile.mkdtemp(prefix="lofi-pg-"))
    server = _Server(bin_dir, root)
    try:
        port = server.start()
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def _admin(server_url: str) -> psycopg.Connection:
    dsn = server_url.replace("postgresql+psycopg://", "postgresql://")
    return psycopg.connect(dsn, autocommit=True)


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty database for one test."""
    name = f"lofi_{uuid.uuid4().hex[:12]}"
    with _admin(postgres_server) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield postgres_server.rsplit("/", 1)[0] + f"/{name}"
    with _admin(postgres_server) as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture(params=BACKENDS)
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database on each backend: a SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def catalog(catalog_url: str) -> Iterator[Catalog]:
    """A migrated catalog on each backend."""
    with open_catalog(catalog_url) as opened:
        yield opened
