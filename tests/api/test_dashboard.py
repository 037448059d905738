"""The dashboard in Debian's headless Chromium, driven by Playwright, against a real `lofi serve`."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from api_helpers import make_settings, serving
from lofi.api import create_app

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# what the page's Content-Security-Policy blocked (its WebSockets, pictures, sound...), for the test to see
CSP_WATCH = """
window.cspViolations = [];
document.addEventListener(
  "securitypolicyviolation", (e) => window.cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`)
);
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_checkpoint) -> Iterator[str]:
    """uvicorn serving the app (with its embedded worker) on a free loopback port."""
    from lofi.settings import get_settings

    home = tmp_path_factory.mktemp("dashboard-home")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("LOFI_HOME", str(home))
        get_settings.cache_clear()
        with serving(create_app(make_settings(home, Path(tiny_checkpoint.path)))) as url:
            yield url
    get_settings.cache_clear()


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


@pytest.mark.parametrize(("width", "height", "name"), [(1366, 850, "laptop"), (390, 844, "phone")])
def test_make_a_track_from_the_dashboard(server, browser, tmp_path, width, height, name):
    page = browser.new_page(viewport={"width": width, "height": height})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    outside: list[str] = []
    page.on(
        "request",
        lambda req: None if req.url.startswith(server) or req.url.startswith("ws") else outside.append(req.url),
    )
    page.add_init_script(CSP_WATCH)
    page.goto(server + "/")
    page.wait_for_selector("#mood option[value=rainy]", state="attached")

    seed = {"laptop": 41, "phone": 42}[name]
    page.select_option("#mood", "rainy")
    page.select_option("#key", "D minor")
    page.fill("#minutes", "0.25")
    page.fill("#seed", str(seed))
    page.click("#generate-button")

    # the job appears, and its progress bar reaches the end over the WebSocket
    job = page.locator(".job").first
    job.wait_for()
    page.wait_for_selector(".job.done progress", timeout=300_000)
    assert page.eval_on_selector(".job.done progress", "p => p.value") == 1

    # the new track is in the library, with its cover, facts and an audio player that plays
    card = page.locator(".track").first
    card.wait_for(timeout=60_000)
    assert "rainy · D minor · 75 BPM" in card.locator(".facts").inner_text()
    page.wait_for_function("() => document.querySelector('.track img.cover').naturalWidth > 0")
    playing = page.evaluate(
        """async () => {
            const audio = document.querySelector('.track audio');
            await audio.play();
            await new Promise(r => setTimeout(r, 700));
            return {paused: audio.paused, time: audio.currentTime, duration: audio.duration};
        }"""
    )
    assert not playing["paused"] and playing["time"] > 0 and playing["duration"] > 10
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
    # nothing wider than the screen: the layout fits a phone
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width
    assert errors == [] and outside == []
    assert page.evaluate("window.cspViolations") == []  # the dashboard lives within its own policy
    page.close()


def test_a_bad_request_shows_the_servers_message(server, browser):
    page = browser.new_page()
    page.goto(server + "/")
    page.wait_for_selector("#mood option[value=rainy]", state="attached")
    page.fill("#minutes", "20")
    page.eval_on_selector("#minutes", "el => el.removeAttribute('max')")  # past the form's own check
    page.click("#generate-button")
    page.wait_for_function("() => document.querySelector('#form-error').textContent.length > 0")
    assert "minutes" in page.inner_text("#form-error")
    page.close()


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
