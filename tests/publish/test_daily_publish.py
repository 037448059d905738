"""`lofi daily --publish`: the day's tracks made by the tiny model, each uploaded to the fake YouTube to go
public at the next free slot of the schedule."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from fake_youtube import TOKEN, FakeYouTube
from typer.testing import CliRunner

from lofi.cli.main import app
from lofi.publish.schedule import next_slots
from lofi.publish.youtube import rfc3339

NOW = datetime(2030, 3, 7, 13, 0, tzinfo=UTC)  # 8:00 in New York: the 9:00 slot is still ahead


@pytest.fixture
def daily(lofi_home, monkeypatch, tiny_checkpoint, tmp_path):
    """`lofi daily` making two short tracks with the tiny model, on a clock stopped at NOW (the scheduler's
    and the CLI's alike); uploads go to a fake YouTube named by the settings, as a user would name it."""
    import time_machine

    from lofi.settings import get_settings

    token = tmp_path / "token.json"
    token.write_text(json.dumps({"token": TOKEN, "refresh_token": "r", "client_id": "c", "client_secret": "s",
                                 "expiry": "2100-01-01T00:00:00Z"}))  # fmt: skip
    with FakeYouTube() as fake, time_machine.travel(NOW, tick=False):
        for name, value in {
            "LOFI_DEFAULT_MODEL": str(tiny_checkpoint.path), "LOFI_DAILY_COUNT": "2",
            "LOFI_DAILY_MOODS": '["rainy", "chill"]', "LOFI_DAILY_MINUTES": "0.25",
            "LOFI_YOUTUBE_TOKEN_FILE": str(token), "LOFI_YOUTUBE_API_URL": fake.url,
        }.items():  # fmt: skip
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        yield fake, token


def hold_a_slot(lofi_home, when: datetime) -> None:
    """An upload already scheduled in the catalog (for a track made earlier)."""
    from lofi.catalog import open_catalog
    from lofi.catalog.queries import add_track, add_upload
    from lofi.settings import get_settings

    folder = lofi_home / "earlier"
    folder.mkdir(parents=True)
    metadata = {"track_id": "earlier", "request": {"mood": "jazzy", "minutes": 2}, "key": "C major", "bpm": 80,
                "duration_s": 120, "seed": 1, "model_id": "m"}  # fmt: skip
    (folder / "metadata.json").write_text(json.dumps(metadata))
    with open_catalog(get_settings().catalog_url) as catalog, catalog.session() as session:
        add_track(session, folder)
        add_upload(session, "earlier", "youtube", when)


def test_daily_publish_uploads_each_track_at_the_next_free_slots(daily, lofi_home):
    fake, _ = daily
    first_slot = next_slots(NOW, 1)[0]
    hold_a_slot(lofi_home, first_slot)  # 9:00 is taken: the day's tracks get 15:00 and 20:00
    expected = next_slots(NOW, 2, [first_slot])
    assert [s.hour for s in expected] == [15, 20]

    result = CliRunner().invoke(app, ["daily", "--publish", "--workers", "1"])
    assert result.exit_code == 0, result.output

    tracks = sorted(
        (json.loads(p.read_text()) for p in (lofi_home / "tracks").glob("*/metadata.json")), key=lambda t: t["seed"]
    )
    assert len(tracks) == 2 and all((lofi_home / "tracks" / t["track_id"] / "video.mp4").is_file() for t in tracks)
    videos = list(fake.videos.values())
    assert len(videos) == 2 and all(v.complete for v in videos)
    assert [v.resource["status"]["publishAt"] for v in videos] == [rfc3339(s) for s in expected]
    assert all(v.resource["status"]["privacyStatus"] == "private" for v in videos)  # until publishAt
    titles = {v.resource["snippet"]["title"] for v in videos}
    assert titles == {t["title"] for t in tracks}

    from lofi.catalog import open_catalog
    from lofi.catalog.queries import list_uploads, quota_used_today
    from lofi.settings import get_settings

    with open_catalog(get_settings().catalog_url) as catalog, catalog.session() as session:
        rows = [u.to_record() for u in list_uploads(session) if u.track_id != "earlier"]
        used = quota_used_today(session, now=NOW)
    assert sorted((r.scheduled_at, r.status) for r in rows) == [(s, "uploaded") for s in expected]
    assert used == sum(fake.quota.values()) == 2 * (100 + 50)  # each video and its thumbnail

    # a server restarted in the middle of its set's uploads goes through them again: nothing is sent twice
    from lofi.jobs.upload import Publishing, upload_in_turn

    folders = [lofi_home / "tracks" / t["track_id"] for t in tracks]
    again = upload_in_turn(folders, Publishing.from_settings(get_settings(), clock=lambda: NOW))
    assert again.ok and again.uploaded == [] and len(fake.videos) == 2


def test_daily_publish_stops_at_the_quota_and_names_what_is_left(daily, lofi_home, monkeypatch):
    fake, _ = daily
    from lofi.settings import get_settings

    monkeypatch.setenv("LOFI_YOUTUBE_DAILY_QUOTA", "200")  # room for one upload (150) only
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["daily", "--publish", "--workers", "1"])
    assert result.exit_code == 1
    assert len(fake.videos) == 1 and "needs 150 YouTube API units and 50 of today's 200" in result.output
    made = {p.name for p in (lofi_home / "tracks").iterdir()}
    uploaded = {json.loads((lofi_home / "tracks" / t / "upload.json").read_text())["video_id"] for t in made
                if (lofi_home / "tracks" / t / "upload.json").exists()}  # fmt: skip
    assert uploaded == set(fake.videos)
    (left,) = [t for t in made if not (lofi_home / "tracks" / t / "upload.json").exists()]
    assert f"not uploaded: {left}" in result.output


def test_daily_publish_without_a_token_fails_before_composing(daily, lofi_home, monkeypatch, tmp_path):
    fake, _ = daily
    from lofi.settings import get_settings

    monkeypatch.setenv("LOFI_YOUTUBE_TOKEN_FILE", str(tmp_path / "absent.json"))
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["daily", "--publish"])
    assert result.exit_code == 2 and "google-oauthlib-tool" in result.output
    assert "absent.json" in result.output
    assert not (lofi_home / "tracks").exists() and fake.requests == []
