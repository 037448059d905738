"""`lofi render` (any MIDI file to mastered audio) and `lofi presets` (the effects presets)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from lofi.cli.common import console, user_errors
from lofi.moods import MOODS
from lofi.settings import get_settings


def track_options(
    audio: bool,
    preset: str | None,
    lufs: float | None,
    true_peak: float | None,
    video: bool = False,
    resolution: str = "1080p",
    template: str = "bars",
    engine: str | None = None,
    formats: str | None = None,
):
    """The pipeline's options from the command line's flags (lofi.jobs.options, as the API does);
    ``formats`` is the comma-separated --formats (None: every audio format)."""
    from lofi.jobs.options import track_options as build

    asked = None if formats is None else [f.strip() for f in formats.split(",") if f.strip()]
    return build(
        get_settings(), audio=audio, formats=asked, preset=preset, lufs=lufs, true_peak=true_peak, video=video,
        resolution=resolution, template=template, engine=engine,
    )  # fmt: skip


def audio_rows(meta: dict) -> list[tuple[str, str]]:
    audio = meta.get("audio")
    if not audio:
        return []
    return [
        ("sound", ", ".join(f"{part}: {name}" for part, name in sorted(audio["instruments"].items()))),
        ("master", f"{audio['lufs']:.1f} LUFS, {audio['true_peak_db']:.1f} dBTP, preset {audio['preset']}"),
    ]


def render(
    midi: Annotated[Path, typer.Argument(help="Any MIDI file.", show_default=False)],
    preset: Annotated[str | None, typer.Option(help="Effects preset (see `lofi presets`); default dusty.")] = None,
    mood: Annotated[
        str | None, typer.Option(help=f"Instrument palette of a mood ({', '.join(MOODS)}); default: the file's own.")
    ] = None,
    lufs: Annotated[float | None, typer.Option(help="Integrated loudness of the master, LUFS (default -14).")] = None,
    true_peak: Annotated[float | None, typer.Option(help="True-peak ceiling of the master, dBTP (default -1).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of humanization and of the effects' randomness.")] = 0,
    humanize: Annotated[bool, typer.Option(help="Swing and small timing and velocity variation.")] = True,
    out: Annotated[
        Path | None, typer.Option(help="Folder for the audio files (default: beside the MIDI file, <name>/).")
    ] = None,
) -> None:
    """Render a MIDI file to mastered audio: track.wav, track.mp3, stems/, spectrogram and waveform."""
    with user_errors():
        from lofi.moods import check_mood
        from lofi.render.track import render_midi

        options = track_options(True, preset, lufs, true_peak)
        render_options = replace(options.render_options(check_mood(mood) if mood else None, seed), humanize=humanize)
        folder = out or midi.with_suffix("")
        with console.status(f"rendering {midi.name}..."):
            audio = render_midi(midi, folder, render_options)
    table = Table(title=f"[bold]{midi.name}", show_header=False, box=None)
    for label, value in (
        *audio_rows({"audio": audio}),
        ("length", f"{int(audio['duration_s'] // 60)}:{audio['duration_s'] % 60:04.1f}"),
        ("time", ", ".join(f"{step} {seconds:.1f} s" for step, seconds in audio["timings_s"].items())),
        ("folder", str(folder)),
    ):
        table.add_row(f"[dim]{label}", value)
    console.print(table)


def presets() -> None:
    """The effects presets and what each does to the sound."""
    from lofi.render.presets import DEFAULT_PRESET, PRESETS

    table = Table(title="effects presets", show_lines=True)
    table.add_column("preset", style="bold")
    table.add_column("sound")
    table.add_column("chain")
    for name, preset in PRESETS.items():
        label = f"{name} (default)" if name == DEFAULT_PRESET else name
        table.add_row(label, preset.description, preset.describe())
    console.print(table)
