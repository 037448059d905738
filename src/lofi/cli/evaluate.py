"""`lofi eval`: compose a set of tracks and compare its musical metrics with the corpus's."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from lofi.cli.common import console, progress_bar, user_errors
from lofi.settings import get_settings


def evaluate(
    n: Annotated[int, typer.Option("--n", help="How many tracks to compose for the generated set.")] = 50,
    model: Annotated[
        Path | None, typer.Option(help="A checkpoint folder; the bundled default model when left out.")
    ] = None,
    minutes: Annotated[float, typer.Option(help="Length of each generated track in minutes (0.25-10).")] = 1.5,
    seed: Annotated[int, typer.Option(help="Seed of the first track; track i uses seed + i.")] = 0,
    corpus: Annotated[
        Path | None, typer.Option(help="Corpus folder with manifest.jsonl (default: LOFI_HOME/corpus).")
    ] = None,
    split: Annotated[str, typer.Option(help="Corpus split to compare against: val or train.")] = "val",
    limit: Annotated[
        int | None, typer.Option(help="Use at most this many reference files (default: the whole split).")
    ] = None,
    sources: Annotated[
        str | None,
        typer.Option(help="Compare with these corpus sources only, comma-separated (e.g. loops,mma-lofi)."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Folder for report.md and its plots (default: LOFI_HOME/eval/<model_id>).")
    ] = None,
) -> None:
    """Compare the metrics of N generated tracks with the corpus's (Yang & Lerch overlapped areas)."""
    with user_errors():
        from lofi.analysis.evaluate import evaluate as compare_sets
        from lofi.analysis.evaluate import generate_set, reference_metrics, write_report
        from lofi.analysis.figures import TARGETS
        from lofi.analysis.metrics import compute_metrics
        from lofi.model import load_checkpoint

        if n < 2:
            raise ValueError(f"--n must be at least 2: distances need two generated tracks (got {n})")
        if split not in ("train", "val"):
            raise ValueError(f"--split must be train or val (got {split!r})")
        settings = get_settings()
        checkpoint_dir = model or settings.default_model
        if not (checkpoint_dir / "lofi.json").exists():
            raise FileNotFoundError(
                f"no model at {checkpoint_dir}: pass --model FOLDER, or train one with `lofi train`"
            )
        corpus_dir = corpus or settings.corpus_dir
        with progress_bar("reference") as bar:
            task = bar.add_task("reference", total=None)
            reference = reference_metrics(
                corpus_dir,
                split,
                limit,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
                sources=[s.strip() for s in sources.split(",")] if sources else None,
            )
        checkpoint = load_checkpoint(checkpoint_dir, build=False)
        with progress_bar("composing") as bar:
            task = bar.add_task("composing", total=n)
            tracks = generate_set(
                checkpoint,
                n,
                seed,
                minutes,
                progress=lambda done, _: bar.update(task, completed=done),
                threads=settings.torch_threads,
            )
        generated = [compute_metrics(c.score, request.parsed_key) for request, c in tracks]
        report = compare_sets(generated, reference, title=f"lofi evaluation: {checkpoint.model_id}")
        with progress_bar("lo-fi figures") as bar:
            task = bar.add_task("lo-fi figures", total=len(tracks))
            for request, composition in tracks:
                report.tracks.append(_figures(request, composition))
                bar.update(task, advance=1)
        folder = out or settings.home / "eval" / checkpoint.model_id
        path = write_report(report, folder)
        memorized = _memorization([c.score for _, c in tracks], folder, checkpoint.path, corpus_dir)

    kind = f"{split} ({sources})" if sources else split
    table = Table(title=f"[bold]{n} generated vs {len(reference)} {kind} tracks", box=None)
    table.add_column("metric")
    table.add_column("generated", justify="right")
    table.add_column("reference", justify="right")
    table.add_column("overlap", justify="right")
    for c in report.comparisons:
        table.add_row(c.metric, _num(c.generated_mean), _num(c.reference_mean), _num(c.overlap))
    table.add_row("[bold]mean", "", "", f"[bold]{_num(report.mean_overlap)}")
    console.print(table)
    figures = Table(title="[bold]lo-fi figures (means over the generated tracks)", box=None)
    for column in ("figure", "mean", "target", "met"):
        figures.add_column(column, justify="left" if column == "figure" else "right")
    for name, mean in report.figure_means().items():
        low, high = TARGETS[name]
        met = math.isfinite(mean) and low - 1e-9 <= mean <= high + 1e-9
        target = f"{low:g}" if low == high else f"{low:g}-{high:g}"
        figures.add_row(name, _num(mean), target, "[green]yes" if met else "[red]no")
    console.print(figures)
    if memorized is not None:
        console.print(
            f"memorization: {memorized['flagged']} of {memorized['tracks']} tracks flagged "
            f"({memorized['rate']:.0%}; by reference source: {memorized['by_source'] or 'none'})"
        )
    console.print(f"report: {path}", highlight=False, soft_wrap=True)


