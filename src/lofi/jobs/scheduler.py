"""The server's daily set, at LOFI_DAILY_TIME on the audience's clock, kept in the catalog.

APScheduler's cron trigger says when (the local time holds across daylight saving changes) and its
background thread wakes the server then. What has run is kept in the catalog's ``schedules`` row, not
in APScheduler's job store, so that:

- a restart never repeats a day: a run first moves the row's ``next_run_at`` on with a compare-and-set,
  and only the process that wins it makes the set, however many servers share the catalog (APScheduler's
  job stores cannot be shared between schedulers);
- a restart never skips a day: a server that starts after a due time it missed (it was down at 06:00)
  finds the row still due and makes that day's set at once. Several missed days make one set, not a
  burst of them.

A crash between the claim and the queueing of the jobs (milliseconds) loses that day's set; the other
order would risk making it twice. The jobs themselves are the queue's, which survives restarts; with
LOFI_DAILY_PUBLISH the set is uploaded when they are done, and a server restarted meanwhile picks that up
again (a track already on YouTube is not sent twice).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from lofi.catalog.models import DAILY_SET
from lofi.jobs.batch import wait_for
from lofi.publish.schedule import UploadPattern, daily_trigger, schedule_daily

if TYPE_CHECKING:
    from apscheduler.schedulers.background import BackgroundScheduler

    from lofi.catalog import Catalog, ScheduleRecord
    from lofi.jobs.queue import JobQueue
    from lofi.settings import Settings

log = logging.getLogger(__name__)
NAME = DAILY_SET
MAKING = "making the set"  # the last run's note until its jobs (and uploads) are done


def rule(pattern: UploadPattern) -> str:
    """What the schedule is, as the catalog keeps it: a changed time or zone starts the count afresh."""
    return f"{pattern.daily_time} {pattern.timezone}"


class DailySchedule:
    """Runs ``make(due)`` once for every day's due time; ``make`` queues the set and returns its job ids.

    ``finish(job_ids)`` (optional) follows a run's jobs to their end (the uploads) on a thread of its
    own, and returns the line the dashboard shows.
    """

    def __init__(
        self,
        catalog: Catalog,
        pattern: UploadPattern,
        make: Callable[[datetime], Sequence[str]],
        finish: Callable[[Sequence[str]], str] | None = None,
    ):
        self.catalog, self.pattern, self.make, self.finish = catalog, pattern, make, finish
        self._scheduler: BackgroundScheduler | None = None
        self._lock = threading.Lock()  # one run at a time in this process (the catalog guards the rest)

    def start(self) -> None:
        from apscheduler.schedulers.background import BackgroundScheduler

        from lofi.catalog.queries import arm_schedule

        now = datetime.now(UTC)
        with self.catalog.session() as session:
            stored = arm_schedule(session, NAME, rule(self.pattern), self._next_after(now)).to_record()
        self._scheduler = BackgroundScheduler(timezone=UTC)
        # the cron job wakes us at each due time; a missed time is caught up below, once, by the catalog
        schedule_daily(self._scheduler, self.run_due, self.pattern)
        self._scheduler.start()
        if stored.next_run_at <= now:
            log.info("the daily set due at %s was missed: making it now", stored.next_run_at.isoformat())
            self._scheduler.add_job(self.run_due, id="lofi-daily-catch-up", replace_existing=True)
        elif self.finish is not None and stored.last_note == MAKING and stored.last_jobs:
            self._finish_later(stored.last_jobs)  # restarted while the set was being made or uploaded

    def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=True)
            self._scheduler = None

    def state(self) -> ScheduleRecord | None:
        from lofi.catalog.queries import get_schedule

        with self.catalog.session() as session:
            row = get_schedule(session, NAME)
            return row.to_record() if row is not None else None

    def run_due(self) -> bool:
        """Make the set if a run is due and nobody has taken it; True if this call made it."""
        from lofi.catalog.queries import claim_run, get_schedule, record_run

        with self._lock:
            now = datetime.now(UTC)
            with self.catalog.session() as session:
                row = get_schedule(session, NAME)
                if row is None or row.next_run_at > now:
                    return False  # not yet, or another server already made it
                due = row.next_run_at
                if not claim_run(session, NAME, due, self._next_after(now)):
                    return False
            log.info("making the daily set due at %s", due.isoformat())
            try:
                job_ids = list(self.make(due))
            except Exception as exc:  # the set is lost, said on the dashboard and in the log; the server goes on
                log.exception("the daily set due at %s could not be queued", due.isoformat())
                with self.catalog.session() as session:
                    record_run(session, NAME, note=f"could not be queued: {exc}")
                return True
            note = MAKING if self.finish is not None else f"queued: {len(job_ids)} tracks"
            with self.catalog.session() as session:
                record_run(session, NAME, jobs=job_ids, note=note)
            if self.finish is not None:
                self._finish_later(job_ids)
            return True

    def _finish_later(self, job_ids: Sequence[str]) -> None:
        def finish() -> None:
            from lofi.catalog.queries import record_run

            try:
                note = self.finish(job_ids)
            except Exception as exc:
                log.exception("the daily set's uploads failed")
                note = f"upload failed: {exc}"
            with self.catalog.session() as session:
                record_run(session, NAME, note=note)

        threading.Thread(target=finish, name="lofi-daily-finish", daemon=True).start()

    def _next_after(self, now: datetime) -> datetime:
        return daily_trigger(self.pattern).get_next_fire_time(None, now).astimezone(UTC)


def daily_schedule(settings: Settings, catalog: Catalog, queue: JobQueue) -> DailySchedule | None:
    """The server's daily set as the settings ask for it; None when LOFI_DAILY_TIME is empty."""
    if not settings.daily_time:
        return None
    from lofi.jobs.daily import DailySet, describe, finish_daily_set, submit_daily_set
    from lofi.jobs.upload import Publishing

    publishing = Publishing.from_settings(settings) if settings.daily_publish else None

    def make(due: datetime) -> list[str]:
        return submit_daily_set(queue, settings, publish=publishing is not None)

    def finish(job_ids: Sequence[str]) -> str:
        if publishing is not None:
            return describe(finish_daily_set(queue, settings, job_ids, publishing))
        return describe(DailySet(wait_for(queue, job_ids, poll_s=1.0), None))

    return DailySchedule(catalog, UploadPattern.from_settings(settings), make, finish)


def check_daily_settings(settings: Settings) -> None:
    """Refuse, before the server starts, a daily time that is not HH:MM or an upload without its token."""
    if not settings.daily_time:
        return
    UploadPattern.from_settings(settings)  # ValueError names a bad time or zone
    if settings.daily_publish:
        from lofi.jobs.upload import Publishing

        Publishing.from_settings(settings).check_can_upload()


__all__ = ["NAME", "DailySchedule", "check_daily_settings", "daily_schedule", "rule"]
