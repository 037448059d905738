"""The catalog's tables: tracks, jobs and their events, uploads, schedules; and the frozen records callers pass on.

Every timestamp is stored and returned in UTC (``UTCDateTime``), so SQLite and PostgreSQL give the same
answers. Schema changes go through a new Alembic revision in ``migrations/versions``; a test checks the
migrated schema against these models.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Named constraints let Alembic drop or alter them later, SQLite's batch mode included.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime in and out: SQLite keeps no zone, PostgreSQL returns the session's."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the catalog stores aware (UTC) datetimes only")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


# The only moves a job can make; anything else is a bug in a caller and raises ValueError.
TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.QUEUED: frozenset({JobState.RUNNING, JobState.CANCELLED}),
    # back to queued when its worker died (requeue_running)
    JobState.RUNNING: frozenset({JobState.DONE, JobState.FAILED, JobState.CANCELLED, JobState.QUEUED}),
    JobState.FAILED: frozenset({JobState.QUEUED}),  # retried by hand
    JobState.DONE: frozenset(),
    JobState.CANCELLED: frozenset(),
}
FINISHED = frozenset({JobState.DONE, JobState.FAILED, JobState.CANCELLED})


def _states_sql() -> str:
    return ", ".join(f"'{s.value}'" for s in JobState)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012 (SQLAlchemy reads this class attribute as it is)
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
    }


class Track(Base):
    """One finished track folder, indexed by what the dashboard filters on; ``meta`` is its metadata.json."""

    __tablename__ = "tracks"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)  # the track_id, also the folder name
    created_at: Mapped[datetime] = mapped_column(index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    mood: Mapped[str] = mapped_column(String(32), index=True)
    key: Mapped[str] = mapped_column(String(32))
    bpm: Mapped[int] = mapped_column(Integer)
    minutes: Mapped[float] = mapped_column(Float)  # as asked for
    duration_s: Mapped[float] = mapped_column(Float)  # as made: the master's length when there is audio
    seed: Mapped[int] = mapped_column(BigInteger)  # seeds go up to 2**32 - 1, past a 32-bit integer
    model_id: Mapped[str] = mapped_column(String(200))
    preset: Mapped[str | None] = mapped_column(String(64))  # None: MIDI only, never rendered
    lufs: Mapped[float | None] = mapped_column(Float)
    folder: Mapped[str] = mapped_column(String(1000))
    title: Mapped[str | None] = mapped_column(String(300))
    fingerprint: Mapped[str | None] = mapped_column(String(64), index=True)
    quality: Mapped[float | None] = mapped_column(Float)
    originality: Mapped[str | None] = mapped_column(String(16))  # clear | review | flagged
    meta: Mapped[dict[str, Any]] = mapped_column("metadata")

    uploads: Mapped[list[Upload]] = relationship(back_populates="track", cascade="all, delete-orphan")

    def to_record(self) -> TrackRecord:
        return TrackRecord(
            id=self.id, created_at=self.created_at, mood=self.mood, key=self.key, bpm=self.bpm,
            minutes=self.minutes, duration_s=self.duration_s, seed=self.seed, model_id=self.model_id,
            preset=self.preset, lufs=self.lufs, folder=Path(self.folder), title=self.title,
            fingerprint=self.fingerprint, quality=self.quality, originality=self.originality, metadata=self.meta,
        )  # fmt: skip


class Job(Base):
    """One piece of queued work (a track, a batch) and where it stands."""

    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint(f"state IN ({_states_sql()})", name="state"),
        CheckConstraint("progress >= 0 AND progress <= 1", name="progress"),
        Index("ix_jobs_state_created_at", "state", "created_at"),  # the claim: oldest queued first
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    kind: Mapped[str] = mapped_column(String(32))  # track | batch
    state: Mapped[str] = mapped_column(String(16), default=JobState.QUEUED)
    request: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # times claimed: a job that kills workers shows
    error: Mapped[str | None] = mapped_column(Text)
    worker_id: Mapped[str | None] = mapped_column(String(200))
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str] = mapped_column(String(500), default="")
    track_id: Mapped[str | None] = mapped_column(ForeignKey("tracks.id", ondelete="SET NULL"), index=True)
    # the generation cache's key: the same fingerprint gives the same MIDI (see ComposeRequest.fingerprint)
    fingerprint: Mapped[str | None] = mapped_column(String(64), index=True)

    events: Mapped[list[JobEvent]] = relationship(
        back_populates="job", cascade="all, delete-orphan", order_by="(JobEvent.at, JobEvent.id)"
    )

    def to_record(self) -> JobRecord:
        return JobRecord(
            id=self.id, kind=self.kind, state=JobState(self.state), request=self.request,
            created_at=self.created_at, started_at=self.started_at, finished_at=self.finished_at,
            attempts=self.attempts, error=self.error, worker_id=self.worker_id, progress=self.progress,
            message=self.message, track_id=self.track_id, fingerprint=self.fingerprint,
        )  # fmt: skip


class JobEvent(Base):
    """One line of a job's history: a change of state or a progress report."""

    __tablename__ = "job_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    state: Mapped[str] = mapped_column(String(16))
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str] = mapped_column(String(500), default="")

    job: Mapped[Job] = relationship(back_populates="events")

    def to_record(self) -> EventRecord:
        return EventRecord(
            job_id=self.job_id, at=self.at, state=JobState(self.state), progress=self.progress, message=self.message
        )


