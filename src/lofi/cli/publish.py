"""`lofi publish upload` and `lofi publish schedule`: a track onto YouTube, now or at the next good slot.

Uploads are rows of the catalog's uploads table (scheduled, then uploaded or failed), with the API quota
each spent; an upload that would go over the day's quota (LOFI_YOUTUBE_DAILY_QUOTA, Pacific-time days)
is refused before anything is sent. upload.json in the track folder keeps the API calls by method.
``upload_folder`` is the whole command as a function: `lofi daily --publish` calls it for each track.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from lofi.cli.common import console, user_errors
from lofi.settings import get_settings
from lofi.track import TrackFolder

if TYPE_CHECKING:
    from lofi.catalog import Catalog, UploadRecord
    from lofi.publish.schedule import UploadPattern
    from lofi.publish.youtube import UploadPlan, YouTubeConfig

app = typer.Typer(help="Upload tracks to YouTube and plan when they go public.", no_args_is_help=True)
PLATFORM = "youtube"
HOLDING = ("scheduled", "uploaded")  # upload states that hold their slot


def publish_settings() -> tuple[UploadPattern, YouTubeConfig]:
    """The upload pattern and the YouTube config, from lofi's settings."""
    from lofi.publish.schedule import UploadPattern
    from lofi.publish.youtube import YouTubeConfig

    settings = get_settings()
    return UploadPattern.from_settings(settings), YouTubeConfig.from_settings(settings)


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


def now() -> datetime:
    """The commands' clock (tests set it)."""
    return datetime.now(UTC)


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
) -> None:
    """Upload a track's video.mp4 with its thumbnail, title, description and tags to YouTube."""
    with user_errors():
        upload_folder(_folder(target), at=at, next_slot=next_slot, again=again, dry_run=dry_run)


def upload_folder(
    folder: Path, *, at: str | None = None, next_slot: bool = False, again: bool = False, dry_run: bool = False
) -> UploadRecord | None:
    """Upload the track in ``folder`` (at ``at``, at the next free slot, or at once); its uploads row.

    Raises ValueError (bad request, already uploaded), QuotaExceeded or YouTubeError; None for a dry run.
    """
    from lofi.catalog import open_catalog
    from lofi.catalog.queries import list_uploads
    from lofi.publish.schedule import next_slots
    from lofi.publish.youtube import plan_upload

    if at and next_slot:
        raise ValueError("give --at or --next-slot, not both")
    pattern, config = publish_settings()
    metadata = TrackFolder(folder).metadata.to_dict()
    track_id = str(metadata.get("track_id") or folder.name)
    moment = now()
    publish_at = _parse_at(at, pattern) if at else None
    with open_catalog(get_settings().catalog_url) as catalog:
        with catalog.session() as session:
            uploads = [u.to_record() for u in list_uploads(session) if u.platform == PLATFORM]
        mine = [u for u in uploads if u.track_id == track_id]
        done = [u for u in mine if u.status == "uploaded"]
        if done and not again and not dry_run:
            raise ValueError(f"{track_id} is already on YouTube ({done[-1].url}); --again uploads it once more")
        pending = next((u for u in mine if u.status == "scheduled"), None)
        if next_slot:
            taken = [u.scheduled_at for u in uploads if u.track_id != track_id and u.status in HOLDING]
            (publish_at,) = next_slots(moment, 1, [t for t in taken if t is not None], pattern)
        elif publish_at is None and pending and pending.scheduled_at and pending.scheduled_at > moment:
            publish_at = pending.scheduled_at  # an interrupted upload keeps its time
        plan = plan_upload(folder, metadata, config, publish_at, moment)
        if dry_run:
            _show_plan(plan, pattern, config)
            return None
        return _upload(catalog, folder, track_id, plan, pending, pattern, config)


