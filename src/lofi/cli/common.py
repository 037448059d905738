"""What every command shares: the console, the --debug switch and one-line errors."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

console = Console()
# options that every command making a track takes, in the same words
ModelOption = Annotated[Path | None, typer.Option(help="A checkpoint folder; the bundled default model when left out.")]
OutOption = Annotated[Path | None, typer.Option(help="Folder that receives <track_id>/ (default: LOFI_HOME/tracks).")]
AudioOption = Annotated[
    bool, typer.Option("--audio/--no-audio", help="Render, colour and master the audio (--no-audio: MIDI only).")
]
PresetOption = Annotated[str | None, typer.Option(help="Effects preset (see `lofi presets`); default dusty.")]
FormatsOption = Annotated[
    str | None,
    typer.Option(help="Audio files to write, comma-separated: wav, mp3, stems (default all; a video needs wav)."),
]
VideoOption = Annotated[bool, typer.Option("--video/--no-video", help="Also make video.mp4 (H.264 + AAC).")]
err_console = Console(stderr=True)
state = {"debug": False}


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn an exception into one red line saying what to do; the traceback only under --debug."""
    try:
        yield
    except typer.Exit:
        raise
    except (ValueError, FileNotFoundError, NotADirectoryError, RuntimeError, OSError) as exc:
        if state["debug"]:
            err_console.print_exception()
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


def progress_bar(description: str) -> Progress:
    return Progress(
        TextColumn(f"[bold]{description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
        disable=not sys.stdout.isatty(),
    )
