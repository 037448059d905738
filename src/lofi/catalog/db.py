"""Opening the catalog: an engine for any SQLAlchemy URL, the schema migrated to the newest revision.

SQLite (the default, one file under LOFI_HOME) runs in WAL mode with a busy timeout, so a server and
its workers can share the file; PostgreSQL is for many machines. Either way ``open_catalog`` applies
the Alembic migrations that live in this package, so no alembic.ini is needed anywhere.

A developer who changes the models writes the next revision with::

    from alembic import command
    command.revision(alembic_config("sqlite:///scratch.db"), message="...", autogenerate=True)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
BUSY_TIMEOUT_S = 30.0  # how long a SQLite writer waits for another one before "database is locked"
MIGRATION_LOCK = 0x10F1CA7  # PostgreSQL advisory lock key: one process migrates, the others wait


def default_url(home: Path) -> str:
    """The SQLite file under ``home`` (LOFI_HOME) that the catalog uses when no URL is set."""
    return f"sqlite:///{(home.expanduser().resolve() / 'lofi.db').as_posix()}"


def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
    # WAL: readers never block the writer; NORMAL sync is safe in WAL and much faster than FULL
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.execute("PRAGMA foreign_keys = ON")  # off by default in SQLite
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for ``url`` with the settings the catalog relies on for its backend."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": BUSY_TIMEOUT_S})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if backend == "postgresql":
        # dates are cut into days in UTC (daily counts), whatever the server's own time zone
        return create_engine(parsed, pool_pre_ping=True, connect_args={"options": "-c timezone=UTC"})
    return create_engine(parsed)


def alembic_config(url: str | None = None) -> Config:
    """Alembic's configuration for the migrations shipped in this package."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))  # ConfigParser interpolates %
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database to ``revision``; safe when several processes start at once."""
    config = alembic_config()
    with engine.begin() as connection:
        # Take the database's write lock first, so a second process waits here and then finds the
        # schema up to date instead of creating the same tables twice.
        if engine.dialect.name == "sqlite":
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        elif engine.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


class Catalog:
    """The engine and a session factory; ``session()`` is one transaction."""

    def __init__(self, engine: Engine):
        self.engine = engine
        # Objects stay readable after commit, so a caller can build records once the transaction ends.
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in a transaction: committed when the block ends, rolled back when it raises."""
        with self._sessions.begin() as session:
            yield session

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_catalog(url: str, migrate: bool = True) -> Catalog:
    """The catalog at ``url`` (any SQLAlchemy URL), migrated to the newest schema unless told not to."""
    engine = make_engine(url)
    if migrate:
        upgrade(engine)
    return Catalog(engine)
