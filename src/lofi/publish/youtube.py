"""Uploading a track to YouTube: the video, its thumbnail, its playlist entry and, if asked, a comment.

The client is google-api-python-client (the YouTube Data API v3, from the discovery document shipped
with it, so building it needs no network) with the OAuth token the user makes once and keeps in a file
(``YouTubeConfig.token_file``; ``TokenFileMissing`` says how to make one).

The video goes up with the resumable protocol, in chunks, and survives failures at three levels:

- a chunk that fails with a 5xx, a 429 or a broken connection is tried again, with exponentially growing
  pauses (``Retry``); after an error the client first asks the server how much it has, so nothing is
  sent twice and nothing is skipped;
- the session's URI and progress are written after every chunk to ``<video>.upload-session.json``
  beside the video. A new process that finds it asks the server how many bytes arrived and continues
  from there: an interrupted upload never starts over, nor pays a second ``videos.insert``;
- a session Google has forgotten (they last about a week), or one made for another file or other
  metadata, is dropped and the upload starts afresh.

Quota: each call's cost (``QUOTA_UNITS``) is reported through ``spend`` as soon as YouTube has accepted
it, so the record stays right even when the process dies half way. A project gets ``daily_quota`` units
a day (10,000 unless Google granted more), counted from midnight Pacific time; ``check_quota`` refuses
an upload that would go over, before anything is sent.

The OAuth token: google-auth refreshes an expired access token by itself (and again after a 401). The
credentials ``load_credentials`` makes write every refreshed token back to the token file at once,
atomically and as private as the file was, so the next run starts with a valid token and a refresh
token Google rotated is never lost.

Tests point ``api_url`` at a fake server. ``client_options={"api_endpoint": ...}`` moves the JSON calls
there, and moves media uploads to the endpoint's host too (google-api-python-client PR #1992), but keeps
the ``https`` of Google's ``rootUrl`` for them, so ``_on_endpoint`` puts every request on the endpoint's
scheme and host. With no ``api_url`` nothing is changed.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import random
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from lofi.files import atomic_write
from lofi.progress import Progress, no_progress
from lofi.publish import seo

if TYPE_CHECKING:
    from google.oauth2.credentials import Credentials

    from lofi.settings import Settings

T = TypeVar("T")

# One scope covers all four calls: commentThreads.insert accepts no narrower one.
SCOPES = ("https://www.googleapis.com/auth/youtube.force-ssl",)
# an upload costs about 100 units since YouTube's December 2025 revision (1,600 before: the API's revision history)
QUOTA_UNITS = {"videos.insert": 100, "thumbnails.set": 50, "playlistItems.insert": 50, "commentThreads.insert": 50}
DAILY_QUOTA = 10_000  # units a project gets a day unless Google grants more
PRIVACY = ("private", "unlisted", "public")
CATEGORY_MUSIC = "10"
GRANULE = 256 * 1024  # resumable chunks (all but the last) must be whole multiples of this
CHUNK_BYTES = 32 * GRANULE  # 8 MiB: few requests, little to resend after a failure
THUMBNAIL_MAX_BYTES = 2 * 1024 * 1024
COMMENT_MAX = 10_000  # characters of a comment
SESSION_SUFFIX = ".upload-session.json"
RECORD_FILE = "upload.json"
RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
WATCH_URL = "https://www.youtube.com/watch?v={}"
TOKEN_HELP = (
    "make one: in Google Cloud console enable the YouTube Data API v3, create an OAuth client ID of type "
    "'Desktop app' and download it as client_secret.json, then run "
    "`google-oauthlib-tool --client-secrets client_secret.json --scope {scope} --save --credentials {path}` "
    "(the tool comes with google-auth-oauthlib) and sign in with the channel's Google account"
)


class YouTubeError(RuntimeError):
    """A YouTube call failed for good (after its retries); says what to do."""


class TokenFileMissing(FileNotFoundError):
    """The OAuth token file is not there."""


class QuotaExceeded(YouTubeError):
    """The upload would spend more API quota than is left today."""


# ---------------------------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class Retry:
    """How often and how patiently a failing call is tried again."""

    attempts: int = 8  # tries of one step in a row before giving up
    first_s: float = 1.0
    max_s: float = 64.0

    def delay_s(self, failures: int) -> float:
        """The pause after the ``failures``-th failure in a row: doubling, capped, with random jitter so many
        clients that failed together do not retry together."""
        return min(self.max_s, self.first_s * 2 ** (failures - 1)) * random.uniform(0.5, 1.0)


@dataclass(frozen=True)
class YouTubeConfig:
    """Where the token is, where videos go and how they appear; ``from_settings`` reads lofi's Settings."""

    token_file: Path
    playlist_id: str = ""  # empty: no playlist
    privacy: str = "private"  # of an upload published at once; a scheduled one is private until its time
    community: bool = False  # post the track's details as a comment after the upload
    api_url: str = ""  # empty: Google's API; tests give a fake server's URL
    category_id: str = CATEGORY_MUSIC
    chunk_bytes: int = CHUNK_BYTES
    retry: Retry = field(default_factory=Retry)
    daily_quota: int = DAILY_QUOTA  # API units a day, Pacific time; YouTube's default grant
    # the OAuth token endpoint; empty: Google's. google-auth ignores a token file's own token_uri (since
    # 2.4x, so a crafted file cannot send the refresh token elsewhere); tests give the fake's here
    token_uri: str = ""

    def __post_init__(self) -> None:
        if self.daily_quota < 0:
            raise ValueError(f"daily quota {self.daily_quota}: must not be negative")
        if self.privacy not in PRIVACY:
            raise ValueError(f"YouTube privacy {self.privacy!r}: choose one of {', '.join(PRIVACY)}")
        if self.chunk_bytes < GRANULE or self.chunk_bytes % GRANULE:
            raise ValueError(f"chunk size {self.chunk_bytes}: must be a whole multiple of {GRANULE} bytes")

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> YouTubeConfig:
        """The config from lofi's Settings (LOFI_YOUTUBE_*); the token file defaults to one in LOFI_HOME."""
        values = {
            "token_file": settings.youtube_token_file or settings.home / "youtube-token.json",
            "playlist_id": settings.youtube_playlist_id,
            "privacy": settings.youtube_privacy,
            "community": settings.youtube_community,
            "api_url": settings.youtube_api_url,
            "daily_quota": settings.youtube_daily_quota,
        }
        return cls(**(values | overrides))


