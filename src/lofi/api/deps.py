"""Typed dependencies the routes share: settings, a catalog session, the queue, the API key check."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, Header, HTTPException, Request, status
from sqlalchemy.orm import Session

from lofi.settings import Settings


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.catalog.session() as session:
        yield session


def get_queue(request: Request) -> Any:
    return request.app.state.queue


def require_key(request: Request, x_api_key: Annotated[str | None, Header()] = None) -> None:
    """Write endpoints need the API key when one is configured."""
    expected = request.app.state.settings.api_key
    if expected and x_api_key != expected:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "a valid X-API-Key header is required")


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
QueueDep = Annotated[Any, Depends(get_queue)]
WriteAccess = Depends(require_key)
