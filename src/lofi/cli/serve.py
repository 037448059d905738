"""`lofi serve`: the API and the dashboard."""

from __future__ import annotations

import logging
import signal
import sys
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
    radio: Annotated[
        bool | None,
        typer.Option(
            "--radio/--no-radio",
            help="Run the endless radio: /api/v1/radio/stream.mp3 and the dashboard's Live panel (LOFI_RADIO).",
        ),
    ] = None,
) -> None:
    """Serve the API (/api/v1, docs at /docs) and the web dashboard (/); with LOFI_DAILY_TIME set, make the
    daily set at that time every day (LOFI_DAILY_PUBLISH: and upload it); with --radio, stream the radio.

    SIGTERM shuts down gracefully: no new requests or jobs, running jobs get LOFI_SHUTDOWN_GRACE_S to
    finish and the rest go back to the queue, then the process exits 0.
    """
    with user_errors():
        import uvicorn

        from lofi import tracing
        from lofi.api import create_app
        from lofi.jobs.scheduler import check_daily_settings
        from lofi.logs import configure_logging

        settings = get_settings()
        if radio is not None:
            settings = settings.model_copy(update={"radio": radio})
        check_daily_settings(settings)  # a bad LOFI_DAILY_TIME or a missing token is said now, not at 06:00
        configure_logging(settings)  # uvicorn's loggers too: log_config=None below leaves them to us
        tracing.configure_tracing(settings.otlp_endpoint, "lofi-api")
        host, port = host or settings.api_host, port or settings.api_port
        if settings.log_format == "json":
            logging.getLogger("lofi.serve").info("serving on http://%s:%s/", host, port)
        else:
            console.print(f"lofi at [bold]http://{host}:{port}/[/] (API docs at /docs); Ctrl+C stops it")
            if settings.radio:
                console.print(f"the radio plays at http://{host}:{port}/api/v1/radio/stream.mp3")
            if settings.daily_time:
                upload = " and uploads it" if settings.daily_publish else ""
                console.print(
                    f"it makes the daily set ({settings.daily_count} tracks) at {settings.daily_time} "
                    f"{settings.audience_timezone}{upload}",
                    highlight=False,
                )
        # uvicorn shuts down gracefully on SIGTERM, then raises the signal again with the handler it
        # found: ours makes that a clean exit (0) instead of death by signal (143)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        try:
            uvicorn.run(
                create_app(settings, start_workers=workers), host=host, port=port,
                log_config=None, log_level=settings.log_level.lower(),
                proxy_headers=False,  # the app believes forwarded headers, from LOFI_TRUSTED_PROXIES only
            )  # fmt: skip
        finally:
            tracing.shutdown_tracing()
