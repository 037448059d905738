"""When to publish: the next free upload slots in the audience's time zone, and the daily job's timer.

A channel publishes at the same few local hours every day (``hours``, e.g. 9, 15 and 20 o'clock where
most of its audience lives, ``timezone``), so viewers learn when new music appears. ``next_slots`` is a
pure function of the clock: it walks those local hours day by day, with ``zoneinfo`` doing the daylight
saving arithmetic, and skips slots already in the past (or too close to now to upload in time) and slots
that an upload in the catalog already holds.

Daylight saving: a slot is a local wall-clock time, so 9:00 stays 9:00 for the audience while its UTC
time moves by an hour twice a year. A local time that does not exist (the skipped hour in spring) is
published an hour later, at the same UTC instant zoneinfo gives it; a local time that happens twice (the
repeated hour in autumn) is published once, at its first occurrence.

The daily set is made at ``daily_time`` in the audience's zone: by `lofi serve` when LOFI_DAILY_TIME is
set (``lofi.jobs.scheduler``, through ``schedule_daily``'s APScheduler cron job), or by cron without the
server (``CRON_TZ`` is cronie's and systemd-cron's; elsewhere write the time in the machine's zone)::

    CRON_TZ=America/New_York
    0 6 * * *  lofi daily --publish >> ~/.lofi/daily.log 2>&1
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:  # APScheduler is needed only by the caller that owns a scheduler
    from apscheduler.job import Job
    from apscheduler.schedulers.base import BaseScheduler
    from apscheduler.triggers.cron import CronTrigger

    from lofi.settings import Settings

DAILY_JOB_ID = "lofi-daily"


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}: use an IANA name such as America/New_York") from None


def _clock(text: str) -> time:
    try:
        return time.fromisoformat(text)
    except ValueError:
        raise ValueError(f"time of day {text!r}: write it as HH:MM, e.g. 06:00") from None


@dataclass(frozen=True)
class UploadPattern:
    """The daily publishing rhythm: local ``hours`` in ``timezone``, and how slots relate to each other.

    ``gap`` is how far another upload must be from a slot for the slot to count as free (two videos
    less than an hour apart split the same audience); ``lead`` is the least time between now and a slot,
    enough to upload and let YouTube process the video before it goes public.
    """

    timezone: str = "America/New_York"
    hours: tuple[int, ...] = (9, 15, 20)
    gap: timedelta = timedelta(hours=1)
    lead: timedelta = timedelta(minutes=30)
    daily_time: str = "06:00"  # local time the daily set is made, early enough for the first slot
    zone: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.hours:
            raise ValueError("upload hours are empty: give at least one local hour (0-23)")
        if any(isinstance(h, bool) or not isinstance(h, int) or not 0 <= h <= 23 for h in self.hours):
            raise ValueError(f"upload hours {list(self.hours)}: each must be a whole hour from 0 to 23")
        hours = tuple(sorted(set(self.hours)))
        if self.gap < timedelta(0) or self.lead < timedelta(0):
            raise ValueError("gap and lead must not be negative")
        _clock(self.daily_time)
        object.__setattr__(self, "hours", hours)
        object.__setattr__(self, "zone", _zone(self.timezone))

    @classmethod
    def from_settings(cls, settings: Settings) -> UploadPattern:
        """The pattern from lofi's Settings (LOFI_AUDIENCE_TIMEZONE, LOFI_UPLOAD_HOURS, LOFI_DAILY_TIME; an
        empty daily time, the server's "no daily set", keeps 06:00 for a crontab's line)."""
        hours = tuple(settings.upload_hours)
        daily_time = settings.daily_time or cls.daily_time
        return cls(timezone=settings.audience_timezone, hours=hours, daily_time=daily_time)

    def local(self, when: datetime) -> datetime:
        """``when`` on the audience's clock."""
        return _aware(when).astimezone(self.zone)


