"""The radio through a real server: its stream, "now playing", its state by HTTP, WebSocket and OSC.

One server with the radio on (the bundled model, 15-20 s tracks) serves the module; the routes of a
server without it answer 404 saying how to turn it on.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder
from websockets.sync.client import connect

from api_helpers import make_settings, serving
from lofi.api import create_app
from lofi.settings import Settings

V1 = "/api/v1"


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def radio(tmp_path_factory) -> Iterator[tuple[str, int]]:
    """The base URL of a server playing the radio, and its OSC port; waits until a track is on air."""
    osc_port = free_udp_port()
    settings = make_settings(
        tmp_path_factory.mktemp("radio-home"), Settings().default_model, radio=True, radio_minutes=(0.25, 0.3),
        radio_osc_port=osc_port,
    )  # fmt: skip
    with serving(create_app(settings, start_workers=False)) as url:
        deadline = time.monotonic() + 180
        while httpx.get(url + V1 + "/radio/now").json()["track"] is None:
            if time.monotonic() > deadline:
                pytest.fail("no track on air after 180 s")
            time.sleep(0.2)
        yield url, osc_port


def read_stream(url: str, size: int) -> tuple[httpx.Headers, bytes]:
    with httpx.stream("GET", url + V1 + "/radio/stream.mp3", timeout=30) as response:
        assert response.status_code == 200
        data = bytearray()
        for chunk in response.iter_bytes():
            data += chunk
            if len(data) >= size:
                return response.headers, bytes(data)
    pytest.fail("the stream ended")


def test_now_playing_names_the_track_and_the_state(radio):
    url, _ = radio
    now = httpx.get(url + V1 + "/radio/now").json()
    assert {"title", "mood", "key", "bpm", "id", "started_at"} <= now["track"].keys()
    assert now["state"]["tempo"] == [70, 88] and now["gap_s"] == 0
    assert httpx.get(url + V1 + "/radio/state").json() == now["state"] | httpx.get(url + V1 + "/radio/state").json()


def test_the_radio_in_the_metrics(radio):
    url, _ = radio
    text = httpx.get(url + "/metrics").text
    values = {line.split()[0]: float(line.split()[1]) for line in text.splitlines() if line.startswith("lofi_radio")}
    assert values["lofi_radio_tracks_total"] >= 1 and values["lofi_radio_underruns_total"] == 0
    assert values["lofi_radio_gap_seconds_total"] == 0 and values["lofi_radio_buffer_seconds"] > 0
    assert "lofi_radio_listeners" in values


def test_the_stream_is_mp3_that_two_listeners_share(radio, tmp_path):
    url, _ = radio
    headers, data = read_stream(url, 150_000)  # the burst (3 s) and a few seconds more
    assert headers["content-type"] == "audio/mpeg" and "no-store" in headers["cache-control"]
    (tmp_path / "a.mp3").write_bytes(data)
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-of", "json", tmp_path / "a.mp3"], capture_output=True, check=True
    )
    stream = json.loads(probe.stdout)["streams"][0]
    assert (stream["codec_name"], stream["sample_rate"], stream["channels"]) == ("mp3", "44100", 2)
    assert int(stream["bit_rate"]) == 192_000
    with httpx.stream("GET", url + V1 + "/radio/stream.mp3", timeout=30) as one:
        first = one.iter_bytes()  # held: a dropped iterator closes its connection
        next(first)
        with httpx.stream("GET", url + V1 + "/radio/stream.mp3", timeout=30) as two:
            second = two.iter_bytes()
            next(second)
            assert httpx.get(url + V1 + "/radio/now").json()["listeners"] == 2
    # HEAD answers the headers of the endless body, and returns
    head = httpx.head(url + V1 + "/radio/stream.mp3", timeout=10)
    assert head.status_code == 200 and head.headers["content-type"] == "audio/mpeg" and head.content == b""


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"intensity": 2}, "less than or equal to 1"),
        ({"mood": "loud"}, "unknown mood 'loud'"),
        ({"tempo": [90, 60]}, "tempo must be a range"),
        ({"feel": "angry"}, "feel must be one of calm, tense"),
        ({"volume": 11}, "Extra inputs are not permitted"),
    ],
)
def test_a_bad_state_is_refused_with_a_reason(radio, body, message):
    url, _ = radio
    before = httpx.get(url + V1 + "/radio/state").json()
    answer = httpx.post(url + V1 + "/radio/state", json=body)
    assert answer.status_code == 422 and message in json.dumps(answer.json())
    assert httpx.get(url + V1 + "/radio/state").json() == before


def test_state_by_http_and_websocket(radio):
    url, _ = radio
    answer = httpx.post(url + V1 + "/radio/state", json={"intensity": 0.35}).json()
    assert answer["takes_effect"] == ["levels"] and answer["state"]["intensity"] == 0.35
    assert 0 < answer["levels_in_s"] < 10
    with connect(url.replace("http", "ws") + V1 + "/ws/radio", open_timeout=10) as ws:
        hello = json.loads(ws.recv(timeout=10))
        assert hello["type"] == "now" and hello["state"]["intensity"] == 0.35
        ws.send(json.dumps({"type": "state", "intensity": 0.7, "feel": "calm"}))
        replies = [json.loads(ws.recv(timeout=10)) for _ in range(2)]  # the answer and the broadcast, either order
        changed = next(r for r in replies if r.get("type") == "changed")
        assert changed["takes_effect"] == ["levels", "music"] and changed["state"]["feel"] == "calm"
        assert any(r.get("type") == "state" for r in replies)
        ws.send("not json")
        assert "error" in json.loads(ws.recv(timeout=10))
        ws.send(json.dumps({"type": "state", "intensity": -1}))
        assert "greater than or equal to 0" in json.loads(ws.recv(timeout=10))["error"]
    assert httpx.get(url + V1 + "/radio/state").json()["intensity"] == 0.7


def osc(port: int, address: str, *values) -> tuple[str, list]:
    """Send one OSC message from a socket of our own and return the radio's answer to it."""
    builder = OscMessageBuilder(address=address)
    for value in values:
        builder.add_arg(value)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(10)
        sock.sendto(builder.build().dgram, ("127.0.0.1", port))
        reply = OscMessage(sock.recvfrom(65536)[0])
        return reply.address, list(reply.params)


