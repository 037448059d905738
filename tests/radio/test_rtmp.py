"""The radio's RTMP push against a real nginx RTMP server on loopback, read back as a viewer would: ffprobe
for the streams, ffmpeg for a picture and the sound.

One push (the ``live`` fixture) plays a chord at real-time pace and is read while it plays: the streams,
then a few seconds of picture and sound, then the second track's picture; the tests check what was read.
Waits are bounded and only for things to happen, never for how fast they happen.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import soundfile
from PIL import Image

from helpers import wait_for
from lofi.publish import art, video
from lofi.radio.rtmp import RtmpPush, redacted
from servers import RtmpServer, free_port

pytestmark = pytest.mark.xdist_group("rtmp")  # one worker: one push serves every test that reads it

RATE = 44100
BLOCK_S = 0.1
CHORD_HZ = (220.0, 277.2, 329.6)  # A major
FIRST = ("First Light", "chill · A major", 3, "chill")
SECOND = ("Second Wind", "rainy · A major", 8, "rainy")
READ_TIMEOUT_S = 60  # ffprobe and ffmpeg on the live stream: each needs a few seconds to start reading
_keys = itertools.count()


def chord(frames: int, start: int) -> np.ndarray:
    """(2, frames) float32 of the A major chord from sample ``start`` on, a little wider on the right."""
    t = (start + np.arange(frames)) / RATE
    mono = sum(np.sin(2 * np.pi * hz * t) for hz in CHORD_HZ) * 0.15
    return np.stack([mono, np.roll(mono, 11)]).astype(np.float32)


def play(push: RtmpPush, until: threading.Event, limit_s: float = 120.0) -> None:
    """Write the chord in 0.1 s blocks at real-time pace until ``until`` is set (or ``limit_s`` of it)."""
    block = round(BLOCK_S * RATE)
    started = time.monotonic()
    for n in range(int(limit_s / BLOCK_S)):
        if until.is_set():
            return
        push.write(chord(block, n * block))
        time.sleep(max(0.0, started + (n + 1) * BLOCK_S - time.monotonic()))


def read(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=READ_TIMEOUT_S, check=False)


def stream_url(base: str) -> str:
    return f"{base}/radio-test-{os.getpid()}-{next(_keys)}"


@dataclass
class Live:
    url: str
    probe: subprocess.CompletedProcess
    first: Path  # the last frame of 3 s read while the first track's picture was on air
    sound: Path  # those 3 s of sound
    second: Path  # the last frame of 4 s read after the second track's picture was asked for
    pid: int
    returncode: int | None
    error: str | None
    threads_alive: list[str] = field(default_factory=list)
    painted: int = 0
    failed_reads: list[str] = field(default_factory=list)  # ffmpeg's messages, if a read of the stream failed

    def image(self, path: Path) -> np.ndarray:
        assert not self.failed_reads, self.failed_reads
        return np.asarray(Image.open(path).convert("RGB"), np.float32)


@pytest.fixture(scope="module")
def live(rtmp_server: str, tmp_path_factory: pytest.TempPathFactory) -> Live:
    folder = tmp_path_factory.mktemp("live")
    url = stream_url(rtmp_server)
    push = RtmpPush(url)
    push.start()
    push.picture(*FIRST)
    done = threading.Event()
    player = threading.Thread(target=play, args=(push, done), daemon=True)
    player.start()
    try:
        probe = read("ffprobe", "-v", "error", "-show_streams", "-of", "json", url)
        first, sound, second = folder / "first.png", folder / "first.wav", folder / "second.png"
        # -t before -i: the input is read for 3 s, so both outputs end; the image is overwritten each frame
        grabs = [read("ffmpeg", "-v", "error", "-y", "-t", "3", "-i", url, "-map", "0:v", "-update", "1", str(first),
                      "-map", "0:a", str(sound))]  # fmt: skip
        push.picture(*SECOND)
        # 4 s: a keyframe (every 2 s) and then frames painted well after the picture changed
        grabs.append(
            read("ffmpeg", "-v", "error", "-y", "-t", "4", "-i", url, "-map", "0:v", "-update", "1", str(second))
        )
    finally:
        done.set()
        player.join()
        push.close()
    return Live(
        url, probe, first, sound, second, push.process.pid, push.process.returncode, push.error,
        [t.name for t in threading.enumerate() if t.name.startswith("lofi-rtmp")], push.frames_painted,
        [g.stderr for g in grabs if g.returncode != 0],
    )  # fmt: skip


def streams(live: Live) -> dict[str, dict]:
    assert live.probe.returncode == 0, live.probe.stderr
    return {s["codec_type"]: s for s in json.loads(live.probe.stdout)["streams"]}


def test_the_stream_is_720p_h264_and_aac_stereo_at_44100(live):
    found = streams(live)
    assert set(found) == {"video", "audio"}
    picture, sound = found["video"], found["audio"]
    assert (picture["codec_name"], picture["width"], picture["height"]) == ("h264", 1280, 720)
    assert picture["pix_fmt"] == "yuv420p"
    assert picture["r_frame_rate"] == "15/1"
    assert (sound["codec_name"], sound["sample_rate"], sound["channels"]) == ("aac", "44100", 2)


def test_a_frame_read_from_the_stream_shows_the_art(live):
    frame = live.image(live.first)
    assert frame.shape == (720, 1280, 3)
    assert frame.std() > 20  # a scene and a title, not a flat (black) frame
    # the art itself: the frame is close to the still the push paints under the visualizer
    plan = video.video_plan(art.plan_art(FIRST[2], FIRST[3]), "bars")
    still = video.background(plan, FIRST[0], FIRST[1], (1280, 720)).astype(np.float32)
    title = (slice(0, 180), slice(0, 640))  # top left, where no bar or rain reaches
    assert np.abs(frame[title] - still[title]).mean() < 8


def test_the_sound_read_from_the_stream_is_the_chord(live):
    assert not live.failed_reads, live.failed_reads
    samples, rate = soundfile.read(live.sound)
    assert rate == RATE and samples.shape[1] == 2
    assert len(samples) > 2 * RATE
    spectrum = np.abs(np.fft.rfft(samples[:, 0] * np.hanning(len(samples))))
    hz = np.fft.rfftfreq(len(samples), 1 / rate)
    peaks = [hz[np.argmax(np.where(np.abs(hz - f) < 20, spectrum, 0))] for f in CHORD_HZ]
    assert np.allclose(peaks, CHORD_HZ, atol=1)
    near = np.min(np.abs(hz[:, None] - np.array(CHORD_HZ)[None, :]), axis=1) < 10
    assert (spectrum[near] ** 2).sum() > 0.95 * (spectrum**2).sum()  # the chord, and next to nothing else


def test_a_new_track_changes_the_picture(live):
    first, second = live.image(live.first), live.image(live.second)
    plan = video.video_plan(art.plan_art(SECOND[2], SECOND[3]), "bars")
    still = video.background(plan, SECOND[0], SECOND[1], (1280, 720)).astype(np.float32)
    title = (slice(0, 180), slice(0, 640))
    assert np.abs(second[title] - still[title]).mean() < 8
    assert np.abs(second[title] - first[title]).mean() > 3 * np.abs(second[title] - still[title]).mean()


def test_close_ends_the_stream_and_leaves_nothing_running(live):
    assert live.returncode == 0 and live.error is None
    assert not Path(f"/proc/{live.pid}").exists()  # ffmpeg exited and was reaped
    assert live.threads_alive == []
    assert live.painted > 0


def test_nothing_listening_is_an_error_naming_the_url_and_not_the_key():
    port = free_port()
    push = RtmpPush(f"rtmp://127.0.0.1:{port}/live/secret-stream-key")
    with pytest.raises(RuntimeError) as raised:
        push.start()
    message = str(raised.value)
    assert f"rtmp://127.0.0.1:{port}/live/<key>" in message
    assert "Connection refused" in message
    assert "secret-stream-key" not in message
    assert push.process.poll() is not None
    assert not [t for t in threading.enumerate() if t.name.startswith("lofi-rtmp") and t.is_alive()]


def test_a_server_that_goes_away_is_reported_by_error():
    with tempfile.TemporaryDirectory(prefix="lofi-rtmp-") as root:
        server = RtmpServer(Path(root))
        url = f"rtmp://127.0.0.1:{server.start()}/live/secret-stream-key"
        push = RtmpPush(url)
        done = threading.Event()
        try:
            push.start()
            push.picture(*FIRST)
            threading.Thread(target=play, args=(push, done), daemon=True).start()
            wait_for(lambda: push.frames_sent > 15, "the push to send a second of video", timeout_s=30)
            server.stop()
            error = wait_for(lambda: push.error, "the push to notice the server is gone", timeout_s=60)
        finally:
            done.set()
            server.stop()
            push.close()
    assert redacted(url) in error and "secret-stream-key" not in error
    assert push.process.poll() is not None


def test_bad_urls_and_templates_are_refused():
    with pytest.raises(ValueError, match="not an RTMP URL"):
        RtmpPush("http://example.com/live/key")
    with pytest.raises(ValueError, match="unknown video template"):
        RtmpPush("rtmp://127.0.0.1/live/key", template="waves")
    assert redacted("rtmp://user:pw@a.rtmp.youtube.com/live2/abcd-efgh?x=1") == "rtmp://a.rtmp.youtube.com/live2/<key>"


def test_the_live_visualizer_follows_the_audio():
    fps = 15
    levels = video.LiveLevels(RATE, fps)
    silence = np.zeros(levels.span, np.float32)
    assert not levels(silence)[0].any()
    loud = chord(levels.span, 0)[0]
    lit = levels(loud)[0]
    edges = np.geomspace(40.0, 16000.0, video.BANDS + 1)
    chord_bands = {int(np.searchsorted(edges, hz)) - 1 for hz in CHORD_HZ}
    assert min(lit[b] for b in chord_bands) > 0.5
    assert lit[-4:].max() < 0.2  # nothing at the top of the spectrum
    for i in range(1, fps):  # a second of silence: the bars fall back
        held = levels(silence)[0]
        assert held.max() <= lit.max() * 0.8 ** (2 * i) + 1e-6
    assert held.max() < 0.01


def test_a_missing_nginx_fails_the_test_saying_how_to_install_it(tmp_path):
    with pytest.raises(pytest.fail.Exception, match=r"make setup.*nginx-light and libnginx-mod-rtmp"):
        RtmpServer(tmp_path, nginx=tmp_path / "nginx")
    with pytest.raises(pytest.fail.Exception, match="RTMP module"):
        RtmpServer(tmp_path, module=tmp_path / "ngx_rtmp_module.so")
