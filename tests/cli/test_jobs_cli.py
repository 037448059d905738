"""`lofi batch`, `lofi jobs`, `lofi interactive` and `lofi daily` on the real embedded queue and the tiny model."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from lofi.cli.main import app

runner = CliRunner()


@pytest.fixture
def home(lofi_home, monkeypatch, tiny_checkpoint):
    """A fresh LOFI_HOME whose default model is the tiny one; the worker processes inherit both."""
    monkeypatch.setenv("LOFI_DEFAULT_MODEL", str(tiny_checkpoint.path))
    return lofi_home


def tracks(home):
    return sorted(
        (json.loads(p.read_text()) for p in (home / "tracks").glob("*/metadata.json")), key=lambda t: t["seed"]
    )


def test_batch_makes_every_track_once_and_jobs_lists_them(home):
    made = runner.invoke(
        app,
        ["batch", "--count", "3", "--workers", "2", "--moods", "chill,rainy", "--minutes", "0.25",
         "--no-audio", "--seed", "5"],
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    assert "3 of 3 done" in made.output
    found = tracks(home)
    assert sorted(t["seed"] for t in found) == [5, 6, 7]
    assert [t["request"]["mood"] for t in sorted(found, key=lambda t: t["seed"])] == ["chill", "rainy", "chill"]

    listed = runner.invoke(app, ["jobs", "list", "--state", "done"])
    assert listed.exit_code == 0 and "3 jobs done" in listed.output
    from lofi.catalog import open_catalog
    from lofi.catalog.queries import list_jobs
    from lofi.settings import get_settings

    with open_catalog(get_settings().catalog_url) as catalog, catalog.session() as session:
        job_id = list_jobs(session, limit=1).items[0].id
    assert job_id[:8] in listed.output
    job_id = job_id[:8]  # the short id the list shows is enough
    shown = runner.invoke(app, ["jobs", "show", job_id])
    assert shown.exit_code == 0, shown.output
    for state in ("queued", "running", "done"):
        assert state in shown.output
    cancelled = runner.invoke(app, ["jobs", "cancel", job_id])
    assert cancelled.exit_code == 0 and "done" in cancelled.output  # a finished job stays as it was


def test_jobs_show_names_an_unknown_job_in_one_line(home):
    result = runner.invoke(app, ["jobs", "show", "nope"])
    assert result.exit_code == 2 and "no job 'nope'" in result.output


def test_batch_rejects_an_unknown_mood(home):
    result = runner.invoke(app, ["batch", "--moods", "chill,angry", "--no-audio"])
    assert result.exit_code == 2 and "angry" in result.output


def test_interactive_asks_makes_and_offers_another(home):
    answers = "rainy\n72\nD minor\n0.25\nclean\nn\n"
    result = runner.invoke(app, ["interactive"], input=answers)
    assert result.exit_code == 0, result.output
    (track,) = tracks(home)
    assert track["request"]["mood"] == "rainy" and track["key"] == "D minor" and track["bpm"] == 72
    assert track["audio"]["preset"] == "clean"
    assert "make another?" in result.output


def test_daily_makes_the_configured_set(home, monkeypatch):
    monkeypatch.setenv("LOFI_DAILY_COUNT", "2")
    monkeypatch.setenv("LOFI_DAILY_MOODS", '["sleepy", "jazzy"]')
    monkeypatch.setenv("LOFI_DAILY_MINUTES", "0.25")
    from lofi.settings import get_settings

    get_settings.cache_clear()
    result = runner.invoke(app, ["daily", "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert sorted(t["request"]["mood"] for t in tracks(home)) == ["jazzy", "sleepy"]
