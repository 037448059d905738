"""The Alembic migrations build exactly the schema the models describe, once, on both backends."""

from __future__ import annotations

import json
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


def test_0002_adds_the_quota_columns_and_keeps_the_uploads(catalog_url: str, tmp_path: Path):
    from test_catalog import write_track

    engine = make_engine(catalog_url)
    config = alembic_config()
    try:
        upgrade(engine, "0001")
        assert "quota_units" not in {c["name"] for c in inspect(engine).get_columns("uploads")}
        with engine.begin() as connection:  # an upload made before 0002, in 0001's schema
            values = q.track_values(
                write_track(tmp_path), json.loads((tmp_path / "rainy-d-minor-72bpm-7" / "metadata.json").read_text())
            )
            columns = ", ".join(values)
            connection.execute(
                text(f"INSERT INTO tracks ({columns}) VALUES ({', '.join(':' + k for k in values)})"),
                values | {"metadata": json.dumps(values["metadata"])},
            )
            connection.execute(
                text("INSERT INTO uploads (track_id, platform, status, created_at) VALUES (:t, 'youtube', 'done', :c)"),
                {"t": values["id"], "c": values["created_at"]},
            )
        upgrade(engine)
        with engine.connect() as connection:
            assert connection.execute(text("SELECT quota_units, quota_at FROM uploads")).one() == (0, None)
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0001")
        assert {c["name"] for c in inspect(engine).get_columns("uploads")} >= {"id", "status"}
        assert "quota_units" not in {c["name"] for c in inspect(engine).get_columns("uploads")}
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM uploads")).scalar() == 1
        upgrade(engine)
        assert {"quota_units", "quota_at"} <= {c["name"] for c in inspect(engine).get_columns("uploads")}
    finally:
        engine.dispose()
