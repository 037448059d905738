from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile

from lofi.publish import art, publish_step, video


@pytest.fixture(autouse=True)
def ffprobe() -> str:
    """The tests read the videos back with ffprobe: without it they fail, saying how to get it."""
    found = shutil.which("ffprobe")
    if found is None:
        pytest.fail("ffprobe is missing: run `make setup` (Debian package ffmpeg)")
    return found


RATE = 44100
QUIET_S = 1.2  # the test track is silent this long, then loud
SMALL = (320, 180)
PLAN = art.plan_art(7, "rainy")


def track(seconds: float) -> np.ndarray:
    """Stereo test music: silence, then a chord pulsing with the beat over soft noise, (2, n) float32."""
    t = np.arange(int(seconds * RATE)) / RATE
    beat = np.exp(-((t * 72 / 60) % 1) * 4)
    rng = np.random.default_rng(0)
    noise = np.convolve(rng.standard_normal(len(t)), np.ones(8) / 8, mode="same")  # softened: no hiss at 20 kHz
    chord = sum(np.sin(2 * np.pi * f * t) for f in (110.0, 164.8, 220.0, 277.2, 440.0))
    mono = (0.12 * chord * (0.4 + 0.6 * beat) + 0.05 * noise) * (t >= QUIET_S)
    return np.stack([mono, np.roll(mono, 37)]).astype(np.float32)


def write_track(folder: Path, seconds: float) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    soundfile.write(folder / "track.wav", track(seconds).T, RATE, subtype="PCM_24", format="WAV")
    return folder / "track.wav"


def probe(path: Path) -> dict:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return json.loads(out.stdout)


def stream(info: dict, kind: str) -> dict:
    (found,) = [s for s in info["streams"] if s["codec_type"] == kind]
    return found


def decoded_audio(path: Path) -> np.ndarray:
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:a", "-f", "f32le", "-ac", "2", "-ar", str(RATE), "-"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    return np.frombuffer(raw, np.float32).reshape(-1, 2).T


def luma_at(path: Path, seconds: float, size: tuple[int, int]) -> np.ndarray:
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-ss", str(seconds), "-i", str(path), "-frames:v", "1",
         "-f", "rawvideo", "-pix_fmt", "gray", "-"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    return np.frombuffer(raw, np.uint8).reshape(size[1], size[0]).astype(int)


@pytest.fixture(scope="module")
def small_videos(tmp_path_factory) -> dict[str, tuple[Path, dict]]:
    """A 3-second video at 320x180 for each template."""
    folder = tmp_path_factory.mktemp("videos")
    wav = write_track(folder, 3.0)
    return {
        template: (
            folder / f"{template}.mp4",
            video.render_video(wav, folder / f"{template}.mp4", PLAN, "Misty Rooftop", "lofi", template, SMALL),
        )
        for template in video.TEMPLATES
    }


def test_a_1080p_video_is_h264_and_aac_at_30_fps_as_long_as_the_track(tmp_path):
    wav = write_track(tmp_path, 2.0)
    calls = []
    info = video.render_video(
        wav, tmp_path / "video.mp4", PLAN, "Misty Rooftop", "lofi · rainy", progress=lambda f, m: calls.append(f)
    )
    probed = probe(tmp_path / "video.mp4")
    v, a = stream(probed, "video"), stream(probed, "audio")
    assert (v["codec_name"], v["width"], v["height"], v["r_frame_rate"]) == ("h264", 1920, 1080, "30/1")
    assert v["pix_fmt"] == "yuv420p" and v.get("color_space") == "bt709"
    assert (a["codec_name"], int(a["sample_rate"]), a["channels"]) == ("aac", RATE, 2)
    assert abs(float(v["duration"]) - 2.0) < 0.1
    assert abs(float(a["duration"]) - 2.0) < 0.1
    assert "mp4" in probed["format"]["format_name"]
    assert info["frames"] == 60 and info["resolution"] == "1920x1080"
    assert calls == sorted(calls) and calls[0] == 0.0 and calls[-1] == 1.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["track.wav", "video.mp4"]  # no .tmp left behind


@pytest.mark.parametrize("template", video.TEMPLATES)
def test_every_template_renders_at_the_asked_resolution(small_videos, template):
    path, info = small_videos[template]
    probed = probe(path)
    v = stream(probed, "video")
    assert (v["width"], v["height"], v["r_frame_rate"]) == (*SMALL, "30/1")
    assert abs(float(v["duration"]) - 3.0) < 0.1
    assert info["template"] == template and info["frames"] == 90


def test_the_audio_stream_is_the_master(small_videos):
    path, _ = small_videos["bars"]
    master = track(3.0)
    decoded = decoded_audio(path)
    assert abs(decoded.shape[1] - master.shape[1]) < 2048  # AAC pads at most a frame
    # where the AAC encoder's delay lands (ffmpeg trims its priming samples, so about zero)
    n = min(decoded.shape[1], master.shape[1])
    a, b = master[0, :n], decoded[0, :n]
    spectrum = np.fft.rfft(b, 2 * n) * np.conj(np.fft.rfft(a, 2 * n))
    xcorr = np.fft.irfft(spectrum)
    lag = int(np.argmax(np.concatenate([xcorr[-2048:], xcorr[:2048]]))) - 2048
    assert abs(lag) <= 64
    for ch in range(2):
        x, y = (
            (master[ch, : n - abs(lag)], decoded[ch, lag:n])
            if lag >= 0
            else (master[ch, -lag:n], decoded[ch, : n + lag])
        )
        assert np.corrcoef(x, y)[0, 1] > 0.99
        level_db = 20 * np.log10(np.sqrt(np.mean(y**2)) / np.sqrt(np.mean(x**2)))
        assert abs(level_db) < 0.5


