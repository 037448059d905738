"""`lofi mix`: the long "beats to study to" post: many tracks, one crossfaded, mastered mix with its video.

Tracks come from the catalog and LOFI_HOME/tracks (``--from-catalog``, the default: those with audio in
the asked moods, the moods taking turns, newest first) or are composed for the mix (``--new``, through
the same queue and pipeline as `lofi batch`). The mix goes to ``<LOFI_HOME>/mixes/<mix_id>/`` (or
``--out``): mix.flac, mix.mp3, cover.png, thumbnail.png, video.mp4 and metadata.json, whose description
carries the tracklist with a time for each track at the middle of its crossfade.
"""

from __future__ import annotations

import itertools
import math
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from lofi.cli.common import console, user_errors
from lofi.moods import MOODS
from lofi.settings import get_settings
from lofi.track import METADATA, TrackFolder


def _mix_length_s(durations: list[float], crossfade_s: float) -> float:
    """How long tracks of these lengths make, crossfaded (each fade at most half of either track)."""
    fades = sum(min(crossfade_s, a / 2, b / 2) for a, b in itertools.pairwise(durations))
    return sum(durations) - fades


def library_tracks(moods: list[str]) -> list[dict]:
    """Every track with audio in the asked moods, from the catalog and LOFI_HOME/tracks, newest first:
    dicts of track_id, title, path (track.wav), duration_s, mood, created."""
    import soundfile

    from lofi.publish import seo

    settings = get_settings()
    folders: dict[str, Path] = {}
    if settings.tracks_dir.is_dir():
        folders |= {p.parent.name: p.parent for p in settings.tracks_dir.glob(f"*/{METADATA}")}
    try:
        from lofi.catalog import open_catalog
        from lofi.catalog.queries import list_tracks

        with open_catalog(settings.catalog_url) as catalog, catalog.session() as session:
            page, offset = None, 0
            while page is None or offset < page.total:
                page = list_tracks(session, limit=500, offset=offset)
                folders |= {t.id: Path(t.folder) for t in page.items if t.id not in folders}
                offset += 500
    except Exception as exc:  # an unreachable catalog still leaves the folders on disk
        console.print(f"[yellow]warning:[/] the catalog could not be read ({exc}); using {settings.tracks_dir}")
    found = []
    for track_id, folder in folders.items():
        wav = folder / "track.wav"
        try:
            metadata = TrackFolder(folder).metadata
            info = soundfile.info(str(wav))
        except (OSError, ValueError, RuntimeError):
            continue  # no audio (MIDI only) or not a track folder
        mood = metadata.requested_mood
        if mood not in moods:
            continue
        found.append({
            "track_id": track_id, "title": seo.track_name(metadata.to_dict()), "path": wav,
            "duration_s": info.duration, "mood": mood, "created": metadata.created_at or wav.stat().st_mtime,
        })  # fmt: skip
    found.sort(key=lambda t: str(t["created"]), reverse=True)
    return found


def choose(tracks: list[dict], moods: list[str], seconds: float, crossfade_s: float) -> list[dict]:
    """Tracks for a mix of at least ``seconds``: the moods take turns, each mood's newest first."""
    queues = {mood: [t for t in tracks if t["mood"] == mood] for mood in moods}
    chosen: list[dict] = []
    while any(queues.values()):
        for mood in moods:
            if queues[mood] and (not chosen or _mix_length_s([t["duration_s"] for t in chosen], crossfade_s) < seconds):
                chosen.append(queues[mood].pop(0))
        if chosen and _mix_length_s([t["duration_s"] for t in chosen], crossfade_s) >= seconds:
            return chosen
    have = _mix_length_s([t["duration_s"] for t in chosen], crossfade_s) if chosen else 0.0
    raise ValueError(
        f"the library has {have / 60:.1f} minutes of {', '.join(moods)} tracks with audio ({len(chosen)} tracks), "
        f"the mix needs {seconds / 60:g}: compose them with `lofi mix --new`, or make more with `lofi batch`"
    )


def compose_tracks(seconds: float, moods: list[str], track_minutes: float, crossfade_s: float, **how) -> list[dict]:
    """New tracks, through the job queue, until they make a mix of at least ``seconds``."""
    from lofi.cli.jobs import run_jobs
    from lofi.cli.render import track_options
    from lofi.jobs.batch import batch_requests

    made: list[dict] = []
    options = track_options(True, how.get("preset"), None, None)
    chooser = random.Random(how.get("seed"))
    for _ in range(3):  # tracks come out a little shorter or longer than asked: top up twice at most
        have = _mix_length_s([t["duration_s"] for t in made], crossfade_s) if made else 0.0
        if made and have >= seconds:
            break
        each = max(track_minutes * 60 - crossfade_s, 1.0)
        count = max(1, math.ceil((seconds - have) / each))
        seed = chooser.randrange(2**31)
        requests = batch_requests(count, moods, None, None, track_minutes, seed)
        jobs = run_jobs(requests, options, how.get("workers", 2))
        done = [j.track_id for j in jobs if str(j.state) == "done" and j.track_id]
        if not done:
            raise RuntimeError("no track could be made for the mix; see `lofi jobs list --state failed`")
        library = {t["track_id"]: t for t in library_tracks(moods)}
        made += [library[track_id] for track_id in done if track_id in library]
    return made


