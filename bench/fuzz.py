"""schemathesis with every check and at least MIN_CASES generated cases, against a real `lofi serve`.

The server runs on loopback as an operator runs it (an API key set, as docs/OPERATIONS.md recommends, so
the key's checks are tested too; the rate limits high enough that the fuzzer's requests reach the routes)
with a library of tracks made by the model, whose ids and file names schemathesis is given as well as
the strings it makes up. Without workers: the thousands of jobs it submits stay queued. Then a hand fuzz
of what schemathesis does not send (malformed HTTP, traversal, odd encodings). Passing means no 5xx and
no failed check; the result goes to docs/BENCHMARKS.md.

One check is left out, `use_after_free`: it expects a DELETEd resource to answer 404, but DELETE on a job
cancels it, and the job is kept, readable with state "cancelled" (the route's documented contract).

Run it under the shared lock: `flock /tmp/lofi-bench.lock .venv/bin/python bench/fuzz.py`.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from openapi_spec_validator import validate

from api import lofi_serve, make_library
from common import machine, write_section

MIN_CASES = 10_000
MAX_EXAMPLES = 1500  # per operation and phase; some operations have fewer distinct inputs
KEY = "fuzz-key"
SETTINGS = {"api_key": KEY, "rate_limit": "1000000/minute", "api_key_failures": "1000000/minute"}
EXCLUDED = ("use_after_free",)


def config(track_id: str, files: list[str]) -> str:
    """schemathesis.toml: the real ids and names, offered half the time, made-up strings the other half."""
    downloads = [f"{track_id}.mp3", f"{track_id}.mid", *(f"{track_id}/{name}" for name in files)]
    return f"""
[dictionaries.tracks]
values = {json.dumps([track_id])}
[dictionaries.files]
values = {json.dumps(files)}
[dictionaries.downloads]
values = {json.dumps(downloads)}
[parameters]
"path.track_id" = {{ dictionary = "tracks", probability = 0.5 }}
"path.name" = {{ dictionary = "files", probability = 0.5 }}
"path.filename" = {{ dictionary = "downloads", probability = 0.5 }}
"""


def schemathesis(base: str, folder: Path) -> tuple[int, str]:
    command = [
        str(Path(sys.executable).with_name("schemathesis")), "--config-file", str(folder / "schemathesis.toml"),
        "run", f"{base}/api/v1/openapi.json", "--checks", "all", "--exclude-checks", ",".join(EXCLUDED),
        "--max-examples", str(MAX_EXAMPLES), "--phases", "examples,coverage,fuzzing,stateful",
        "-H", f"X-API-Key: {KEY}", "--no-color", "--request-timeout", "30",
    ]  # fmt: skip
    run = subprocess.run(command, capture_output=True, text=True, cwd=folder, check=False)
    return run.returncode, run.stdout + run.stderr


def post(body: bytes, content_type: bytes, key: bytes = KEY.encode()) -> bytes:
    return (
        b"POST /api/v1/generate HTTP/1.1\r\nHost: x\r\nX-API-Key: " + key + b"\r\nContent-Type: " + content_type
        + b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )  # fmt: skip


RAW = [  # what a hand fuzzer sends that a schema-driven one does not
    b"GET /api/v1/tracks/%2e%2e%2f%2e%2e%2fetc%2fpasswd HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /api/v1/download/..%2f..%2fcatalog.db HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /api/v1/download/%00.mp3 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /api/v1/download/%ff%fe.mp3 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /api/v1/tracks/x/files/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /static/..%5c..%5cpyproject.toml HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /api/v1/tracks?limit=1e3 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /api/v1/tracks?since=%00 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /api/v1/tracks?q=%ff HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /api/v1/tracks?offset=99999999999999999999999 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /api/v1/" + b"a" * 60_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /api/v1/tracks HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 60_000 + b"\r\n\r\n",
    b"GET /api/v1/tracks/TRACK/files/track.mp3 HTTP/1.1\r\nHost: x\r\nRange: bytes=99999999999999999999-\r\n\r\n",
    b"GET /api/v1/tracks/TRACK/files/track.mp3 HTTP/1.1\r\nHost: x\r\nRange: bytes=5-2,-0,x-y\r\n\r\n",
    b"GET /api/v1/tracks/TRACK/files/track.mp3 HTTP/1.1\r\nHost: x\r\nRange: bytes=" + b"0-1," * 3000 + b"\r\n\r\n",
    b"GET /api/v1/tracks/TRACK/files/track.mp3 HTTP/1.1\r\nHost: x\r\nIf-None-Match: " + b'"x",' * 5000 + b"\r\n\r\n",
    b"GET /api/v1/tracks/TRACK/files/stems/..%2f..%2f..%2fcatalog.db HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /api/v1/download/TRACK.%2e%2e HTTP/1.1\r\nHost: x\r\n\r\n",
    post(b'{"mood":', b"application/json"),  # JSON cut short
    post(b"[" * 100_000, b"application/json"),  # nested deeper than any parser recurses
    post(b'{"mood":"chill","mood":"sad"}', b"application/json"),
    post(b'{"mood":"chill"}', b"text/plain"),
    post(b'{"mood":"chill"}', b"application/json", key=b"\xff\xfe"),
    post('{"mood":"chill","key":"D\u0000minor"}'.encode(), b"application/json"),
    post(b'{"mood":"chill","minutes":1e309}', b"application/json"),
    post(b'{"mood":"chill","seed":' + b"9" * 5000 + b"}", b"application/json"),
    b"POST /api/v1/generate HTTP/1.1\r\nHost: x\r\nX-API-Key: " + KEY.encode() + b"\r\n"
    b"Transfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\nZZ\r\n",
    b"DELETE /api/v1/jobs/%2e%2e HTTP/1.1\r\nHost: x\r\nX-API-Key: " + KEY.encode() + b"\r\n\r\n",
    b"TRACE /api/v1/tracks HTTP/1.1\r\nHost: x\r\n\r\n",
    b"BREW /api/v1/tracks HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /api/v1/ws/jobs HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Version: 13\r\n\r\n",  # no key: not a handshake
    b"GET /api/v1/ws/jobs HTTP/1.1\r\nHost: x\r\n\r\n",
]


def label(raw: bytes) -> str:
    """The request line, and the start of the body when there is one."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = [line for line in head.split(b"\r\n") if not line.startswith((b"Host:", b"X-API-Key: fuzz"))]
    text = b" ".join([lines[0][:70], *(line[:30] for line in lines[1:]), body[:30]]).decode("latin-1")
    return text.replace("\r", "\\r").replace("\n", "\\n").replace("\x00", "\\0").replace("`", "'")


