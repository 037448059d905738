"""The server's daily set at LOFI_DAILY_TIME: made by itself at the time, once a day, across restarts and
across servers sharing a catalog. The clock is moved by time-machine, so APScheduler's own thread reads it
too; the catalog is a real SQLite one, the server the real app with its embedded worker and the tiny model."""

from __future__ import annotations

import threading
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine

from lofi.catalog import open_catalog
from lofi.jobs.scheduler import DailySchedule, check_daily_settings
from lofi.publish.schedule import UploadPattern

NY = ZoneInfo("America/New_York")
PATTERN = UploadPattern(daily_time="06:00")  # New York


def local(day: date, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=NY)


def today() -> date:
    # a day near the real one: the embedded workers (other processes) keep the real clock
    return datetime.now(NY).date()


class Maker:
    """The schedule's ``make``: records each due time it is asked for and hands out job ids."""

    def __init__(self) -> None:
        self.dues: list[datetime] = []
        self.called = threading.Event()

    def __call__(self, due: datetime) -> list[str]:
        self.dues.append(due)
        self.called.set()
        return [f"job-{len(self.dues)}"]

    def wait(self, timeout_s: float = 30.0) -> None:
        assert self.called.wait(timeout_s), "the daily set was not made"
        self.called.clear()


@pytest.fixture
def catalog(tmp_path: Path):
    with open_catalog(f"sqlite:///{tmp_path / 'catalog.db'}") as catalog:
        yield catalog


def recorded(schedule: DailySchedule, timeout_s: float = 30.0):
    """The schedule's row once its run has recorded what it queued (the scheduler's thread writes it
    just after ``make`` returns)."""
    deadline = time.monotonic() + timeout_s
    while (state := schedule.state()).last_note == "starting":
        assert time.monotonic() < deadline, "the run never recorded its jobs"
        time.sleep(0.05)
    return state


def started(catalog, maker: Maker, pattern: UploadPattern = PATTERN) -> DailySchedule:
    schedule = DailySchedule(catalog, pattern, maker)
    schedule.start()
    return schedule


def test_the_set_is_made_at_the_time_once_and_the_next_is_due_tomorrow(catalog):
    day = today()
    maker = Maker()
    with time_machine.travel(local(day, 5, 59, 58), tick=True):
        schedule = started(catalog, maker)
        try:
            assert maker.dues == [] and schedule.state().next_run_at == local(day, 6)
            maker.wait()  # APScheduler's thread wakes at 06:00 on the moved clock
            assert maker.dues == [local(day, 6)]
            state = recorded(schedule)
            assert state.next_run_at == local(day + timedelta(days=1), 6) and state.last_run_at == local(day, 6)
            assert state.last_jobs == ["job-1"] and state.last_note == "queued: 1 tracks"
            assert schedule.run_due() is False  # a second wake-up the same day makes nothing
        finally:
            schedule.stop()
        assert maker.dues == [local(day, 6)]


def test_a_restart_neither_repeats_nor_skips_a_day(catalog):
    day = today()
    maker = Maker()
    with time_machine.travel(local(day, 6, 0, 1), tick=False) as clock:
        schedule = started(catalog, maker, PATTERN)  # first start after 06:00: today's time is past
        schedule.stop()
        assert maker.dues == [], "a first start makes no set for a time already past"
        clock.move_to(local(day + timedelta(days=1), 5, 0))
        started(catalog, maker).stop()  # a restart before the time: nothing
        clock.move_to(local(day + timedelta(days=1), 9, 30))  # down at 06:00, back at 09:30
        schedule = started(catalog, maker)
        maker.wait()  # the missed set is made at once
        schedule.stop()
        assert maker.dues == [local(day + timedelta(days=1), 6)]
        started(catalog, maker).stop()  # restarted again the same day: no repeat
        clock.move_to(local(day + timedelta(days=4), 12, 0))  # down three days: one set, not three
        schedule = started(catalog, maker)
        maker.wait()
        schedule.stop()
        started(catalog, maker).stop()
    assert maker.dues == [local(day + timedelta(days=1), 6), local(day + timedelta(days=2), 6)]
    # the one catch-up set stands for the due time it found; the next is due tomorrow, not in the past
    assert DailySchedule(catalog, PATTERN, maker).state().next_run_at == local(day + timedelta(days=5), 6)


