"""The Alembic migrations build exactly the schema the models describe, once, on both backends."""

from __future__ import annotations

import threading
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, inspect, text

from lofi.catalog import open_catalog
from lofi.catalog import queries as q
from lofi.catalog.db import alembic_config, make_engine, upgrade
from lofi.catalog.models import Base


def head() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def test_one_head_shipped_in_the_package():
    script = ScriptDirectory.from_config(alembic_config())
    assert len(script.get_heads()) == 1  # two new revisions on one parent must be merged
    assert Path(script.dir).is_relative_to(Path(q.__file__).parent)


def test_migrated_schema_matches_the_models(catalog_url: str):
    with open_catalog(catalog_url) as catalog, catalog.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
        assert context.get_current_revision() == head()


def test_opening_again_changes_nothing(catalog_url: str):
    with open_catalog(catalog_url) as catalog, catalog.session() as s:
        job_id = q.create_job(s, "track", {"mood": "chill"}).id
    engine = make_engine(catalog_url)
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    assert not [s for s in statements if s.lstrip().upper().startswith(("CREATE", "ALTER", "DROP", "INSERT"))]
    with open_catalog(catalog_url) as catalog, catalog.session() as s:
        assert q.get_job(s, job_id) is not None
        assert s.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1


def test_processes_starting_together_migrate_once(catalog_url: str):
    errors: list[BaseException] = []

    def start() -> None:
        try:
            open_catalog(catalog_url).close()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=start) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    with open_catalog(catalog_url) as catalog, catalog.engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == head()


def test_downgrade_to_nothing_and_back(catalog_url: str):
    engine = make_engine(catalog_url)
    try:
        upgrade(engine)
        config = alembic_config()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "base")
        assert set(inspect(engine).get_table_names()) == {"alembic_version"}
        upgrade(engine)
        assert {"tracks", "jobs", "job_events", "uploads"} <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
