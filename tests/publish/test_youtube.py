"""The YouTube client against a fake YouTube on loopback: whole uploads, retries, resuming, and the CLI."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
import typer
from fake_youtube import GRANULE, QUOTA, REFRESH_TOKEN, TOKEN, FakeYouTube
from PIL import Image
from typer.testing import CliRunner

from lofi.publish import seo
from lofi.publish.schedule import UploadPattern
from lofi.publish.youtube import (
    DAILY_QUOTA,
    SCOPES,
    QuotaExceeded,
    Retry,
    TokenFileMissing,
    UploadSession,
    YouTubeClient,
    YouTubeConfig,
    YouTubeError,
    check_quota,
    plan_upload,
    session_path,
    upload,
)
from lofi.settings import Settings

VIDEO_BYTES = 4 * GRANULE + 1000  # four whole chunks and a short last one
METADATA = {
    "track_id": "rainy-d-minor-72bpm-7",
    "request": {"mood": "rainy", "minutes": 0.1},
    "key": "D minor",
    "bpm": 72,
    "duration_s": 6.0,
    "seed": 7,
    "model_id": "tiny-test",
    "chords": ["Dm7", "Dm7", "Gm7", "A7"],
}
LATER = datetime(2100, 6, 1, 19, 0, tzinfo=UTC)


@pytest.fixture
def fake():
    with FakeYouTube() as server:
        yield server


@pytest.fixture
def track(tmp_path: Path) -> Path:
    """A track folder with metadata.json, a video of random bytes and a small real PNG thumbnail."""
    folder = tmp_path / "tracks" / METADATA["track_id"]
    folder.mkdir(parents=True)
    (folder / "metadata.json").write_text(json.dumps(METADATA), encoding="utf-8")
    (folder / "video.mp4").write_bytes(random.Random(1).randbytes(VIDEO_BYTES))
    Image.new("RGB", (128, 72), (40, 30, 80)).save(folder / "thumbnail.png")
    return folder


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    """A token file as google-oauthlib-tool writes it, with an access token valid long enough that the
    client never asks Google's token endpoint for a new one."""
    path = tmp_path / "youtube-token.json"
    info = {"token": TOKEN, "refresh_token": "r", "client_id": "c", "client_secret": "s"}
    info["expiry"] = "2100-01-01T00:00:00Z"
    path.write_text(json.dumps(info), encoding="utf-8")
    return path


@pytest.fixture
def config(fake: FakeYouTube, token_file: Path) -> YouTubeConfig:
    return YouTubeConfig(
        token_file=token_file, api_url=fake.url, playlist_id="PLlofi", community=True, chunk_bytes=GRANULE,
        retry=Retry(attempts=3, first_s=0.01),  # pauses of milliseconds
    )  # fmt: skip


def received_everything(fake: FakeYouTube, track: Path) -> bool:
    return bytes(fake.only_video().data) == (track / "video.mp4").read_bytes()


def test_upload_sends_the_video_thumbnail_playlist_entry_and_comment(fake, track, config):
    spent: list[str] = []
    plan = plan_upload(track, METADATA, config, publish_at=LATER)
    result = upload(plan, config, spend=spent.append, sleep=pytest.fail)

    video = fake.only_video()
    assert received_everything(fake, track)
    assert [first for first, _ in video.chunks] == [i * GRANULE for i in range(5)]  # in order, none twice
    assert video.content_type == "video/mp4" and video.total == VIDEO_BYTES
    snippet, status = video.resource["snippet"], video.resource["status"]
    expected = seo.seo_for(METADATA)
    assert snippet["title"] == expected.title and seo.characters(snippet["title"]) <= seo.TITLE_MAX
    assert snippet["description"] == expected.description and snippet["tags"] == expected.tags
    assert snippet["categoryId"] == "10"
    assert status == {
        "privacyStatus": "private", "publishAt": "2100-06-01T19:00:00Z", "selfDeclaredMadeForKids": False,
        "containsSyntheticMedia": True,  # YouTube's disclosure of altered or synthetic media
        "uploadStatus": "uploaded",
    }  # fmt: skip
    assert video.thumbnail == (track / "thumbnail.png").read_bytes()
    (item,) = fake.playlist_items
    assert item["snippet"] == {"playlistId": "PLlofi", "resourceId": {"kind": "youtube#video", "videoId": video.id}}
    (thread,) = fake.comment_threads
    text = thread["snippet"]["topLevelComment"]["snippet"]["textOriginal"]
    assert thread["snippet"]["videoId"] == video.id
    assert "Dm7 – Gm7 – A7" in text and "What song is this?" in text

    assert result.video_id == video.id and result.url.endswith(video.id)
    assert result.thumbnail_set and result.playlist_item_id == "playlist1" and result.comment_id == "comment1"
    assert result.quota_units == 250 == sum(fake.quota.values()) == plan.quota_units()
    assert spent == ["videos.insert", "thumbnails.set", "playlistItems.insert", "commentThreads.insert"]
    assert result.retries == 0 and result.resumed_at_bytes is None and not result.warnings
    assert not session_path(track / "video.mp4").exists()
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in fake.requests)


