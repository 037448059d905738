"""`lofi vary`: a new track from one in the library, one part written again."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lofi.cli.common import (
    AudioOption,
    FormatsOption,
    ModelOption,
    OutOption,
    PresetOption,
    VideoOption,
    console,
    user_errors,
)
from lofi.cli.generate import print_track
from lofi.compose.request import PARTS
from lofi.settings import get_settings


def vary(
    track: Annotated[str, typer.Argument(help="A track id in the library (LOFI_HOME/tracks), or a track folder.")],
    part: Annotated[str, typer.Option(help=f"The part to write again: {', '.join(PARTS)}.")],
    section: Annotated[
        str | None,
        typer.Option(help="Only this section of the track's form (A, A', B, breakdown...); default: all of them."),
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed for a reproducible variation; random (and recorded) when left out.")
    ] = None,
    model: ModelOption = None,
    out: OutOption = None,
    audio: AudioOption = True,
    formats: FormatsOption = None,
    preset: PresetOption = None,
    video: VideoOption = False,
) -> None:
    """Write one part of TRACK again (new drums, bass, keys or lead) and keep every other part note for note.

    The new track is made like any other and named after its source, the part and the seed.
    """
    with user_errors():
        from lofi.cli.render import track_options
        from lofi.compose.request import VaryRequest
        from lofi.jobs.pipeline import vary_track
        from lofi.model import load_checkpoint
        from lofi.model.runtime import DECODE_THREADS

        settings = get_settings()
        request = VaryRequest(part=part, section=section, seed=seed)
        source = Path(track) if Path(track).is_dir() else settings.tracks_dir / track
        if not (source / "track.mid").is_file():
            raise FileNotFoundError(f"no track {track!r} in {settings.tracks_dir}: give a track id or a track folder")
        checkpoint_dir = model or settings.default_model
        options = track_options(audio, preset, None, None, video, formats=formats)
        with console.status(f"writing new {part}...") as status:
            folder = vary_track(
                load_checkpoint(checkpoint_dir, build=False),
                source,
                request,
                out or settings.tracks_dir,
                options,
                progress=lambda fraction, message: status.update(f"{message}..."),
                threads=settings.torch_threads or DECODE_THREADS,
            )
    print_track(folder)
    console.print(f"[dim]varied from[/] {source.name}: new {part}" + (f" in {section}" if section else ""))
