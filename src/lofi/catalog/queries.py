"""What the dashboard, the API and the queue ask of the catalog: plain functions that take a Session.

None of them commits: the caller's transaction (``Catalog.session()``) does, so several calls make one
atomic change. They return ORM objects, live inside that session; ``to_record()`` turns one into a
frozen record for code outside it. Every datetime going in must be aware; every one coming out is UTC.

Job state changes are compare-and-set UPDATEs (``... WHERE id = :id AND state IN (...)``), so two
processes racing on one job cannot both win, on SQLite or on PostgreSQL.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, case, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from lofi.catalog.models import TRANSITIONS, Job, JobEvent, JobState, Schedule, Track, Upload, utcnow
from lofi.track import TrackFolder

T = TypeVar("T")
# YouTube's API quota is per day from midnight to midnight Pacific time (the Cloud console says so)
QUOTA_ZONE = ZoneInfo("America/Los_Angeles")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list, and how many items the whole list has."""

    items: list[T]
    total: int
    limit: int
    offset: int


def _check_page(limit: int, offset: int) -> None:
    if limit < 1 or offset < 0:
        raise ValueError(f"limit must be at least 1 and offset at least 0 (got {limit} and {offset})")


# ---------------------------------------------------------------------------------------------- tracks


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities as None: metrics can be undefined, and PostgreSQL's JSON refuses NaN."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _created_at(folder: Path, metadata: dict) -> datetime:
    """When the track was made: metadata's ``created_at`` if it says, else when its MIDI was written.

    track.mid is written once, by the compose step, so re-adding a track never moves it in the list.
    """
    if stamp := metadata.get("created_at"):
        when = datetime.fromisoformat(stamp)
        return when if when.tzinfo else when.replace(tzinfo=UTC)
    for name in ("track.mid", "metadata.json"):
        if (folder / name).is_file():
            return datetime.fromtimestamp((folder / name).stat().st_mtime, UTC)
    return utcnow()


def _quality(value: Any) -> float | None:
    # the analysis step writes the metrics as a dict with an overall "quality"; a bare number works too
    score = value.get("quality") if isinstance(value, dict) else value
    return float(score) if isinstance(score, int | float) and math.isfinite(score) else None


def _verdict(value: Any) -> str | None:
    verdict = value.get("verdict") if isinstance(value, dict) else value
    return verdict if isinstance(verdict, str) else None


def track_values(folder: Path, metadata: dict) -> dict[str, Any]:
    """The tracks row (by column name) that a track folder and its metadata.json make."""
    request = metadata.get("request") or {}
    audio = metadata.get("audio") or {}
    try:
        return {
            "id": metadata["track_id"],
            "created_at": _created_at(folder, metadata),
            "updated_at": utcnow(),
            "mood": request["mood"],
            "key": metadata["key"],
            "bpm": int(metadata["bpm"]),
            "minutes": float(request["minutes"]),
            "duration_s": float(audio.get("duration_s", metadata["duration_s"])),
            "seed": int(metadata["seed"]),
            "model_id": metadata["model_id"],
            "preset": audio.get("preset"),
            "lufs": audio.get("lufs"),
            "folder": str(folder.resolve()),
            "title": metadata.get("title"),
            "fingerprint": metadata.get("fingerprint"),
            "quality": _quality(metadata.get("quality")),
            "originality": _verdict(metadata.get("originality")),
            "metadata": _finite(metadata),
        }
    except KeyError as missing:
        raise ValueError(f"{folder / 'metadata.json'} has no {missing}: not a lofi track folder") from None


def add_track(session: Session, folder: Path) -> Track:
    """Add the track in ``folder`` from its metadata.json, or bring its row up to date if it is there.

    Keyed by track_id, in one INSERT ... ON CONFLICT statement: a job run twice, or two processes
    adding the same folder at once, still leave exactly one row.
    """
    folder = Path(folder)
    values = track_values(folder, TrackFolder(folder).metadata.to_dict())
    dialect = session.get_bind().dialect.name
    if dialect in ("sqlite", "postgresql"):
        insert = (sqlite if dialect == "sqlite" else postgresql).insert(Track.__table__).values(**values)
        changed = {name: insert.excluded[name] for name in values if name != "id"}
        session.execute(insert.on_conflict_do_update(index_elements=["id"], set_=changed))
    else:  # other backends: read, then write; fine for one writer
        fields = {("meta" if name == "metadata" else name): value for name, value in values.items()}
        session.merge(Track(**fields))
        session.flush()
    return session.get(Track, values["id"], populate_existing=True)


def get_track(session: Session, track_id: str) -> Track | None:
    return session.get(Track, track_id, populate_existing=True)