def test_5xx_answers_are_retried_with_growing_pauses(fake, track, config):
    fake.script("start", "503")
    fake.script("put", "ok", "500", "503", "ok")
    pauses: list[float] = []
    result = upload(plan_upload(track, METADATA, config), config, sleep=pauses.append)

    assert received_everything(fake, track)
    assert [r.status for r in fake.seen("POST", "/upload/youtube/v3/videos")] == [503, 200]
    assert [r.status for r in fake.data_puts()] == [308, 500, 503, 308, 308, 308, 200]
    assert result.retries == 3 and len(pauses) == 3
    # the pause doubles with each failure in a row, less up to half of it (jitter); a success starts afresh
    first = config.retry.first_s
    assert first / 2 <= pauses[0] <= first and first / 2 <= pauses[1] <= first and first <= pauses[2] <= 2 * first
    assert result.calls["videos.insert"] == 1 and fake.quota["videos.insert"] == QUOTA["videos.insert"]


def test_broken_connections_are_retried_from_where_the_server_is(fake, track, config):
    fake.script("put", "ok", "drop", "cut", "ok")
    result = upload(plan_upload(track, METADATA, config), config, sleep=lambda s: None)
    assert received_everything(fake, track)
    faults = [r.status for r in fake.data_puts() if isinstance(r.status, str)]
    assert "cut" in faults and "drop" in faults
    assert fake.seen("PUT") != fake.data_puts()  # the client asked where the server stood before resending
    assert result.video_id == fake.only_video().id


def test_an_interrupted_upload_is_resumed_by_a_new_client_from_the_session_file(fake, track, config):
    fake.script("put", "ok", "ok", then="cut")  # the network goes after two chunks and stays away
    plan = plan_upload(track, METADATA, config)
    with pytest.raises(YouTubeError, match=f"resume at byte {2 * GRANULE} of {VIDEO_BYTES}"):
        upload(plan, config, sleep=lambda s: None)
    saved = UploadSession.load(track / "video.mp4")
    assert saved is not None and saved.progress_bytes == 2 * GRANULE and "upload_id=" in saved.uri
    assert len(fake.only_video().data) == 2 * GRANULE
    puts_before = len(fake.data_puts())

    fake.script("put")  # the network is back; a new process (a new client, built afresh) continues
    result = YouTubeClient(config, sleep=pytest.fail).upload(plan_upload(track, METADATA, config))
    assert received_everything(fake, track)
    assert result.resumed_at_bytes == 2 * GRANULE
    second_run = fake.data_puts()[puts_before:]
    assert [int(r.headers["content-range"].split()[1].split("-")[0]) for r in second_run] == [
        2 * GRANULE, 3 * GRANULE, 4 * GRANULE
    ]  # fmt: skip
    assert sum(r.body_bytes for r in second_run) == VIDEO_BYTES - 2 * GRANULE  # the rest, and only the rest
    assert len(fake.videos) == 1 and "videos.insert" not in result.calls  # no second insert, no second 100
    assert not session_path(track / "video.mp4").exists()


def test_a_session_the_server_forgot_starts_a_new_upload(fake, track, config):
    fake.script("put", "ok", then="503")
    with pytest.raises(YouTubeError, match="HTTP 503"):
        upload(plan_upload(track, METADATA, config), config, sleep=lambda s: None)
    fake.forget_sessions()
    fake.script("put")
    result = upload(plan_upload(track, METADATA, config), config, sleep=pytest.fail)
    assert len(fake.videos) == 2 and result.video_id == "vid00000002" and result.resumed_at_bytes is None
    assert bytes(fake.videos[result.video_id].data) == (track / "video.mp4").read_bytes()


