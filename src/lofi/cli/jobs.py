"""Jobs from the command line: `lofi batch`, `lofi daily`, `lofi interactive`, `lofi worker`, `lofi jobs ...`.

Every track here is a job in the catalog, run by the queue's workers (embedded processes by default,
Celery when LOFI_QUEUE_URL names a Redis), exactly as the server runs them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.prompt import Confirm, FloatPrompt, IntPrompt, Prompt
from rich.table import Table

from lofi.cli.common import console, user_errors
from lofi.jobs.batch import ENDED, batch_requests
from lofi.moods import MOODS
from lofi.settings import get_settings

if TYPE_CHECKING:
    from lofi.catalog import JobRecord

app = typer.Typer(help="List, show and cancel jobs.", no_args_is_help=True)


def job_queue(workers: int | None = None):
    """The settings' job queue (embedded workers, or Celery with LOFI_QUEUE_URL), not yet started."""
    from lofi.jobs.backends import open_queue
    from lofi.jobs.queue import QueueConfig

    config = QueueConfig.from_settings(get_settings(), **({"workers": workers} if workers else {}))
    return open_queue(config)


@contextmanager
def job_bars() -> Iterator[Callable[[str, JobRecord], None]]:
    """A progress bar per job, added when the job is first seen, and at the end (failed or not) the table of
    the jobs as last seen; yields the ``on_update`` that draws them."""
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[note]}"), TimeElapsedColumn())
    started = time.monotonic()
    last: dict[str, JobRecord] = {}
    try:
        with Progress(*columns, console=console) as progress:
            tasks: dict[str, TaskID] = {}

            def update(job_id: str, job: JobRecord) -> None:
                if job_id not in tasks:
                    r = job.request["compose"]
                    label = f"{r['mood']} {r['key']} {r['bpm']} BPM"
                    tasks[job_id] = progress.add_task(label, total=1.0, note="queued")
                last[job_id] = job
                ended = str(job.state) in ENDED
                note = str(job.state) if ended else job.message or str(job.state)
                progress.update(tasks[job_id], completed=1.0 if ended else job.progress, note=note)

            yield update
    finally:
        if last:  # what failed is worth seeing when the caller stops on it
            _summary(list(last.values()), time.monotonic() - started)


def run_jobs(requests: list, options, workers: int) -> list:
    """Run the requests as jobs (``lofi.jobs.batch``), with a progress bar per job; the finished jobs."""
    from lofi.jobs.batch import run_batch

    with job_queue(workers) as queue, job_bars() as update:
        return run_batch(queue, requests, options, workers, on_update=update)


def _summary(jobs: list, seconds: float) -> None:
    table = Table(title=f"{sum(str(j.state) == 'done' for j in jobs)} of {len(jobs)} done in {seconds:.0f} s")
    for column in ("track", "state", "time", "note"):
        table.add_column(column)
    for job in jobs:
        took = (job.finished_at - job.started_at).total_seconds() if job.finished_at and job.started_at else None
        table.add_row(
            job.track_id or job.request["compose"]["mood"],
            {"done": "[green]done", "failed": "[red]failed"}.get(str(job.state), str(job.state)),
            f"{took:.0f} s" if took is not None else "-",
            job.error or job.message,
        )
    console.print(table)


def _moods(text: str | None) -> list[str]:
    from lofi.moods import check_mood

    return [check_mood(m.strip()) for m in text.split(",")] if text else list(MOODS)


def batch(
    count: Annotated[int, typer.Option(help="How many tracks.")] = 10,
    workers: Annotated[int, typer.Option(help="Tracks made at once (worker processes).")] = 2,
    moods: Annotated[
        str | None, typer.Option(help=f"Comma-separated moods to cycle through (default all: {', '.join(MOODS)}).")
    ] = None,
    key: Annotated[str | None, typer.Option(help="One key for all; default a lo-fi key per track.")] = None,
    bpm: Annotated[int | None, typer.Option(help="One tempo for all; default 64-91 BPM per track.")] = None,
    minutes: Annotated[float, typer.Option(help="Length of each track in minutes.")] = 2.0,
    seed: Annotated[
        int | None, typer.Option(help="Seed of the first track (track i: seed + i); random when left out.")
    ] = None,
    audio: Annotated[bool, typer.Option("--audio/--no-audio", help="Render and master the audio.")] = True,
    preset: Annotated[str | None, typer.Option(help="Effects preset (see `lofi presets`).")] = None,
    video: Annotated[bool, typer.Option("--video/--no-video", help="Also make video.mp4.")] = False,
) -> None:
    """Make several tracks in parallel, with a progress bar per job and a summary table."""
    with user_errors():
        from lofi.cli.render import track_options

        if count < 1 or workers < 1:
            raise ValueError("--count and --workers must be at least 1")
        requests = batch_requests(count, _moods(moods), key, bpm, minutes, seed)
        jobs = run_jobs(requests, track_options(audio, preset, None, None, video), workers)
    if any(str(j.state) != "done" for j in jobs):
        raise typer.Exit(1)


