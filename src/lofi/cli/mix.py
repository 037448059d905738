"""`lofi mix`: the long "beats to study to" post: many tracks, one crossfaded, mastered mix with its video.

Tracks come from the catalog and LOFI_HOME/tracks (``--from-catalog``, the default: those with audio in
the asked moods, the moods taking turns, newest first) or are composed for the mix (``--new``, through
the same queue and pipeline as `lofi batch`); ``lofi.jobs.mix`` chooses and composes them, this command
draws the progress and the tracklist. The mix goes to ``<LOFI_HOME>/mixes/<mix_id>/`` (or
``--out``): mix.flac, mix.mp3, cover.png, thumbnail.png, video.mp4 and metadata.json, whose description
carries the tracklist with a time for each track at the middle of its crossfade.
"""

from __future__ import annotations

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


def _warn(warnings: tuple[str, ...]) -> None:
    for warning in warnings:
        console.print(f"[yellow]warning:[/] {warning}")


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
        from lofi.jobs import mix as workflow
        from lofi.moods import check_mood
        from lofi.publish import PublishOptions
        from lofi.publish.mix import MixOptions, make_mix
        from lofi.render.longmix import MixTrack

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
            library = workflow.library_tracks(chosen_moods, settings)
            _warn(library.warnings)
            tracks = workflow.choose(library.tracks, chosen_moods, seconds, crossfade_s)
        else:
            from lofi.cli.jobs import job_bars, job_queue
            from lofi.cli.render import track_options

            options = track_options(True, None, None, None)
            with job_bars() as update:
                made = workflow.compose_tracks(
                    lambda: job_queue(workers), options, seconds, chosen_moods, track_minutes, crossfade_s,
                    workers=workers, seed=seed, on_update=update, settings=settings,
                )  # fmt: skip
            _warn(made.warnings)
            tracks = workflow.choose(made.tracks, chosen_moods, seconds, crossfade_s)
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
                [MixTrack(t.title, t.path, t.track_id) for t in tracks], folder, options,
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
