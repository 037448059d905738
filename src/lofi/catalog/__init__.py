"""The catalog: tracks, jobs, uploads and schedules in SQLite or PostgreSQL, migrated by Alembic on open."""

from __future__ import annotations

from lofi.catalog.db import Catalog, default_url, open_catalog
from lofi.catalog.models import (
    EventRecord,
    Job,
    JobEvent,
    JobRecord,
    JobState,
    Schedule,
    ScheduleRecord,
    Track,
    TrackRecord,
    Upload,
    UploadRecord,
)

__all__ = [
    "Catalog",
    "EventRecord",
    "Job",
    "JobEvent",
    "JobRecord",
    "JobState",
    "Schedule",
    "ScheduleRecord",
    "Track",
    "TrackRecord",
    "Upload",
    "UploadRecord",
    "default_url",
    "open_catalog",
]
