"""Every route of /api/v1 against the real app: embedded workers, the tiny model, a real catalog."""

from __future__ import annotations

import io
import json
import shutil
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from starlette.testclient import WebSocketDenialResponse
from starlette.websockets import WebSocketDisconnect

from api_helpers import make_settings, serving, wait_job, write_library
from lofi.api import create_app

V1 = "/api/v1"
REQUEST = {"mood": "rainy", "bpm": 72, "key": "D minor", "minutes": 0.25, "seed": 7}


@pytest.fixture(scope="module")
def made(client) -> dict:
    """One finished track with audio, made through POST /generate."""
    answer = client.post(f"{V1}/generate", json=REQUEST)
    assert answer.status_code == 202, answer.text
    job = answer.json()
    assert job["state"] in ("queued", "running", "done")
    done = wait_job(client, job["id"])
    assert done["state"] == "done", done
    return done


def test_health_answers(client):
    assert client.get(f"{V1}/health").json() == {"status": "ok"}


def test_ready_checks_model_catalog_and_queue(client):
    answer = client.get(f"{V1}/ready")
    assert answer.status_code == 200
    checks = {"model": "ok", "catalog": "ok", "queue": "ok", "workers": "ok"}  # workers: the embedded ones
    assert answer.json() == {"ready": True, "checks": checks}


def test_ready_is_503_without_a_model(api_home, tmp_path):
    settings = make_settings(tmp_path / "home", tmp_path / "no-model")
    with TestClient(create_app(settings, start_workers=False)) as client:
        answer = client.get(f"{V1}/ready")
    assert answer.status_code == 503
    assert answer.json()["checks"]["model"] == "not loaded"


def test_options_name_the_closed_lists(client):
    options = client.get(f"{V1}/options").json()
    assert "rainy" in options["moods"] and "D minor" in options["keys"] and "dusty" in options["presets"]
    assert options["bpm"] == {"min": 50, "max": 130} and options["minutes"] == {"min": 0.25, "max": 10.0}
    assert options["api_key_required"] is False  # the dashboard asks for a key only when writes need one


def test_generate_makes_a_track_that_the_library_lists(client, made):
    track_id = made["track_id"]
    assert made["progress"] == 1.0 and made["request"]["compose"]["seed"] == 7
    page = client.get(f"{V1}/tracks").json()
    assert page["total"] >= 1 and track_id in [t["id"] for t in page["items"]]
    track = client.get(f"{V1}/tracks/{track_id}").json()
    assert track["key"] == "D minor" and track["bpm"] == 72 and track["mood"] == "rainy"
    names = {f["name"] for f in track["files"]}
    assert {"track.mid", "track.mp3", "track.wav", "pianoroll.png", "metadata.json"} <= names
    assert abs(track["lufs"] - -14.0) <= 0.5


def test_a_track_asked_for_in_mp3_alone_has_no_wav_and_no_stems(client):
    answer = client.post(f"{V1}/generate", json={**REQUEST, "seed": 8, "formats": ["mp3"]})
    assert answer.status_code == 202, answer.text
    done = wait_job(client, answer.json()["id"])
    assert done["state"] == "done", done
    names = {f["name"] for f in client.get(f"{V1}/tracks/{done['track_id']}").json()["files"]}
    assert "track.mp3" in names and "track.wav" not in names and not any(n.startswith("stems/") for n in names)
    assert {"track.mid", "pianoroll.png", "spectrogram.png", "metadata.json"} <= names


def test_vary_makes_a_new_track_with_one_part_written_again(client, made, api_home):
    from symusic import Score

    source = client.get(f"{V1}/tracks/{made['track_id']}").json()
    assert set(source["parts"]) <= {"drums", "bass", "keys", "lead"} and "bass" in source["parts"]
    assert source["varied_from"] is None
    answer = client.post(f"{V1}/tracks/{made['track_id']}/vary", json={"part": "bass", "seed": 3, "formats": []})
    assert answer.status_code == 202, answer.text
    assert answer.json()["request"]["vary"] == {"track_id": made["track_id"], "part": "bass", "section": None,
                                                "seed": 3, "temperature": 0.95}  # fmt: skip
    done = wait_job(client, answer.json()["id"])
    assert done["state"] == "done", done
    assert done["track_id"] == f"{made['track_id']}-bass-3"
    varied = client.get(f"{V1}/tracks/{done['track_id']}").json()
    assert varied["varied_from"]["track_id"] == made["track_id"] and varied["varied_from"]["part"] == "bass"
    assert varied["key"] == source["key"] and varied["bpm"] == source["bpm"]
    before, after = (Score(str(api_home / "tracks" / t / "track.mid")) for t in (made["track_id"], done["track_id"]))
    kept = {(t.program, t.is_drum): [(n.time, n.pitch) for n in t.notes] for t in before.tracks}
    new = {(t.program, t.is_drum): [(n.time, n.pitch) for n in t.notes] for t in after.tracks}
    assert kept.keys() == new.keys()
    changed = [part for part in kept if kept[part] != new[part]]
    assert len(changed) == 1 and changed[0][0] in (32, 33)  # the bass, and nothing else


