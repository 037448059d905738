"""`lofi version` and `lofi info`."""

from __future__ import annotations

import json
import shutil
import sys

from rich.table import Table

import lofi
from lofi.cli.common import console
from lofi.settings import get_settings


def version() -> None:
    """Print lofi's version."""
    console.print(f"lofi {lofi.__version__}")


def info() -> None:
    """Where lofi keeps things, which model it uses, and which tools it found."""
    import torch

    settings = get_settings()
    table = Table(show_header=False, title=f"lofi {lofi.__version__}", title_justify="left")
    table.add_row("python", sys.version.split()[0])
    table.add_row(
        "torch",
        f"{torch.__version__} ({'CUDA: ' + torch.cuda.get_device_name() if torch.cuda.is_available() else 'CPU'})",
    )
    table.add_row("home", str(settings.home))
    table.add_row("corpus", str(settings.corpus_dir))
    table.add_row("tracks", str(settings.tracks_dir))
    meta = settings.default_model / "lofi.json"
    if meta.exists():
        card = json.loads(meta.read_text()).get("card", {})
        shape = card.get("model", {})
        summary = ", ".join(f"{k} {v}" for k, v in shape.items() if k in ("n_layer", "n_embd", "parameters"))
        table.add_row("default model", f"{settings.default_model} ({summary})")
    else:
        table.add_row("default model", f"[red]missing[/] at {settings.default_model}")
    try:
        from lofi.model.engines import resolve

        chosen = resolve(settings.engine)
        table.add_row("engine", f"auto: {chosen}" if settings.engine == "auto" else chosen)
    except ValueError as exc:  # LOFI_ENGINE names one that is unknown or not installed
        table.add_row("engine", f"[red]{exc}[/]")
    table.add_row("mma", shutil.which(settings.mma_bin) or "[red]missing: make setup[/]")
    table.add_row(
        "openmsx music",
        str(settings.openmsx_dir) if settings.openmsx_dir.is_dir() else "[red]missing: make setup[/]",
    )
    console.print(table)