def test_a_failed_thumbnail_is_a_warning_not_a_failed_upload(fake, track, config):
    fake.script("thumbnail", "400")  # e.g. a channel not yet verified for custom thumbnails
    result = upload(plan_upload(track, METADATA, config), config, sleep=pytest.fail)
    assert not result.thumbnail_set and "thumbnails.set failed: HTTP 400" in result.warnings[0]
    assert result.playlist_item_id and result.comment_id and received_everything(fake, track)


def test_a_missing_token_file_says_how_to_make_one(fake, track, config, tmp_path):
    missing = YouTubeConfig(token_file=tmp_path / "nope.json", api_url=fake.url)
    with pytest.raises(TokenFileMissing, match="google-oauthlib-tool --client-secrets") as error:
        YouTubeClient(missing)
    assert "youtube.force-ssl" in str(error.value) and str(tmp_path / "nope.json") in str(error.value)
    assert fake.requests == []


def test_the_plan_refuses_what_youtube_would(track, config):
    with pytest.raises(ValueError, match="in the past"):
        plan_upload(track, METADATA, config, publish_at=datetime(2000, 1, 1, tzinfo=UTC))
    with pytest.raises(ValueError, match="title"):
        plan_upload(track, {**METADATA, "title": "x" * 101, "description": "d", "tags": ["lofi"]}, config)
    (track / "video.mp4").unlink()
    with pytest.raises(FileNotFoundError, match=r"video\.mp4 is missing"):
        plan_upload(track, METADATA, config)


# ---------------------------------------------------------------------------------------------- the CLI


@pytest.fixture
def cli(lofi_home, fake, config, monkeypatch):
    """`lofi publish` with its settings pointing at the fake, and the track in LOFI_HOME/tracks."""
    from lofi.cli import publish

    use_config(monkeypatch, config)
    app = typer.Typer()
    app.add_typer(publish.app, name="publish")
    return lambda *args: CliRunner().invoke(app, ["publish", *args])


def use_config(monkeypatch, config: YouTubeConfig) -> None:
    """The CLI's uploads go through ``config`` (the fake's URL, quick retries), on the real clock."""
    from lofi.cli import publish
    from lofi.jobs.upload import Publishing
    from lofi.settings import get_settings

    monkeypatch.setattr(publish, "publishing", lambda: Publishing(get_settings().catalog_url, UploadPattern(), config))


@pytest.fixture
def home_track(lofi_home, track):
    folder = lofi_home / "tracks" / track.name
    folder.parent.mkdir(parents=True)
    track.rename(folder)
    return folder


def test_dry_run_prints_the_plan_and_sends_nothing(cli, fake, home_track):
    result = cli("upload", home_track.name, "--dry-run", "--at", "2100-06-01T15:00")
    assert result.exit_code == 0, result.output
    title = seo.seo_for(METADATA).title
    assert title[:40] in result.output and "private" in result.output and "PLlofi" in result.output
    assert "2100-06-01 15:00 EDT" in result.output and "19:00 UTC" in result.output
    assert "video.mp4, 1.0 MiB" in result.output and "250 units" in result.output
    assert fake.requests == []


def test_upload_at_the_next_slot_is_recorded_in_the_catalog(cli, fake, home_track, lofi_home):
    result = cli("upload", str(home_track), "--next-slot")
    assert result.exit_code == 0, result.output
    video_id = fake.only_video().id
    assert f"uploaded {METADATA['track_id']}" in result.output and video_id in result.output

    from lofi.catalog import open_catalog
    from lofi.catalog.queries import list_uploads
    from lofi.settings import get_settings

    with open_catalog(get_settings().catalog_url) as catalog, catalog.session() as session:
        (row,) = [u.to_record() for u in list_uploads(session)]
    assert row.status == "uploaded" and row.video_id == video_id and row.url.endswith(video_id)
    assert row.scheduled_at > datetime.now(UTC) and row.uploaded_at is not None
    assert UploadPattern().local(row.scheduled_at).hour in UploadPattern().hours
    publish_at = fake.only_video().resource["status"]["publishAt"]
    assert publish_at == row.scheduled_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    record = json.loads((home_track / "upload.json").read_text())
    assert record["quota_units"] == 250 and record["calls"]["videos.insert"] == 1
    assert record["video_id"] == video_id and record["status"] == "uploaded"

    again = cli("upload", METADATA["track_id"])
    assert again.exit_code == 2 and "already on YouTube" in again.output and len(fake.videos) == 1
    shown = cli("schedule", "--days", "3")
    assert shown.exit_code == 0 and METADATA["track_id"] in shown.output and "free" in shown.output
    assert "CRON_TZ=America/New_York" in shown.output