def test_vary_says_what_is_wrong_with_a_request(client, made):
    url = f"{V1}/tracks/{made['track_id']}/vary"
    assert client.post(f"{V1}/tracks/no-such-track/vary", json={"part": "bass"}).status_code == 404
    assert client.post(url, json={"part": "cowbell"}).status_code == 422
    answer = client.post(url, json={"part": "drums", "section": "Z"})
    assert answer.status_code == 422 and "no section 'Z'" in answer.json()["detail"]
    assert client.post(url, json={"part": "bass", "tempo": 3}).status_code == 422  # no unknown fields
    answer = client.post(url, json={"part": "bass", "formats": ["mp3"], "video": True})
    assert answer.status_code == 422 and "wav" in answer.json()["detail"]  # a video is made from track.wav


def test_track_filters_and_pagination(client, made):
    assert client.get(f"{V1}/tracks", params={"mood": "rainy"}).json()["total"] >= 1
    assert client.get(f"{V1}/tracks", params={"mood": "sleepy"}).json()["total"] == 0
    assert client.get(f"{V1}/tracks", params={"bpm_min": 100}).json()["total"] == 0
    page = client.get(f"{V1}/tracks", params={"limit": 1, "offset": 0}).json()
    assert len(page["items"]) == 1 and page["limit"] == 1


def test_files_are_served_with_range_support(client, made):
    url = f"{V1}/tracks/{made['track_id']}/files/track.mp3"
    whole = client.get(url)
    assert whole.status_code == 200 and whole.headers["content-type"] == "audio/mpeg"
    part = client.get(url, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.content == whole.content[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(whole.content)}"


def test_download_serves_track_files_by_name(client, made):
    track_id = made["track_id"]
    by_folder = client.get(f"{V1}/download/{track_id}/track.mid")
    assert by_folder.status_code == 200 and by_folder.content[:4] == b"MThd"
    by_extension = client.get(f"{V1}/download/{track_id}.mp3")
    assert by_extension.status_code == 200 and by_extension.headers["content-type"] == "audio/mpeg"


@pytest.mark.parametrize(
    "name",
    [
        "../lofi.db",
        "..%2Flofi.db",
        "%2E%2E/%2E%2E/etc/passwd",
        "....//....//etc/passwd",
        "/etc/passwd",
        "x/../../lofi.db",
    ],
)
def test_download_never_reads_outside_the_track_folders(client, made, api_home, name):
    assert (api_home / "lofi.db").is_file()  # something worth stealing exists just outside
    answer = client.get(f"{V1}/download/{name}")
    assert answer.status_code == 404
    assert b"SQLite" not in answer.content and b"root:" not in answer.content


def test_a_symlink_out_of_the_tracks_folder_is_refused(client, made, api_home):
    link = api_home / "tracks" / made["track_id"] / "escape.txt"
    link.symlink_to(api_home / "lofi.db")
    try:
        assert client.get(f"{V1}/download/{made['track_id']}/escape.txt").status_code == 404
    finally:
        link.unlink()


def test_unknown_things_are_404(client):
    assert client.get(f"{V1}/tracks/nope").status_code == 404
    assert client.get(f"{V1}/tracks/nope/files/track.mid").status_code == 404
    assert client.get(f"{V1}/jobs/nope").status_code == 404
    assert client.delete(f"{V1}/jobs/nope").status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"mood": "angry"}, "mood"),
        ({"mood": "chill", "bpm": 300}, "bpm"),
        ({"mood": "chill", "key": "H sharp"}, "key"),
        ({"mood": "chill", "minutes": 0}, "minutes"),
        ({"mood": "chill", "preset": "shiny"}, "preset"),
        ({"mood": "chill", "seed": -1}, "seed"),
        ({"mood": "chill", "colour": "blue"}, "colour"),
        ({}, "mood"),
        # a JSON true is no number (Python counts a bool as an int), nor is a number in a string
        ({"mood": "chill", "seed": False}, "seed"),
        ({"mood": "chill", "seed": True}, "seed"),
        ({"mood": "chill", "bpm": True}, "bpm"),
        ({"mood": "chill", "minutes": True}, "minutes"),
        ({"mood": "chill", "bpm": "72"}, "bpm"),
        ({"mood": "chill", "seed": 2.5}, "seed"),
    ],
)
def test_invalid_requests_get_422_naming_the_field(client, body, field):
    answer = client.post(f"{V1}/generate", json=body)
    assert answer.status_code == 422
    detail = answer.json()["detail"]
    assert any(field in ".".join(map(str, d["loc"])) for d in detail), detail
    assert all(d["msg"] for d in detail)