class Upload(Base):
    """A track's upload to one platform: scheduled, then uploaded or failed."""

    __tablename__ = "uploads"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    track_id: Mapped[str] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"), index=True)
    platform: Mapped[str] = mapped_column(String(32))  # youtube
    video_id: Mapped[str | None] = mapped_column(String(200))
    url: Mapped[str | None] = mapped_column(String(1000))
    scheduled_at: Mapped[datetime | None] = mapped_column(index=True)
    uploaded_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16), default="scheduled")  # scheduled | uploaded | failed
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # YouTube Data API units the upload's calls cost (videos.insert 100, thumbnails.set 50, ...), counted
    # as each call is accepted; quota_at is when the last of them was, which day's quota they came out of
    quota_units: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    quota_at: Mapped[datetime | None] = mapped_column(index=True)

    track: Mapped[Track] = relationship(back_populates="uploads")

    def to_record(self) -> UploadRecord:
        return UploadRecord(
            id=self.id, track_id=self.track_id, platform=self.platform, video_id=self.video_id, url=self.url,
            scheduled_at=self.scheduled_at, uploaded_at=self.uploaded_at, status=self.status, error=self.error,
            quota_units=self.quota_units or 0, quota_at=self.quota_at,
        )  # fmt: skip


DAILY_SET = "daily"  # the schedule of the daily set (the only one so far)


class Schedule(Base):
    """A recurring run of the server (the daily set): when it is due next, and what its last run made.

    A run first moves ``next_run_at`` on with a compare-and-set UPDATE, so it happens once however many
    servers share the catalog, and a server started after the due time finds the missed run still due.
    """

    __tablename__ = "schedules"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    rule: Mapped[str] = mapped_column(String(200))  # e.g. "06:00 America/New_York"; a new rule starts afresh
    next_run_at: Mapped[datetime]
    last_run_at: Mapped[datetime | None]  # the due time of the last run (not when it ran)
    last_jobs: Mapped[list[str]] = mapped_column(JSON, default=list)
    last_note: Mapped[str] = mapped_column(Text, default="")  # how the last run went, for the dashboard

    def to_record(self) -> ScheduleRecord:
        return ScheduleRecord(
            name=self.name, rule=self.rule, next_run_at=self.next_run_at, last_run_at=self.last_run_at,
            last_jobs=list(self.last_jobs or []), last_note=self.last_note or "",
        )  # fmt: skip


# Records: plain values that outlive the session, for the API, the CLI and the queue.


@dataclass(frozen=True)
class TrackRecord:
    id: str
    created_at: datetime
    mood: str
    key: str
    bpm: int
    minutes: float
    duration_s: float
    seed: int
    model_id: str
    preset: str | None
    lufs: float | None
    folder: Path
    title: str | None
    fingerprint: str | None
    quality: float | None
    originality: str | None
    metadata: dict[str, Any]


@dataclass(frozen=True)
class JobRecord:
    id: str
    kind: str
    state: JobState
    request: dict[str, Any]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    attempts: int
    error: str | None
    worker_id: str | None
    progress: float
    message: str
    track_id: str | None
    fingerprint: str | None


@dataclass(frozen=True)
class EventRecord:
    job_id: str
    at: datetime
    state: JobState
    progress: float
    message: str


@dataclass(frozen=True)
class UploadRecord:
    id: int
    track_id: str
    platform: str
    video_id: str | None
    url: str | None
    scheduled_at: datetime | None
    uploaded_at: datetime | None
    status: str
    error: str | None
    quota_units: int = 0
    quota_at: datetime | None = None


@dataclass(frozen=True)
class ScheduleRecord:
    name: str
    rule: str
    next_run_at: datetime
    last_run_at: datetime | None
    last_jobs: list[str]
    last_note: str