def daily(
    publish: Annotated[
        bool,
        typer.Option(help="Make each track's video and upload it to YouTube, to go public at the next free slots."),
    ] = False,
    workers: Annotated[int, typer.Option(help="Tracks made at once.")] = 2,
) -> None:
    """Make the day's set: LOFI_DAILY_COUNT tracks cycling through LOFI_DAILY_MOODS (and upload them)."""
    with user_errors():
        from lofi.cli.publish import publishing, say_uploaded
        from lofi.jobs.daily import make_daily_set

        settings = get_settings()
        how = publishing() if publish else None
        with job_queue(workers) as queue, job_bars() as update:
            day_set = make_daily_set(queue, settings, how, workers, on_update=update)
        uploads = day_set.uploads
        if uploads is not None and how is not None:
            for done in uploads.uploaded:
                say_uploaded(done, how.pattern)
            for name, why in uploads.failed:
                console.print(f"[bold red]upload of {name} failed:[/] {why}", highlight=False)
            if uploads.left:
                console.print(
                    f"[bold red]error:[/] {uploads.quota_error}\nnot uploaded: {', '.join(uploads.left)}",
                    highlight=False,
                )
    if not day_set.ok:
        raise typer.Exit(1)


def interactive() -> None:
    """A guided prompt: mood, tempo, key, length and preset; makes the track, then offers another."""
    from lofi.compose import ComposeRequest
    from lofi.render.presets import DEFAULT_PRESET, PRESETS

    while True:
        with user_errors():
            mood = Prompt.ask("mood", choices=list(MOODS), default="chill", console=console)
            bpm = IntPrompt.ask("tempo (BPM, 50-130)", default=75, console=console)
            key = Prompt.ask("key (e.g. D minor, Bb major)", default="D minor", console=console)
            minutes = FloatPrompt.ask("length in minutes (0.25-10)", default=2.0, console=console)
            preset = Prompt.ask("preset", choices=list(PRESETS), default=DEFAULT_PRESET, console=console)
            from lofi.cli.render import track_options

            request = ComposeRequest(mood=mood, bpm=bpm, key=key, minutes=minutes)
            (job,) = run_jobs([request], track_options(True, preset, None, None), workers=1)
            if job.track_id:
                console.print(f"[bold]{job.track_id}[/] in {get_settings().tracks_dir / job.track_id}")
        if not Confirm.ask("make another?", default=True, console=console):
            return


def worker(
    concurrency: Annotated[int | None, typer.Option(help="Jobs at once (default LOFI_WORKERS).")] = None,
) -> None:
    """Run job workers in the foreground: Celery's when LOFI_QUEUE_URL is set, embedded ones otherwise."""
    with user_errors():
        from lofi.jobs.backends import run_worker
        from lofi.jobs.queue import QueueConfig

        config = QueueConfig.from_settings(get_settings())
        kind = f"Celery on {config.queue_url}" if config.queue_url else f"embedded, catalog {config.catalog_url}"
        console.print(f"lofi worker ({kind}); Ctrl+C stops it")
        run_worker(config, concurrency)


@app.command("list")
def list_jobs(
    state: Annotated[str | None, typer.Option(help="queued, running, done, failed or cancelled.")] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20,
) -> None:
    """Jobs, newest first."""
    with user_errors():
        with job_queue() as queue:
            page = queue.list(state=state, limit=limit)
        table = Table(title=f"{page.total} jobs" + (f" {state}" if state else ""))
        for column in ("id", "state", "progress", "created", "track", "note"):
            table.add_column(column)
        for job in page.items:
            table.add_row(
                job.id[:8], str(job.state), f"{job.progress:.0%}", job.created_at.strftime("%Y-%m-%d %H:%M"),
                job.track_id or "-", job.error or job.message,
            )  # fmt: skip
        console.print(table)


def _find(queue, job_id: str):
    """A job by its id or the first characters of it, as `lofi jobs list` shows them."""
    if not job_id.strip():
        raise ValueError("give a job id (see `lofi jobs list`)")
    try:
        return queue.status(job_id)
    except LookupError:
        matches = [j for j in queue.list(limit=1000).items if j.id.startswith(job_id)]
        if len(matches) != 1:
            raise ValueError(f"no job {job_id!r}" if not matches else f"{job_id!r} names several jobs") from None
        return matches[0]


@app.command()
def show(job_id: Annotated[str, typer.Argument(help="The job's id (or its first characters).")]) -> None:
    """A job, its request and its history."""
    with user_errors():
        with job_queue() as queue:
            job = _find(queue, job_id)
            events = queue.events(job.id)
        console.print(f"[bold]{job.id}[/] {job.state} {job.progress:.0%} {job.error or job.message}")
        console.print(job.request)
        table = Table(title="history")
        for column in ("at", "state", "progress", "message"):
            table.add_column(column)
        for event in events:
            table.add_row(event.at.strftime("%H:%M:%S"), str(event.state), f"{event.progress:.0%}", event.message)
        console.print(table)


@app.command()
def cancel(job_id: Annotated[str, typer.Argument(help="The job's id (or its first characters).")]) -> None:
    """Cancel a queued or running job."""
    with user_errors():
        with job_queue() as queue:
            job = queue.cancel(_find(queue, job_id).id)
        console.print(f"{job.id}: {job.state}")
