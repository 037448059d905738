"""A track onto YouTube, now, at a given time or at the next free upload slot, within the day's quota.

Uploads are rows of the catalog's uploads table (scheduled, then uploaded or failed), with the API quota
each spent; an upload that would go over the day's quota (LOFI_YOUTUBE_DAILY_QUOTA, Pacific-time days)
is refused before anything is sent. upload.json in the track folder keeps the API calls by method.
`lofi publish upload`, `lofi daily --publish` and the server's daily set all upload through here; the
clock is a parameter, so the slot arithmetic can be tested at any date.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from lofi.catalog.models import utcnow
from lofi.progress import Progress, no_progress
from lofi.publish.schedule import UploadPattern, next_slots
from lofi.publish.youtube import QuotaExceeded, YouTubeConfig, YouTubeError
from lofi.track import TrackFolder

if TYPE_CHECKING:
    from lofi.catalog import Catalog, UploadRecord
    from lofi.publish.youtube import UploadPlan, UploadResult
    from lofi.settings import Settings

PLATFORM = "youtube"
HOLDING = ("scheduled", "uploaded")  # upload states that hold their slot
Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Publishing:
    """Where uploads go and when: the catalog, the upload pattern and YouTube's config, and the clock."""

    catalog_url: str
    pattern: UploadPattern
    youtube: YouTubeConfig
    clock: Clock = utcnow

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock = utcnow) -> Publishing:
        pattern, youtube = UploadPattern.from_settings(settings), YouTubeConfig.from_settings(settings)
        return cls(settings.catalog_url, pattern, youtube, clock)

    def check_can_upload(self) -> None:
        """Raise TokenFileMissing, with how to make one, unless the YouTube token file exists."""
        from lofi.publish.youtube import SCOPES, TOKEN_HELP, TokenFileMissing

        token = self.youtube.token_file
        if not token.expanduser().is_file():
            how = TOKEN_HELP.format(scope=SCOPES[0], path=token)
            raise TokenFileMissing(f"uploading needs the YouTube token file {token}; {how}")


@dataclass(frozen=True)
class Uploaded:
    """An upload that went through: its catalog row, what YouTube answered and the track's quota so far."""

    track_id: str
    plan: UploadPlan
    record: UploadRecord
    result: UploadResult
    track_quota_units: int


def plan_track_upload(
    folder: Path, publishing: Publishing, *, at: datetime | None = None, next_slot: bool = False, again: bool = False
) -> UploadPlan:
    """What uploading ``folder`` would send, and when it would go public; nothing is sent or recorded."""
    return _plan(folder, publishing, at, next_slot, again, dry_run=True)[0]


class NotOriginal(ValueError):
    """The track's originality check stops its upload: ``flagged`` always, ``review`` unless allowed."""


def check_originality(metadata: dict, allow_review: bool = False) -> None:
    """Raise NotOriginal for a track whose melody copies a reference (flagged) or resembles one (review,
    unless ``allow_review``: a person listened to both); the message names the reference and how close."""
    found = metadata.get("originality") or {}
    verdict = found.get("verdict")
    if verdict not in ("flagged", "review") or (verdict == "review" and allow_review):
        return
    track_id = metadata.get("track_id", "the track")
    match = found.get("match") or {}
    reference = (match.get("reference") or {}).get("id", "a reference melody")
    closeness = f"{reference}, {found.get('score', 0):.0f} bits"
    if verdict == "flagged":
        raise NotOriginal(
            f"{track_id} is not uploaded: its originality check flagged it ({closeness}): {found.get('reason', '')}"
        )
    raise NotOriginal(
        f"{track_id} is not uploaded: its melody resembles {closeness}; listen to both (`lofi check`), "
        "then upload it with --allow-review"
    )


