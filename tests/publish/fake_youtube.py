"""A fake YouTube Data API v3 on loopback: a real HTTP server that speaks the resumable upload protocol.

It answers the calls lofi makes, as Google documents them:

- ``POST /upload/youtube/v3/videos?uploadType=resumable`` with the video resource as JSON starts an
  upload session: 200 and a ``Location`` to PUT the bytes to. The metadata is checked as YouTube does
  (title at most 100 characters, no < or >, description at most 5000 bytes, publishAt only when private).
- ``PUT <session>`` with ``Content-Range: bytes a-b/total`` stores a chunk: 308 with ``Range: bytes=0-n``
  until the last byte is in, then 200 with the video resource. ``Content-Range: bytes */total`` with no
  body asks how much arrived (308 and the Range, or 200 when complete; 404 once the session is forgotten).
- ``POST /upload/youtube/v3/thumbnails/set?videoId=...``, ``POST /youtube/v3/playlistItems`` and
  ``POST /youtube/v3/commentThreads``.

Every request needs ``Authorization: Bearer <token>`` with a token the server issued (``TOKEN`` to start
with). ``POST /token`` is an OAuth 2.0 token endpoint (RFC 6749 section 6, as Google's answers it): a
``grant_type=refresh_token`` form with a known refresh token gets a new access token, and with
``rotate_refresh_tokens`` a new refresh token that replaces the old one. A token file whose ``token_uri``
points here lets google-auth refresh for real, over HTTP. Faults are scripted per kind of request:
``script("put", "ok", "503", then="ok")`` makes the second chunk PUT fail with a 503. A fault is
``"ok"``, a status code (``"503"``), ``"drop"`` (read the whole body, then close without answering) or
``"cut"`` (read half the body, keep the whole 256 KiB pieces of it, as Google does, and close).
Everything is recorded in ``requests`` and ``videos`` for the tests to check.
"""

from __future__ import annotations

import json
import re
import socket
import threading
from collections import Counter, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

TOKEN = "fake-access-token"
REFRESH_TOKEN = "fake-refresh-token"
TOKEN_LIFETIME_S = 3600
GRANULE = 256 * 1024  # Google keeps received bytes in whole 256 KiB pieces
QUOTA = {"videos.insert": 100, "thumbnails.set": 50, "playlistItems.insert": 50, "commentThreads.insert": 50}