def list_tracks(
    session: Session,
    *,
    mood: str | None = None,
    key: str | None = None,
    bpm_min: int | None = None,
    bpm_max: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    search: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page[Track]:
    """Tracks newest first, filtered by every argument given.

    ``bpm_min``/``bpm_max`` are inclusive, ``since`` inclusive and ``until`` exclusive; ``search`` finds
    text anywhere in the title, ignoring case.
    """
    _check_page(limit, offset)
    where: list[ColumnElement[bool]] = []
    if mood is not None:
        where.append(Track.mood == mood)
    if key is not None:
        where.append(Track.key == key)
    if bpm_min is not None:
        where.append(Track.bpm >= bpm_min)
    if bpm_max is not None:
        where.append(Track.bpm <= bpm_max)
    if since is not None:
        where.append(Track.created_at >= since)
    if until is not None:
        where.append(Track.created_at < until)
    if search:
        where.append(Track.title.icontains(search, autoescape=True))
    total = session.scalar(select(func.count()).select_from(Track).where(*where)) or 0
    query = select(Track).where(*where).order_by(Track.created_at.desc(), Track.id.desc())
    items = list(session.scalars(query.limit(limit).offset(offset)))
    return Page(items, total, limit, offset)


@dataclass(frozen=True)
class TrackFile:
    path: str  # relative to the track folder, with forward slashes: stems/bass.flac
    size_bytes: int


def track_files(track: Track) -> list[TrackFile]:
    """The files in a track's folder, sorted; half-written temporaries (dot files) are left out."""
    folder = Path(track.folder)
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if path.is_file() and not any(part.startswith(".") for part in relative.parts):
            found.append(TrackFile(relative.as_posix(), path.stat().st_size))
    return found


# ---------------------------------------------------------------------------------------------- jobs


def _event(session: Session, job_id: str, state: JobState, progress: float, message: str) -> None:
    session.add(JobEvent(job_id=job_id, at=utcnow(), state=state, progress=progress, message=message))


def create_job(session: Session, kind: str, request: dict[str, Any], fingerprint: str | None = None) -> Job:
    """A new queued job; ``fingerprint`` lets the generation cache find it once done."""
    job = Job(
        kind=kind, request=_finite(request), fingerprint=fingerprint, state=JobState.QUEUED,
        created_at=utcnow(), attempts=0, progress=0.0, message="queued",
    )  # fmt: skip
    session.add(job)
    session.flush()
    _event(session, job.id, JobState.QUEUED, 0.0, "queued")
    return job


def get_job(session: Session, job_id: str) -> Job | None:
    # populate_existing: another process may have moved the job since this session last read it
    return session.get(Job, job_id, populate_existing=True)


def list_jobs(
    session: Session, *, state: JobState | str | None = None, kind: str | None = None, limit: int = 50, offset: int = 0
) -> Page[Job]:
    """Jobs newest first, in one state and of one kind when asked."""
    _check_page(limit, offset)
    where: list[ColumnElement[bool]] = []
    if state is not None:
        where.append(Job.state == JobState(state))
    if kind is not None:
        where.append(Job.kind == kind)
    total = session.scalar(select(func.count()).select_from(Job).where(*where)) or 0
    query = select(Job).where(*where).order_by(Job.created_at.desc(), Job.id.desc())
    return Page(list(session.scalars(query.limit(limit).offset(offset))), total, limit, offset)


def transition(
    session: Session,
    job_id: str,
    state: JobState | str,
    *,
    message: str | None = None,
    error: str | None = None,
    track_id: str | None = None,
    worker_id: str | None = None,
) -> Job:
    """Move a job to ``state`` and record the event; ValueError when TRANSITIONS does not allow it.

    Running sets the worker and the start time and counts an attempt; done, failed and cancelled set
    the finish time; queued (a retry) clears what the last run left. LookupError if there is no such job.
    """
    state = JobState(state)
    sources = [source for source, targets in TRANSITIONS.items() if state in targets]
    now = utcnow()
    message = message if message is not None else (error or state.value)
    values: dict[str, Any] = {"state": state, "message": message}
    if state is JobState.RUNNING:
        values |= {"worker_id": worker_id, "started_at": now, "attempts": Job.attempts + 1}
    elif state is JobState.QUEUED:
        values |= {"worker_id": None, "started_at": None, "finished_at": None, "progress": 0.0, "error": None}
    else:
        values["finished_at"] = now
    if state is JobState.DONE:
        values["progress"] = 1.0
    if error is not None:
        values["error"] = error
    if track_id is not None:
        values["track_id"] = track_id
    changed = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.state.in_(sources))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if changed.rowcount != 1:
        current = session.scalar(select(Job.state).where(Job.id == job_id))
        if current is None:
            raise LookupError(f"no job {job_id!r}")
        raise ValueError(f"job {job_id} cannot go from {current} to {state}")
    job = get_job(session, job_id)
    assert job is not None
    _event(session, job_id, state, job.progress, message)
    return job


