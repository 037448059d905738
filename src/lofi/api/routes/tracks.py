"""The library: tracks, their files (with HTTP Range, so audio and video seek), a small preview picture
of each, and /download.

A file is served only when the track is in the catalog and its folder lists the file: a regular file,
not reached through a symlink, not a half-written temporary. So neither a symlink planted in a folder
nor the leftovers of an unfinished or cancelled job are ever served.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from pydantic import AfterValidator, BeforeValidator

from lofi.api.deps import CatalogDep
from lofi.api.routes import API_PREFIX
from lofi.api.schemas import FilePublic, TrackPublic, TracksPublic, errors
from lofi.catalog import queries
from lofi.files import atomic_write
from lofi.instruments import part_name

router = APIRouter(prefix=f"{API_PREFIX}/tracks", tags=["tracks"])
download = APIRouter(prefix=API_PREFIX, tags=["tracks"])
# far beyond any library, and inside the 64-bit OFFSET of SQLite and PostgreSQL (past it: OverflowError)
MAX_OFFSET = 2**31 - 1
MAX_NAME = 255  # a file name longer than the file system allows (NAME_MAX) names no file of ours
# the picture a preview is made from, the first the track has; the preview is kept beside it, a dot file
# so that it is no file of the track's (not listed, not downloaded)
PREVIEW_SOURCES = ("thumbnail.png", "cover.png", "pianoroll.png")
PREVIEW = ".preview.jpg"


def _in_utc(value: datetime) -> datetime:
    """A time without a zone is UTC; one with a zone must still be a date in UTC (9999-12-31T23:00-05:00
    is not), so the catalog is never handed one it cannot store."""
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise ValueError("out of range once in UTC") from None


def _not_a_number(value: object) -> object:
    """The document says date-time: "0.5" or "1700000000" is not one (pydantic would read a unix time)."""
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return value
        raise ValueError("must be an ISO 8601 date and time (e.g. 2026-01-31T12:00:00Z), not a number")
    return value


UTCTime = Annotated[datetime, BeforeValidator(_not_a_number), AfterValidator(_in_utc)]
PLAIN_TEXT = {"text/plain": {"schema": {"type": "string"}}}  # how Starlette's FileResponse answers a bad Range
FILE_RESPONSES = {
    # each file with its own type (audio/mpeg, audio/flac, image/png, audio/midi, application/json...)
    200: {"description": "The file.", "content": {"*/*": {}}},
    206: {"description": "The bytes the Range asked for.", "content": {"*/*": {}}},
    304: {"description": "Not modified: the If-None-Match header names the file's ETag."},
    400: {"description": "A malformed Range header.", "content": PLAIN_TEXT},
    416: {"description": "The Range starts past the end of the file.", "content": PLAIN_TEXT},
    **errors(404),
}


def track_public(track, request: Request) -> TrackPublic:
    record = track.to_record()
    # the paths of track_file and track_preview, written out: url_for searches every route each time, and a
    # page of tracks has hundreds of files
    base = f"{request.scope.get('root_path', '')}{API_PREFIX}/tracks/{record.id}"
    files = [FilePublic(name=f.path, size=f.size_bytes, url=f"{base}/files/{f.path}") for f in listed_files(track)]
    has_picture = any(f.name in PREVIEW_SOURCES for f in files)
    meta = record.metadata or {}
    return TrackPublic(
        id=record.id,
        created_at=record.created_at,
        title=record.title,
        mood=record.mood,
        key=record.key,
        bpm=record.bpm,
        duration_s=record.duration_s,
        seed=record.seed,
        model_id=record.model_id,
        preset=record.preset,
        lufs=record.lufs,
        quality=record.quality,
        originality=record.originality,
        chords=meta.get("chords", []),
        instruments=meta.get("instruments", []),
        review=meta.get("review") or [],
        parts=sorted({part_name(p) for p in meta.get("programs") or [] if isinstance(p, int)}),
        varied_from=meta.get("varied_from"),
        files=files,
        preview=f"{base}/preview.jpg" if has_picture else None,
    )


PAGES_KEPT = 256  # distinct pages (filters, limit, offset) whose JSON is kept
_pages: OrderedDict[tuple, tuple[tuple, list[tuple[str, list]], bytes]] = OrderedDict()
_pages_lock = threading.Lock()


def _catalog_version(session) -> tuple:
    """Changes whenever a track is added, removed or updated (``updated_at`` is set on every update)."""
    from sqlalchemy import func, select

    from lofi.catalog.models import Track

    return tuple(session.execute(select(func.count(), func.max(Track.updated_at))).one())


@router.get("", response_model=TracksPublic)
def list_tracks(
    request: Request,
    catalog: CatalogDep,
    mood: str | None = None,
    key: str | None = None,
    bpm_min: Annotated[int | None, Query(ge=0, le=400)] = None,
    bpm_max: Annotated[int | None, Query(ge=0, le=400)] = None,
    since: UTCTime | None = None,
    until: UTCTime | None = None,
    q: Annotated[str | None, Query(max_length=100, description="Text in the title.")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 24,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> TracksPublic:
    """Tracks, newest first, filtered by mood, key, tempo, date and title."""
    # A page is kept as JSON while the catalog's tracks and the page's folders stay as they were: the
    # library is read far more often than it changes (every dashboard's first look), and building a page
    # of 24 tracks and their files costs milliseconds of the one core the event loop has.
    asked = (request.scope.get("root_path", ""), mood, key, bpm_min, bpm_max, since, until, q, limit, offset)
    with catalog.session() as session:
        version = _catalog_version(session)  # before the page is read: a change in between is seen next time
        with _pages_lock:
            kept = _pages.get(asked)
        if kept is not None and kept[0] == version and all(_listing_kept(f, files) for f, files in kept[1]):
            return Response(kept[2], media_type="application/json")
        page = queries.list_tracks(
            session, mood=mood, key=key, bpm_min=bpm_min, bpm_max=bpm_max, since=since, until=until, search=q,
            limit=limit, offset=offset,
        )  # fmt: skip
        items = [track_public(t, request) for t in page.items]
        listings = [(str(t.folder), listed_files(t)) for t in page.items]
    body = TracksPublic(items=items, total=page.total, limit=limit, offset=offset).model_dump_json().encode()
    with _pages_lock:
        _pages[asked] = (version, listings, body)
        _pages.move_to_end(asked)
        while len(_pages) > PAGES_KEPT:
            _pages.popitem(last=False)
    return Response(body, media_type="application/json")


def _track_or_404(session, track_id: str):
    track = queries.get_track(session, track_id)
    if track is None:
        raise HTTPException(404, f"no track {track_id!r}")
    return track


@router.get("/{track_id}", response_model=TrackPublic, responses=errors(404))
def get_track(track_id: str, request: Request, catalog: CatalogDep) -> TrackPublic:
    with catalog.session() as session:
        return track_public(_track_or_404(session, track_id), request)


@router.get(
    "/{track_id}/preview.jpg", name="track_preview", response_class=FileResponse,
    responses={
        **FILE_RESPONSES,
        200: {"description": "A JPEG.", "content": {"image/jpeg": {}}},
        206: {"description": "The bytes of the JPEG the Range asked for.", "content": {"image/jpeg": {}}},
    },
)  # fmt: skip
def track_preview(track_id: str, request: Request, catalog: CatalogDep) -> Response:
    """The track's thumbnail (or cover, or piano roll) as a small JPEG, for lists of tracks.

    Made on the first request and kept in the track folder; made again when the picture is newer.
    """
    with catalog.session() as session:
        track = _track_or_404(session, track_id)
        listed = {f.path for f in served_files(track)}
        folder = Path(track.folder)
    source = next((folder / name for name in PREVIEW_SOURCES if name in listed), None)
    if source is None:
        raise HTTPException(404, f"track {track_id!r} has no picture")
    path = folder / PREVIEW
    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_mtime < source.stat().st_mtime:
            from lofi.publish.art import preview  # Pillow, only when a preview is made

            data = preview(source)
            try:  # atomic: replaces a stale preview, or a symlink planted there
                atomic_write(path, lambda tmp: tmp.write_bytes(data))
            except OSError:  # a library this server may only read: made each time, then
                return Response(data, media_type="image/jpeg")
    except FileNotFoundError:  # the picture went since it was listed (the track was made again)
        raise HTTPException(404, f"track {track_id!r} has no picture") from None
    return send_file(request, path)


@router.get("/{track_id}/files/{name:path}", name="track_file", response_class=FileResponse, responses=FILE_RESPONSES)
def track_file(
    track_id: str, name: Annotated[str, PathParam(max_length=MAX_NAME)], request: Request, catalog: CatalogDep
) -> Response:
    """One file of a track; Range requests are answered with 206, so players can seek."""
    with catalog.session() as session:
        return file_response(request, _track_or_404(session, track_id), name)


@download.get("/download/{filename:path}", response_class=FileResponse, responses=FILE_RESPONSES)
def download_file(
    filename: Annotated[str, PathParam(max_length=MAX_NAME)], request: Request, catalog: CatalogDep
) -> Response:
    """``<track_id>/<file>``, or ``<track_id>.<ext>`` for its track.<ext>, as an attachment."""
    track_id, _, name = filename.partition("/")
    if not name:
        track_id, _, extension = filename.rpartition(".")
        name = f"track.{extension}"
    with catalog.session() as session:
        track = queries.get_track(session, track_id) if track_id else None
        if track is None:
            raise HTTPException(404, f"no such file: {filename}")
        return file_response(request, track, name, attachment=True)


def served_files(track) -> list[queries.TrackFile]:
    """The files of a track the API lists and serves: the folder's, less any symlink.

    ``track_files`` does not go down into symlinked folders, so a symlink can only be the last part.
    """
    folder = Path(track.folder)
    return [f for f in queries.track_files(track) if not (folder / f.path).is_symlink()]


LISTINGS_KEPT = 4096  # track folders whose listing is kept: a few pages of every library
_listings: OrderedDict[str, tuple[tuple[tuple[str, int], ...], list[queries.TrackFile]]] = OrderedDict()
_listings_lock = threading.Lock()


def listed_files(track) -> list[queries.TrackFile]:
    """``served_files``, kept while no folder of the track's tree changes (files are written to a temporary
    and renamed into place, and any rename, addition or removal changes its folder's mtime): a page of
    tracks costs a stat per folder instead of a walk and a stat per file. Files are served only after a
    fresh ``served_files``, so a stale listing can name a file, never serve one."""
    folder = str(track.folder)
    with _listings_lock:
        kept = _listings.get(folder)
    if kept is not None and _unchanged(kept[0]):
        return kept[1]
    try:  # the folders before the files: a change in between is seen at the next look
        signature = tuple((path, os.stat(path).st_mtime_ns) for path, _, _ in os.walk(folder))  # noqa: PTH116
    except OSError:
        signature = ()
    files = served_files(track)
    if signature:
        with _listings_lock:
            _listings[folder] = (signature, files)
            _listings.move_to_end(folder)
            while len(_listings) > LISTINGS_KEPT:
                _listings.popitem(last=False)
    return files


def _unchanged(signature: tuple[tuple[str, int], ...]) -> bool:
    try:
        return all(os.stat(path).st_mtime_ns == mtime for path, mtime in signature)  # noqa: PTH116 (str paths: cheaper)
    except OSError:
        return False


def _listing_kept(folder: str, files: list) -> bool:
    """Whether ``files`` is still the kept listing of ``folder`` and its folders have not changed."""
    with _listings_lock:
        kept = _listings.get(folder)
    return kept is not None and kept[1] is files and _unchanged(kept[0])


def file_response(request: Request, track, name: str, attachment: bool = False) -> Response:
    """``name`` of ``track`` when the track lists it, with Range support and its ETag; 304 when the
    client's If-None-Match names that ETag; 404 otherwise. ``name`` reaches the file system only once
    it is known to be one of the listed files."""
    if name not in {f.path for f in served_files(track)}:
        raise HTTPException(404, f"track {track.id!r} has no file {name!r}")
    filename = f"{track.id}-{name.replace('/', '-')}" if attachment else None
    return send_file(request, Path(track.folder) / name, filename)


def send_file(request: Request, path: Path, filename: str | None = None) -> Response:
    """``path`` with Range support and its ETag; 304 when the client's If-None-Match names that ETag."""
    try:
        stat = path.stat()
    except FileNotFoundError:  # gone since it was listed (the track was made again)
        raise HTTPException(404, f"no file {path.name!r}") from None
    response = FileResponse(path, filename=filename, stat_result=stat)
    etag = response.headers["etag"]
    asked = {tag.strip().removeprefix("W/") for tag in request.headers.get("if-none-match", "").split(",")}
    if etag in asked or "*" in asked:
        return Response(status_code=304, headers={"etag": etag})
    return response