def _figures(request, composition) -> dict:
    """One track's lo-fi figures; key agreement from music21 itself reading the MIDI file."""
    import tempfile

    from lofi.analysis.figures import compute_figures, music21_key

    meta = composition.metadata
    figures = compute_figures(composition.score, meta["form"], meta["chords"], request.parsed_key)
    with tempfile.TemporaryDirectory() as tmp:
        midi = Path(tmp) / "track.mid"
        composition.score.dump_midi(str(midi))
        heard = music21_key(midi)
    row = {"track": composition.track_id, **figures.to_dict()}
    row["key_agreement"] = float(request.parsed_key.agrees(heard))
    row["music21_key"] = heard.name
    row["review"] = meta["review"]
    return row


WORST_MATCH = "worst_match.png"  # the generated phrase closest to a training melody, above that melody


def _draw_worst(score, worst: dict, corpus_dir: Path, path: Path) -> None:
    """The matched passage of the generated track above the same passage of its reference, for a person to judge."""
    from lofi.analysis.melody import load_score
    from lofi.analysis.originality import checked_line, reference_line
    from lofi.render.images import match_roll

    match = worst["match"]
    line = checked_line(score, worst["part"])
    reference = corpus_dir / match["reference"]["id"]
    if line is None or not reference.is_file():
        return  # a user's own index names files this machine may not have: the figures stand without it
    theirs = reference_line(load_score(reference))

    def passage(ln, span: dict):
        part = slice(span["first"], span["last"] + 1)
        return ln.onsets_s[part], ln.durations_s[part], ln.pitches[part]

    labels = (
        f"generated track {worst['track']} ({line.part})",
        f"{match['reference']['id']} ({match['reference']['source']})",
    )
    title = f"closest match: {worst['score']:.0f} bits, {worst['verdict']}"
    match_roll(passage(line, match["query"]), passage(theirs, match["match"]), path, labels, title)


def _memorization(scores: list, folder: Path, model_dir: Path, corpus_dir: Path) -> dict | None:
    """The share of generated tracks the originality check flags against the model's training melodies
    (its own index) and LOFI_HOME's. Written to memorization.json beside the report; None without an index.
    """
    import json

    from lofi.analysis.originality import index_paths, load_indexes, memorization
    from lofi.files import atomic_write

    paths = index_paths(model_dir)
    if not paths:
        return None
    result = memorization(scores, load_indexes(paths))
    if result["worst"] is not None:
        _draw_worst(scores[result["worst"]["track"]], result["worst"], corpus_dir, folder / WORST_MATCH)
    text = json.dumps(result, indent=2) + "\n"
    atomic_write(folder / "memorization.json", lambda p: p.write_text(text, encoding="utf-8"))
    return result


def _num(value: float) -> str:
    return f"{value:.3g}" if math.isfinite(value) else "n/a"
