"""Upload slots on the audience's clock, across daylight saving changes, and the daily job's timer."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lofi.publish.schedule import DAILY_JOB_ID, UploadPattern, cron_line, next_slots, schedule_daily, slots_between

NY = ZoneInfo("America/New_York")
PATTERN = UploadPattern()  # New York, 9:00, 15:00 and 20:00


def at(*args: int, tz: ZoneInfo = NY) -> datetime:
    return datetime(*args, tzinfo=tz)


def test_the_next_slots_are_the_local_hours_still_ahead():
    now = at(2024, 6, 1, 10, 0)
    assert next_slots(now, 4) == [at(2024, 6, 1, 15), at(2024, 6, 1, 20), at(2024, 6, 2, 9), at(2024, 6, 2, 15)]
    assert next_slots(now, 0) == []
    assert all(slot.tzinfo is NY for slot in next_slots(now.astimezone(UTC), 3))  # any zone in, local out


def test_a_slot_too_close_to_now_is_skipped():
    assert next_slots(at(2024, 6, 1, 14, 45), 1) == [at(2024, 6, 1, 20)]  # 15:00 is closer than the 30 min lead
    assert next_slots(at(2024, 6, 1, 14, 30), 1) == [at(2024, 6, 1, 15)]


def test_slots_near_a_scheduled_upload_are_taken():
    taken = [at(2024, 6, 1, 20, 10), at(2024, 6, 2, 13, tz=UTC)]  # 20:10 local; 9:00 local written in UTC
    assert next_slots(at(2024, 6, 1, 10), 3, taken) == [at(2024, 6, 1, 15), at(2024, 6, 2, 15), at(2024, 6, 2, 20)]
    # an hour away is far enough
    assert next_slots(at(2024, 6, 1, 10), 1, [at(2024, 6, 1, 14)]) == [at(2024, 6, 1, 15)]


@pytest.mark.parametrize(
    ("zone", "before", "after"),
    [
        ("America/New_York", (2024, 3, 9), (2024, 3, 10)),  # spring forward: UTC-5 -> UTC-4
        ("America/New_York", (2024, 11, 2), (2024, 11, 3)),  # fall back: UTC-4 -> UTC-5
        ("Europe/Berlin", (2024, 3, 30), (2024, 3, 31)),  # UTC+1 -> UTC+2
        ("Australia/Sydney", (2024, 4, 6), (2024, 4, 7)),  # UTC+11 -> UTC+10, the other hemisphere
    ],
)
def test_slots_keep_their_local_hour_across_a_daylight_saving_change(zone, before, after):
    pattern = UploadPattern(timezone=zone, hours=(9, 20))
    tz = ZoneInfo(zone)
    slots = next_slots(datetime(*before, 12, tzinfo=tz), 3, pattern=pattern)
    assert slots == [datetime(*before, 20, tzinfo=tz), datetime(*after, 9, tzinfo=tz), datetime(*after, 20, tzinfo=tz)]
    offsets = [slot.utcoffset() for slot in slots]
    assert offsets[0] != offsets[1] == offsets[2]  # the UTC time moved, the local one did not
    gap = slots[1].astimezone(UTC) - slots[0].astimezone(UTC)
    assert gap == timedelta(hours=13) - (offsets[1] - offsets[0])


def test_a_missing_local_hour_moves_an_hour_later_and_a_repeated_one_happens_once():
    spring = UploadPattern(hours=(2, 3))  # 2:00 does not exist in New York on 2024-03-10
    slots = next_slots(at(2024, 3, 9, 12), 3, pattern=spring)
    assert [s.astimezone(UTC) for s in slots] == [
        datetime(2024, 3, 10, 7, tzinfo=UTC),  # 2:00 and 3:00 are the same instant that day: one slot
        datetime(2024, 3, 11, 6, tzinfo=UTC),
        datetime(2024, 3, 11, 7, tzinfo=UTC),
    ]
    autumn = UploadPattern(hours=(1,))  # 1:00 happens twice on 2024-11-03
    slots = next_slots(at(2024, 11, 2, 12), 2, pattern=autumn)
    assert [s.astimezone(UTC) for s in slots] == [
        datetime(2024, 11, 3, 5, tzinfo=UTC),  # the first 1:00, still daylight time
        datetime(2024, 11, 4, 6, tzinfo=UTC),
    ]


@settings(max_examples=60, deadline=None)
@given(
    now=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)),
    taken_hours=st.lists(st.integers(0, 24 * 5), max_size=8),
    n=st.integers(1, 6),
)
def test_next_slots_are_free_future_pattern_slots_in_order(now, taken_hours, n):
    taken = [now + timedelta(hours=h, minutes=7) for h in taken_hours]
    slots = next_slots(now, n, taken)
    assert len(slots) == n and slots == sorted(slots) and len(set(slots)) == n
    for slot in slots:
        assert slot >= now + PATTERN.lead and slot.hour in PATTERN.hours and slot.minute == 0
        assert all(abs(slot - t) >= PATTERN.gap for t in taken)
    # nothing free was passed over
    window = slots_between(now + PATTERN.lead, slots[-1], PATTERN)
    assert [s for s in window if all(abs(s - t) >= PATTERN.gap for t in taken)] == slots[:-1]


def test_slots_between_lists_every_slot_of_the_window():
    slots = slots_between(at(2024, 6, 1, 0), at(2024, 6, 3, 0))
    assert [(s.day, s.hour) for s in slots] == [(1, 9), (1, 15), (1, 20), (2, 9), (2, 15), (2, 20)]


def test_a_bad_pattern_or_a_naive_time_is_refused():
    with pytest.raises(ValueError, match="hours are empty"):
        UploadPattern(hours=())
    with pytest.raises(ValueError, match="0 to 23"):
        UploadPattern(hours=(9, 24))
    with pytest.raises(ValueError, match="unknown time zone"):
        UploadPattern(timezone="Mars/Olympus_Mons")
    with pytest.raises(ValueError, match="HH:MM"):
        UploadPattern(daily_time="6am")
    with pytest.raises(ValueError, match="naive"):
        next_slots(datetime(2024, 6, 1, 10), 1)


def test_the_daily_job_fires_at_the_local_time_on_a_real_scheduler():
    from apscheduler.schedulers.background import BackgroundScheduler

    pattern = UploadPattern(daily_time="06:30")
    scheduler = BackgroundScheduler(timezone=UTC)
    scheduler.start(paused=True)  # computes run times, runs nothing
    try:
        schedule_daily(scheduler, lambda: None, pattern)
        job = schedule_daily(scheduler, lambda: None, pattern)  # a second call replaces the first
        assert [j.id for j in scheduler.get_jobs()] == [DAILY_JOB_ID]
        now = datetime.now(NY)
        expected = datetime.combine(now.date(), time(6, 30), tzinfo=NY)
        if expected <= now:
            expected = datetime.combine(now.date() + timedelta(days=1), time(6, 30), tzinfo=NY)
        assert job.next_run_time == expected and job.next_run_time.tzinfo.key == "America/New_York"
        assert (job.next_run_time.hour, job.next_run_time.minute) == (6, 30)

        # across the spring change the local time stays 6:30 while UTC moves an hour
        first = job.trigger.get_next_fire_time(None, at(2024, 3, 9, 7))
        second = job.trigger.get_next_fire_time(first, first + timedelta(seconds=1))
        assert first.astimezone(UTC) == datetime(2024, 3, 10, 10, 30, tzinfo=UTC)
        assert second.astimezone(UTC) == datetime(2024, 3, 11, 10, 30, tzinfo=UTC)
        assert job.trigger.get_next_fire_time(None, at(2024, 3, 8, 7)).astimezone(UTC).hour == 11
    finally:
        scheduler.shutdown(wait=False)


def test_schedule_daily_takes_settings_too_and_the_cron_line_says_the_same():
    from apscheduler.schedulers.background import BackgroundScheduler

    settings = SimpleNamespace(audience_timezone="Europe/Berlin", upload_hours=[8, 18], daily_time="05:15")
    scheduler = BackgroundScheduler(timezone=UTC)
    scheduler.start(paused=True)
    try:
        fires = schedule_daily(scheduler, lambda: None, settings).next_run_time
    finally:
        scheduler.shutdown(wait=False)
    assert fires.tzinfo.key == "Europe/Berlin" and (fires.hour, fires.minute) == (5, 15)
    assert cron_line(UploadPattern.from_settings(settings)) == "CRON_TZ=Europe/Berlin\n15 5 * * *  lofi daily --publish"