def test_state_by_osc(radio):
    url, port = radio
    assert osc(port, "/lofi/intensity", 0.9) == ("/lofi/ok", ["levels"])
    assert httpx.get(url + V1 + "/radio/state").json()["intensity"] == pytest.approx(0.9)
    assert osc(port, "/lofi/state", "intensity", 0.5, "feel", "") == ("/lofi/ok", ["levels", "music"])
    address, (message,) = osc(port, "/lofi/mood", "loud")
    assert address == "/lofi/error" and "unknown mood 'loud'" in message
    address, (message,) = osc(port, "/lofi/volume", 3)
    assert address == "/lofi/error" and "unknown address /lofi/volume" in message
    address, (message,) = osc(port, "/lofi/tempo", 80)
    assert address == "/lofi/error" and "low high" in message
    assert osc(port, "/lofi/tempo", 72, 84) == ("/lofi/ok", ["music"])
    assert httpx.get(url + V1 + "/radio/state").json()["tempo"] == [72, 84]


def test_without_the_radio_its_routes_say_how_to_turn_it_on(client):
    for path in ("/radio/now", "/radio/state", "/radio/stream.mp3"):
        answer = client.get(V1 + path)
        assert answer.status_code == 404 and "lofi serve --radio" in answer.json()["detail"]
    assert client.post(V1 + "/radio/state", json={"intensity": 0.5}).status_code == 404
    with client.websocket_connect(V1 + "/ws/radio") as ws:
        assert "lofi serve --radio" in ws.receive_json()["error"]


@pytest.mark.parametrize("over", ["osc", "http"])
def test_the_game_example_drives_the_radio(radio, over):
    url, port = radio
    script = Path(__file__).resolve().parents[2] / "examples" / "game_intensity.py"
    how = ["--osc", f"127.0.0.1:{port}"] if over == "osc" else ["--http", url]
    httpx.post(url + V1 + "/radio/state", json={"intensity": 0.8, "feel": ""})
    run = subprocess.run(
        [sys.executable, script, *how, "--seconds", "2"], capture_output=True, text=True, timeout=60, check=True
    )
    assert "the music calm" in run.stdout and ("/lofi/ok" in run.stdout or "levels" in run.stdout), run.stdout
    state = httpx.get(url + V1 + "/radio/state").json()
    assert (state["intensity"], state["feel"]) == (0.3, "calm")
