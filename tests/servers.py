"""Real servers on loopback for the tests: PostgreSQL (the catalog at scale).

The server is the real thing from the Debian package (``make setup`` installs it): initdb into a temporary
folder, postgres on 127.0.0.1 with a free port. PostgreSQL refuses to run as root, so under root
(containers, CI) its programs run as the ``postgres`` system user.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

INSTALL_HINT = "run `make setup`, which installs the postgresql package"


def postgres_bin_dir() -> Path:
    """The newest PostgreSQL server programs on this machine: Debian keeps them out of PATH."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0
    )
    on_path = shutil.which("pg_ctl")
    for folder in [*reversed(candidates), *([Path(on_path).parent] if on_path else [])]:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    pytest.fail(f"PostgreSQL server programs (initdb, pg_ctl) not found: {INSTALL_HINT}", pytrace=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
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
        port = free_port()
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
