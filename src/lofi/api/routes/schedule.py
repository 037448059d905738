"""When the server makes the daily set next, and how its last one went (the dashboard shows both)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field

from lofi.api.deps import CatalogDep, SettingsDep
from lofi.api.routes import API_PREFIX

router = APIRouter(prefix=API_PREFIX, tags=["schedule"])


class DailySchedule(BaseModel):
    enabled: bool = Field(description="LOFI_DAILY_TIME is set: the server makes the daily set by itself.")
    time: str = Field(description="Local time of the daily set (HH:MM), empty when off.")
    timezone: str = Field(description="The audience's time zone the time is in (LOFI_AUDIENCE_TIMEZONE).")
    count: int = Field(description="Tracks in a set (LOFI_DAILY_COUNT).")
    moods: list[str]
    publish: bool = Field(description="The set is uploaded to YouTube (LOFI_DAILY_PUBLISH).")
    next_run_at: datetime | None = Field(description="When the next set is due (UTC); null when off.")
    last_run_at: datetime | None = Field(description="The due time of the last set made (UTC).")
    last_note: str = Field(description="How the last set went.")
    last_jobs: list[str] = Field(description="The jobs of the last set.")


class Schedule(BaseModel):
    daily: DailySchedule


@router.get("/schedule", response_model=Schedule)
def schedule(settings: SettingsDep, catalog: CatalogDep) -> Schedule:
    """The daily set: its settings, when it is due next and how the last one went (kept in the catalog,
    so every server sharing it answers the same)."""
    from lofi.catalog.models import DAILY_SET
    from lofi.catalog.queries import get_schedule

    with catalog.session() as session:
        row = get_schedule(session, DAILY_SET)
        stored = row.to_record() if row is not None else None
    enabled = bool(settings.daily_time)
    return Schedule(
        daily=DailySchedule(
            enabled=enabled, time=settings.daily_time, timezone=settings.audience_timezone,
            count=settings.daily_count, moods=list(settings.daily_moods), publish=settings.daily_publish,
            next_run_at=stored.next_run_at if stored and enabled else None,
            last_run_at=stored.last_run_at if stored else None,
            last_note=stored.last_note if stored else "", last_jobs=stored.last_jobs if stored else [],
        )
    )  # fmt: skip
