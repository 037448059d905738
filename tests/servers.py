"""Real servers on loopback for the tests: PostgreSQL (the catalog at scale) and nginx's RTMP module (the
radio's live push).

The servers are the real things from the Debian packages (``make setup`` installs them): initdb into a
temporary folder, postgres on 127.0.0.1 with a free port. PostgreSQL refuses to run as root, so under root
(containers, CI) its programs run as the ``postgres`` system user. nginx runs in the foreground as one
process (no master, no workers), so it needs no ``user`` and stops with the test session.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

INSTALL_HINT = "run `make setup`, which installs the postgresql package"
RTMP_INSTALL_HINT = "run `make setup`, which installs nginx-light and libnginx-mod-rtmp"
NGINX = Path("/usr/sbin/nginx")
RTMP_MODULE = Path("/usr/lib/nginx/modules/ngx_rtmp_module.so")


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


class RtmpServer:
    """nginx with the RTMP module on 127.0.0.1: what is published to ``rtmp://127.0.0.1:<port>/live/<key>``
    is played back to whoever reads the same URL, as YouTube's ingest would take it (without the key check).
    """

    def __init__(self, root: Path, nginx: Path = NGINX, module: Path = RTMP_MODULE):
        for path, what in ((nginx, "nginx"), (module, "nginx's RTMP module")):
            if not path.is_file():
                pytest.fail(f"{what} not found at {path}: {RTMP_INSTALL_HINT}", pytrace=False)
        self.nginx, self.module, self.root = nginx, module, root
        self.log = root / "error.log"
        self.process: subprocess.Popen | None = None
        self.port = 0

    def config(self, port: int) -> str:
        # wait_key: a reader that joins mid-stream starts at a keyframe, so its first frame is a whole picture
        return f"""\
daemon off;
master_process off;
pid {self.root}/nginx.pid;
error_log {self.log} info;
load_module {self.module};
events {{ worker_connections 64; }}
rtmp {{
    server {{
        listen 127.0.0.1:{port};
        application live {{ live on; record off; wait_key on; }}
    }}
}}
"""

    def start(self, timeout_s: float = 15.0) -> int:
        """Start nginx on a free port and return the port once it accepts connections."""
        self.port = free_port()
        conf = self.root / "nginx.conf"
        conf.write_text(self.config(self.port))
        # -e: the log nginx writes before it has read the config (its default is under /var/log)
        argv = [str(self.nginx), "-p", str(self.root), "-c", str(conf), "-e", str(self.log)]
        with (self.root / "nginx.out").open("wb") as out:
            self.process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while not self._accepts():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"nginx (RTMP) did not start on port {self.port}:\n{self.logs()}", pytrace=False)
            time.sleep(0.05)
        return self.port

    def _accepts(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
        except OSError:
            return False
        return True

    def logs(self) -> str:
        return "".join(p.read_text(errors="replace")[-3000:] for p in (self.root / "nginx.out", self.log) if p.exists())

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: nginx's fast shutdown, closing the streams it holds
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
