"""The daily set: LOFI_DAILY_COUNT tracks of LOFI_DAILY_MINUTES cycling through LOFI_DAILY_MOODS, made as
jobs on the queue and, when asked, uploaded to go public at the next free slots.

`lofi daily` makes it now and waits; `lofi serve` makes it at LOFI_DAILY_TIME (``lofi.jobs.scheduler``),
submitting the jobs to its own workers and uploading when they are done.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lofi.jobs.batch import batch_requests, run_batch, wait_for

if TYPE_CHECKING:
    from lofi.catalog import JobRecord
    from lofi.compose.request import ComposeRequest
    from lofi.jobs.pipeline import TrackOptions
    from lofi.jobs.queue import JobQueue
    from lofi.jobs.upload import Publishing, UploadRound
    from lofi.progress import Progress
    from lofi.settings import Settings


def daily_requests(settings: Settings) -> list[ComposeRequest]:
    """The day's requests: a lo-fi key and tempo each, a fresh seed each (the job fixes it when submitted)."""
    from lofi.moods import check_mood

    moods = [check_mood(m) for m in settings.daily_moods]
    return batch_requests(settings.daily_count, moods, minutes=settings.daily_minutes)


def daily_options(settings: Settings, publish: bool) -> TrackOptions:
    """Audio always (a channel posts sound); the video only when the set is uploaded."""
    from lofi.jobs.options import track_options

    return track_options(settings, audio=True, video=publish)


@dataclass(frozen=True)
class DailySet:
    jobs: list[JobRecord]
    uploads: UploadRound | None  # None: not asked to upload

    @property
    def ok(self) -> bool:
        made = all(str(job.state) == "done" for job in self.jobs)
        return made and (self.uploads is None or self.uploads.ok)


def made_folders(settings: Settings, jobs: Sequence[JobRecord]) -> list[Path]:
    """The track folders of the jobs that finished, in the order they were asked for."""
    return [settings.tracks_dir / job.track_id for job in jobs if str(job.state) == "done" and job.track_id]


def make_daily_set(
    queue: JobQueue,
    settings: Settings,
    publishing: Publishing | None = None,
    workers: int | None = None,
    on_submit: Callable[[list[str]], None] | None = None,
    on_update: Callable[[str, JobRecord], None] | None = None,
    on_upload: Callable[[Path], Progress] | None = None,
) -> DailySet:
    """Make the day's set on ``queue`` and wait for it; upload it through ``publishing`` when given.

    With ``publishing`` the token file is checked before anything is composed, so a missing one costs
    seconds, not the set.
    """
    if publishing is not None:
        publishing.check_can_upload()
    requests = daily_requests(settings)
    jobs = run_batch(queue, requests, daily_options(settings, publishing is not None), workers, on_submit, on_update)
    uploads = upload_daily(settings, jobs, publishing, on_upload) if publishing is not None else None
    return DailySet(jobs, uploads)


def submit_daily_set(queue: JobQueue, settings: Settings, publish: bool) -> list[str]:
    """Queue the day's set for workers that are already running; the job ids, at once."""
    options = daily_options(settings, publish)
    return [queue.submit(request, options) for request in daily_requests(settings)]


def finish_daily_set(queue: JobQueue, settings: Settings, job_ids: Sequence[str], publishing: Publishing) -> DailySet:
    """Wait for the queued set (``submit_daily_set``) and upload what was made."""
    jobs = wait_for(queue, job_ids, poll_s=1.0)
    return DailySet(jobs, upload_daily(settings, jobs, publishing))


def upload_daily(
    settings: Settings,
    jobs: Sequence[JobRecord],
    publishing: Publishing,
    on_upload: Callable[[Path], Progress] | None = None,
) -> UploadRound:
    from lofi.jobs.upload import upload_in_turn

    return upload_in_turn(made_folders(settings, jobs), publishing, on_upload)


def describe(day_set: DailySet) -> str:
    """One line on how the set went, for the dashboard and the logs."""
    made = sum(str(job.state) == "done" for job in day_set.jobs)
    line = f"{made} of {len(day_set.jobs)} tracks made"
    uploads = day_set.uploads
    if uploads is not None:
        line += f"; {len(uploads.uploaded)} uploaded"
        if uploads.failed:
            line += "; upload failed: " + ", ".join(f"{name} ({why})" for name, why in uploads.failed)
        if uploads.left:
            line += f"; not uploaded (quota): {', '.join(uploads.left)}"
    return line
