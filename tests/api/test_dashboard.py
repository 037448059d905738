"""The dashboard in Debian's headless Chromium, driven by Playwright, against a real `lofi serve`.

At laptop and phone sizes: making a track; with LOFI_API_KEY set, the key asked once and kept in the
browser; a job cancelled and cleared from the list, and seen by a second tab; the library paged and
searched, with small pictures loaded lazily. Every page checks that nothing failed in it, that nothing
was fetched from another host, and that its Content-Security-Policy blocked nothing.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from api_helpers import make_settings, serving, write_library
from lofi.api import create_app

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SIZES = [(1366, 850, "laptop"), (390, 844, "phone")]
KEY = "s3cret-key"
# what the page's Content-Security-Policy blocked (its WebSockets, pictures, sound...), for the test to see
CSP_WATCH = """
window.cspViolations = [];
document.addEventListener(
  "securitypolicyviolation", (e) => window.cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`)
);
"""


@contextlib.contextmanager
def lofi_server(home: Path, model: Path, start_workers: bool = True, **settings) -> Iterator[str]:
    """uvicorn serving the app (with its embedded worker) on a free loopback port.

    LOFI_HOME is set in the environment too, as a deployment would, so the worker processes see it.
    """
    from lofi.settings import get_settings

    with pytest.MonkeyPatch.context() as env:
        env.setenv("LOFI_HOME", str(home))
        get_settings.cache_clear()
        app = create_app(make_settings(home, model, **settings), start_workers=start_workers)
        with serving(app) as url:
            yield url
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_checkpoint) -> Iterator[str]:
    with lofi_server(tmp_path_factory.mktemp("dashboard-home"), Path(tiny_checkpoint.path)) as url:
        yield url


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory, tiny_checkpoint) -> Iterator[str]:
    """Writes need the API key, as docs/OPERATIONS.md recommends in production."""
    home = tmp_path_factory.mktemp("keyed-home")
    with lofi_server(home, Path(tiny_checkpoint.path), api_key=KEY, shutdown_grace_s=2) as url:
        yield url


@pytest.fixture(scope="module")
def library(tmp_path_factory, tiny_checkpoint) -> Iterator[tuple[str, list[dict]]]:
    """A library of 30 tracks (more than a page), each with a real 1280x720 thumbnail."""
    home = tmp_path_factory.mktemp("library-home")
    tracks = write_library(home, 30)
    with lofi_server(home, Path(tiny_checkpoint.path), start_workers=False) as url:
        yield url, tracks


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.fail("chromium is missing: run `make setup` (Debian package chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"]
        )
        yield browser
        browser.close()


@contextlib.contextmanager
def dashboard(context, url: str):
    """The dashboard at ``url`` in a new page of ``context`` (a browser, or one of its contexts, whose
    pages share their localStorage), loaded; on the way out nothing failed in the page, nothing came
    from another host and the Content-Security-Policy blocked nothing."""
    page = context.new_page()
    errors: list[str] = []
    outside: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    own = (url, url.replace("http", "ws", 1))
    page.on("request", lambda request: None if request.url.startswith(own) else outside.append(request.url))
    page.on("websocket", lambda socket: None if socket.url.startswith(own) else outside.append(socket.url))
    page.add_init_script(CSP_WATCH)
    page.goto(url + "/")
    page.wait_for_selector("#mood option[value=rainy]", state="attached")
    yield page
    assert errors == [] and outside == []
    assert page.evaluate("window.cspViolations") == []  # the dashboard lives within its own policy
    page.close()


def make_track(page, minutes: str, seed: int) -> str:
    """Fill in the form and press the button; returns the new job's id."""
    page.select_option("#mood", "rainy")
    page.select_option("#key", "D minor")
    page.fill("#minutes", minutes)
    page.fill("#seed", str(seed))
    with page.expect_response(lambda r: r.url.endswith("/api/v1/generate")) as answer:
        page.click("#generate-button")
    assert answer.value.status == 202, answer.value.text()
    return answer.value.json()["id"]


def fits_the_screen(page, width: int) -> bool:
    return page.evaluate("() => document.documentElement.scrollWidth") <= width


@pytest.mark.parametrize(("width", "height", "name"), SIZES)
def test_make_a_track_from_the_dashboard(server, browser, tmp_path, width, height, name):
    with dashboard(browser.new_context(viewport={"width": width, "height": height}), server) as page:
        # "Tempo 75 BPM" stays on one line
        lines = page.evaluate(
            """() => {
                const label = document.querySelector('#make .label-text');
                const word = document.createRange();
                word.selectNodeContents(label.firstChild);
                return label.getBoundingClientRect().height / word.getBoundingClientRect().height;
            }"""
        )
        assert lines < 1.5

        job_id = make_track(page, "0.25", {"laptop": 41, "phone": 42}[name])
        # the job appears, and its progress bar reaches the end over the WebSocket
        page.wait_for_selector(f"#job-{job_id}.done progress", timeout=300_000)
        assert page.eval_on_selector(f"#job-{job_id} progress", "p => p.value") == 1

        # the new track is in the library, with its picture, facts and an audio player that plays
        card = page.locator(".track").first
        card.wait_for(timeout=60_000)
        assert "rainy · D minor · 75 BPM" in card.locator(".facts").inner_text()
        card.scroll_into_view_if_needed()
        page.wait_for_function("() => document.querySelector('.track img.cover').naturalWidth > 0")
        cover = card.locator("img.cover")
        assert cover.get_attribute("loading") == "lazy" and cover.get_attribute("src").endswith("/preview.jpg")
        playing = page.evaluate(
            """async () => {
                const audio = document.querySelector('.track audio');
                await audio.play();
                await new Promise(r => setTimeout(r, 700));
                return {paused: audio.paused, time: audio.currentTime, duration: audio.duration};
            }"""
        )
        assert not playing["paused"] and playing["time"] > 0 and playing["duration"] > 10
        # the browser's own player in the dark theme, not its white one
        assert page.evaluate("getComputedStyle(document.querySelector('.track audio')).colorScheme") == "dark"
        # the files in a small closed menu, named as a person would, not 8 raw links
        files = card.locator("details.files")
        assert files.get_attribute("open") is None and card.locator("a:visible").count() == 0
        files.locator("summary").click()
        names = files.locator("a").all_inner_texts()
        assert {"MP3", "WAV", "MIDI", "Thumbnail"} <= set(names) and "track.mp3" not in names
        # a track the quality gate could not pass says why on its card (the tiny model's often cannot)
        track_id = card.get_attribute("id").removeprefix("track-")
        review = page.evaluate(f"async () => (await (await fetch('/api/v1/tracks/{track_id}')).json()).review")
        labels = card.locator("dt").all_text_contents()  # the facts sit in a closed <details>: text, not layout
        assert ("review" in labels) == bool(review)
        if review:
            assert review[0] in card.text_content() and "needs-review" in card.get_attribute("class")

        shot = tmp_path / f"dashboard-{name}.png"
        page.screenshot(path=str(shot), full_page=True)
        pixels = np.asarray(Image.open(shot).convert("L"), dtype=np.float32)
        assert pixels.shape[1] == width
        assert pixels.std() > 10, "the screenshot is blank"
        assert fits_the_screen(page, width)  # nothing wider than the screen: the layout fits a phone


def test_a_card_makes_a_new_bass_for_its_track(server, browser):
    with dashboard(browser, server) as page:
        job_id = make_track(page, "0.25", 43)
        page.wait_for_selector(f"#job-{job_id}.done", timeout=300_000)
        track_id = page.evaluate(f"async () => (await (await fetch('/api/v1/jobs/{job_id}')).json()).track_id")
        card = page.locator(f"#track-{track_id}")
        card.wait_for(timeout=60_000)
        # a button for each part the track plays, and none for a part it does not
        parts = page.evaluate(f"async () => (await (await fetch('/api/v1/tracks/{track_id}')).json()).parts")
        shown = card.locator(".vary button:visible")
        assert sorted(b.get_attribute("data-part") for b in shown.all()) == sorted(parts)
        with page.expect_response(lambda r: r.url.endswith(f"/tracks/{track_id}/vary")) as answer:
            card.locator(".vary button[data-part=bass]").click()
        assert answer.value.status == 202, answer.value.text()
        varied_job = answer.value.json()["id"]
        item = page.locator(f"#job-{varied_job}")
        item.wait_for(timeout=10_000)
        assert item.locator(".what").inner_text() == f"new bass · {track_id}"
        page.wait_for_selector(f"#job-{varied_job}.done", timeout=300_000)
        new_id = page.evaluate(f"async () => (await (await fetch('/api/v1/jobs/{varied_job}')).json()).track_id")
        assert new_id.startswith(f"{track_id}-bass-")
        page.locator(f"#track-{new_id}").wait_for(timeout=60_000)  # the new track joins the library


def test_a_bad_request_shows_the_servers_message(server, browser):
    with dashboard(browser, server) as page:
        page.fill("#minutes", "20")
        page.eval_on_selector("#minutes", "el => el.removeAttribute('max')")  # past the form's own check
        page.click("#generate-button")
        page.wait_for_function("() => document.querySelector('#form-error').textContent.length > 0")
        assert "minutes" in page.inner_text("#form-error")


def test_the_api_docs_work_with_nothing_from_the_internet(server, browser):
    """Swagger UI comes from the installed package; the page asks nothing of any other host."""
    page = browser.new_page()
    outside: list[str] = []
    page.on("request", lambda req: None if req.url.startswith(server) else outside.append(req.url))
    page.goto(server + "/docs")
    page.wait_for_selector(".opblock", timeout=60_000)  # the operations, drawn from /api/v1/openapi.json
    assert "/api/v1/generate" in page.content()
    assert outside == []
    page.close()


@pytest.mark.parametrize(("width", "height", "name"), SIZES)
def test_the_library_pages_and_searches_and_its_pictures_are_small_and_lazy(library, browser, width, height, name):
    url, tracks = library
    context = browser.new_context(viewport={"width": width, "height": height})
    pictures: dict[str, int] = {}  # preview URL -> bytes served
    context.on(
        "response",
        lambda r: pictures.setdefault(r.url, int(r.headers["content-length"])) if "preview" in r.url else None,
    )
    with dashboard(context, url) as page:
        cards = page.locator(".track")
        page.wait_for_function("() => document.querySelectorAll('.track').length === 24")
        assert page.inner_text("#page-info") == "1–24 of 30" and page.is_disabled("#newer")
        assert cards.first.locator(".title").inner_text() == tracks[-1]["title"]  # newest first
        page.wait_for_load_state("networkidle")

        # every picture is the small preview, loaded lazily: on a phone only the first few are fetched
        covers = page.locator(".track img.cover")
        assert set(covers.evaluate_all("imgs => imgs.map(i => i.loading)")) == {"lazy"}
        assert all(src.endswith("/preview.jpg") for src in covers.evaluate_all("imgs => imgs.map(i => i.src)"))
        assert pictures, "no picture was loaded"
        if name == "phone":
            assert len(pictures) < 24, f"{len(pictures)} of 24 pictures fetched before they were scrolled to"
        oldest = tracks[0]["track_id"]
        files = page.evaluate(f"async () => (await (await fetch('/api/v1/tracks/{oldest}')).json()).files")
        (thumbnail,) = [f["size"] for f in files if f["name"] == "thumbnail.png"]
        assert all(size * 10 < thumbnail for size in pictures.values()), (pictures, thumbnail)
        first = covers.first
        first.scroll_into_view_if_needed()
        page.wait_for_function("() => document.querySelector('.track img.cover').naturalWidth > 0")
        assert first.evaluate("img => img.naturalWidth") == 480

        # the next page, and back
        page.click("#older")
        page.wait_for_function("() => document.querySelectorAll('.track').length === 6")
        assert page.inner_text("#page-info") == "25–30 of 30" and page.is_disabled("#older")
        assert cards.last.locator(".title").inner_text() == tracks[0]["title"]
        page.click("#newer")
        page.wait_for_function("() => document.querySelectorAll('.track').length === 24")

        # a search by title finds the one track, whatever the page
        page.fill("#search", "harbor 07")
        page.wait_for_function("() => document.querySelectorAll('.track').length === 1")
        assert cards.first.locator(".title").inner_text() == tracks[7]["title"]
        assert page.locator("#pager").is_hidden()
        page.fill("#search", "no such title")
        page.wait_for_function("() => document.querySelectorAll('.track').length === 0")
        assert "No track matches" in page.inner_text("#tracks")
        page.fill("#search", "")
        page.wait_for_function("() => document.querySelectorAll('.track').length === 24")
        assert fits_the_screen(page, width)
    context.close()


@pytest.mark.parametrize(("width", "height", "name"), SIZES)
def test_the_api_key_is_asked_once_kept_and_sent_with_every_write(keyed_server, browser, width, height, name):
    context = browser.new_context(viewport={"width": width, "height": height})
    sent_keys: list[str | None] = []  # the X-API-Key of every write the page makes
    context.on(
        "request", lambda r: sent_keys.append(r.headers.get("x-api-key")) if r.method in ("POST", "DELETE") else None
    )
    with dashboard(context, keyed_server) as page:
        # the server needs a key and the browser has none: the box is open and says so
        assert page.is_visible("#api-key") and page.inner_text("#key-state") == "needed"
        page.fill("#api-key", KEY)
        page.click("#key-form button[type=submit]")
        assert page.inner_text("#key-state") == "kept in this browser" and page.is_hidden("#api-key")
        assert fits_the_screen(page, width)

    with dashboard(context, keyed_server) as page:  # a new visit: the key is still there, not asked again
        assert page.is_hidden("#api-key") and page.inner_text("#key-state") == "kept in this browser"
        job_id = make_track(page, "0.25", {"laptop": 51, "phone": 52}[name])
        page.wait_for_selector(f"#job-{job_id}.done", timeout=300_000)
        track_id = page.evaluate(f"async () => (await (await fetch('/api/v1/jobs/{job_id}')).json()).track_id")
        page.wait_for_selector(f"#track-{track_id}", timeout=60_000)
    assert sent_keys == [KEY]
    context.close()


def test_a_refused_write_asks_for_the_key(keyed_server, browser):
    with dashboard(browser, keyed_server) as page:
        page.fill("#api-key", "not the key")
        page.click("#key-form button[type=submit]")
        page.fill("#minutes", "0.25")
        page.click("#generate-button")
        page.wait_for_function("() => document.querySelector('#form-error').textContent.length > 0")
        assert "X-API-Key" in page.inner_text("#form-error")
        assert page.is_visible("#api-key") and "refused" in page.inner_text("#key-state")


def test_a_second_tab_sees_the_job_that_is_cancelled_and_cleared(keyed_server, browser):
    """Two tabs: one makes a long job and cancels it, the other sees it come and end over the job feed
    (there is no polling); finished jobs cleared from the list stay cleared."""
    context = browser.new_context()
    with dashboard(context, keyed_server) as page, dashboard(context, keyed_server) as other:
        page.fill("#api-key", KEY)
        page.click("#key-form button[type=submit]")
        job_id = make_track(page, "10", 61)  # minutes of work for the tiny model
        job = page.locator(f"#job-{job_id}")
        other.wait_for_selector(f"#job-{job_id}")  # the other tab is told
        job.locator("button.cancel").click()
        page.wait_for_selector(f"#job-{job_id}.cancelled")
        assert job.locator("button.cancel").is_hidden()
        other.wait_for_selector(f"#job-{job_id}.cancelled")

        page.click("#clear-jobs")
        assert page.locator(".job.done, .job.failed, .job.cancelled").count() == 0
        waiting = make_track(other, "0.25", 62)  # the worker is still busy: it waits, and is not cleared
        page.reload()
        # the feed sends the jobs oldest first, at once: once the new one is shown, the cleared one was not
        page.wait_for_selector(f"#job-{waiting}")
        assert page.locator(f"#job-{job_id}").count() == 0
    context.close()


@pytest.fixture(scope="module")
def daily_server(tmp_path_factory, tiny_checkpoint) -> Iterator[str]:
    """A server that makes the daily set at 06:00 in Tokyo (its workers are off: nothing is made here)."""
    home = tmp_path_factory.mktemp("daily-home")
    settings = {"daily_time": "06:00", "audience_timezone": "Asia/Tokyo", "daily_count": 4}
    with lofi_server(home, Path(tiny_checkpoint.path), start_workers=False, **settings) as url:
        yield url


def test_the_dashboard_shows_when_the_daily_set_is_made_next(daily_server, server, browser):
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    now = datetime.now(ZoneInfo("Asia/Tokyo"))
    due = now.replace(hour=6, minute=0, second=0, microsecond=0)
    due += timedelta(days=1) if due <= now else timedelta(0)
    with dashboard(browser, daily_server) as page:
        page.wait_for_function("() => document.querySelector('#daily').textContent.includes('Next')")
        line = page.text_content("#daily")
        assert line.startswith("Daily set: 4 tracks at 06:00 Asia/Tokyo.")
        # the page's own words for the due time, in the audience's zone: the day of the month and 06:00
        next_run = line.split("Next:")[1]
        assert re.search(rf"\b{due.day}\b", next_run) and "06:00" in next_run, line
    with dashboard(browser, server) as page:
        page.wait_for_function("() => document.querySelector('#daily').textContent.length > 0")
        assert page.text_content("#daily") == "Daily set: off (LOFI_DAILY_TIME is not set)."


@pytest.fixture(scope="module")
def radio_server(tmp_path_factory) -> Iterator[str]:
    """A server playing the radio (the bundled model, tracks of 15-20 s), once a track is on air."""
    from lofi.settings import Settings

    home = tmp_path_factory.mktemp("radio-dashboard-home")
    with lofi_server(home, Settings().default_model, start_workers=False, radio=True, radio_minutes=(0.25, 0.3)) as url:
        import httpx

        deadline = time.monotonic() + 180
        while httpx.get(url + "/api/v1/radio/now").json()["track"] is None:
            if time.monotonic() > deadline:
                pytest.fail("no track on air after 180 s")
            time.sleep(0.2)
        yield url


def test_the_live_panel_plays_the_stream_and_follows_now_playing(radio_server, browser):
    """30 s of the live stream in the page's player, and "now playing" turning over at a track boundary."""
    with dashboard(browser, radio_server) as page:
        page.wait_for_selector("#live:not([hidden])")
        page.wait_for_function("() => document.querySelector('#now-playing').dataset.track")
        first = page.eval_on_selector("#now-playing", "p => p.dataset.track")
        seen = page.evaluate(
            """async () => {
                const audio = document.querySelector('#radio');
                const line = document.querySelector('#now-playing');
                const tracks = [line.dataset.track];
                new MutationObserver(() => {
                    if (tracks.at(-1) !== line.dataset.track) tracks.push(line.dataset.track);
                }).observe(line, {attributes: true, childList: true, subtree: true});
                await audio.play();
                const start = audio.currentTime;
                await new Promise(r => setTimeout(r, 30000));
                return {tracks, played: audio.currentTime - start, paused: audio.paused, error: audio.error,
                        text: line.textContent};
            }"""
        )
        # the stream played on (a stalled player's clock stops) and the track on air changed in that time
        assert not seen["paused"] and seen["error"] is None and seen["played"] > 25
        assert seen["tracks"][0] == first and len(seen["tracks"]) >= 2
        assert re.search(r"· \w+ · [A-G]b? (major|minor) · \d+ BPM", seen["text"])
        # the state from the panel: intensity at once, as the server says when it will be heard
        with page.expect_response(lambda r: r.url.endswith("/api/v1/radio/state")) as answer:
            page.eval_on_selector("#intensity", "i => { i.value = 0.2; i.dispatchEvent(new Event('change')); }")
        assert answer.value.status == 200 and answer.value.json()["state"]["intensity"] == 0.2
        page.wait_for_function("() => document.querySelector('#radio-note').textContent.includes('heard in')")
        assert "listener" in page.inner_text("#on-air")
