"""The `lofi` command."""

from __future__ import annotations

from typing import Annotated

import typer

from lofi.cli import (
    corpus,
    evaluate,
    export,
    generate,
    info,
    jobs,
    mix,
    originality,
    publish,
    radio,
    render,
    serve,
    train,
    vary,
)
from lofi.cli.common import state

app = typer.Typer(
    name="lofi",
    help="An open-source lo-fi music studio: compose, render and publish lo-fi tracks.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def main(debug: Annotated[bool, typer.Option(help="Show full tracebacks on errors.")] = False) -> None:
    state["debug"] = debug


app.command()(generate.generate)
app.command()(vary.vary)
app.command()(render.render)
app.command()(render.presets)
app.command()(train.train)
app.command("eval")(evaluate.evaluate)
app.command()(serve.serve)
app.command()(radio.radio)
app.command()(jobs.batch)
app.command()(jobs.daily)
app.command()(mix.mix)
app.command()(jobs.interactive)
app.command()(jobs.worker)
app.command()(originality.check)
app.command()(info.version)
app.command()(info.info)
app.add_typer(corpus.app, name="corpus")
app.add_typer(jobs.app, name="jobs")
app.add_typer(originality.app, name="originality")
app.add_typer(publish.app, name="publish")
app.add_typer(export.app, name="export")
