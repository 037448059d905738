"""`lofi serve`: the API and the dashboard."""

from __future__ import annotations

from typing import Annotated

import typer

from lofi.cli.common import console, user_errors
from lofi.settings import get_settings


def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (default LOFI_API_HOST, 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default LOFI_API_PORT, 8000).")] = None,
    workers: Annotated[
        bool, typer.Option("--workers/--no-workers", help="Run the embedded job workers in this process.")
    ] = True,
) -> None:
    """Serve the API (/api/v1, docs at /docs) and the web dashboard (/)."""
    with user_errors():
        import uvicorn

        from lofi.api import create_app

        settings = get_settings()
        host, port = host or settings.api_host, port or settings.api_port
        console.print(f"lofi at [bold]http://{host}:{port}/[/] (API docs at /docs); Ctrl+C stops it")
        uvicorn.run(create_app(settings, start_workers=workers), host=host, port=port, log_level="info")
