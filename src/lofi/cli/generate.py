"""`lofi generate`: compose one track."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

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
from lofi.cli.render import audio_rows
from lofi.moods import MOODS
from lofi.settings import get_settings


def lofi_row(meta: dict) -> str:
    """The lo-fi figures in one line: all targets met, or the ones missed."""
    figures = meta.get("lofi")
    if not figures:
        return "-"
    misses = figures.get("misses") or []
    return "every target met" if not misses else f"[yellow]misses {', '.join(misses)}[/]"


def generate(
    mood: Annotated[str, typer.Option(help=f"One of: {', '.join(MOODS)}.")] = "chill",
    bpm: Annotated[
        int | None,
        typer.Option(help="Tempo in beats per minute (50-130). Default 75, or the --continue file's."),
    ] = None,
    key: Annotated[
        str | None,
        typer.Option(
            help='Key as you would write it: "D minor", "Dm", "Bb major", "F#". '
            "Default C major, or the --continue file's."
        ),
    ] = None,
    minutes: Annotated[float, typer.Option(help="Length in minutes (0.25-10).")] = 2.0,
    seed: Annotated[
        int | None, typer.Option(help="Seed for a reproducible track; random (and recorded) when left out.")
    ] = None,
    strict_key: Annotated[
        bool,
        typer.Option(
            "--strict-key/--free-key",
            help="Keep every pitched note in the key's scale (a minor key keeps its leading tone).",
        ),
    ] = True,
    temperature: Annotated[float, typer.Option(help="Sampling temperature: lower is safer, higher is wilder.")] = 0.95,
    top_k: Annotated[int, typer.Option(help="Sample among the k most likely tokens (0: all).")] = 24,
    top_p: Annotated[float, typer.Option(help="Sample within this much probability mass (nucleus).")] = 0.95,
    swing: Annotated[
        float | None,
        typer.Option(
            help="Where the off-beat 16ths land, written into the MIDI: 0.5 straight, 0.54-0.62 lo-fi "
            "(default: the mood's own)."
        ),
    ] = None,
    continue_from: Annotated[
        Path | None, typer.Option("--continue", help="A MIDI file whose last bars the new track continues.")
    ] = None,
    model: ModelOption = None,
    out: OutOption = None,
    audio: AudioOption = True,
    formats: FormatsOption = None,
    preset: PresetOption = None,
    lufs: Annotated[
        float | None, typer.Option(help="Integrated loudness of the master, LUFS (default -14; -16 for podcasts).")
    ] = None,
    true_peak: Annotated[float | None, typer.Option(help="True-peak ceiling of the master, dBTP (default -1).")] = None,
    video: VideoOption = False,
    resolution: Annotated[str, typer.Option(help="Video size: 1080p, 720p or WxH.")] = "1080p",
    template: Annotated[str, typer.Option(help="Video look: bars, circle or rain.")] = "bars",
    engine: Annotated[
        str | None,
        typer.Option(help="Inference engine: auto, hf, lean, lean-int8, onnx, onnx-int8 (default: LOFI_ENGINE)."),
    ] = None,
) -> None:
    """Compose a new track: MIDI, mastered audio, stems, pictures and metadata in OUT/<track_id>/."""
    with user_errors():
        from lofi.cli.render import track_options
        from lofi.compose import ComposeRequest
        from lofi.jobs.pipeline import run_track
        from lofi.model import load_checkpoint
        from lofi.model.runtime import DECODE_THREADS

        settings = get_settings()
        if continue_from is not None and (key is None or bpm is None):
            from lofi.compose.prompt import describe_file

            found_key, found_bpm = describe_file(continue_from)
            key = key or found_key.name
            bpm = bpm or found_bpm
        request = ComposeRequest(
            mood=mood,
            bpm=bpm or 75,
            key=key or "C major",
            minutes=minutes,
            seed=seed,
            strict_key=strict_key,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            continue_from=continue_from,
            swing=swing,
        )
        checkpoint_dir = model or settings.default_model
        if not (checkpoint_dir / "lofi.json").exists():
            raise FileNotFoundError(
                f"no model at {checkpoint_dir}: pass --model FOLDER, or train one with `lofi train`"
            )
        options = track_options(audio, preset, lufs, true_peak, video, resolution, template, engine, formats)
        with console.status("composing...") as status:
            checkpoint = load_checkpoint(checkpoint_dir, build=False)  # the torch model only if the engine needs it
            folder = run_track(
                checkpoint,
                request,
                out or settings.tracks_dir,
                options,
                progress=lambda fraction, message: status.update(f"{message}..."),
                threads=settings.torch_threads or DECODE_THREADS,
            )
    print_track(folder)


def print_track(folder: Path) -> None:
    """The summary of a finished track: what it is, how it sounds, how it did, where it is."""
    from lofi.track import TrackFolder

    meta = TrackFolder(folder).metadata.to_dict()
    table = Table(title=f"[bold]{meta['track_id']}", show_header=False, box=None)
    for label, value in (
        ("key", meta["key"]),
        ("tempo", f"{meta['bpm']} BPM"),
        ("length", f"{int(meta['duration_s'] // 60)}:{meta['duration_s'] % 60:04.1f} ({meta['bars']} bars)"),
        ("form", " ".join(f"{s['section']}({s['bars']})" for s in meta["form"])),
        ("instruments", ", ".join(meta["instruments"])),
        (
            "chords",
            " ".join(c or "-" for c in meta["chords"][:8]) + (" ..." if len(meta["chords"]) > 8 else ""),
        ),
        ("swing", f"{meta['swing']:.2f}" if "swing" in meta else "-"),
        ("seed", str(meta["seed"])),
        ("model", meta["model_id"]),
        *audio_rows(meta),
        ("quality", f"{meta['quality']['quality']:.2f} (0-1, see `lofi eval`)" if meta.get("quality") else "-"),
        ("lo-fi", lofi_row(meta)),
        ("originality", meta.get("originality", {}).get("verdict", "-")),
        ("time", " + ".join(f"{step} {meta['timings_s'][step]:.1f} s" for step in ("compose", "analyze", "render"))),
        ("folder", str(folder)),
    ):
        table.add_row(f"[dim]{label}", value)
    console.print(table)
    for reason in meta.get("review") or []:
        console.print(f"[yellow]review:[/] {reason} (the best of the tries was kept)", highlight=False)
