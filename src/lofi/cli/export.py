"""`lofi export onnx`: write a checkpoint's ONNX graph (with its KV cache), optionally int8."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lofi.cli.common import console, user_errors

app = typer.Typer(help="Export a model for other runtimes.", no_args_is_help=True)


@app.command("onnx")
def onnx(
    checkpoint: Annotated[Path, typer.Argument(help="A checkpoint folder (e.g. runs/small/best).")],
    out: Annotated[Path, typer.Option(help="Folder that receives prefill.onnx and step.onnx (or *.int8.onnx).")],
    quantize: Annotated[
        str | None, typer.Option(help="int8: also write the dynamic-quantized graphs (onnxruntime).")
    ] = None,
) -> None:
    """Export CHECKPOINT to ONNX with KV-cache inputs and outputs (what the onnx engines run)."""
    with user_errors():
        from lofi.model import load_checkpoint
        from lofi.model.engines.onnx import export_onnx

        if quantize not in (None, "int8"):
            raise ValueError(f"--quantize takes int8, not {quantize!r}")
        paths = export_onnx(load_checkpoint(checkpoint).model, out, quantize)
    for path in paths:
        console.print(f"wrote [bold]{path}[/] ({path.stat().st_size / 1e6:.1f} MB)")