def test_jobs_are_listed_and_a_finished_one_cannot_be_cancelled(client, made):
    jobs = client.get(f"{V1}/jobs", params={"state": "done"}).json()
    assert made["id"] in [j["id"] for j in jobs["items"]]
    assert client.get(f"{V1}/jobs", params={"state": "sleeping"}).status_code == 422
    assert client.delete(f"{V1}/jobs/{made['id']}").status_code == 409


def test_a_queued_job_can_be_cancelled(client, made):
    long = client.post(f"{V1}/generate", json={**REQUEST, "seed": 11, "minutes": 4}).json()
    answer = client.delete(f"{V1}/jobs/{long['id']}")
    assert answer.status_code == 200 and answer.json()["state"] == "cancelled"
    assert wait_job(client, long["id"])["state"] == "cancelled"


def test_the_same_request_is_answered_from_the_cache(client, made):
    again = client.post(f"{V1}/generate", json=REQUEST).json()
    assert again["state"] == "done" and again["track_id"] == made["track_id"]
    metrics = client.get("/metrics").text
    assert "lofi_cache_hits 1.0" in metrics or "lofi_cache_hits 2.0" in metrics


def test_websocket_follows_a_job_to_the_end(client):
    job = client.post(f"{V1}/generate", json={**REQUEST, "seed": 21, "formats": []}).json()
    with client.websocket_connect(f"{V1}/ws/jobs/{job['id']}") as ws:
        events = []
        while True:
            try:
                events.append(ws.receive_json())
            except WebSocketDisconnect:  # the server closes the socket after the last event
                break
    assert events[-1]["state"] == "done"
    progress = [e["progress"] for e in events]
    assert progress == sorted(progress) and progress[-1] == 1.0


def test_websocket_generate_submits_and_streams(client):
    with client.websocket_connect(f"{V1}/ws/generate") as ws:
        ws.send_json({**REQUEST, "seed": 31, "formats": []})
        events = []
        while True:
            try:
                events.append(ws.receive_json())
            except WebSocketDisconnect:  # after the last event
                break
    assert events[0]["request"]["compose"]["seed"] == 31
    assert events[-1]["state"] == "done"


def test_websocket_generate_rejects_a_bad_request(client):
    with client.websocket_connect(f"{V1}/ws/generate") as ws:
        ws.send_json({"mood": "angry"})
        assert "mood" in ws.receive_json()["error"]


