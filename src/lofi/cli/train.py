"""`lofi train`: tokenize the corpus and train a model on it."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from lofi.cli.common import console, progress_bar, user_errors
from lofi.settings import get_settings


def training_bar() -> Progress:
    return Progress(
        TextColumn("[bold]training"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}  val {task.fields[val]}  {task.fields[tok_s]} tok/s"),
        TimeRemainingColumn(),
        console=console,
    )


def train(
    size: Annotated[
        str, typer.Option(help="Model shape: tiny (tests), small (the CPU default) or base (a GPU).")
    ] = "small",
    corpus: Annotated[Path | None, typer.Option(help="Corpus folder (default: LOFI_HOME/corpus).")] = None,
    out: Annotated[
        Path | None, typer.Option(help="Run folder: checkpoints, logs (default: LOFI_HOME/runs/<size>).")
    ] = None,
    max_steps: Annotated[int, typer.Option(help="Upper bound on optimizer steps.")] = 20000,
    max_minutes: Annotated[float | None, typer.Option(help="Wall-clock budget; stops cleanly when reached.")] = None,
    batch_size: Annotated[int, typer.Option(help="Windows per step.")] = 8,
    block_size: Annotated[int, typer.Option(help="Tokens per window.")] = 512,
    lr: Annotated[float, typer.Option(help="Peak learning rate.")] = 1e-3,
    min_lr: Annotated[float, typer.Option(help="Learning rate the cosine decay ends at.")] = 1e-4,
    warmup_steps: Annotated[int, typer.Option(help="Linear warm-up steps.")] = 200,
    eval_every: Annotated[int, typer.Option(help="Steps between validation runs.")] = 250,
    checkpoint_every: Annotated[int, typer.Option(help="Steps between checkpoints of last/.")] = 500,
    patience: Annotated[int, typer.Option(help="Stop after this many validations without improvement.")] = 4,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    threads: Annotated[int, typer.Option(help="torch threads (0: torch's choice).")] = 0,
    dropout: Annotated[float, typer.Option(help="Dropout; 0 suits runs shorter than an epoch.")] = 0.1,
    seed: Annotated[int, typer.Option(help="Seed of initialisation and batch order.")] = 0,
    resume: Annotated[bool, typer.Option(help="Continue the run in OUT from its last checkpoint.")] = False,
    init_from: Annotated[
        Path | None,
        typer.Option(help="Start a new run from this checkpoint's weights (fresh optimizer and schedule)."),
    ] = None,
    export: Annotated[
        Path | None, typer.Option(help="Copy the best checkpoint here when done (e.g. the bundled default).")
    ] = None,
) -> None:
    """Train a model on the corpus (tokenizing it first when it changed)."""
    with user_errors():
        from lofi.corpus.build import stats as corpus_stats
        from lofi.model import TrainConfig, model_config
        from lofi.model import train as run_training
        from lofi.model.train import TrainStatus
        from lofi.tokens.corpus import tokenize_corpus
        from lofi.tokens.dataset import WindowDataset
        from lofi.tokens.tokenizer import LofiTokenizer

        settings = get_settings()
        corpus_dir = corpus or settings.corpus_dir
        run_dir = out or settings.runs_dir / size
        tok = LofiTokenizer.create()
        with progress_bar("tokenizing") as bar:
            task = bar.add_task("tokenize", total=None)
            tokens_dir = tokenize_corpus(corpus_dir, tok, progress=lambda d, n: bar.update(task, completed=d, total=n))
        data = WindowDataset.from_dir(tokens_dir, tok.vocab_size, tok.bar_id, tok.pad_id)
        s = corpus_stats(corpus_dir)
        card = {
            "data": {
                "corpus": str(corpus_dir),
                "pieces": s.accepted,
                "by_source": s.by_source,
                "licences": s.licences,  # by source: what a track's provenance record names
                "by_mood": s.by_mood,
                "with_lead_melody": s.with_lead,
                "hours": round(s.hours, 2),
                "train_tokens": data.token_count("train"),
                "val_tokens": data.token_count("val"),
            }
        }
        recipe = TrainConfig(
            max_steps=max_steps,
            batch_size=batch_size,
            block_size=block_size,
            lr=lr,
            min_lr=min_lr,
            warmup_steps=warmup_steps,
            eval_every=eval_every,
            checkpoint_every=checkpoint_every,
            patience=patience,
            max_minutes=max_minutes,
            seed=seed,
            device=device,
            threads=threads,
        )
        console.print(
            f"training [bold]{size}[/] on {data.token_count('train'):,} tokens "
            f"({data.token_count('val'):,} validation) into {run_dir}"
        )
        with training_bar() as bar:
            task = bar.add_task("train", total=recipe.max_steps, loss="-", val="-", tok_s="-")

            def show(status: TrainStatus) -> None:
                fields = {"completed": status.step}
                if status.loss is not None:
                    fields |= {"loss": f"{status.loss:.3f}", "tok_s": f"{status.tokens_per_s:,.0f}"}
                if status.val_loss is not None:
                    fields["val"] = f"{status.val_loss:.3f}"
                bar.update(task, **fields)

            result = run_training(
                model_config(size, tok.vocab_size, dropout=dropout),
                data,
                run_dir,
                recipe,
                tok.to_dict(),
                card=card,
                resume=resume,
                progress=show,
                init_from=init_from,
            )
        from lofi.analysis.originality import build_model_index

        with console.status("indexing the training melodies for the originality check..."):
            build_model_index(corpus_dir, result.best_path)  # every track of this model is checked against it
        if export is not None:
            if export.exists():
                shutil.rmtree(export)
            shutil.copytree(result.best_path, export)
    table = Table(show_header=False, title="training done", title_justify="left")
    for label, value in (
        ("steps", result.steps),
        ("best step", result.best_step),
        ("best validation loss", f"{result.best_val_loss:.4f}"),
        ("last training loss", f"{result.final_train_loss:.4f}"),
        ("wall time", f"{result.wall_s / 60:.1f} min"),
        ("stopped by", result.stopped),
        ("best checkpoint", str(export or result.best_path)),
    ):
        table.add_row(f"[dim]{label}", str(value))
    console.print(table)