def test_the_cli_names_a_missing_token_file_in_one_line(cli, fake, home_track, config, monkeypatch, tmp_path):

    missing = YouTubeConfig(token_file=tmp_path / "absent.json", api_url=fake.url)
    use_config(monkeypatch, missing)
    result = cli("upload", home_track.name)
    assert result.exit_code == 2 and "google-oauthlib-tool" in result.output and fake.requests == []
    assert "Traceback" not in result.output


def test_a_flagged_track_is_never_uploaded_and_one_for_review_only_when_allowed(cli, fake, home_track):
    def verdict(level: str, bits: float) -> None:
        meta = json.loads((home_track / "metadata.json").read_text())
        reference = {"id": "midi/melody/0042.mid", "source": "melody", "part": "Lead"}
        meta["originality"] = {"verdict": level, "score": bits, "reason": "a phrase copies a reference melody",
                               "match": {"reference": reference}}  # fmt: skip
        (home_track / "metadata.json").write_text(json.dumps(meta))

    verdict("flagged", 75.0)
    refused = cli("upload", home_track.name, "--allow-review")
    assert refused.exit_code == 2 and "originality check flagged it (midi/melody/0042.mid, 75 bits)" in refused.output
    assert fake.requests == []
    verdict("review", 55.0)
    held = cli("upload", home_track.name)
    assert held.exit_code == 2 and "--allow-review" in held.output and fake.requests == []
    allowed = cli("upload", home_track.name, "--allow-review")
    assert allowed.exit_code == 0, allowed.output
    assert len(fake.videos) == 1


def test_quota_of_a_failed_upload_is_kept(cli, fake, home_track):
    fake.script("put", then="503")
    result = cli("upload", home_track.name)
    assert result.exit_code == 2 and "resume at byte 0" in result.output
    record = json.loads((home_track / "upload.json").read_text())
    assert record["status"] == "failed" and record["quota_units"] == 100
    assert (home_track / ("video.mp4" + ".upload-session.json")).exists()


def test_from_settings_defaults(tmp_path):
    settings = Settings(home=tmp_path)
    config = YouTubeConfig.from_settings(settings)
    assert config.token_file == tmp_path / "youtube-token.json" and config.privacy == "private"
    assert not config.community and config.api_url == "" and config.playlist_id == ""
    assert config.daily_quota == DAILY_QUOTA
    assert UploadPattern.from_settings(settings) == UploadPattern()


def test_from_settings_reads_every_publishing_setting(tmp_path):
    settings = Settings(home=tmp_path, youtube_token_file=tmp_path / "t.json", youtube_playlist_id="PL1",
                        youtube_privacy="unlisted", youtube_community=True, youtube_api_url="http://127.0.0.1:9",
                        youtube_daily_quota=20000, audience_timezone="Asia/Tokyo", upload_hours=[21, 7],
                        daily_time="05:30")  # fmt: skip
    config = YouTubeConfig.from_settings(settings)
    assert (config.token_file, config.playlist_id, config.privacy) == (tmp_path / "t.json", "PL1", "unlisted")
    assert (config.community, config.api_url, config.daily_quota) == (True, "http://127.0.0.1:9", 20000)
    pattern = UploadPattern(timezone="Asia/Tokyo", hours=(7, 21), daily_time="05:30")
    assert UploadPattern.from_settings(settings) == pattern


# ---------------------------------------------------------------------------------------------- the OAuth token


def expired_token_file(path: Path, fake: FakeYouTube) -> Path:
    """A token file whose access token has expired, kept private. Its token_uri names the fake, as a
    developer's would; google-auth ignores it (the config's token_uri is what counts)."""
    info = {
        "token": "expired-access-token", "refresh_token": REFRESH_TOKEN, "client_id": "c", "client_secret": "s",
        "token_uri": fake.token_uri, "expiry": "2001-01-01T00:00:00Z", "scopes": list(SCOPES),
    }  # fmt: skip
    path.write_text(json.dumps(info), encoding="utf-8")
    path.chmod(0o600)
    return path


