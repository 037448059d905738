"""`lofi publish upload` and `lofi publish schedule`: a track onto YouTube, now or at the next good slot.

The upload itself, its slot and its quota are ``lofi.jobs.upload``'s; these commands parse what was asked,
print the plan of a dry run, draw the progress bar and say where the track went.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from lofi.cli.common import console, user_errors
from lofi.settings import get_settings

if TYPE_CHECKING:
    from lofi.jobs.upload import Publishing, Uploaded
    from lofi.publish.schedule import UploadPattern
    from lofi.publish.youtube import UploadPlan, YouTubeConfig

app = typer.Typer(help="Upload tracks to YouTube and plan when they go public.", no_args_is_help=True)


def _folder(target: str) -> Path:
    path = Path(target).expanduser()
    if path.is_dir():
        return path
    folder = get_settings().tracks_dir / target
    if folder.is_dir():
        return folder
    raise FileNotFoundError(f"no track {target!r}: give a track id (a folder in {folder.parent}) or a folder's path")


def _parse_at(text: str, pattern: UploadPattern) -> datetime:
    """An ISO time; one without a zone is on the audience's clock."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--at {text!r}: write an ISO time such as 2025-06-01T15:00 or 2025-06-01T19:00Z") from None
    return when if when.tzinfo else when.replace(tzinfo=pattern.zone)


def _when(moment: datetime | None, pattern: UploadPattern) -> str:
    if moment is None:
        return "at once"
    local = pattern.local(moment)
    return f"{local:%a %Y-%m-%d %H:%M %Z} ({moment.astimezone(UTC):%H:%M} UTC)"


def _size(path: Path | None) -> str:
    return f"{path.name}, {path.stat().st_size / 2**20:.1f} MiB" if path else "none (YouTube picks a frame)"


def _show_plan(plan: UploadPlan, pattern: UploadPattern, config: YouTubeConfig) -> None:
    from lofi.publish import seo
    from lofi.publish.youtube import UploadSession, session_path

    table = Table(title="would send (nothing was sent)", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    table.add_row("title", f"{plan.title}  [dim]({seo.characters(plan.title)}/{seo.TITLE_MAX} characters)")
    table.add_row(
        "description",
        f"{plan.description}\n[dim]({seo.description_bytes(plan.description)}/{seo.DESCRIPTION_MAX} bytes)",
    )
    table.add_row("tags", f"{', '.join(plan.tags)}  [dim]({seo.tags_length(plan.tags)}/{seo.TAGS_MAX})")
    table.add_row("privacy", plan.privacy + (", public at publishAt" if plan.publish_at else ""))
    table.add_row("publishAt", _when(plan.publish_at, pattern))
    table.add_row("category", plan.category_id)
    table.add_row("video", _size(plan.video))
    table.add_row("thumbnail", _size(plan.thumbnail))
    table.add_row("playlist", plan.playlist_id or "none")
    table.add_row("comment", plan.comment or "off")
    table.add_row("answer", plan.answer)
    if session := UploadSession.load(plan.video):
        table.add_row(
            "resumes", f"an earlier upload at byte {session.progress_bytes} ({session_path(plan.video).name})"
        )
    table.add_row("API", f"{', '.join(plan.calls())} to {config.api_url or 'YouTube'}")
    table.add_row("quota", f"{plan.quota_units()} units")
    console.print(table)


def publishing() -> Publishing:
    """Where and when uploads go, from lofi's settings."""
    from lofi.jobs.upload import Publishing

    return Publishing.from_settings(get_settings())


@app.command()
def upload(
    target: Annotated[str, typer.Argument(metavar="TRACK_ID_OR_FOLDER", help="A track id or a track folder.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print what would be sent and send nothing.")] = False,
    at: Annotated[
        str | None, typer.Option(help="Publish at this ISO time (no zone: the audience's); uploaded private till then.")
    ] = None,
    next_slot: Annotated[bool, typer.Option("--next-slot", help="Publish at the next free upload slot.")] = False,
    again: Annotated[
        bool, typer.Option("--again", help="Upload a track that is already on YouTube once more.")
    ] = False,
    allow_review: Annotated[
        bool,
        typer.Option("--allow-review", help="Upload a track whose originality check asks for review (you listened)."),
    ] = False,
) -> None:
    """Upload a track's video.mp4 with its thumbnail, title, description and tags to YouTube."""
    with user_errors():
        from lofi.jobs.upload import plan_track_upload

        if at and next_slot:
            raise ValueError("give --at or --next-slot, not both")
        how = publishing()
        when = _parse_at(at, how.pattern) if at else None
        folder = _folder(target)
        if dry_run:
            plan = plan_track_upload(folder, how, at=when, next_slot=next_slot, again=again)
            _show_plan(plan, how.pattern, how.youtube)
        else:
            upload_with_bar(folder, how, at=when, next_slot=next_slot, again=again, allow_review=allow_review)


def upload_with_bar(folder: Path, how: Publishing, **when) -> Uploaded:
    """Upload with a progress bar, then say where the track went and what it cost."""
    from lofi.jobs.upload import upload_track

    columns = (TextColumn("[bold]{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, disable=not console.is_terminal) as bar:
        task = bar.add_task("uploading", total=1.0)
        done = upload_track(
            folder, how, progress=lambda f, message: bar.update(task, completed=f, description=message), **when
        )
    say_uploaded(done, how.pattern)
    return done


def say_uploaded(done: Uploaded, pattern: UploadPattern) -> None:
    result = done.result
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    resumed = f", resumed at byte {result.resumed_at_bytes}" if result.resumed_at_bytes is not None else ""
    console.print(
        f"[green]uploaded[/] {done.track_id} as {result.url}, public {_when(done.plan.publish_at, pattern)}; "
        f"{result.quota_units} quota units ({done.track_quota_units} for this track in all){resumed}",
        highlight=False,
    )


@app.command()
def schedule(days: Annotated[int, typer.Option(help="How many days ahead to show.")] = 7) -> None:
    """The upload slots of the coming days and the uploads that hold them."""
    with user_errors():
        from lofi.jobs.upload import upcoming_slots
        from lofi.publish.schedule import cron_line

        how = publishing()
        pattern = how.pattern
        table = Table(title=f"upload slots, next {days} days ({pattern.timezone})")
        for column in ("when", "UTC", "track", "status"):
            table.add_column(column)
        for slot in upcoming_slots(how, days):
            local = pattern.local(slot.at)
            status = "[green]free" if slot.status == "free" else slot.status
            table.add_row(f"{local:%a %Y-%m-%d %H:%M %Z}", f"{slot.at.astimezone(UTC):%H:%M}", slot.track_id, status)
        console.print(table)
        daily_time = get_settings().daily_time
        made = (
            f"`lofi serve` makes the daily set at {daily_time} {pattern.timezone}"
            if daily_time
            else "LOFI_DAILY_TIME is not set, so `lofi serve` makes no daily set"
        )
        console.print(f"{made}; without the server, a crontab does it:\n{cron_line(pattern)}", highlight=False)
