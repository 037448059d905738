"""The library: tracks, their files (with HTTP Range, so audio and video seek), and /download."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import FileResponse

from lofi.api.deps import CatalogDep, SettingsDep
from lofi.api.routes import API_PREFIX
from lofi.api.schemas import FilePublic, TrackPublic, TracksPublic
from lofi.catalog import queries

router = APIRouter(prefix=f"{API_PREFIX}/tracks", tags=["tracks"])
download = APIRouter(prefix=API_PREFIX, tags=["tracks"])


def track_public(track, request: Request) -> TrackPublic:
    record = track.to_record()
    files = [
        FilePublic(
            name=f.path, size=f.size_bytes, url=str(request.url_for("track_file", track_id=record.id, name=f.path).path)
        )
        for f in queries.track_files(track)
    ]
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
        files=files,
    )


@router.get("", response_model=TracksPublic)
def list_tracks(
    request: Request,
    catalog: CatalogDep,
    mood: str | None = None,
    key: str | None = None,
    bpm_min: Annotated[int | None, Query(ge=0, le=400)] = None,
    bpm_max: Annotated[int | None, Query(ge=0, le=400)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    q: Annotated[str | None, Query(max_length=100, description="Text in the title.")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 24,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> TracksPublic:
    """Tracks, newest first, filtered by mood, key, tempo, date and title."""
    with catalog.session() as session:
        page = queries.list_tracks(
            session, mood=mood, key=key, bpm_min=bpm_min, bpm_max=bpm_max, since=since, until=until, search=q,
            limit=limit, offset=offset,
        )  # fmt: skip
        return TracksPublic(
            items=[track_public(t, request) for t in page.items], total=page.total, limit=limit, offset=offset
        )


def _track_or_404(session, track_id: str):
    track = queries.get_track(session, track_id)
    if track is None:
        raise HTTPException(404, f"no track {track_id!r}")
    return track


@router.get("/{track_id}", response_model=TrackPublic)
def get_track(track_id: str, request: Request, catalog: CatalogDep) -> TrackPublic:
    with catalog.session() as session:
        return track_public(_track_or_404(session, track_id), request)


@router.get("/{track_id}/files/{name:path}", name="track_file", response_class=FileResponse)
def track_file(track_id: str, name: str, catalog: CatalogDep) -> FileResponse:
    """One file of a track; Range requests are answered with 206, so players can seek."""
    with catalog.session() as session:
        track = _track_or_404(session, track_id)
        known = {f.path for f in queries.track_files(track)}
    if name not in known:
        raise HTTPException(404, f"track {track_id!r} has no file {name!r}")
    return FileResponse(Path(track.folder) / name)


@download.get("/download/{filename:path}", response_class=FileResponse)
def download_file(filename: str, settings: SettingsDep) -> FileResponse:
    """``<track_id>/<file>`` or ``<track_id>.<ext>`` (track.<ext>), from the track folders and nowhere else."""
    root = settings.tracks_dir.resolve()
    relative = Path(filename)
    if len(relative.parts) == 1 and relative.suffix:
        relative = Path(relative.stem) / f"track{relative.suffix}"
    target = (root / relative).resolve()
    # resolve() follows "..", and symlinks: whatever the name says, the file must lie under the tracks folder
    if not target.is_relative_to(root) or len(target.relative_to(root).parts) < 2 or not target.is_file():
        raise HTTPException(404, f"no such file: {filename}")
    return FileResponse(target, filename=f"{target.parent.name}-{target.name}")
