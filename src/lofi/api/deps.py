"""Typed dependencies the routes share: settings, the catalog, the queue, the API key check.

The catalog is handed over, not a session from a yielding dependency: FastAPI runs a sync yielding
dependency's exit in the thread pool, so under load every pool thread could sit waiting for a database
connection while the requests that hold the connections wait for a thread to give them back (a deadlock
until the pool's timeout). A route opens its session with ``catalog.session()`` in its own thread.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyHeader
from starlette.requests import HTTPConnection

from lofi.api.ratelimit import BAD_KEY
from lofi.catalog import Catalog
from lofi.jobs.queue import JobQueue
from lofi.settings import Settings


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_catalog(request: Request) -> Catalog:
    return request.app.state.catalog


def get_queue(request: Request) -> JobQueue:
    return request.app.state.queue


def check_key(connection: HTTPConnection, given: str | None) -> None:
    """Writes (HTTP and WebSocket) need the API key when one is configured: 401 without it.

    The comparison takes the same time whatever the key given, and a client that keeps sending wrong
    keys gets 429 for a while (``api_key_failures``), the right key included: guessing is slow.
    """
    expected = connection.app.state.settings.api_key
    if not expected:
        return
    limiter = connection.app.state.limiter
    limiter.check(connection, BAD_KEY)
    if given and hmac.compare_digest(given.encode(), expected.encode()):  # "" is no key, as absent is
        return
    limiter.hit(connection, BAD_KEY)  # 429 when this wrong key was one too many
    raise HTTPException(status.HTTP_401_UNAUTHORIZED, "a valid X-API-Key header is required")


# documented as the API's security scheme; "" is read as no key (None), as an absent header is
API_KEY = APIKeyHeader(name="X-API-Key", auto_error=False, description="LOFI_API_KEY, when one is configured.")


def require_key(request: Request, x_api_key: Annotated[str | None, Depends(API_KEY)]) -> None:
    check_key(request, x_api_key)


SettingsDep = Annotated[Settings, Depends(get_settings)]
CatalogDep = Annotated[Catalog, Depends(get_catalog)]
QueueDep = Annotated[JobQueue, Depends(get_queue)]
WriteAccess = Depends(require_key)