def claim_next(session: Session, worker_id: str) -> Job | None:
    """Take the oldest queued job for ``worker_id`` (now running), or None when the queue is empty.

    One UPDATE with the pick as its subquery. PostgreSQL locks the picked row and lets other workers
    skip it (FOR UPDATE SKIP LOCKED); SQLite runs one writing statement at a time, and SQLAlchemy leaves
    FOR UPDATE out there. Either way no two workers get the same job.
    """
    oldest = (
        select(Job.id)
        .where(Job.state == JobState.QUEUED)
        .order_by(Job.created_at, Job.id)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    running = {"state": JobState.RUNNING, "worker_id": worker_id, "started_at": utcnow(), "message": "running"}
    claimed = session.execute(
        update(Job)
        .where(Job.id == oldest, Job.state == JobState.QUEUED)
        .values(**running, attempts=Job.attempts + 1)
        .returning(Job.id)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    if claimed is None:
        return None
    _event(session, claimed, JobState.RUNNING, 0.0, f"claimed by {worker_id}")
    return get_job(session, claimed)


def report_progress(session: Session, job_id: str, fraction: float, message: str) -> bool:
    """Record a running job's progress (0..1) and message; False when it is no longer running.

    A worker that gets False stops: the job was cancelled or requeued under it.
    """
    fraction = min(max(float(fraction), 0.0), 1.0)
    changed = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.state == JobState.RUNNING)
        .values(progress=fraction, message=message)
        .execution_options(synchronize_session=False)
    )
    if changed.rowcount != 1:
        return False
    _event(session, job_id, JobState.RUNNING, fraction, message)
    return True


def requeue_running(session: Session, worker_id: str | None = None, refund: bool = False) -> list[str]:
    """Put running jobs back in the queue after a restart; only ``worker_id``'s when given.

    Returns the ids requeued. Without ``worker_id`` it takes every running job, which is right for
    the embedded queue (one server owns all its workers) but not while other machines' workers run.
    ``refund``: the worker was stopped on purpose (a graceful shutdown), so the attempt does not count
    against the job's attempts (those count workers that died running it).
    """
    where = [Job.state == JobState.RUNNING]
    if worker_id is not None:
        where.append(Job.worker_id == worker_id)
    values: dict = {
        "state": JobState.QUEUED,
        "worker_id": None,
        "started_at": None,
        "progress": 0.0,
        "message": "requeued",
    }
    if refund:
        values["attempts"] = case((Job.attempts > 0, Job.attempts - 1), else_=0)
    ids = session.execute(
        update(Job).where(*where).values(**values).returning(Job.id).execution_options(synchronize_session=False)
    ).scalars()
    requeued = sorted(ids)
    for job_id in requeued:
        _event(session, job_id, JobState.QUEUED, 0.0, "requeued after a restart")
    return requeued


def job_history(session: Session, job_id: str) -> list[JobEvent]:
    """A job's events, oldest first."""
    query = select(JobEvent).where(JobEvent.job_id == job_id).order_by(JobEvent.at, JobEvent.id)
    return list(session.scalars(query))


def find_done_job(session: Session, fingerprint: str) -> Job | None:
    """The newest finished job with this fingerprint: the generation cache's persistent side."""
    query = (
        select(Job)
        .where(Job.fingerprint == fingerprint, Job.state == JobState.DONE)
        .order_by(Job.finished_at.desc())
        .limit(1)
    )
    return session.scalar(query)


def queue_length(session: Session) -> int:
    """How many jobs wait to be claimed."""
    return session.scalar(select(func.count()).select_from(Job).where(Job.state == JobState.QUEUED)) or 0


# ---------------------------------------------------------------------------------------------- uploads


def add_upload(session: Session, track_id: str, platform: str, scheduled_at: datetime | None = None) -> Upload:
    """Schedule a track's upload to ``platform``."""
    upload = Upload(
        track_id=track_id, platform=platform, scheduled_at=scheduled_at, status="scheduled", created_at=utcnow()
    )
    session.add(upload)
    session.flush()
    return upload


