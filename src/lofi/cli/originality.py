"""`lofi originality ...` and `lofi check`: the reference index of melodies, and the copy check."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from lofi.cli.common import console, progress_bar, user_errors
from lofi.settings import get_settings

app = typer.Typer(
    help="The reference index of melodies that `lofi check` compares new music against.", no_args_is_help=True
)

IndexPath = Annotated[
    Path | None, typer.Option("--index", help="Index file (default: LOFI_HOME/originality/index.npz).")
]


def _index_path(index: Path | None) -> Path:
    from lofi.analysis.originality import INDEX_FILE, default_index_path

    if index is None:
        return default_index_path()
    return index / INDEX_FILE if index.is_dir() else index


@app.command()
def build(
    corpus: Annotated[Path | None, typer.Option("--corpus", help="Corpus folder (default: LOFI_HOME/corpus).")] = None,
    index: IndexPath = None,
) -> None:
    """Index the lead line of every training piece of the corpus; melodies you added are kept."""
    with user_errors():
        from lofi.analysis.originality import ADDED, OriginalityIndex, corpus_references

        path = _index_path(index)
        corpus_dir = corpus or get_settings().corpus_dir
        old = OriginalityIndex.build([])
        if path.exists():
            try:
                old = OriginalityIndex.load(path)
            except ValueError as exc:
                console.print(f"[yellow]starting afresh:[/] {exc}; add your own melodies again", highlight=False)
        added = [i for i, ref in enumerate(old.refs) if ref.source == ADDED]
        with progress_bar("indexing") as bar:
            task = bar.add_task("index", total=None)
            built = OriginalityIndex.build(
                corpus_references(corpus_dir, "train", progress=lambda d, n: bar.update(task, completed=d, total=n))
            )
        if added:
            built = old.subset(added).merged(built)
        built.save(path)
    console.print(
        f"[green]index ready:[/] {len(built)} melodies ({len(added)} of them added by you) in {path}",
        highlight=False,
    )


@app.command()
def add(
    directory: Annotated[Path, typer.Argument(help="A folder of MIDI files (.mid/.midi), searched recursively.")],
    index: IndexPath = None,
) -> None:
    """Add the melodies of your own MIDI files (a catalogue to protect) to the index."""
    with user_errors():
        from lofi.analysis.originality import OriginalityIndex, file_references

        path = _index_path(index)
        found, skipped = file_references(directory)
        if not found:
            raise ValueError(f"no usable MIDI melody under {directory} ({len(skipped)} files skipped)")
        current = OriginalityIndex.load(path) if path.exists() else OriginalityIndex.build([])
        current.merged(found).save(path)
    if skipped:
        table = Table(title=f"{len(skipped)} skipped", title_justify="left")
        table.add_column("file", overflow="fold")
        table.add_column("reason", style="yellow")
        for file, reason in skipped:
            table.add_row(str(file.relative_to(directory)), reason)
        console.print(table)
    console.print(f"[green]added {len(found)}[/] melodies to {path}", highlight=False)


def check(
    file: Annotated[Path, typer.Argument(help="The MIDI file to check.")],
    index: IndexPath = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the verdict as JSON.")] = False,
) -> None:
    """Check a MIDI file's melody against the default model's training melodies and LOFI_HOME's index (or
    the --index given): clear, review or flagged (exit code 1)."""
    with user_errors():
        from lofi.analysis.originality import check as run_check
        from lofi.analysis.originality import index_paths, load_index, load_indexes

        if index is not None:
            verdict = run_check(file, load_index(_index_path(index)))
        else:
            verdict = run_check(file, load_indexes(index_paths(get_settings().default_model)))
    if as_json:
        typer.echo(json.dumps(verdict.to_dict(), indent=2))  # plain: no wrapping or colour for machines
    else:
        colour = {"clear": "green", "review": "yellow", "flagged": "bold red"}[verdict.verdict]
        table = Table(title=f"[{colour}]{verdict.verdict}[/]: {file.name}", show_header=False, box=None)
        table.add_row("[dim]reason", verdict.reason)
        table.add_row("[dim]score", f"{verdict.score:.1f} bits")
        if verdict.match is not None:
            m = verdict.match
            table.add_row("[dim]closest", f"{m.reference.id} ({m.reference.source}, {m.reference.part})")
            table.add_row(
                "[dim]this piece",
                f"{verdict.part}: notes {m.query.first}-{m.query.last}, {m.query.start_s:.1f}-{m.query.end_s:.1f} s",
            )
            table.add_row(
                "[dim]reference", f"notes {m.match.first}-{m.match.last}, {m.match.start_s:.1f}-{m.match.end_s:.1f} s"
            )
        console.print(table)
    if verdict.flagged:
        raise typer.Exit(1)