# ---------------------------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class UploadPlan:
    """Everything an upload sends, decided before anything is sent (``--dry-run`` prints it)."""

    video: Path
    thumbnail: Path | None
    title: str
    description: str
    tags: tuple[str, ...]
    privacy: str
    category_id: str
    publish_at: datetime | None  # aware; the video turns public then
    playlist_id: str
    comment: str | None  # None: no comment
    answer: str  # a reply to "what song is this?", for the operator to paste

    def body(self) -> dict[str, Any]:
        """The video resource for ``videos.insert``."""
        # containsSyntheticMedia: YouTube's altered-or-synthetic disclosure (API revision of 2024-10-30);
        # every note of a lofi track was generated by software, so it is always declared
        status: dict[str, Any] = {
            "privacyStatus": self.privacy, "selfDeclaredMadeForKids": False, "containsSyntheticMedia": True,
        }  # fmt: skip
        if self.publish_at is not None:
            status["publishAt"] = rfc3339(self.publish_at)
        snippet = {
            "title": self.title, "description": self.description, "tags": list(self.tags),
            "categoryId": self.category_id,
        }  # fmt: skip
        return {"snippet": snippet, "status": status}

    def calls(self) -> list[str]:
        """The API methods this upload will call, in order."""
        return [
            "videos.insert",
            *(["thumbnails.set"] if self.thumbnail else []),
            *(["playlistItems.insert"] if self.playlist_id else []),
            *(["commentThreads.insert"] if self.comment else []),
        ]

    def quota_units(self) -> int:
        return sum(QUOTA_UNITS[call] for call in self.calls())

    def units_needed(self) -> int:
        """What sending the plan will cost now: no videos.insert when an earlier run's session for the same
        video and metadata is continued (that insert was paid for then)."""
        units = self.quota_units()
        session = UploadSession.load(self.video)
        if session is not None and session.fingerprint == _fingerprint(self.video, self.body()):
            units -= QUOTA_UNITS["videos.insert"]
        return units