def test_two_servers_sharing_a_catalog_make_one_set(catalog):
    day = today()
    first, second = Maker(), Maker()
    with time_machine.travel(local(day, 5, 0), tick=False) as clock:
        a, b = started(catalog, first), started(catalog, second)
        try:
            clock.move_to(local(day, 6, 0, 1))
            made = [a.run_due(), b.run_due(), a.run_due()]
        finally:
            a.stop()
            b.stop()
    assert made == [True, False, False] and first.dues == [local(day, 6)] and second.dues == []
    # two servers that both read the row before either moved it on: the compare-and-set lets one through
    from lofi.catalog.queries import claim_run

    with catalog.session() as session:
        assert claim_run(session, "daily", local(day, 6), local(day + timedelta(days=1), 6)) is False
        due = local(day + timedelta(days=1), 6)
        assert claim_run(session, "daily", due, local(day + timedelta(days=2), 6)) is True
        assert claim_run(session, "daily", due, local(day + timedelta(days=2), 6)) is False


def test_a_new_time_starts_the_count_afresh(catalog):
    day = today()
    maker = Maker()
    with time_machine.travel(local(day, 5, 0), tick=False):
        started(catalog, maker).stop()
        later = DailySchedule(catalog, UploadPattern(daily_time="07:30"), maker)
        later.start()
        later.stop()
        assert later.state().rule == "07:30 America/New_York"
        assert later.state().next_run_at == local(day, 7, 30) and maker.dues == []


def test_the_daily_settings_are_checked_before_the_server_starts(tmp_path):
    from lofi.publish.youtube import TokenFileMissing
    from lofi.settings import Settings

    check_daily_settings(Settings(home=tmp_path))  # off: nothing to check
    with pytest.raises(ValueError, match="HH:MM"):
        check_daily_settings(Settings(home=tmp_path, daily_time="6am"))
    with pytest.raises(TokenFileMissing, match=r"youtube-token\.json"):
        check_daily_settings(Settings(home=tmp_path, daily_time="06:00", daily_publish=True))


def test_the_server_makes_the_daily_set_by_itself(tmp_path, tiny_checkpoint, monkeypatch):
    """`lofi serve`'s app with LOFI_DAILY_TIME a moment ahead: the set is made by its own worker, and the
    API (which the dashboard reads) says when the next one is due."""
    from fastapi.testclient import TestClient

    from lofi.api import create_app
    from lofi.settings import Settings, get_settings

    home = tmp_path / "home"
    monkeypatch.setenv("LOFI_HOME", str(home))  # the worker process reads its settings from the environment
    monkeypatch.setenv("LOFI_DEFAULT_MODEL", str(tiny_checkpoint.path))
    get_settings.cache_clear()
    settings = Settings(
        home=home, default_model=Path(tiny_checkpoint.path), daily_time="06:00", daily_count=1,
        daily_moods=["rainy"], daily_minutes=0.25,
    )  # fmt: skip
    day = today()
    with time_machine.travel(local(day, 5, 59, 57), tick=True), TestClient(create_app(settings)) as client:
        before = client.get("/api/v1/schedule").json()["daily"]
        assert before["enabled"] and before["time"] == "06:00" and before["timezone"] == "America/New_York"
        assert datetime.fromisoformat(before["next_run_at"]) == local(day, 6) and before["last_run_at"] is None
        deadline = time.monotonic() + 300
        while (daily := client.get("/api/v1/schedule").json()["daily"])["last_note"] != "1 of 1 tracks made":
            assert time.monotonic() < deadline, f"the daily set was not made: {daily}"
            time.sleep(0.5)
        assert datetime.fromisoformat(daily["next_run_at"]) == local(day + timedelta(days=1), 6)
        assert datetime.fromisoformat(daily["last_run_at"]) == local(day, 6)
        (job_id,) = daily["last_jobs"]
        job = client.get(f"/api/v1/jobs/{job_id}").json()
        assert job["state"] == "done" and job["request"]["compose"]["mood"] == "rainy"
        tracks = client.get("/api/v1/tracks").json()
        assert [t["id"] for t in tracks["items"]] == [job["track_id"]]
    get_settings.cache_clear()
