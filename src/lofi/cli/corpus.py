"""`lofi corpus ...`: build the default corpus, add your own MIDI, and look at what is there."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from lofi.cli.common import console, progress_bar, user_errors
from lofi.settings import get_settings

app = typer.Typer(
    help="Build the training corpus, add your own MIDI files, and see its statistics.", no_args_is_help=True
)

CorpusDir = Annotated[Path | None, typer.Option("--corpus", help="Corpus folder (default: LOFI_HOME/corpus).")]


def _dir(corpus: Path | None) -> Path:
    return corpus or get_settings().corpus_dir


def _rejections(entries, limit: int = 20) -> None:
    rejected = [e for e in entries if not e.accepted]
    if not rejected:
        return
    table = Table(title=f"{len(rejected)} skipped", title_justify="left")
    table.add_column("file", overflow="fold")
    table.add_column("reason", style="yellow")
    for e in rejected[:limit]:
        table.add_row(e.path, e.reason)
    if len(rejected) > limit:
        table.add_row(f"... and {len(rejected) - limit} more", "(all are in manifest.jsonl)")
    console.print(table)


@app.command()
def build(
    corpus: CorpusDir = None,
    loops_pieces: Annotated[
        int, typer.Option(help="lofi's own lo-fi hip-hop pieces (pattern bank, loops, melodies), even over moods.")
    ] = 2000,
    mma_lofi_pieces: Annotated[
        int, typer.Option(help="Songs on MMA's hip-hop and R&B bands that pass the backbeat check.")
    ] = 400,
    mma_pieces: Annotated[
        int, typer.Option(help="Songs on MMA's jazz, ballad, lullaby, bossa and soul grooves.")
    ] = 700,
    melody_pieces: Annotated[int, typer.Option(help="Songs led by a public-domain melody.")] = 300,
    melody_tunes: Annotated[
        int | None, typer.Option(help="Parse only this many tunes (a quick trial build; not cached).")
    ] = None,
    openmsx: Annotated[bool, typer.Option(help="Include the game music of Debian's openttd-openmsx.")] = True,
    workers: Annotated[int, typer.Option(help="Parallel worker processes.")] = 2,
    seed: Annotated[int, typer.Option(help="Seed of every random choice in the build.")] = 0,
) -> None:
    """Build (or refresh) the default corpus; files you added with `corpus add` are kept."""
    with user_errors():
        from lofi.corpus.build import BuildOptions
        from lofi.corpus.build import build as run_build

        settings = get_settings()
        options = BuildOptions(
            loops_pieces=loops_pieces,
            mma_lofi_pieces=mma_lofi_pieces,
            mma_pieces=mma_pieces,
            melody_pieces=melody_pieces,
            melody_tunes=melody_tunes,
            openmsx_dir=settings.openmsx_dir if openmsx else None,
            workers=workers,
            timeout_s=settings.corpus_file_timeout_s,
            seed=seed,
            mma_bin=settings.mma_bin,
        )
        with progress_bar("building") as bar:
            task = bar.add_task("build", total=None)
            report = run_build(_dir(corpus), options, progress=lambda d, n: bar.update(task, completed=d, total=n))
    _rejections(report.entries)
    console.print(f"[green]corpus ready:[/] {len(report.accepted)} files in {_dir(corpus)}")
    _print_stats(_dir(corpus))


@app.command()
def add(
    directory: Annotated[Path, typer.Argument(help="A folder of MIDI files (.mid/.midi), searched recursively.")],
    corpus: CorpusDir = None,
    workers: Annotated[int, typer.Option(help="Parallel worker processes.")] = 2,
) -> None:
    """Add your own MIDI files; unreadable or unsuitable ones are skipped with the reason."""
    with user_errors():
        from lofi.corpus.build import add_user_dir

        with progress_bar("checking") as bar:
            task = bar.add_task("add", total=None)
            report = add_user_dir(
                _dir(corpus),
                directory,
                workers,
                get_settings().corpus_file_timeout_s,
                progress=lambda d, n: bar.update(task, completed=d, total=n),
            )
    _rejections(report.entries)
    console.print(f"[green]added {len(report.accepted)}[/] of {len(report.entries)} files to {_dir(corpus)}")


def _print_stats(corpus_dir: Path) -> None:
    from lofi.corpus.build import stats as corpus_stats

    s = corpus_stats(corpus_dir)
    if s.accepted == 0 and s.rejected == 0:
        raise FileNotFoundError(f"no corpus in {corpus_dir}: run `lofi corpus build`")
    table = Table(title=f"corpus: {corpus_dir}", show_header=False, title_justify="left")
    table.add_row("pieces", f"{s.accepted} accepted, {s.rejected} skipped")
    table.add_row("with a lead melody", str(s.with_lead))
    table.add_row("hours of music", f"{s.hours:.1f}")
    for label, counts in (
        ("by source", s.by_source),
        ("by mood", s.by_mood),
        ("by split", s.by_split),
        ("by mode", s.by_quality),
    ):
        table.add_row(label, ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    for reason, count in list(s.reasons.items())[:8]:
        table.add_row("[yellow]skipped", f"{count} x {reason}")
    console.print(table)


@app.command()
def stats(corpus: CorpusDir = None) -> None:
    """Counts by source, mood, split and mode, and the most common reasons files were skipped."""
    with user_errors():
        _print_stats(_dir(corpus))
