"""The long mix's workflow: which tracks go into it, from the library or composed for it.

``library_tracks`` finds every track with audio in the asked moods (the catalog and LOFI_HOME/tracks);
``choose`` lets the moods take turns until the run is long enough, counted by the long mix's own crossfade
rule (``lofi.render.longmix.mixed_length``); ``compose_tracks`` makes new tracks on the job queue until
they are enough. Nothing here prints: `lofi mix` draws the progress and says the warnings.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import soundfile

from lofi.jobs.batch import batch_requests, run_batch
from lofi.publish import seo
from lofi.render.longmix import mixed_length
from lofi.settings import Settings, get_settings
from lofi.track import METADATA, TrackFolder

if TYPE_CHECKING:
    from lofi.catalog import JobRecord
    from lofi.jobs.pipeline import TrackOptions
    from lofi.jobs.queue import JobQueue

TOP_UPS = 3  # tracks come out a little shorter or longer than asked: compose again twice at most


@dataclass(frozen=True)
class LibraryTrack:
    """A track with audio, as a mix needs it."""

    track_id: str
    title: str
    path: Path  # its track.wav
    duration_s: float
    mood: str
    created: str  # metadata's created_at, or the WAV's modification time; newest first sorts on it


@dataclass(frozen=True)
class Library:
    tracks: list[LibraryTrack]  # newest first
    warnings: tuple[str, ...] = ()  # what the user should hear (an unreadable catalog)


@dataclass(frozen=True)
class Composed:
    tracks: list[LibraryTrack]  # the new tracks, in the order made
    jobs: list[JobRecord]  # every job submitted, failed ones included
    warnings: tuple[str, ...] = ()


def _read(track_id: str, folder: Path) -> LibraryTrack | None:
    """The folder's track, or None when it has no audio (MIDI only) or is not a track folder."""
    wav = folder / "track.wav"
    try:
        metadata = TrackFolder(folder).metadata
        info = soundfile.info(str(wav))
    except (OSError, ValueError, RuntimeError):
        return None
    title = seo.track_name(metadata.to_dict())
    created = str(metadata.created_at or wav.stat().st_mtime)
    return LibraryTrack(track_id, title, wav, info.duration, metadata.requested_mood, created)


def library_tracks(moods: Sequence[str], settings: Settings | None = None) -> Library:
    """Every track with audio in ``moods``, from the catalog and ``settings.tracks_dir``, newest first."""
    from lofi.catalog import open_catalog
    from lofi.catalog.queries import list_tracks

    settings = settings or get_settings()
    folders: dict[str, Path] = {}
    warnings: list[str] = []
    if settings.tracks_dir.is_dir():
        folders |= {p.parent.name: p.parent for p in settings.tracks_dir.glob(f"*/{METADATA}")}
    try:
        with open_catalog(settings.catalog_url) as catalog, catalog.session() as session:
            page, offset = None, 0
            while page is None or offset < page.total:
                page = list_tracks(session, limit=500, offset=offset)
                folders |= {t.id: Path(t.folder) for t in page.items if t.id not in folders}
                offset += 500
    except Exception as exc:  # an unreachable catalog still leaves the folders on disk
        warnings.append(f"the catalog could not be read ({exc}); using {settings.tracks_dir}")
    found = [track for track_id, folder in folders.items() if (track := _read(track_id, folder))]
    found = [track for track in found if track.mood in moods]
    found.sort(key=lambda t: t.created, reverse=True)
    return Library(found, tuple(warnings))


def _length_s(tracks: Sequence[LibraryTrack], crossfade_s: float) -> float:
    return mixed_length([t.duration_s for t in tracks], crossfade_s) if tracks else 0.0


def choose(
    tracks: Sequence[LibraryTrack], moods: Sequence[str], seconds: float, crossfade_s: float
) -> list[LibraryTrack]:
    """Tracks for a mix of at least ``seconds``: the moods take turns, each mood's tracks in the order given
    (``library_tracks``: newest first). ValueError, saying how to get more, when they are not enough."""
    queues = {mood: [t for t in tracks if t.mood == mood] for mood in moods}
    chosen: list[LibraryTrack] = []
    while any(queues.values()):
        for mood in moods:
            if queues[mood] and (not chosen or _length_s(chosen, crossfade_s) < seconds):
                chosen.append(queues[mood].pop(0))
        if chosen and _length_s(chosen, crossfade_s) >= seconds:
            return chosen
    raise ValueError(
        f"the library has {_length_s(chosen, crossfade_s) / 60:.1f} minutes of {', '.join(moods)} tracks with "
        f"audio ({len(chosen)} tracks), the mix needs {seconds / 60:g}: compose them with `lofi mix --new`, "
        "or make more with `lofi batch`"
    )


def compose_tracks(
    open_queue: Callable[[], AbstractContextManager[JobQueue]],
    options: TrackOptions,
    seconds: float,
    moods: Sequence[str],
    track_minutes: float,
    crossfade_s: float,
    *,
    workers: int | None = None,
    seed: int | None = None,
    on_update: Callable[[str, JobRecord], None] | None = None,
    settings: Settings | None = None,
) -> Composed:
    """New tracks in ``moods``, made as jobs on a queue from ``open_queue`` (one per round), until they make
    a mix of at least ``seconds``; ``on_update`` sees every poll of every job (``run_batch``)."""
    made: list[LibraryTrack] = []
    jobs: list[JobRecord] = []
    warnings: list[str] = []
    chooser = random.Random(seed)
    for _ in range(TOP_UPS):
        have = _length_s(made, crossfade_s)
        if made and have >= seconds:
            break
        each = max(track_minutes * 60 - crossfade_s, 1.0)
        count = max(1, math.ceil((seconds - have) / each))
        requests = batch_requests(count, moods, None, None, track_minutes, chooser.randrange(2**31))
        with open_queue() as queue:
            round_jobs = run_batch(queue, requests, options, workers, on_update=on_update)
        jobs += round_jobs
        done = [j.track_id for j in round_jobs if str(j.state) == "done" and j.track_id]
        if not done:
            raise RuntimeError("no track could be made for the mix; see `lofi jobs list --state failed`")
        library = library_tracks(moods, settings)
        warnings += [w for w in library.warnings if w not in warnings]
        found = {t.track_id: t for t in library.tracks}
        made += [found[track_id] for track_id in done if track_id in found]
    return Composed(made, jobs, tuple(warnings))
