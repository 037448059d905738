"""Logs: text for people, or one JSON object a line for log stores, with the request and the job on each.

``configure_logging(settings)`` puts one handler on the root logger (stderr), so lofi's loggers, uvicorn's,
Celery's and Python's warnings all come out the same way. Two context variables say what a line belongs
to: ``request_id`` (set by the API for the whole of a request, from its ``X-Request-ID`` header or a new
one) and ``job_id`` (set by a worker while it runs a job). Every JSON line carries both, null outside a
request or a job, so ``job_id="…"`` finds everything one track did, across the server and its workers.

Worker processes are spawned (a clean interpreter), so the configuration travels to them as a
``LogConfig`` (``current()`` in the parent, ``apply()`` in the child).
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lofi.settings import Settings

request_id: ContextVar[str | None] = ContextVar("lofi_request_id", default=None)
job_id: ContextVar[str | None] = ContextVar("lofi_job_id", default=None)

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s%(ids)s: %(message)s"


@dataclass(frozen=True)
class LogConfig:
    format: str = "text"  # text | json
    level: str = "INFO"

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ValueError(f"log format must be one of {', '.join(FORMATS)}, not {self.format!r}")
        if not isinstance(logging.getLevelName(self.level.upper()), int):
            raise ValueError(f"unknown log level {self.level!r}: use DEBUG, INFO, WARNING or ERROR")


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, request_id, job_id (and the traceback)."""

    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": request_id.get(),
            "job_id": job_id.get(),
            "process": record.process,
        }
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            data["stack"] = self.formatStack(record.stack_info)
        return json.dumps(data, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """The usual one-line text, with ``[request …]`` and ``[job …]`` when there are any."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        ids = [f"request {rid}" for rid in [request_id.get()] if rid] + [f"job {jid}" for jid in [job_id.get()] if jid]
        record.ids = f" [{', '.join(ids)}]" if ids else ""
        return super().format(record)


_HANDLER_NAME = "lofi"
_current: LogConfig | None = None


def configure_logging(settings: Settings | LogConfig) -> LogConfig:
    """Send every logger's records to stderr in the configured format; returns the configuration.

    Calling it again replaces lofi's handler (never adds a second one).
    """
    config = settings if isinstance(settings, LogConfig) else LogConfig(settings.log_format, settings.log_level)
    apply(config)
    return config


def apply(config: LogConfig) -> None:
    global _current
    root = logging.getLogger()
    for handler in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonFormatter() if config.format == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(config.level.upper())
    # uvicorn and Celery keep handlers of their own unless told not to; theirs would print other lines
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "celery"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    logging.captureWarnings(True)
    if config.format == "json":
        # an uncaught error's traceback is a log line too, not loose text between the JSON lines
        sys.excepthook = _log_uncaught
        threading.excepthook = lambda args: _log_uncaught(args.exc_type, args.exc_value, args.exc_traceback)
    _current = config


def current() -> LogConfig | None:
    """What ``configure_logging`` last set in this process (None: never called), for spawned workers."""
    return _current


def _log_uncaught(exc_type, exc_value, traceback) -> None:
    if issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc_value, traceback)
        return
    error = (exc_type, exc_value, traceback)
    logging.getLogger("lofi.uncaught").error("uncaught %s", exc_type.__name__, exc_info=error)


@contextmanager
def job_context(job: str | None) -> Iterator[None]:
    """Every log line inside carries ``job_id=job``."""
    token = job_id.set(job)
    try:
        yield
    finally:
        job_id.reset(token)


@contextmanager
def request_context(request: str | None) -> Iterator[None]:
    """Every log line inside carries ``request_id=request``."""
    token = request_id.set(request)
    try:
        yield
    finally:
        request_id.reset(token)