@pytest.mark.parametrize("template", video.TEMPLATES)
def test_the_visualizer_moves_with_the_music(template):
    """A loud frame differs from a silent one in the visualizer's box; two silent frames do not."""
    mono = track(3.0).mean(axis=0)
    vplan = video.video_plan(PLAN, template)
    still = video.background(vplan, "Misty Rooftop", "lofi", (640, 360))
    renderer = video.FrameRenderer(still, vplan.palette, template, mono, RATE, seed=7, rain=0, moon=vplan.moon)
    x0, y0, x1, y1 = renderer.visualizer_box

    def box(seconds: float) -> np.ndarray:
        return renderer.frame_rgb(int(seconds * 30))[y0:y1, x0:x1].astype(int)

    silent = np.abs(box(0.3) - box(0.9)).mean()
    loud = np.abs(box(2.2) - box(0.9)).mean()
    assert silent < 0.5
    assert loud > 5 * max(silent, 0.5)


def test_the_encoded_video_shows_the_visualizer_react(small_videos):
    path, info = small_videos["bars"]
    x0, y0, x1, y1 = info["visualizer_box"]
    quiet_a, quiet_b, loud = (luma_at(path, s, SMALL)[y0:y1, x0:x1] for s in (0.4, 0.9, 2.2))
    assert np.abs(loud - quiet_b).mean() > 3 * max(np.abs(quiet_a - quiet_b).mean(), 0.5)


def test_frames_are_yuv420p_of_the_right_size():
    still = video.background(PLAN, "t", "", SMALL)
    renderer = video.FrameRenderer(still, PLAN.palette, "rain", track(0.5).mean(axis=0), RATE, rain=40)
    assert renderer.frame(3).shape == (SMALL[0] * SMALL[1] * 3 // 2,)
    assert renderer.frames == 15
    # colour round trip: our own YUV conversion and back stays within a few levels
    back = video.yuv420_to_rgb(*video.rgb_to_yuv420(still))
    assert np.abs(back.astype(int) - still).mean() < 4


def test_a_missing_ffmpeg_says_to_run_make_setup(tmp_path, monkeypatch):
    wav = write_track(tmp_path, 0.5)
    (tmp_path / "metadata.json").write_text(json.dumps({"seed": 1, "request": {"mood": "chill"}}))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(video.FFmpegNotFound, match="make setup"):
        video.render_video(wav, tmp_path / "video.mp4", PLAN, "t")
    with pytest.raises(video.FFmpegNotFound, match="make setup"):
        publish_step(tmp_path, video=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metadata.json", "track.wav"]  # no pictures either


def test_an_ffmpeg_failure_is_reported_and_leaves_nothing(tmp_path):
    wav = write_track(tmp_path, 0.5)
    with pytest.raises(RuntimeError, match="ffmpeg failed"):
        video.render_video(wav, tmp_path / "video.mp4", PLAN, "t", resolution=SMALL, preset="no-such-preset")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["track.wav"]


@pytest.mark.parametrize("bad", ["4k", "1921x1080", "10x10"])
def test_bad_resolutions_and_templates_are_refused(bad):
    with pytest.raises(ValueError, match="resolution"):
        video.parse_resolution(bad)
    assert video.parse_resolution("720p") == (1280, 720)
    with pytest.raises(ValueError, match="template"):
        video.FrameRenderer(np.zeros((64, 64, 3), np.uint8), PLAN.palette, "waves", np.zeros(100), RATE)


def test_publish_step_writes_the_files_and_the_words(tmp_path):
    write_track(tmp_path, 2.0)
    metadata = {
        "track_id": "rainy-d-minor-72bpm-7", "request": {"mood": "rainy"}, "seed": 7, "key": "D minor",
        "bpm": 72, "duration_s": 2.0, "chords": ["Dm7", "G7"], "instruments": ["drums"], "timings_s": {},
    }  # fmt: skip
    (tmp_path / "metadata.json").write_text(json.dumps(metadata))
    steps = []
    publish_step(tmp_path, video=True, resolution="320x180", template="circle", progress=lambda f, m: steps.append(f))
    saved = json.loads((tmp_path / "metadata.json").read_text())
    assert {"cover.png", "thumbnail.png", "video.mp4"} <= {p.name for p in tmp_path.iterdir()}
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*"))
    assert saved["title"] and saved["description"] and saved["tags"]
    assert saved["publish"]["files"] == ["cover.png", "thumbnail.png", "video.mp4"]
    assert saved["publish"]["video"]["template"] == "circle"
    assert saved["key"] == "D minor"  # what was there stays
    assert steps == sorted(steps) and steps[-1] == 1.0


def test_a_new_track_is_not_named_like_the_others_in_its_library(tmp_path):
    """Seeds 8 and 13 both name a rainy track "Grey Window" (seo.track_name): the second gets another."""
    for i, seed in enumerate((8, 13)):
        folder = tmp_path / f"track-{i}"
        folder.mkdir()
        metadata = {"request": {"mood": "rainy"}, "seed": seed, "key": "D minor", "bpm": 72}
        (folder / "metadata.json").write_text(json.dumps(metadata))
        publish_step(folder)
    saved = [json.loads((tmp_path / f"track-{i}" / "metadata.json").read_text()) for i in range(2)]
    assert saved[0]["publish"]["name"] == "Grey Window" and saved[1]["publish"]["name"] != "Grey Window"
    assert saved[1]["publish"]["name"] in saved[1]["title"]