def _aware(when: datetime) -> datetime:
    if when.tzinfo is None:
        raise ValueError(f"naive datetime {when!r}: give the time with its zone (or in UTC)")
    return when


def _utc(when: datetime) -> datetime:
    # Arithmetic and comparisons happen in UTC: between two datetimes of the same zone Python compares
    # wall clocks, which is an hour off across a daylight saving change.
    return _aware(when).astimezone(UTC)


def _day_slots(day: date, pattern: UploadPattern) -> list[datetime]:
    """The day's slots as UTC instants; a local time in the spring gap lands an hour later, as zoneinfo says."""
    return [datetime.combine(day, time(hour), tzinfo=pattern.zone).astimezone(UTC) for hour in pattern.hours]


def slots_between(start: datetime, end: datetime, pattern: UploadPattern = UploadPattern()) -> list[datetime]:
    """Every slot of the pattern from ``start`` (inclusive) to ``end`` (exclusive), taken or not, in order."""
    start, end = _utc(start), _utc(end)
    found: list[datetime] = []
    day = pattern.local(start).date() - timedelta(days=1)  # local dates lag UTC ones west of Greenwich
    while day <= pattern.local(end).date():
        found += [slot for slot in _day_slots(day, pattern) if start <= slot < end and slot not in found]
        day += timedelta(days=1)
    return [pattern.local(slot) for slot in found]


def next_slots(
    now: datetime, n: int, taken: Iterable[datetime] = (), pattern: UploadPattern = UploadPattern()
) -> list[datetime]:
    """The next ``n`` free slots after ``now``, soonest first, as aware datetimes in the audience's zone.

    A slot is free when it is at least ``pattern.lead`` after ``now`` and no time in ``taken`` (the
    scheduled uploads) lies within ``pattern.gap`` of it.
    """
    if n < 0:
        raise ValueError(f"n must not be negative (got {n})")
    earliest = _utc(now) + pattern.lead
    taken = [_utc(t) for t in taken]
    free: list[datetime] = []
    day = pattern.local(earliest).date()

    while len(free) < n:
        for slot in _day_slots(day, pattern):
            # "not in free": two hours can meet in the spring gap (2:00 becomes 3:00, which may be a slot too)
            clear = all(abs(slot - t) >= pattern.gap for t in taken)
            if slot >= earliest and slot not in free and clear and len(free) < n:
                free.append(slot)
        day += timedelta(days=1)
    return [pattern.local(slot) for slot in free]


def schedule_daily(scheduler: BaseScheduler, job: Callable[[], object], settings: Any = None) -> Job:
    """Add (or replace) the job that makes the daily set, every day at the pattern's ``daily_time``, local.

    ``settings`` is lofi's Settings or an ``UploadPattern`` (None: the defaults). The trigger carries the
    audience's zone, so the job keeps its local time across daylight saving changes. A run missed while
    the server was down still happens if it is less than an hour late, once.
    """
    if settings is None:
        pattern = UploadPattern()
    else:
        pattern = settings if isinstance(settings, UploadPattern) else UploadPattern.from_settings(settings)
    return scheduler.add_job(
        job, daily_trigger(pattern), id=DAILY_JOB_ID, name="lofi daily --publish", replace_existing=True,
        coalesce=True, max_instances=1, misfire_grace_time=3600,
    )  # fmt: skip


def daily_trigger(pattern: UploadPattern) -> CronTrigger:
    """APScheduler's trigger for every day at the pattern's ``daily_time`` on the audience's clock."""
    from apscheduler.triggers.cron import CronTrigger

    at = _clock(pattern.daily_time)
    return CronTrigger(hour=at.hour, minute=at.minute, timezone=pattern.zone)


def cron_line(pattern: UploadPattern = UploadPattern(), command: str = "lofi daily --publish") -> str:
    """The crontab lines that do what ``schedule_daily`` does, for machines where the server does not run."""
    at = _clock(pattern.daily_time)
    return f"CRON_TZ={pattern.timezone}\n{at.minute} {at.hour} * * *  {command}"
