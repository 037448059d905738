"""A throwaway PostgreSQL server on loopback, and catalogs on both backends.

The server is the real thing from the Debian package (``make setup`` installs it): initdb into a temporary
folder, postgres on 127.0.0.1 with a free port, one fresh database per test. PostgreSQL refuses to run as
root, so under root (containers, CI) its programs run as the ``postgres`` system user.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from lofi.catalog import Catalog, open_catalog

BACKENDS = ["sqlite", "postgresql"]


def _admin(server_url: str) -> psycopg.Connection:
    dsn = server_url.replace("postgresql+psycopg://", "postgresql://")
    return psycopg.connect(dsn, autocommit=True)


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty database for one test."""
    name = f"lofi_{uuid.uuid4().hex[:12]}"
    with _admin(postgres_server) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield postgres_server.rsplit("/", 1)[0] + f"/{name}"
    with _admin(postgres_server) as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture(params=BACKENDS)
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database on each backend: a SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def catalog(catalog_url: str) -> Iterator[Catalog]:
    """A migrated catalog on each backend."""
    with open_catalog(catalog_url) as opened:
        yield opened