def mix(
    minutes: Annotated[float, typer.Option(help="Length of the mix in minutes (at least; whole tracks).")] = 60.0,
    moods: Annotated[
        str, typer.Option(help=f"Comma-separated moods, taking turns ({', '.join(MOODS)}).")
    ] = "chill,rainy",
    from_catalog: Annotated[
        bool,
        typer.Option("--from-catalog/--new", help="Use tracks already made, or compose new ones for the mix."),
    ] = True,
    crossfade_s: Annotated[float, typer.Option("--crossfade-s", help="Equal-power crossfade, seconds.")] = 6.0,
    video: Annotated[bool, typer.Option("--video/--no-video", help="Also make video.mp4.")] = True,
    out: Annotated[Path | None, typer.Option(help="Folder to put the mix folder in (default LOFI_HOME/mixes).")] = None,
    track_minutes: Annotated[float, typer.Option(help="With --new: length of each new track.")] = 3.0,
    workers: Annotated[int, typer.Option(help="With --new: tracks made at once.")] = 2,
    seed: Annotated[int | None, typer.Option(help="Seed of the art and the new tracks; random when left out.")] = None,
    resolution: Annotated[str, typer.Option(help="Video size: 1080p, 720p or WIDTHxHEIGHT.")] = "1080p",
    template: Annotated[str, typer.Option(help="Video template: bars, circle or rain.")] = "bars",
    title: Annotated[str | None, typer.Option(help="The title; made from moods and length if not given.")] = None,
) -> None:
    """A long mix: tracks joined with crossfades, mastered as one, with cover, video and a timed tracklist."""
    with user_errors():
        from lofi.moods import check_mood
        from lofi.publish import PublishOptions
        from lofi.publish.mix import MixOptions, MixTrack, make_mix

        if not 0 < minutes <= 600:
            raise ValueError(f"--minutes must be more than 0 and at most 600 (got {minutes})")
        if not 0 <= crossfade_s <= 60:
            raise ValueError(f"--crossfade-s must be from 0 to 60 (got {crossfade_s})")
        chosen_moods = [check_mood(m.strip()) for m in moods.split(",") if m.strip()]
        if not chosen_moods:
            raise ValueError("--moods is empty: name at least one mood")
        if video:
            PublishOptions(video=True, resolution=resolution, template=template).check()
        settings = get_settings()
        seed = random.randrange(2**31) if seed is None else seed
        seconds = minutes * 60
        if from_catalog:
            tracks = choose(library_tracks(chosen_moods), chosen_moods, seconds, crossfade_s)
        else:
            made = compose_tracks(seconds, chosen_moods, track_minutes, crossfade_s, seed=seed, workers=workers)
            tracks = choose(made, chosen_moods, seconds, crossfade_s)
        stamp = datetime.now(UTC)
        mix_id = f"mix-{'-'.join(chosen_moods)}-{minutes:g}min-{stamp:%Y%m%d-%H%M%S}"
        folder = (out or settings.mixes_dir) / mix_id
        options = MixOptions(
            crossfade_s=crossfade_s, lufs=settings.lufs, true_peak_db=settings.true_peak_db, video=video,
            resolution=resolution, template=template, seed=seed, moods=tuple(chosen_moods), title=title,
        )  # fmt: skip
        request = {"minutes": minutes, "moods": chosen_moods, "source": "catalog" if from_catalog else "new"}
        columns = (TextColumn("[bold]{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console, disable=not console.is_terminal) as bar:
            task = bar.add_task("mixing", total=1.0)
            metadata = make_mix(
                [MixTrack(t["title"], Path(t["path"]), t["track_id"]) for t in tracks], folder, options,
                lambda f, message: bar.update(task, completed=f, description=message or "mixing"),
                extra={"request": request},
            )  # fmt: skip
    table = Table(title=f"[bold]{metadata['title']}", show_header=True)
    table.add_column("at")
    table.add_column("track")
    table.add_column("id", style="dim")
    for entry in metadata["tracklist"]:
        table.add_row(entry["timestamp"], entry["title"], entry["track_id"] or "")
    console.print(table)
    audio = metadata["audio"]
    console.print(
        f"{len(tracks)} tracks, {metadata['duration_s'] / 60:.1f} minutes, {audio['lufs']:.1f} LUFS, "
        f"{audio['true_peak_db']:.1f} dBTP; in {folder}",
        highlight=False,
    )