def upload_track(
    folder: Path,
    publishing: Publishing,
    *,
    at: datetime | None = None,
    next_slot: bool = False,
    again: bool = False,
    allow_review: bool = False,
    progress: Progress = no_progress,
) -> Uploaded:
    """Upload the track in ``folder`` (public at ``at``, at the next free slot, or at once).

    Raises ValueError (a bad request, already uploaded without ``again``, NotOriginal for a flagged track
    or one for review without ``allow_review``), QuotaExceeded or YouTubeError.
    """
    from lofi.catalog import open_catalog

    plan, pending, track_id = _plan(folder, publishing, at, next_slot, again, False, allow_review)
    with open_catalog(publishing.catalog_url) as catalog:
        return _send(catalog, folder, track_id, plan, pending, publishing, progress)


def _plan(
    folder: Path,
    publishing: Publishing,
    at: datetime | None,
    next_slot: bool,
    again: bool,
    dry_run: bool,
    allow_review: bool = False,
) -> tuple[UploadPlan, UploadRecord | None, str]:
    from lofi.catalog import open_catalog
    from lofi.catalog.queries import list_uploads
    from lofi.publish.youtube import plan_upload

    if at and next_slot:
        raise ValueError("give a time or the next free slot, not both")
    metadata = TrackFolder(folder).metadata.to_dict()
    if not dry_run:
        check_originality(metadata, allow_review)
    track_id = str(metadata.get("track_id") or folder.name)
    moment = publishing.clock()
    publish_at = at
    with open_catalog(publishing.catalog_url) as catalog, catalog.session() as session:
        uploads = [u.to_record() for u in list_uploads(session) if u.platform == PLATFORM]
    mine = [u for u in uploads if u.track_id == track_id]
    done = [u for u in mine if u.status == "uploaded"]
    if done and not again and not dry_run:
        raise ValueError(f"{track_id} is already on YouTube ({done[-1].url}); --again uploads it once more")
    pending = next((u for u in mine if u.status == "scheduled"), None)
    if next_slot:
        taken = [u.scheduled_at for u in uploads if u.track_id != track_id and u.status in HOLDING]
        (publish_at,) = next_slots(moment, 1, [t for t in taken if t is not None], publishing.pattern)
    elif publish_at is None and pending and pending.scheduled_at and pending.scheduled_at > moment:
        publish_at = pending.scheduled_at  # an interrupted upload keeps its time
    return plan_upload(folder, metadata, publishing.youtube, publish_at, moment), pending, track_id


def _send(
    catalog: Catalog,
    folder: Path,
    track_id: str,
    plan: UploadPlan,
    pending: UploadRecord | None,
    publishing: Publishing,
    progress: Progress,
) -> Uploaded:
    """Check the day's quota, record the upload as scheduled, send it, record how it went."""
    from lofi.catalog.queries import add_quota, add_track, add_upload, quota_used_today, record_upload
    from lofi.publish.youtube import QUOTA_UNITS, YouTubeClient, add_to_record, check_quota

    clock = publishing.clock
    with catalog.session() as session:
        check_quota(plan, quota_used_today(session, PLATFORM, clock()), publishing.youtube.daily_quota)
        add_track(session, folder)
        if pending is not None and pending.scheduled_at == plan.publish_at:
            upload_id = pending.id
        else:
            if pending is not None:
                record_upload(session, pending.id, error="replaced by an upload at another time")
            upload_id = add_upload(session, track_id, PLATFORM, plan.publish_at).id

    def spend(method: str) -> None:  # written at once, so quota spent before a crash is still counted
        with catalog.session() as session:
            add_quota(session, upload_id, QUOTA_UNITS[method], clock())
        add_to_record(folder, {method: 1}, platform=PLATFORM, upload_id=upload_id)

    try:
        result = YouTubeClient(publishing.youtube, spend=spend).upload(plan, progress)
    except YouTubeError as exc:
        with catalog.session() as session:
            record_upload(session, upload_id, error=str(exc))
        add_to_record(folder, status="failed", error=str(exc))
        raise
    with catalog.session() as session:
        row = record_upload(session, upload_id, video_id=result.video_id, url=result.url).to_record()
    record = add_to_record(
        folder, status="uploaded", error=None, video_id=result.video_id, url=result.url,
        publish_at=plan.publish_at.isoformat() if plan.publish_at else None, uploaded_at=clock().isoformat(),
        thumbnail_set=result.thumbnail_set, playlist_item_id=result.playlist_item_id, comment_id=result.comment_id,
        answer=plan.answer, warnings=list(result.warnings),
    )  # fmt: skip
    return Uploaded(track_id, plan, row, result, int(record["quota_units"]))