def _upload(
    catalog: Catalog,
    folder: Path,
    track_id: str,
    plan: UploadPlan,
    pending: UploadRecord | None,
    pattern: UploadPattern,
    config: YouTubeConfig,
) -> UploadRecord:
    """Check the day's quota, record the upload as scheduled, send it, record how it went."""
    from lofi.catalog.queries import add_quota, add_track, add_upload, quota_used_today, record_upload
    from lofi.publish.youtube import QUOTA_UNITS, YouTubeClient, YouTubeError, add_to_record, check_quota

    with catalog.session() as session:
        check_quota(plan, quota_used_today(session, PLATFORM, now()), config.daily_quota)
        add_track(session, folder)
        if pending is not None and pending.scheduled_at == plan.publish_at:
            upload_id = pending.id
        else:
            if pending is not None:
                record_upload(session, pending.id, error="replaced by an upload at another time")
            upload_id = add_upload(session, track_id, PLATFORM, plan.publish_at).id

    def spend(method: str) -> None:  # written at once, so quota spent before a crash is still counted
        with catalog.session() as session:
            add_quota(session, upload_id, QUOTA_UNITS[method], now())
        add_to_record(folder, {method: 1}, platform=PLATFORM, upload_id=upload_id)

    columns = (TextColumn("[bold]{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, disable=not console.is_terminal) as bar:
        task = bar.add_task("uploading", total=1.0)
        try:
            client = YouTubeClient(config, spend=spend)
            result = client.upload(plan, lambda f, message: bar.update(task, completed=f, description=message))
        except YouTubeError as exc:
            with catalog.session() as session:
                record_upload(session, upload_id, error=str(exc))
            add_to_record(folder, status="failed", error=str(exc))
            raise
    with catalog.session() as session:
        row = record_upload(session, upload_id, video_id=result.video_id, url=result.url).to_record()
    record = add_to_record(
        folder, status="uploaded", error=None, video_id=result.video_id, url=result.url,
        publish_at=plan.publish_at.isoformat() if plan.publish_at else None, uploaded_at=datetime.now(UTC).isoformat(),
        thumbnail_set=result.thumbnail_set, playlist_item_id=result.playlist_item_id, comment_id=result.comment_id,
        answer=plan.answer, warnings=list(result.warnings),
    )  # fmt: skip
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    resumed = f", resumed at byte {result.resumed_at_bytes}" if result.resumed_at_bytes is not None else ""
    console.print(
        f"[green]uploaded[/] {track_id} as {result.url}, public {_when(plan.publish_at, pattern)}; "
        f"{result.quota_units} quota units ({record['quota_units']} for this track in all){resumed}",
        highlight=False,
    )
    return row


@app.command()
def schedule(days: Annotated[int, typer.Option(help="How many days ahead to show.")] = 7) -> None:
    """The upload slots of the coming days and the uploads that hold them."""
    with user_errors():
        from lofi.catalog import open_catalog
        from lofi.catalog.queries import list_uploads
        from lofi.publish.schedule import cron_line, slots_between

        if days < 1:
            raise ValueError(f"--days must be at least 1 (got {days})")
        pattern, _ = publish_settings()
        start = now()
        end = start + timedelta(days=days)
        with open_catalog(get_settings().catalog_url) as catalog, catalog.session() as session:
            uploads = [
                u.to_record()
                for u in list_uploads(session)
                if u.platform == PLATFORM and u.status in HOLDING and u.scheduled_at and start <= u.scheduled_at < end
            ]
        slots = slots_between(start, end, pattern)

        def near(upload: UploadRecord, slot: datetime) -> bool:
            return abs(upload.scheduled_at - slot) < pattern.gap

        rows = [(slot, "", "[green]free") for slot in slots if not any(near(u, slot) for u in uploads)]
        for u in uploads:
            status = u.status if any(near(u, slot) for slot in slots) else f"{u.status}, off the pattern"
            rows.append((u.scheduled_at, u.track_id, status))
        table = Table(title=f"upload slots, next {days} days ({pattern.timezone})")
        for column in ("when", "UTC", "track", "status"):
            table.add_column(column)
        for when, track, status in sorted(rows, key=lambda row: row[0]):
            local = pattern.local(when)
            table.add_row(f"{local:%a %Y-%m-%d %H:%M %Z}", f"{when.astimezone(UTC):%H:%M}", track, status)
        console.print(table)
        console.print(
            f"The daily set is made at {pattern.daily_time} {pattern.timezone} while `lofi serve` runs; "
            f"without the server, a crontab does it:\n{cron_line(pattern)}",
            highlight=False,
        )