def test_a_refreshed_token_is_written_back_to_the_token_file(fake, track, config, tmp_path):
    fake.rotate_refresh_tokens = True  # Google may hand out a new refresh token with the access token
    token_file = expired_token_file(tmp_path / "token.json", fake)
    config = replace(config, token_file=token_file, token_uri=fake.token_uri)
    result = upload(plan_upload(track, METADATA, config), config, sleep=pytest.fail)

    (form,) = fake.refreshes  # google-auth refreshed once, over HTTP, before the first call
    assert form["grant_type"] == "refresh_token" and form["refresh_token"] == REFRESH_TOKEN
    saved = json.loads(token_file.read_text())
    assert saved["token"] == f"{TOKEN}-1" and saved["refresh_token"] == f"{REFRESH_TOKEN}-1"
    assert datetime.fromisoformat(saved["expiry"].replace("Z", "+00:00")) > datetime.now(UTC)
    assert saved["token_uri"] == fake.token_uri and saved["scopes"] == list(SCOPES)
    assert token_file.stat().st_mode & 0o777 == 0o600  # still private
    assert not list(tmp_path.glob(".token.json.*"))  # no temporary left beside it
    assert result.video_id and received_everything(fake, track)

    # the next run starts from the saved token: no refresh, and the old refresh token is gone for good
    upload(plan_upload(track, METADATA, config), config, sleep=pytest.fail)
    assert len(fake.refreshes) == 1 and REFRESH_TOKEN not in fake.refresh_tokens


def test_a_token_revoked_mid_upload_is_refreshed_and_saved(fake, track, config, tmp_path):
    token_file = tmp_path / "token.json"
    info = {"token": TOKEN, "refresh_token": REFRESH_TOKEN, "client_id": "c", "client_secret": "s",
            "token_uri": fake.token_uri, "expiry": "2100-01-01T00:00:00Z"}  # fmt: skip
    token_file.write_text(json.dumps(info), encoding="utf-8")
    fake.revoke_access_tokens()  # the file's token looks valid, but the server answers 401
    config = replace(config, token_file=token_file, token_uri=fake.token_uri)
    upload(plan_upload(track, METADATA, config), config, sleep=pytest.fail)
    assert len(fake.refreshes) == 1 and [r.status for r in fake.seen("POST", "/upload/youtube/v3/videos")] == [
        401, 200
    ]  # fmt: skip
    assert json.loads(token_file.read_text())["token"] == f"{TOKEN}-1" == sorted(fake.access_tokens)[0]


# ---------------------------------------------------------------------------------------------- quota


def test_quota_is_recorded_in_the_catalog_and_an_upload_over_it_is_refused(cli, fake, home_track, config, monkeypatch):
    from lofi.catalog import open_catalog
    from lofi.catalog.queries import list_uploads, quota_used_today
    from lofi.settings import get_settings

    first = cli("upload", home_track.name)
    assert first.exit_code == 0, first.output
    with open_catalog(get_settings().catalog_url) as catalog, catalog.session() as session:
        (row,) = [u.to_record() for u in list_uploads(session)]
        assert quota_used_today(session) == 250 == row.quota_units == sum(fake.quota.values())

    # 250 used of 400: another whole upload (250) does not fit, and nothing is sent for it
    use_config(monkeypatch, replace(config, daily_quota=400))
    requests_before = len(fake.requests)
    refused = cli("upload", home_track.name, "--again")
    assert refused.exit_code == 2 and "needs 250 YouTube API units and 150 of today's 400" in refused.output
    assert "midnight Pacific" in refused.output and "Traceback" not in refused.output
    assert len(fake.requests) == requests_before and len(fake.videos) == 1

    use_config(monkeypatch, replace(config, daily_quota=500))
    again = cli("upload", home_track.name, "--again")
    assert again.exit_code == 0, again.output
    with open_catalog(get_settings().catalog_url) as catalog, catalog.session() as session:
        assert quota_used_today(session) == 500 == sum(fake.quota.values())


def test_a_resumed_upload_needs_no_second_insert(fake, track, config):
    fake.script("put", "ok", then="503")
    with pytest.raises(YouTubeError):
        upload(plan_upload(track, METADATA, config), config, sleep=lambda s: None)
    plan = plan_upload(track, METADATA, config)
    assert plan.units_needed() == plan.quota_units() - QUOTA["videos.insert"] == 150
    assert check_quota(plan, 9850, 10_000) == 150
    with pytest.raises(QuotaExceeded, match="needs 150"):
        check_quota(plan, 9851, 10_000)