def record_upload(
    session: Session, upload_id: int, *, video_id: str | None = None, url: str | None = None, error: str | None = None
) -> Upload:
    """An upload's outcome: uploaded with its video id and URL, or failed with ``error``."""
    upload = session.get(Upload, upload_id)
    if upload is None:
        raise LookupError(f"no upload {upload_id}")
    if error is not None:
        upload.status, upload.error = "failed", error
    else:
        upload.status, upload.video_id, upload.url, upload.uploaded_at = "uploaded", video_id, url, utcnow()
    session.flush()
    return upload


def list_uploads(session: Session, *, track_id: str | None = None, status: str | None = None) -> list[Upload]:
    """Uploads by scheduled time (unscheduled last), for one track or in one status when asked."""
    where: list[ColumnElement[bool]] = []
    if track_id is not None:
        where.append(Upload.track_id == track_id)
    if status is not None:
        where.append(Upload.status == status)
    query = select(Upload).where(*where).order_by(Upload.scheduled_at.asc().nulls_last(), Upload.id)
    return list(session.scalars(query))


def add_quota(session: Session, upload_id: int, units: int, at: datetime | None = None) -> Upload:
    """Count ``units`` more API quota against an upload, spent ``at`` (now); one UPDATE, so two
    processes adding at once both count."""
    at = at or utcnow()
    if at.tzinfo is None:
        raise ValueError(f"naive datetime {at!r}: give the time with its zone")
    changed = session.execute(
        update(Upload)
        .where(Upload.id == upload_id)
        .values(quota_units=Upload.quota_units + int(units), quota_at=at)
        .execution_options(synchronize_session=False)
    )
    if changed.rowcount != 1:
        raise LookupError(f"no upload {upload_id}")
    upload = session.get(Upload, upload_id, populate_existing=True)
    assert upload is not None
    return upload


def quota_day(now: datetime | None = None) -> tuple[datetime, datetime]:
    """The YouTube quota day around ``now``: its start (inclusive) and end (exclusive) in UTC.

    Days are midnight to midnight in Los Angeles, so a day is 23 or 25 hours long across daylight saving.
    """
    now = now or utcnow()
    if now.tzinfo is None:
        raise ValueError(f"naive datetime {now!r}: give the time with its zone")
    local = now.astimezone(QUOTA_ZONE).date()
    start = datetime.combine(local, time(), QUOTA_ZONE)
    end = datetime.combine(local + timedelta(days=1), time(), QUOTA_ZONE)
    return start.astimezone(UTC), end.astimezone(UTC)


def quota_used_today(session: Session, platform: str = "youtube", now: datetime | None = None) -> int:
    """API units the uploads to ``platform`` spent on the current quota day (Pacific time, as YouTube counts)."""
    start, end = quota_day(now)
    used = session.scalar(
        select(func.coalesce(func.sum(Upload.quota_units), 0)).where(
            Upload.platform == platform, Upload.quota_at >= start, Upload.quota_at < end
        )
    )
    return int(used or 0)


# ---------------------------------------------------------------------------------------------- schedules


def get_schedule(session: Session, name: str) -> Schedule | None:
    return session.get(Schedule, name, populate_existing=True)


def arm_schedule(session: Session, name: str, rule: str, next_run_at: datetime) -> Schedule:
    """The schedule ``name`` as stored, created with ``next_run_at`` if new; a changed ``rule`` (another
    time or zone) starts it afresh at ``next_run_at``, keeping its last run."""
    schedule = get_schedule(session, name)
    if schedule is None:
        schedule = Schedule(name=name, rule=rule, next_run_at=next_run_at, last_jobs=[], last_note="")
        session.add(schedule)
    elif schedule.rule != rule:
        schedule.rule, schedule.next_run_at = rule, next_run_at
    session.flush()
    return schedule


def claim_run(session: Session, name: str, due: datetime, next_run_at: datetime) -> bool:
    """Take the run of ``name`` due at ``due``: move it on to ``next_run_at`` if nobody has (compare and
    set). True for the one caller that wins; False if the run was taken or the schedule changed."""
    changed = session.execute(
        update(Schedule)
        .where(Schedule.name == name, Schedule.next_run_at == due)
        .values(next_run_at=next_run_at, last_run_at=due, last_jobs=[], last_note="starting")
        .execution_options(synchronize_session=False)
    )
    return changed.rowcount == 1


def record_run(session: Session, name: str, *, jobs: list[str] | None = None, note: str | None = None) -> Schedule:
    """What the last run of ``name`` made (job ids) and how it went (a line for the dashboard)."""
    schedule = get_schedule(session, name)
    if schedule is None:
        raise LookupError(f"no schedule {name!r}")
    if jobs is not None:
        schedule.last_jobs = list(jobs)
    if note is not None:
        schedule.last_note = note
    session.flush()
    return schedule