def check_quota(plan: UploadPlan, used_today: int, daily_quota: int) -> int:
    """The units ``plan`` needs; QuotaExceeded when that and ``used_today`` come to more than ``daily_quota``."""
    needed = plan.units_needed()
    if used_today + needed > daily_quota:
        left = max(0, daily_quota - used_today)
        raise QuotaExceeded(
            f"this upload needs {needed} YouTube API units and {left} of today's {daily_quota} are left "
            f"({used_today} used since midnight Pacific time); upload it after midnight Pacific time, "
            "or raise LOFI_YOUTUBE_DAILY_QUOTA if Google granted the project more"
        )
    return needed


def rfc3339(when: datetime) -> str:
    """``when`` as YouTube writes times: UTC, whole seconds, a Z."""
    if when.tzinfo is None:
        raise ValueError(f"naive datetime {when!r}: give the time with its zone")
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def plan_upload(
    folder: Path,
    metadata: Mapping[str, Any],
    config: YouTubeConfig,
    publish_at: datetime | None = None,
    now: datetime | None = None,
) -> UploadPlan:
    """What uploading the track in ``folder`` sends: video.mp4, thumbnail.png and the words of metadata.json.

    Title, description and tags are the ones the publish step wrote, or made now with ``seo.seo_for``;
    either way checked against YouTube's limits. A ``publish_at`` must lie ahead of ``now``: the video
    is then uploaded private and YouTube makes it public at that time.
    """
    folder = Path(folder)
    video = folder / "video.mp4"
    if not video.is_file():
        raise FileNotFoundError(f"{video} is missing: make the video first (`lofi generate --video`)")
    if video.stat().st_size == 0:
        raise ValueError(f"{video} is empty: make the video again")
    thumbnail: Path | None = folder / "thumbnail.png"
    if not thumbnail.is_file():
        thumbnail = None  # YouTube picks a frame
    elif thumbnail.stat().st_size > THUMBNAIL_MAX_BYTES:
        raise ValueError(f"{thumbnail} is {thumbnail.stat().st_size} bytes, over YouTube's 2 MB for thumbnails")
    if all(metadata.get(k) for k in ("title", "description", "tags")):
        words = seo.Seo(metadata["title"], metadata["description"], list(metadata["tags"]))
    else:
        words = seo.seo_for(metadata)
    seo.validate(*words)
    privacy = config.privacy
    if publish_at is not None:
        now = now or datetime.now(UTC)
        if publish_at.tzinfo is None:
            raise ValueError(f"publish time {publish_at!r} has no zone")
        if publish_at <= now:
            raise ValueError(f"publish time {rfc3339(publish_at)} is in the past: choose a later one")
        privacy = "private"  # YouTube takes publishAt on private videos only
    return UploadPlan(
        video=video, thumbnail=thumbnail, title=words.title, description=words.description,
        tags=tuple(words.tags), privacy=privacy, category_id=config.category_id, publish_at=publish_at,
        playlist_id=config.playlist_id, comment=community_comment(metadata) if config.community else None,
        answer=song_answer(metadata),
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------- community


def _tracklist(metadata: Mapping[str, Any]) -> list[tuple[float, str]]:
    """A mix's entries, from ``tracklist`` as [start_s, title] pairs or {"start_s", "title"} objects."""
    entries = []
    for entry in metadata.get("tracklist") or []:
        start, title = (entry["start_s"], entry["title"]) if isinstance(entry, Mapping) else entry
        entries.append((float(start), str(title)))
    return entries


def _chord_changes(metadata: Mapping[str, Any], count: int = 8) -> list[str]:
    """The first ``count`` chords, each change once (metadata has one chord a bar, often repeated)."""
    changes: list[str] = []
    for chord in metadata.get("chords") or []:
        symbol = seo.clean(chord, 16) if chord else ""
        if symbol and (not changes or changes[-1] != symbol):
            changes.append(symbol)
    return changes[:count]


def song_answer(metadata: Mapping[str, Any]) -> str:
    """A reply to "what song is this?": the track's name, what it is and how it was made."""
    name = seo.track_name(metadata)
    seed = metadata.get("seed", "?")
    return seo.clean(
        f"It's “{name}” ({seo.subtitle(metadata)}), an original piece composed for this channel by the "
        f"open-source lofi music model (seed {seed}). It isn't on streaming services; this video is its home."
    )


def community_comment(metadata: Mapping[str, Any]) -> str:
    """The comment posted under the video: the tracklist of a mix, or the track's details, and the answer."""
    if entries := _tracklist(metadata):
        lines = ["Tracklist", seo.tracklist(entries)]
    else:
        lines = [f"{seo.track_name(metadata)} · {seo.subtitle(metadata)}"]
        if chords := _chord_changes(metadata):
            lines.append("Chords: " + " – ".join(chords))
        model = metadata.get("model_id")
        lines.append(f"Composed by the lofi music model{f' {model}' if model else ''}, seed {metadata.get('seed')}.")
    lines += ["", "What song is this? " + song_answer(metadata)]
    return seo.clean("\n".join(lines), COMMENT_MAX, keep_newlines=True)


# ---------------------------------------------------------------------------------------------- session file


def session_path(video: Path) -> Path:
    return video.with_name(video.name + SESSION_SUFFIX)


def _fingerprint(video: Path, body: Mapping[str, Any]) -> str:
    """Which file and which metadata a session was opened for: a session is reused only for the same."""
    stat = video.stat()
    text = json.dumps([stat.st_size, stat.st_mtime_ns, body], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class UploadSession:
    """An unfinished resumable upload, as written beside the video after every chunk."""

    uri: str
    progress_bytes: int  # acknowledged by the server when written; the server's word wins on resume
    size_bytes: int
    fingerprint: str

    @classmethod
    def load(cls, video: Path) -> UploadSession | None:
        try:
            data = json.loads(session_path(video).read_text(encoding="utf-8"))
            return cls(str(data["uri"]), int(data["progress_bytes"]), int(data["size_bytes"]), str(data["fingerprint"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None  # none, or unreadable: start afresh

    def save(self, video: Path) -> None:
        text = json.dumps(asdict(self), indent=2) + "\n"
        atomic_write(session_path(video), lambda p: p.write_text(text, encoding="utf-8"))


# ---------------------------------------------------------------------------------------------- upload record


def add_to_record(folder: Path, calls: Mapping[str, int] | None = None, **fields: Any) -> dict[str, Any]:
    """Merge ``fields`` into the track folder's upload.json and add ``calls`` to its counts; returns it.

    upload.json keeps, beside the uploads table, the API calls made for the track by method and the
    quota units they cost, over every attempt.
    """
    path = Path(folder) / RECORD_FILE
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        record = {}
    counts = dict(record.get("calls") or {})
    for method, n in (calls or {}).items():
        counts[method] = counts.get(method, 0) + n
    record |= fields
    record["calls"] = counts
    record["quota_units"] = sum(QUOTA_UNITS.get(method, 0) * n for method, n in counts.items())
    text = json.dumps(record, indent=2, sort_keys=True, default=str) + "\n"
    atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))
    return record


# ---------------------------------------------------------------------------------------------- the client


def save_credentials(credentials: Credentials, token_file: Path) -> None:
    """Write ``credentials`` over ``token_file`` atomically, keeping the file's other fields and its mode.

    The temporary file is made private before the secret goes in, so no reader ever sees it readable.
    """
    token_file = Path(token_file).expanduser()
    try:
        info = json.loads(token_file.read_text(encoding="utf-8"))
        mode = token_file.stat().st_mode & 0o777
    except (OSError, ValueError):
        info, mode = {}, 0o600
    info = (info if isinstance(info, dict) else {}) | json.loads(credentials.to_json())
    text = json.dumps(info, indent=2) + "\n"

    def write(tmp: Path) -> None:
        tmp.chmod(mode & 0o700 or 0o600)  # private while the secret is written; the file's own mode after
        tmp.write_text(text, encoding="utf-8")
        tmp.chmod(mode)

    atomic_write(token_file, write)


def load_credentials(token_file: Path, token_uri: str = "") -> Credentials:
    """The OAuth credentials in ``token_file`` (made once with google-oauthlib-tool, see TOKEN_HELP).

    They write themselves back to ``token_file`` whenever google-auth refreshes them (``save_credentials``).
    ``token_uri`` replaces Google's token endpoint (for tests against a fake).
    """
    from google.oauth2.credentials import Credentials

    class SavedCredentials(Credentials):
        """Credentials that put every refreshed (and possibly rotated) token back in their file."""

        def refresh(self, request: Any) -> None:
            super().refresh(request)
            save_credentials(self, token_file)

    token_file = Path(token_file).expanduser()
    how = TOKEN_HELP.format(scope=SCOPES[0], path=token_file)
    if not token_file.is_file():
        raise TokenFileMissing(f"YouTube token file {token_file} not found; {how}")
    try:
        credentials = SavedCredentials.from_authorized_user_file(str(token_file))
        return credentials.with_token_uri(token_uri) if token_uri else credentials
    except ValueError as exc:  # bad JSON is a ValueError too
        raise ValueError(f"{token_file} is not a usable OAuth token file ({exc}); {how}") from None


def connect(config: YouTubeConfig, credentials: Credentials | None = None) -> Any:
    """The YouTube API client: from the bundled discovery document, on ``config.api_url`` when given."""
    try:
        from googleapiclient.discovery import build
    except ImportError:
        raise RuntimeError("uploading needs google-api-python-client: pip install 'lofi[publish]'") from None
    credentials = credentials or load_credentials(config.token_file, config.token_uri)
    options = {"api_endpoint": config.api_url} if config.api_url else None
    return build(
        "youtube", "v3", credentials=credentials, static_discovery=True, cache_discovery=False, client_options=options
    )


def _media(path: Path, mimetype: str, chunk_bytes: int | None = None) -> Any:
    from googleapiclient.http import MediaFileUpload

    class ChunkedFile(MediaFileUpload):
        # Chunks as bytes, not as a slice of the open file: httplib2 silently resends a request once on a
        # stale connection, and a file slice it already read would go out empty the second time.
        def has_stream(self) -> bool:
            return False

    if chunk_bytes is None:
        return MediaFileUpload(str(path), mimetype=mimetype, resumable=False)
    return ChunkedFile(str(path), mimetype=mimetype, chunksize=chunk_bytes, resumable=True)


def _call_errors() -> tuple[type[BaseException], ...]:
    """What a call can fail with that is about YouTube or the network, not about our code."""
    import httplib2
    from googleapiclient.errors import HttpError

    return (HttpError, httplib2.HttpLib2Error, http.client.HTTPException, ConnectionError, TimeoutError, ssl.SSLError)


def _transient(exc: BaseException) -> bool:
    """Worth trying again: a 5xx or 429 answer, or a connection that broke or timed out."""
    from googleapiclient.errors import HttpError

    if isinstance(exc, HttpError):
        return exc.resp.status in RETRY_STATUS
    return isinstance(exc, _call_errors())


def _describe(exc: BaseException) -> str:
    from googleapiclient.errors import HttpError

    if isinstance(exc, HttpError):
        return f"HTTP {exc.resp.status}: {exc.reason or 'no reason given'}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


@dataclass(frozen=True)
class UploadResult:
    """What an upload did, for the catalog and upload.json."""

    video_id: str
    url: str
    publish_at: datetime | None
    calls: dict[str, int]  # accepted API calls of this run
    quota_units: int  # what they cost
    thumbnail_set: bool
    playlist_item_id: str | None
    comment_id: str | None
    resumed_at_bytes: int | None  # where an earlier run's upload was continued; None: uploaded afresh
    retries: int
    warnings: tuple[str, ...]  # steps after the video that failed; the video is up regardless


class YouTubeClient:
    """Uploads planned videos. ``spend(method)`` hears of every call YouTube accepted (and charged for).

    ``sleep`` is how the client waits between retries (tests pass one that does not).
    """

    def __init__(
        self,
        config: YouTubeConfig,
        credentials: Credentials | None = None,
        *,
        spend: Callable[[str], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.config = config
        self.service = connect(config, credentials)
        self._spend_hook = spend
        self._sleep = sleep
        self.calls: dict[str, int] = {}
        self.retries = 0
        self.resumed_at: int | None = None

    # ---- plumbing

    def _spend(self, method: str) -> None:
        self.calls[method] = self.calls.get(method, 0) + 1
        if self._spend_hook is not None:
            self._spend_hook(method)

    def _on_endpoint(self, request: Any) -> Any:
        """``request`` sent to ``config.api_url``'s scheme and host (see the module's docstring)."""
        if self.config.api_url:
            endpoint = urlsplit(self.config.api_url)
            request.uri = urlunsplit(urlsplit(request.uri)._replace(scheme=endpoint.scheme, netloc=endpoint.netloc))
        return request

    def _after_failure(self, what: str, exc: BaseException, failures: int, hint: str = "") -> int:
        """Wait before trying ``what`` again and return the new count of failures in a row; raise
        YouTubeError instead when ``exc`` is final or the tries are spent."""
        if not _transient(exc):
            raise YouTubeError(f"{what} failed: {_describe(exc)}{hint}") from exc
        failures += 1
        if failures >= self.config.retry.attempts:
            raise YouTubeError(f"{what} failed {failures} times in a row, last with {_describe(exc)}{hint}") from exc
        self.retries += 1
        self._sleep(self.config.retry.delay_s(failures))
        return failures

    def _retrying(self, what: str, call: Callable[[], T]) -> T:
        """``call()``, tried again after transient failures."""
        failures = 0
        while True:
            try:
                return call()
            except _call_errors() as exc:
                failures = self._after_failure(what, exc, failures)

    def _execute(self, method: str, request: Any) -> dict[str, Any]:
        """One plain API call, retried; its quota is spent once it succeeds."""
        response = self._retrying(method, self._on_endpoint(request).execute)
        self._spend(method)
        return response

    # ---- the video

    def _server_has(self, request: Any, uri: str, size: int) -> int | dict[str, Any] | None:
        """Ask the upload session how much it has: bytes received, the video if complete, None if forgotten."""
        from googleapiclient.errors import HttpError

        headers = {"Content-Range": f"bytes */{size}", "Content-Length": "0"}
        resp, content = request.http.request(uri, "PUT", headers=headers)
        if resp.status in (200, 201):
            return json.loads(content)
        if resp.status == 308:  # Range: bytes=0-N, absent when nothing arrived
            return int(resp["range"].rsplit("-", 1)[1]) + 1 if "range" in resp else 0
        if resp.status in (404, 410):
            return None
        raise HttpError(resp, content, uri=uri)

    def _resume(self, request: Any, video: Path, fingerprint: str, size: int) -> dict[str, Any] | None:
        """Continue an earlier run's session, if there is a usable one: the video if it is already complete."""
        session = UploadSession.load(video)
        if session is None:
            return None
        if session.fingerprint != fingerprint:  # another file or other metadata: that session is not ours
            session_path(video).unlink(missing_ok=True)
            return None
        what = "asking YouTube how much of the upload arrived"
        found = self._retrying(what, lambda: self._server_has(request, session.uri, size))
        if found is None:  # expired: start over
            session_path(video).unlink(missing_ok=True)
            return None
        if isinstance(found, dict):  # it finished, but the run that sent it did not hear so
            self.resumed_at = size
            return found
        request.resumable_uri, request.resumable_progress = session.uri, found
        self.resumed_at = found
        return None

    def _send_video(self, plan: UploadPlan, progress: Progress) -> dict[str, Any]:
        """videos.insert with the resumable protocol; the video resource YouTube returns."""
        body = plan.body()
        media = _media(plan.video, "video/mp4", self.config.chunk_bytes)
        size = media.size()
        request = self._on_endpoint(self.service.videos().insert(part="snippet,status", body=body, media_body=media))
        fingerprint = _fingerprint(plan.video, body)
        if (done := self._resume(request, plan.video, fingerprint, size)) is not None:
            session_path(plan.video).unlink(missing_ok=True)
            return done

        response, failures = None, 0
        while response is None:
            opened = request.resumable_uri is not None
            error: BaseException | None = None
            try:
                _status, response = request.next_chunk()
            except _call_errors() as exc:
                error = exc  # next_chunk asks the server where it stands before the next chunk
            if not opened and request.resumable_uri is not None:
                self._spend("videos.insert")  # the session is open: YouTube has counted the insert
            if response is None and request.resumable_uri is not None:
                UploadSession(request.resumable_uri, request.resumable_progress, size, fingerprint).save(plan.video)
            if error is not None:
                at = request.resumable_progress
                hint = f"; run the upload again to resume at byte {at} of {size}" if request.resumable_uri else ""
                failures = self._after_failure("uploading the video", error, failures, hint)
            elif response is None:
                failures = 0
                progress(request.resumable_progress / size, f"uploading: {request.resumable_progress >> 20} MiB")
        session_path(plan.video).unlink(missing_ok=True)
        return response

    # ---- the whole upload

    def upload(self, plan: UploadPlan, progress: Progress = no_progress) -> UploadResult:
        """Upload ``plan``'s video, then set its thumbnail, add it to the playlist and comment, as planned.

        Raises YouTubeError when the video cannot be uploaded; the steps after it only add a warning to
        the result when they fail, since the video is up either way.
        """
        self.calls, self.retries, self.resumed_at = {}, 0, None
        progress(0.0, "uploading the video")
        video = self._send_video(plan, progress)
        video_id = video["id"]
        warnings: list[str] = []

        def step(method: str, request: Any) -> dict[str, Any] | None:
            try:
                return self._execute(method, request)
            except YouTubeError as exc:
                warnings.append(str(exc))
                return None

        thumbnail = playlist_item = comment = None
        if plan.thumbnail is not None:
            progress(0.96, "setting the thumbnail")
            media = _media(plan.thumbnail, "image/png")
            thumbnail = step("thumbnails.set", self.service.thumbnails().set(videoId=video_id, media_body=media))
        if plan.playlist_id:
            progress(0.98, "adding it to the playlist")
            entry = {"playlistId": plan.playlist_id, "resourceId": {"kind": "youtube#video", "videoId": video_id}}
            request = self.service.playlistItems().insert(part="snippet", body={"snippet": entry})
            playlist_item = step("playlistItems.insert", request)
        if plan.comment:
            progress(0.99, "posting the comment")
            thread = {"videoId": video_id, "topLevelComment": {"snippet": {"textOriginal": plan.comment}}}
            request = self.service.commentThreads().insert(part="snippet", body={"snippet": thread})
            comment = step("commentThreads.insert", request)
        progress(1.0, "uploaded")
        return UploadResult(
            video_id=video_id, url=WATCH_URL.format(video_id), publish_at=plan.publish_at, calls=dict(self.calls),
            quota_units=sum(QUOTA_UNITS[m] * n for m, n in self.calls.items()), thumbnail_set=thumbnail is not None,
            playlist_item_id=(playlist_item or {}).get("id"), comment_id=(comment or {}).get("id"),
            resumed_at_bytes=self.resumed_at, retries=self.retries, warnings=tuple(warnings),
        )  # fmt: skip


def upload(
    plan: UploadPlan,
    config: YouTubeConfig,
    *,
    credentials: Credentials | None = None,
    spend: Callable[[str], None] | None = None,
    progress: Progress = no_progress,
    sleep: Callable[[float], None] = time.sleep,
) -> UploadResult:
    """Upload ``plan`` with a new client: the one call most callers need."""
    return YouTubeClient(config, credentials, spend=spend, sleep=sleep).upload(plan, progress)


__all__ = [
    "DAILY_QUOTA",
    "PRIVACY",
    "QUOTA_UNITS",
    "SCOPES",
    "QuotaExceeded",
    "Retry",
    "TokenFileMissing",
    "UploadPlan",
    "UploadResult",
    "UploadSession",
    "YouTubeClient",
    "YouTubeConfig",
    "YouTubeError",
    "add_to_record",
    "check_quota",
    "community_comment",
    "connect",
    "load_credentials",
    "plan_upload",
    "rfc3339",
    "save_credentials",
    "song_answer",
    "upload",
]