def status_of(base: str, raw: bytes, track_id: str) -> str:
    host, port = base.removeprefix("http://").split(":")
    raw = raw.replace(b"TRACK", track_id.encode())
    with socket.create_connection((host, int(port)), timeout=30) as s:
        with contextlib.suppress(OSError):  # the server answered and closed before it read everything
            s.sendall(raw)
        head = b""
        while b"\r\n" not in head and (chunk := s.recv(4096)):
            head += chunk
    return head.split(b" ", 2)[1].decode() if head.startswith(b"HTTP/") else "closed"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        home, folder = Path(tmp) / "home", Path(tmp)
        home.mkdir()
        with lofi_serve(home, **SETTINGS) as (base, _):
            track_id = make_library(base, home, 2, **{"X-API-Key": KEY})
        files = sorted(
            p.relative_to(home / "tracks" / track_id).as_posix()
            for p in (home / "tracks" / track_id).rglob("*")
            if p.is_file() and not p.name.startswith(".")
        )
        (folder / "schemathesis.toml").write_text(config(track_id, files))
        with lofi_serve(home, "--no-workers", **SETTINGS) as (base, _):
            schema = httpx.get(f"{base}/api/v1/openapi.json", timeout=30).json()
            validate(schema)  # raises unless valid OpenAPI 3.1
            started = time.monotonic()
            code, report = schemathesis(base, folder)
            took = time.monotonic() - started
            hand = [(label(raw), status_of(base, raw, track_id)) for raw in RAW]
            alive = httpx.get(f"{base}/api/v1/health", timeout=30).status_code
        log = (home / "serve.log").read_text(errors="replace")
    (Path(tempfile.gettempdir()) / "lofi-fuzz-report.txt").write_text(report)
    generated = re.search(r"(\d+) generated, (\d+) passed", report)
    found = re.search(r"(\d+) generated, (\d+) found (\d+) unique failures", report)
    cases = int((generated or found)[1]) if (generated or found) else 0
    failures = re.findall(r"^\s*❌ (ST\d+ [^:]+): (\d+)", report, flags=re.MULTILINE)
    server_errors = [(line, s) for line, s in hand if s.startswith("5")]
    tracebacks = log.count("Traceback")
    failure_text = "; ".join(f"{name}: {n}" for name, n in failures) or "none"
    hand_table = "\n".join(f"| `{line}` | {s} |" for line, s in hand)
    verdict = "**met**" if code == 0 and cases >= MIN_CASES and not server_errors and not tracebacks else "**not met**"
    body = f"""Method: `lofi serve --no-workers` on loopback with LOFI_API_KEY set and a library made by the model
(one track, and a copy); schemathesis {schemathesis_version()} run as a user runs it: `--checks all
--exclude-checks {",".join(EXCLUDED)} --max-examples {MAX_EXAMPLES} --phases examples,coverage,fuzzing,stateful`,
the key given with `-H`, the real track id and file names offered half the time (schemathesis.toml
dictionaries). `use_after_free` is left out: DELETE on a job cancels it and the job stays readable as
cancelled (documented). The OpenAPI document validates as 3.1 (openapi-spec-validator). Then a hand fuzz
of {len(RAW)} raw requests schemathesis does not make. Machine: {machine()}.

- schemathesis: **{cases:,} cases** in {took:.0f} s, exit code {code}; failed checks: {failure_text}.
- Server tracebacks in its log: {tracebacks}; health after: {alive}.
- Target (all checks, at least {MIN_CASES:,} cases, no 5xx; hand fuzz no 5xx; OpenAPI 3.1 valid): {verdict}.

| hand-fuzz request | status |
|---|---|
{hand_table}
"""
    write_section("API fuzzing (bench/fuzz.py)", body)
    print(body)
    if verdict != "**met**":
        print(report[-6000:])
        sys.exit(1)


def schemathesis_version() -> str:
    from importlib.metadata import version

    return version("schemathesis")


if __name__ == "__main__":
    main()