def test_metrics_use_the_lofi_prefix_and_route_templates(client, made):
    client.get(f"{V1}/tracks/{made['track_id']}")
    text = client.get(f"{V1}/metrics").text
    for name in (
        "lofi_http_requests_total",
        "lofi_http_request_duration_seconds_bucket",
        "lofi_jobs",
        "lofi_queue_length",
        "lofi_generation_step_seconds_count",
        "lofi_cache_misses",
        "lofi_model_load_seconds",
    ):
        assert name in text, name
    assert 'route="/api/v1/tracks/{track_id}"' in text
    assert made["track_id"] not in text  # ids never become label values
    names = [line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")]
    # lofi's own metrics, and the standard process collector's (memory and CPU, for the alerts)
    assert any(n.startswith("process_resident_memory") for n in names)
    assert all(n.startswith(("lofi_", "process_")) for n in names), {n for n in names if not n.startswith("lofi_")}


def test_a_track_has_a_small_preview_made_once_and_kept(client, made, api_home):
    """Lists of tracks show a JPEG at a card's width, a fraction of the thumbnail's bytes; it is made on the
    first request, kept in the track folder (no file of the track's), and served again with its ETag."""
    track = client.get(f"{V1}/tracks/{made['track_id']}").json()
    assert track["preview"] == f"{V1}/tracks/{made['track_id']}/preview.jpg"
    first = client.get(track["preview"])
    assert first.status_code == 200 and first.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(first.content)) as small:
        assert small.size == (480, 270)  # the 1280x720 thumbnail's shape
    (thumbnail,) = [f["size"] for f in track["files"] if f["name"] == "thumbnail.png"]
    assert len(first.content) * 10 < thumbnail
    kept = api_home / "tracks" / made["track_id"] / ".preview.jpg"
    made_at = kept.stat().st_mtime_ns
    again = client.get(track["preview"], headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and kept.stat().st_mtime_ns == made_at
    names = [f["name"] for f in client.get(f"{V1}/tracks/{made['track_id']}").json()["files"]]
    assert ".preview.jpg" not in names and "preview.jpg" not in names
    assert client.get(f"{V1}/tracks/nope/preview.jpg").status_code == 404


def test_a_symlink_planted_as_the_preview_is_replaced_not_followed(client, made, api_home):
    kept = api_home / "tracks" / made["track_id"] / ".preview.jpg"
    kept.unlink(missing_ok=True)
    kept.symlink_to("/etc/passwd")
    answer = client.get(f"{V1}/tracks/{made['track_id']}/preview.jpg")
    assert answer.status_code == 200 and answer.content.startswith(b"\xff\xd8")  # a JPEG, not the file
    assert not kept.is_symlink() and kept.read_bytes() == answer.content


def test_the_job_feed_sends_every_job_and_each_change(tmp_path, tiny_checkpoint):
    """/ws/jobs: the latest jobs at once, then each new or changed one, for as long as the client listens."""
    settings = make_settings(tmp_path / "home", Path(tiny_checkpoint.path))
    with TestClient(create_app(settings, start_workers=False)) as client:
        old = client.post(f"{V1}/generate", json={**REQUEST, "seed": 1}).json()
        with client.websocket_connect(f"{V1}/ws/jobs") as feed:
            assert feed.receive_json()["id"] == old["id"]
            new = client.post(f"{V1}/generate", json={**REQUEST, "seed": 2}).json()  # from another client
            got = feed.receive_json()
            assert (got["id"], got["state"]) == (new["id"], "queued")
            client.delete(f"{V1}/jobs/{old['id']}")
            changed = feed.receive_json()
            assert (changed["id"], changed["state"]) == (old["id"], "cancelled")
        with (
            pytest.raises(WebSocketDenialResponse) as refused,
            client.websocket_connect(f"{V1}/ws/jobs", headers={"Origin": "https://evil.example"}),
        ):
            pass
        assert refused.value.status_code == 403


def test_the_dashboard_is_served(client):
    page = client.get("/")
    assert page.status_code == 200 and "<form" in page.text
    assert client.get("/static/app.js").status_code == 200
    assert "http" not in client.get("/static/style.css").text  # nothing fetched from the internet


def test_openapi_docs_describe_the_routes(client):
    schema = client.get(f"{V1}/openapi.json").json()
    for path in ("/api/v1/generate", "/api/v1/jobs/{job_id}", "/api/v1/tracks", "/api/v1/tracks/{track_id}"):
        assert path in schema["paths"]
    assert client.get("/docs").status_code == 200


def test_write_endpoints_need_the_api_key_when_one_is_set(tmp_path, tiny_checkpoint):
    settings = make_settings(tmp_path / "home", Path(tiny_checkpoint.path), api_key="s3cret")
    with TestClient(create_app(settings, start_workers=False)) as client:
        assert client.post(f"{V1}/generate", json={"mood": "chill"}).status_code == 401
        ok = client.post(f"{V1}/generate", json={"mood": "chill"}, headers={"X-API-Key": "s3cret"})
        assert ok.status_code == 202
        assert client.get(f"{V1}/tracks").status_code == 200  # reading needs no key
        assert client.get(f"{V1}/options").json()["api_key_required"] is True


def test_generate_is_rate_limited_with_retry_after(tmp_path, tiny_checkpoint):
    settings = make_settings(tmp_path / "home", Path(tiny_checkpoint.path), rate_limit="2/minute")
    with TestClient(create_app(settings, start_workers=False)) as client:
        codes = [client.post(f"{V1}/generate", json={"mood": "chill"}).status_code for _ in range(3)]
        assert codes == [202, 202, 429]
        limited = client.post(f"{V1}/generate", json={"mood": "chill"})
        assert limited.status_code == 429
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert "rate limit" in limited.json()["detail"]
        assert client.get(f"{V1}/health").status_code == 200  # only generation is limited


def test_cors_origins_are_configurable(tmp_path, tiny_checkpoint):
    settings = make_settings(tmp_path / "home", Path(tiny_checkpoint.path), cors_origins=["https://studio.example"])
    with TestClient(create_app(settings, start_workers=False)) as client:
        answer = client.get(f"{V1}/health", headers={"Origin": "https://studio.example"})
        assert answer.headers["access-control-allow-origin"] == "https://studio.example"
        other = client.get(f"{V1}/health", headers={"Origin": "https://elsewhere.example"})
        assert "access-control-allow-origin" not in other.headers


def test_a_symlink_in_a_track_folder_is_neither_listed_nor_served(client, made, api_home):
    track_id = made["track_id"]
    link = api_home / "tracks" / track_id / "evil.txt"
    link.symlink_to("/etc/passwd")
    try:
        names = {f["name"] for f in client.get(f"{V1}/tracks/{track_id}").json()["files"]}
        assert "evil.txt" not in names and "track.mid" in names
        for url in (f"{V1}/tracks/{track_id}/files/evil.txt", f"{V1}/download/{track_id}/evil.txt"):
            answer = client.get(url)
            assert answer.status_code == 404 and b"root:" not in answer.content, url
    finally:
        link.unlink()


@pytest.mark.parametrize(
    "url",
    [
        f"{V1}/tracks?offset=9223372036854775808",  # past SQLite's 64-bit integers
        f"{V1}/tracks?offset=-1",
        f"{V1}/tracks?since=9999-12-31T23:59:59-23:59",  # past year 9999 once in UTC
        f"{V1}/tracks?until=0001-01-01T00:00:00%2B23:59",
        f"{V1}/download/{'a' * 300}.mp3",  # longer than a file name can be (ENAMETOOLONG)
        f"{V1}/download/{'é' * 200}/track.mp3",  # 200 characters, 400 bytes
        f"{V1}/tracks/x/files/{'a' * 300}",
        f"/static/{'a' * 300}",
    ],
)
def test_out_of_range_values_and_overlong_names_are_client_errors(client, url):
    assert 400 <= client.get(url).status_code < 500


def test_a_cancelled_job_leaves_nothing(client, made, api_home):
    """Nothing is served from its folder once it is cancelled, and its worker removes the folder."""
    job = client.post(f"{V1}/generate", json={**REQUEST, "seed": 61, "minutes": 2}).json()  # with audio: seconds

    def written() -> list[Path]:  # the folder the compose step writes once it has composed
        found = (api_home / "tracks").glob("*/metadata.json")
        return [m.parent for m in found if json.loads(m.read_text())["seed"] == 61]

    deadline = time.monotonic() + 300
    while not written():  # the progress cannot say: composing reports half the bar before the folder is written
        seen = client.get(f"{V1}/jobs/{job['id']}").json()
        assert seen["state"] in ("queued", "running") and time.monotonic() < deadline, seen
        time.sleep(0.1)
    (folder,) = written()
    assert (folder / "track.mid").is_file()

    assert client.delete(f"{V1}/jobs/{job['id']}").json()["state"] == "cancelled"
    for url in (f"{V1}/download/{folder.name}/track.mid", f"{V1}/download/{folder.name}.mid"):
        assert client.get(url).status_code == 404, url  # at once: it is not a track of the library
    deadline = time.monotonic() + 180
    while folder.exists():  # the worker stops at its next step, and removes what it wrote
        assert time.monotonic() < deadline, f"{folder} is still there: {sorted(p.name for p in folder.iterdir())}"
        time.sleep(0.2)
    assert client.get(f"{V1}/tracks/{folder.name}").status_code == 404


def test_head_answers_like_get_without_a_body(client, made):
    track_id = made["track_id"]
    for url in (
        "/", "/docs", "/static/app.js", f"{V1}/health", f"{V1}/options", f"{V1}/tracks", f"{V1}/tracks/{track_id}",
        f"{V1}/tracks/{track_id}/files/track.mp3", f"{V1}/download/{track_id}.mp3", f"{V1}/jobs/{made['id']}",
    ):  # fmt: skip
        get, head = client.get(url), client.head(url)
        assert head.status_code == get.status_code == 200, url
        assert head.content == b"", url
        for header in ("content-type", "content-length"):
            assert head.headers[header] == get.headers[header], (url, header)
    assert client.head(f"{V1}/tracks/nope").status_code == 404


def test_files_have_an_etag_and_an_unchanged_one_answers_304(client, made):
    track_id = made["track_id"]
    url = f"{V1}/tracks/{track_id}/files/track.mp3"
    etag = client.get(url).headers["etag"]
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    assert client.get(url, headers={"If-None-Match": '"something-else"'}).status_code == 200
    download = client.get(f"{V1}/download/{track_id}.mp3", headers={"If-None-Match": f'"x", W/{etag}'})
    assert download.status_code == 304


@pytest.mark.parametrize("video", [0, 1, "true", "yes", None])
def test_video_must_be_true_or_false(client, video):
    answer = client.post(f"{V1}/generate", json={"mood": "chill", "video": video})
    assert answer.status_code == 422
    assert any(d["loc"][-1] == "video" for d in answer.json()["detail"])


def test_jobs_show_no_server_paths(client, made, api_home, tiny_checkpoint):
    for text in (client.get(f"{V1}/jobs/{made['id']}").text, client.get(f"{V1}/jobs").text):
        for path in (str(tiny_checkpoint.path), "/usr/share", str(api_home)):
            assert path not in text
    request = client.get(f"{V1}/jobs/{made['id']}").json()["request"]
    assert request["compose"]["seed"] == 7 and request["options"]["preset"] == "dusty"
    assert "model" not in request and "soundfont" not in request["options"]


def test_wrong_api_keys_are_limited(tmp_path, tiny_checkpoint):
    settings = make_settings(
        tmp_path / "home", Path(tiny_checkpoint.path), api_key="s3cret", api_key_failures="3/minute"
    )
    with TestClient(create_app(settings, start_workers=False)) as client:

        def post(key: str | bytes | None) -> httpx.Response:
            return client.post(f"{V1}/generate", json={"mood": "chill"}, headers={"X-API-Key": key} if key else {})

        assert post("s3cret").status_code == 202
        assert [post(key).status_code for key in (None, "s3cre", "sécret".encode())] == [401, 401, 401]
        locked = post("s3cret")  # three wrong keys: even the right one waits now
        assert locked.status_code == 429 and int(locked.headers["retry-after"]) >= 1
        assert client.delete(f"{V1}/jobs/nope", headers={"X-API-Key": "guess"}).status_code == 429
        assert client.get(f"{V1}/tracks").status_code == 200  # reading needs no key


def test_websocket_generate_counts_against_the_rate_limit(tmp_path, tiny_checkpoint):
    settings = make_settings(tmp_path / "home", Path(tiny_checkpoint.path), rate_limit="2/minute")
    with TestClient(create_app(settings, start_workers=False)) as client:
        assert client.post(f"{V1}/generate", json={"mood": "chill"}).status_code == 202
        with client.websocket_connect(f"{V1}/ws/generate") as ws:
            ws.send_json({"mood": "chill"})
            assert ws.receive_json()["state"] == "queued"
        assert client.post(f"{V1}/generate", json={"mood": "chill"}).status_code == 429
        with pytest.raises(WebSocketDenialResponse) as refused, client.websocket_connect(f"{V1}/ws/generate"):
            pass
        assert refused.value.status_code == 429 and int(refused.value.headers["retry-after"]) >= 1


def test_websocket_generate_needs_the_api_key_when_one_is_set(tmp_path, tiny_checkpoint):
    settings = make_settings(tmp_path / "home", Path(tiny_checkpoint.path), api_key="s3cret")
    with TestClient(create_app(settings, start_workers=False)) as client:
        with pytest.raises(WebSocketDenialResponse) as refused, client.websocket_connect(f"{V1}/ws/generate"):
            pass
        assert refused.value.status_code == 401
        with client.websocket_connect(f"{V1}/ws/generate", headers={"X-API-Key": "s3cret"}) as ws:
            ws.send_json({"mood": "chill"})
            assert ws.receive_json()["state"] == "queued"


@pytest.mark.parametrize("path", ["/ws/jobs/nope", "/ws/generate"])
def test_websockets_refuse_pages_of_other_sites(tmp_path, tiny_checkpoint, path):
    settings = make_settings(tmp_path / "home", Path(tiny_checkpoint.path), cors_origins=["https://studio.example"])
    with TestClient(create_app(settings, start_workers=False)) as client:
        with (
            pytest.raises(WebSocketDenialResponse) as refused,
            client.websocket_connect(V1 + path, headers={"Origin": "https://evil.example"}),
        ):
            pass
        assert refused.value.status_code == 403
        # a CORS origin, the server's own pages (the dashboard), and clients that are not browsers
        for headers in ({"Origin": "https://studio.example"}, {"Origin": "http://testserver"}, {}):
            with client.websocket_connect(V1 + path, headers=headers) as ws:
                if path == "/ws/generate":
                    ws.send_json({"mood": "angry"})
                assert "error" in ws.receive_json()  # admitted: the handler answered


def test_forwarded_addresses_are_believed_from_trusted_proxies_only(tmp_path, tiny_checkpoint):
    """Behind a proxy in LOFI_TRUSTED_PROXIES each forwarded client has its own limit."""
    settings = make_settings(
        tmp_path / "home", Path(tiny_checkpoint.path), rate_limit="1/minute", trusted_proxies=["127.0.0.1"]
    )
    with serving(create_app(settings, start_workers=False)) as url:

        def post(client: str) -> int:
            headers = {"X-Forwarded-For": client}
            return httpx.post(f"{url}{V1}/generate", json={"mood": "chill"}, headers=headers, timeout=30).status_code

        assert [post("198.51.100.1"), post("198.51.100.1"), post("198.51.100.2")] == [202, 429, 202]


def test_the_dashboard_forbids_framing_and_outside_content(client):
    headers = client.get("/").headers
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "default-src 'self'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"


@pytest.fixture(scope="module")
def no_workers(tmp_path_factory, tiny_checkpoint):
    """The app with an API key and no workers: jobs stay as the API leaves them."""
    home = tmp_path_factory.mktemp("no-workers-home")
    settings = make_settings(home, Path(tiny_checkpoint.path), api_key="s3cret", rate_limit="1000/minute")
    with TestClient(create_app(settings, start_workers=False), headers={"X-API-Key": "s3cret"}) as client:
        yield client


def test_an_integral_float_is_an_integer_as_json_schema_says(no_workers):
    job = no_workers.post(f"{V1}/generate", json={"mood": "chill", "bpm": 72.0, "seed": 3.0}).json()
    assert (job["request"]["compose"]["bpm"], job["request"]["compose"]["seed"]) == (72, 3)


@pytest.mark.parametrize("value", ["0.5", "1700000000", "-1", "1e9"])
def test_times_are_iso_8601_not_numbers(no_workers, value):
    for name in ("since", "until"):
        answer = no_workers.get(f"{V1}/tracks", params={name: value})
        assert answer.status_code == 422, (name, value)
        (detail,) = answer.json()["detail"]
        assert detail["loc"] == ["query", name] and "ISO 8601" in detail["msg"]
    assert no_workers.get(f"{V1}/tracks", params={"until": "2026-01-31T12:00:00Z"}).status_code == 200


@pytest.mark.parametrize("key", [None, "", "s3cre"])
def test_an_empty_api_key_is_no_key(no_workers, key):
    """Absent, empty or wrong: the same 401, on HTTP and on the WebSocket."""
    headers = {"X-API-Key": key} if key is not None else {}
    client = TestClient(no_workers.app)  # without the fixture's key
    answer = client.post(f"{V1}/generate", json={"mood": "chill"}, headers=headers)
    assert answer.status_code == 401 and answer.json() == {"detail": "a valid X-API-Key header is required"}
    assert client.delete(f"{V1}/jobs/nope", headers=headers).status_code == 401
    with (
        pytest.raises(WebSocketDenialResponse) as refused,
        client.websocket_connect(f"{V1}/ws/generate", headers=headers),
    ):
        pass
    assert refused.value.status_code == 401


def test_the_api_key_is_a_documented_security_scheme(no_workers):
    schema = no_workers.get(f"{V1}/openapi.json").json()
    (scheme,) = schema["components"]["securitySchemes"].values()
    assert scheme == {**scheme, "type": "apiKey", "in": "header", "name": "X-API-Key"}
    assert schema["paths"]["/api/v1/generate"]["post"]["security"]
    assert "security" not in schema["paths"]["/api/v1/tracks"]["get"]


@pytest.mark.parametrize(
    ("method", "url", "allow"),
    [
        ("PUT", f"{V1}/jobs/some-job", "GET, HEAD, DELETE"),  # two routes share the path
        ("OPTIONS", f"{V1}/jobs/some-job", "GET, HEAD, DELETE"),
        ("POST", f"{V1}/tracks", "GET, HEAD"),
        ("GET", f"{V1}/generate", "POST"),
        ("DELETE", f"{V1}/health", "GET, HEAD"),
        ("POST", "/static/app.js", "GET, HEAD"),
    ],
)
def test_405_names_every_method_of_the_path(no_workers, method, url, allow):
    answer = no_workers.request(method, url)
    assert answer.status_code == 405 and answer.headers["allow"] == allow
    assert answer.json() == {"detail": "Method Not Allowed"}


def test_a_cancelled_job_reads_cancelled_from_then_on(no_workers):
    """DELETE cancels: the job is kept for the record (the job list, the metrics), never live again."""
    job = no_workers.post(f"{V1}/generate", json={"mood": "chill", "seed": 5}).json()
    cancelled = no_workers.delete(f"{V1}/jobs/{job['id']}").json()
    assert cancelled["state"] == "cancelled" and cancelled["finished_at"] is not None
    assert no_workers.get(f"{V1}/jobs/{job['id']}").json() == cancelled
    running_or_queued = [
        j["id"] for s in ("queued", "running") for j in no_workers.get(f"{V1}/jobs?state={s}").json()["items"]
    ]
    assert job["id"] not in running_or_queued
    assert no_workers.delete(f"{V1}/jobs/{job['id']}").status_code == 409
    with no_workers.websocket_connect(f"{V1}/ws/jobs/{job['id']}") as ws:
        assert ws.receive_json()["state"] == "cancelled"
        with pytest.raises(WebSocketDisconnect):  # nothing more to follow
            ws.receive_json()


def test_without_a_model_generate_answers_503_not_500(tmp_path):
    settings = make_settings(tmp_path / "home", tmp_path / "no-model")
    with TestClient(create_app(settings, start_workers=False)) as client:
        answer = client.post(f"{V1}/generate", json={"mood": "chill"})
        assert answer.status_code == 503 and "no model" in answer.json()["detail"]
        with client.websocket_connect(f"{V1}/ws/generate") as ws:
            ws.send_json({"mood": "chill"})
            assert "no model" in ws.receive_json()["error"]
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_json()
            assert closed.value.code == 1013  # try again later


def test_a_page_of_tracks_shows_every_change_to_the_library(tmp_path, tiny_checkpoint):
    """Pages are kept between requests; a new track, a changed one, a new file or a planted symlink shows
    on the next request all the same."""
    from sqlalchemy import update

    from lofi.catalog import open_catalog
    from lofi.catalog.models import Track
    from lofi.catalog.queries import add_track

    home = tmp_path / "home"
    write_library(home, 3)
    with TestClient(create_app(make_settings(home, Path(tiny_checkpoint.path)), start_workers=False)) as client:

        def page() -> dict:
            return {t["id"]: t for t in client.get(f"{V1}/tracks").json()["items"]}

        assert page() == page() and len(page()) == 3
        folder = home / "tracks" / "library-01"
        (folder / "notes.txt").write_text("a file added after the page was read")
        (folder / "escape.txt").symlink_to("/etc/hostname")
        files = [f["name"] for f in page()["library-01"]["files"]]
        assert "notes.txt" in files and "escape.txt" not in files

        extra = home / "tracks" / "extra-track"  # a track made since, added to the catalog
        shutil.copytree(home / "tracks" / "library-00", extra)
        metadata = json.loads((extra / "metadata.json").read_text()) | {"track_id": "extra-track"}
        (extra / "metadata.json").write_text(json.dumps(metadata))
        catalog = open_catalog(make_settings(home, Path(tiny_checkpoint.path)).catalog_url)
        with catalog, catalog.session() as session:
            add_track(session, extra)
            session.execute(update(Track).where(Track.id == "library-02").values(title="Renamed"))
        tracks = page()
        assert len(tracks) == 4 and tracks["library-02"]["title"] == "Renamed"


def test_the_api_and_the_cli_build_the_same_options(tmp_path, tiny_checkpoint, monkeypatch):
    """One builder behind both doors: the server's settings (LOFI_PRESET, LOFI_LUFS) fill what a request
    leaves out, and the CLI's `lofi generate` with the same settings and flags gets the same options."""
    from dataclasses import asdict

    from lofi.cli import render as cli_render

    settings = make_settings(tmp_path / "home", Path(tiny_checkpoint.path), preset="tape", lufs=-16.0)
    monkeypatch.setattr(cli_render, "get_settings", lambda: settings)
    with TestClient(create_app(settings, start_workers=False)) as client:

        def options(body: dict) -> dict:
            answer = client.post(f"{V1}/generate", json={"mood": "chill", **body})
            assert answer.status_code == 202, answer.text
            return answer.json()["request"]["options"]

        def cli(audio: bool, preset: str | None, formats: str | None = None) -> dict:
            built = asdict(cli_render.track_options(audio, preset, None, None, formats=formats))
            built["formats"] = list(built["formats"])  # JSON's list
            return {name: value for name, value in built.items() if name != "soundfont"}  # a server path

        assert options({}) == cli(True, None)
        assert options({})["preset"] == "tape" and options({})["lufs"] == -16.0
        assert options({"preset": "vinyl"}) == cli(True, "vinyl")
        # formats: none is the MIDI alone; otherwise the files named, in one order, each once
        assert options({"formats": []}) == cli(False, None) and options({"formats": []})["audio"] is False
        assert options({"formats": []})["formats"] == []
        assert options({})["formats"] == ["wav", "mp3", "stems"]
        assert options({"formats": ["mp3"]}) == cli(True, None, "mp3") and options({"formats": ["mp3"]})["audio"]
        assert options({"formats": ["stems", "wav", "stems"]}) == cli(True, None, "stems, wav")
        assert options({"formats": ["stems", "wav", "stems"]})["formats"] == ["wav", "stems"]
        unknown = client.post(f"{V1}/generate", json={"mood": "chill", "formats": ["ogg"]})
        assert unknown.status_code == 422 and "wav" in unknown.text
        with pytest.raises(ValueError, match="unknown audio format ogg: choose from wav, mp3, stems"):
            cli(True, None, "ogg")
        no_wav = client.post(f"{V1}/generate", json={"mood": "chill", "formats": ["mp3"], "video": True})
        assert no_wav.status_code == 422 and "made from track.wav" in no_wav.json()["detail"]
        refused = client.post(f"{V1}/generate", json={"mood": "chill", "formats": [], "video": True})
        assert refused.status_code == 422 and "video needs the audio" in refused.json()["detail"]