@dataclass
class UploadRound:
    """How uploading several tracks went: those that went up, those that failed (with why), and those
    left when the day's quota ran out (``lofi publish upload --next-slot`` sends them later)."""

    uploaded: list[Uploaded] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    left: list[str] = field(default_factory=list)
    quota_error: str = ""

    @property
    def ok(self) -> bool:
        return not self.failed and not self.left


def upload_in_turn(
    folders: Sequence[Path],
    publishing: Publishing,
    on_upload: Callable[[Path], Progress] | None = None,
) -> UploadRound:
    """Upload each folder, in order, at the next free slot (one each); a refused quota stops the rest.

    A track already on YouTube is not sent again (a restarted daily set picks up where it stopped).
    ``on_upload(folder)`` may return a progress function for that upload.
    """
    round_ = UploadRound()
    for i, folder in enumerate(folders):
        progress = on_upload(folder) if on_upload is not None else no_progress
        try:
            if _already_uploaded(folder, publishing):
                continue
            round_.uploaded.append(upload_track(folder, publishing, next_slot=True, progress=progress))
        except QuotaExceeded as exc:
            round_.quota_error = str(exc)
            round_.left = [f.name for f in folders[i:]]
            break
        except (YouTubeError, ValueError, OSError) as exc:
            round_.failed.append((folder.name, str(exc)))
    return round_


def _already_uploaded(folder: Path, publishing: Publishing) -> bool:
    from lofi.catalog import open_catalog
    from lofi.catalog.queries import list_uploads

    track_id = str(TrackFolder(folder).metadata.to_dict().get("track_id") or folder.name)
    with open_catalog(publishing.catalog_url) as catalog, catalog.session() as session:
        return bool(list_uploads(session, track_id=track_id, status="uploaded"))


@dataclass(frozen=True)
class Slot:
    """A time in the coming days: a free slot of the pattern, or an upload that holds a time."""

    at: datetime
    track_id: str = ""
    status: str = "free"  # free, scheduled, uploaded; ", off the pattern" when no slot is near


def upcoming_slots(publishing: Publishing, days: int = 7) -> list[Slot]:
    """The pattern's slots of the next ``days`` days and the uploads that hold them, in time order."""
    from datetime import timedelta

    from lofi.catalog import open_catalog
    from lofi.catalog.queries import list_uploads
    from lofi.publish.schedule import slots_between

    if days < 1:
        raise ValueError(f"--days must be at least 1 (got {days})")
    pattern = publishing.pattern
    start = publishing.clock()
    end = start + timedelta(days=days)
    with open_catalog(publishing.catalog_url) as catalog, catalog.session() as session:
        uploads = [
            u.to_record()
            for u in list_uploads(session)
            if u.platform == PLATFORM and u.status in HOLDING and u.scheduled_at and start <= u.scheduled_at < end
        ]
    slots = slots_between(start, end, pattern)

    def near(when: datetime, slot: datetime) -> bool:
        return abs(when - slot) < pattern.gap

    found = [Slot(slot) for slot in slots if not any(near(u.scheduled_at, slot) for u in uploads)]
    for u in uploads:
        on_pattern = any(near(u.scheduled_at, slot) for slot in slots)
        found.append(Slot(u.scheduled_at, u.track_id, u.status if on_pattern else f"{u.status}, off the pattern"))
    return sorted(found, key=lambda slot: slot.at)