@dataclass
class Seen:
    """One request as the server saw it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body_bytes: int  # how many body bytes it read
    status: int | str  # the answer, or "drop" / "cut"


@dataclass
class Video:
    """One upload session and, once complete, the video."""

    id: str
    resource: dict
    total: int
    content_type: str
    data: bytearray = field(default_factory=bytearray)
    chunks: list[tuple[int, int]] = field(default_factory=list)  # (first byte, bytes kept) of each data PUT
    thumbnail: bytes | None = None
    forgotten: bool = False

    @property
    def complete(self) -> bool:
        return len(self.data) == self.total


class FakeYouTube:
    """Start with ``with FakeYouTube() as fake:``; ``fake.url`` is the API endpoint to give the client."""

    def __init__(self) -> None:
        self.requests: list[Seen] = []
        self.videos: dict[str, Video] = {}
        self.playlist_items: list[dict] = []
        self.comment_threads: list[dict] = []
        self.quota: Counter[str] = Counter()
        self.access_tokens: set[str] = {TOKEN}
        self.refresh_tokens: set[str] = {REFRESH_TOKEN}
        self.rotate_refresh_tokens = False
        self.refreshes: list[dict[str, str]] = []  # the forms POSTed to /token
        self._scripts: dict[str, tuple[deque[str], str]] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-youtube", daemon=True
        )

    def __enter__(self) -> FakeYouTube:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # ---- what the tests set and read

    def script(self, kind: str, *outcomes: str, then: str = "ok") -> None:
        """The next requests of ``kind`` ("start", "put", "thumbnail", "playlist", "comment") answer ``outcomes``
        in turn, and every later one ``then``. Status queries (PUT ``bytes */n``) are never faulted."""
        with self._lock:
            self._scripts[kind] = (deque(outcomes), then)

    @property
    def token_uri(self) -> str:
        return f"{self.url}token"

    def revoke_access_tokens(self) -> None:
        """Every access token issued so far stops working (refresh tokens still do)."""
        with self._lock:
            self.access_tokens.clear()

    def forget_sessions(self) -> None:
        """Expire every upload session, as Google does after a week."""
        for video in self.videos.values():
            video.forgotten = True

    def seen(self, method: str | None = None, path_prefix: str = "") -> list[Seen]:
        return [r for r in self.requests if (method is None or r.method == method) and r.path.startswith(path_prefix)]

    def data_puts(self) -> list[Seen]:
        """The PUTs that carried bytes of a video (not status queries)."""
        return [r for r in self.seen("PUT") if not r.headers.get("content-range", "").startswith("bytes */")]

    def only_video(self) -> Video:
        (video,) = self.videos.values()
        return video

    # ---- inside the server

    def _outcome(self, kind: str) -> str:
        with self._lock:
            queue, then = self._scripts.get(kind, (deque(), "ok"))
            return queue.popleft() if queue else then

    def _record(self, seen: Seen) -> None:
        with self._lock:
            self.requests.append(seen)


def _error(status: int, reason: str, message: str) -> tuple[int, dict]:
    return status, {"error": {"code": status, "message": message, "errors": [{"reason": reason, "message": message}]}}


def _check_video(resource: dict) -> tuple[int, dict] | None:
    """YouTube's checks of a new video's metadata: None when it would take it."""
    snippet, status = resource.get("snippet") or {}, resource.get("status") or {}
    title, description = snippet.get("title", ""), snippet.get("description", "")
    if not title or len(title.encode("utf-16-le")) // 2 > 100 or re.search("[<>]", title):
        return _error(400, "invalidTitle", "The request metadata specifies an invalid video title.")
    if len(description.encode()) > 5000 or re.search("[<>]", description):
        return _error(400, "invalidDescription", "The request metadata specifies an invalid video description.")
    tags = snippet.get("tags") or []
    if sum(len(t) + (2 if " " in t else 0) for t in tags) + max(0, len(tags) - 1) > 500:
        return _error(400, "invalidTags", "The request metadata specifies invalid video keywords.")
    if status.get("publishAt") and status.get("privacyStatus") != "private":
        return _error(400, "invalidPublishAt", "publishAt can only be set on a private video.")
    if "containsSyntheticMedia" in status and not isinstance(status["containsSyntheticMedia"], bool):
        return _error(400, "invalidVideoMetadata", "status.containsSyntheticMedia must be a boolean.")
    return None


def _handler(fake: FakeYouTube) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as httplib2 expects

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

        def handle(self) -> None:
            try:
                super().handle()
            except ConnectionError:  # the client hung up (or we did, on purpose): no one to answer
                self.close_connection = True

        # ---- plumbing

        def _read(self, fraction: float = 1.0) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(int(length * fraction)) if length else b""

        def _answer(self, status: int, body: dict | None = None, headers: dict[str, str] | None = None) -> None:
            raw = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            if body is not None:
                self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def _hang_up(self) -> None:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)

        def _seen(self, body_bytes: int, status: int | str) -> None:
            url = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            headers = {k.lower(): v for k, v in self.headers.items()}
            fake._record(Seen(self.command, url.path, query, headers, body_bytes, status))

        def _fault(self, outcome: str, body: bytes) -> bool:
            """Act out a scripted ``outcome`` for a request whose body is read; False when it is "ok"."""
            if outcome == "ok":
                return False
            if outcome == "drop":
                self._seen(len(body), "drop")
                self._hang_up()
            elif outcome.isdigit():
                self._seen(len(body), int(outcome))
                self._answer(*_error(int(outcome), "backendError", "Backend Error (scripted)"))
            else:
                raise ValueError(f"unknown fault {outcome!r}")
            return True

        def _authorized(self) -> bool:
            scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
            if scheme == "Bearer" and token in fake.access_tokens:
                return True
            body = self._read()
            self._seen(len(body), 401)
            self._answer(*_error(401, "authError", "Invalid Credentials"))
            return False

        # ---- routes

        def _token(self) -> None:
            body = self._read()
            form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
            with fake._lock:
                fake.refreshes.append(form)
                n = len(fake.refreshes)
                if form.get("grant_type") != "refresh_token" or form.get("refresh_token") not in fake.refresh_tokens:
                    answer: tuple[int, dict] = (400, {"error": "invalid_grant", "error_description": "Bad Request"})
                else:
                    access = f"{TOKEN}-{n}"
                    fake.access_tokens.add(access)
                    answer = (200, {"access_token": access, "expires_in": TOKEN_LIFETIME_S, "token_type": "Bearer"})
                    if fake.rotate_refresh_tokens:
                        fake.refresh_tokens.discard(form["refresh_token"])
                        fake.refresh_tokens.add(rotated := f"{REFRESH_TOKEN}-{n}")
                        answer[1]["refresh_token"] = rotated
            self._seen(len(body), answer[0])
            self._answer(*answer)

        def do_POST(self) -> None:
            path = urlsplit(self.path).path
            if path == "/token":  # the OAuth endpoint takes the client's secrets, not a bearer token
                self._token()
                return
            if not self._authorized():
                return
            query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
            if path == "/upload/youtube/v3/videos" and query.get("uploadType") == "resumable":
                self._start_upload(query)
            elif path == "/upload/youtube/v3/thumbnails/set":
                self._thumbnail(query)
            elif path == "/youtube/v3/playlistItems":
                self._insert("playlist", "playlistItems.insert", "youtube#playlistItem", fake.playlist_items)
            elif path == "/youtube/v3/commentThreads":
                self._insert("comment", "commentThreads.insert", "youtube#commentThread", fake.comment_threads)
            else:
                body = self._read()
                self._seen(len(body), 404)
                self._answer(*_error(404, "notFound", f"no route POST {path}"))

        def do_PUT(self) -> None:
            if not self._authorized():
                return
            query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
            video = fake.videos.get(query.get("upload_id", ""))
            content_range = self.headers.get("Content-Range", "")
            if video is None or video.forgotten:
                body = self._read()
                self._seen(len(body), 404)
                self._answer(*_error(404, "notFound", "upload session not found"))
            elif content_range.startswith("bytes */"):
                self._read()
                self._status_query(video)
            else:
                self._put_chunk(video, content_range)

        def _start_upload(self, query: dict[str, str]) -> None:
            body = self._read()
            if self._fault(fake._outcome("start"), body):
                return
            resource = json.loads(body or b"{}")
            if (problem := _check_video(resource)) is not None:
                self._seen(len(body), problem[0])
                self._answer(*problem)
                return
            video_id = f"vid{len(fake.videos) + 1:08d}"
            status = {**resource.get("status", {}), "uploadStatus": "uploaded"}
            video = Video(
                id=video_id,
                resource={"kind": "youtube#video", "id": video_id, "snippet": resource.get("snippet", {}),
                          "status": status},
                total=int(self.headers.get("X-Upload-Content-Length", "-1")),
                content_type=self.headers.get("X-Upload-Content-Type", ""),
            )  # fmt: skip
            fake.videos[video_id] = video
            fake.quota["videos.insert"] += QUOTA["videos.insert"]
            self._seen(len(body), 200)
            host = self.headers.get("Host")
            location = f"http://{host}/upload/youtube/v3/videos?uploadType=resumable&upload_id={video_id}"
            self._answer(200, None, {"Location": location})

        def _status_query(self, video: Video) -> None:
            if video.complete:
                self._seen(0, 200)
                self._answer(200, video.resource)
                return
            self._seen(0, 308)
            self._answer(308, None, {"Range": f"bytes=0-{len(video.data) - 1}"} if video.data else {})

        def _put_chunk(self, video: Video, content_range: str) -> None:
            found = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", content_range)
            if not found or int(found[3]) != video.total:
                body = self._read()
                self._seen(len(body), 400)
                self._answer(*_error(400, "badContentRange", f"bad Content-Range {content_range!r}"))
                return
            first, last = int(found[1]), int(found[2])
            if first > len(video.data):  # a gap: the client lost track of what the server has
                body = self._read()
                self._seen(len(body), 400)
                self._answer(*_error(400, "badContentRange", f"{first} is past the {len(video.data)} bytes received"))
                return
            outcome = fake._outcome("put")
            if outcome == "cut":  # the connection breaks part way through the chunk
                body = self._read(0.5)
                kept = len(body) // GRANULE * GRANULE
                self._store(video, first, body[:kept])
                self._seen(len(body), "cut")
                self._hang_up()
                return
            body = self._read()
            if self._fault(outcome, body):
                return
            if len(body) != last - first + 1 or (last + 1 < video.total and len(body) % GRANULE):
                self._seen(len(body), 400)
                self._answer(*_error(400, "badChunk", "chunks but the last must be whole multiples of 256 KiB"))
                return
            self._store(video, first, body)
            if video.complete:
                self._seen(len(body), 200)
                self._answer(200, video.resource)
            else:
                self._seen(len(body), 308)
                self._answer(308, None, {"Range": f"bytes=0-{len(video.data) - 1}"})

        def _store(self, video: Video, first: int, body: bytes) -> None:
            del video.data[first:]  # a resent piece replaces what was there
            video.data += body
            video.chunks.append((first, len(body)))

        def _thumbnail(self, query: dict[str, str]) -> None:
            body = self._read()
            if self._fault(fake._outcome("thumbnail"), body):
                return
            video = fake.videos.get(query.get("videoId", ""))
            if video is None or not video.complete:
                self._seen(len(body), 404)
                self._answer(*_error(404, "videoNotFound", "The video that you are trying to update cannot be found."))
                return
            if len(body) > 2 * 1024 * 1024:
                self._seen(len(body), 413)
                self._answer(*_error(413, "mediaBodyTooBig", "The thumbnail image is larger than 2 MB."))
                return
            video.thumbnail = body
            fake.quota["thumbnails.set"] += QUOTA["thumbnails.set"]
            self._seen(len(body), 200)
            url = f"{fake.url}vi/{video.id}/maxresdefault.png"
            self._answer(200, {"kind": "youtube#thumbnailSetResponse", "items": [{"default": {"url": url}}]})

        def _insert(self, kind: str, method: str, resource_kind: str, into: list[dict]) -> None:
            body = self._read()
            if self._fault(fake._outcome(kind), body):
                return
            resource = json.loads(body or b"{}")
            resource.update(kind=resource_kind, id=f"{kind}{len(into) + 1}")
            into.append(resource)
            fake.quota[method] += QUOTA[method]
            self._seen(len(body), 200)
            self._answer(200, resource)

    return Handler
