"""Typed dependencies the routes share: settings, the catalog, the queue, the API key check.

The catalog is handed over, not a session from a yielding dependency: FastAPI runs a sync yielding
dependency's exit in the thread pool, so under load every pool thread could sit waiting for a database
connection while the requests that hold the connections wait for a thread to give them back (a deadlock
until the pool's timeout). A route opens its session with ``catalog.session()`` in its own thread.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Header, HTTPException, Request, status

from lofi.catalog import Catalog
from lofi.settings import Settings


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_catalog(request: Request) -> Catalog:
    return request.app.state.catalog


def get_queue(request: Request) -> Any:
    return request.app.state.queue


def require_key(request: Request, x_api_key: Annotated[str | None, Header()] = None) -> None:
    """Write endpoints need the API key when one is configured."""
    expected = request.app.state.settings.api_key
    if expected and x_api_key != expected:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "a valid X-API-Key header is required")


SettingsDep = Annotated[Settings, Depends(get_settings)]
CatalogDep = Annotated[Catalog, Depends(get_catalog)]
QueueDep = Annotated[Any, Depends(get_queue)]
WriteAccess = Depends(require_key)
