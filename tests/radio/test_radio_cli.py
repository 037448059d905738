"""`lofi radio` as a user runs it: to a file, to a real RTMP server on loopback (read back with ffprobe
while it plays), and its refusals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

LOFI = str(Path(sys.executable).with_name("lofi"))


def radio_env(home: Path) -> dict[str, str]:
    return {**os.environ, "LOFI_HOME": str(home), "LOFI_RADIO_MINUTES": "[0.25, 0.3]"}


def test_without_somewhere_to_play_it_says_where(tmp_path):
    run = subprocess.run([LOFI, "radio"], capture_output=True, text=True, env=radio_env(tmp_path), timeout=60)
    assert run.returncode == 2 and "give --rtmp URL or --out FILE" in run.stderr and "lofi serve --radio" in run.stderr
    run = subprocess.run(
        [LOFI, "radio", "--out", tmp_path / "x.mp3", "--tempo", "fast"], capture_output=True, text=True,
        env=radio_env(tmp_path), timeout=60,
    )  # fmt: skip
    assert run.returncode == 2 and "--tempo 'fast': give a range of BPM" in run.stderr
    run = subprocess.run(
        [LOFI, "radio", "--out", tmp_path / "x.mp3", "--mood", "upbeat", "--feel", "calm"], capture_output=True,
        text=True, env=radio_env(tmp_path), timeout=60,
    )  # fmt: skip
    assert run.returncode == 2 and "does not go with feel 'calm'" in run.stderr
    assert not (tmp_path / "x.mp3").exists()


def test_the_radio_to_a_file(tmp_path):
    out = tmp_path / "radio.mp3"
    run = subprocess.run(
        [LOFI, "radio", "--out", out, "--minutes", "0.6", "--mood", "rainy", "--tempo", "70-74", "--seed", "4"],
        capture_output=True, text=True, env=radio_env(tmp_path), timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    playing = [line for line in run.stdout.splitlines() if line.startswith("now playing")]
    assert len(playing) >= 2 and all("· rainy ·" in line for line in playing)
    assert all(70 <= int(line.rsplit("·", 1)[1].split()[0]) <= 74 for line in playing)
    assert "gaps 0.0 s (0 underruns)" in run.stdout
    entries = "format=duration:stream=codec_name,sample_rate"
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", entries, "-of", "json", out], capture_output=True, text=True,
        check=True,
    )  # fmt: skip
    info = json.loads(probe.stdout)
    assert info["streams"][0]["codec_name"] == "mp3" and info["streams"][0]["sample_rate"] == "44100"
    assert 30 <= float(info["format"]["duration"]) <= 40  # 36 s on the air, the last blocks rendered ahead
    assert json.loads((tmp_path / "radio" / "state.json").read_text())["state"]["mood"] == "rainy"


@pytest.mark.xdist_group("rtmp")
def test_the_radio_pushed_to_an_rtmp_server_is_read_back(tmp_path, rtmp_server):
    url = f"{rtmp_server}/lofi-radio-test"
    process = subprocess.Popen(
        [LOFI, "radio", "--rtmp", url, "--minutes", "0.75"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=radio_env(tmp_path),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while not (process.stdout.readline() or "").startswith("now playing"):
            if time.monotonic() > deadline or process.poll() is not None:
                pytest.fail(f"no track on air: {process.stderr.read() if process.poll() is not None else ''}")
        probe = subprocess.run(
            ["ffprobe", "-v", "error", "-rw_timeout", "20000000", "-show_streams", "-of", "json", url],
            capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        streams = {s["codec_type"]: s for s in json.loads(probe.stdout)["streams"]}
        assert (streams["video"]["codec_name"], streams["video"]["width"], streams["video"]["height"]) == (
            "h264", 1280, 720,
        )  # fmt: skip
        assert (streams["audio"]["codec_name"], streams["audio"]["sample_rate"], streams["audio"]["channels"]) == (
            "aac", "44100", 2,
        )  # fmt: skip
        assert process.wait(timeout=120) == 0, process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_an_rtmp_server_that_is_not_there_is_one_clear_line(tmp_path):
    run = subprocess.run(
        [LOFI, "radio", "--rtmp", "rtmp://127.0.0.1:9/live/secret-key-123", "--minutes", "0.2"],
        capture_output=True, text=True, env=radio_env(tmp_path), timeout=120,
    )  # fmt: skip
    assert run.returncode == 2 and "could not push the stream to rtmp://127.0.0.1:9/live/<key>" in run.stderr
    assert "secret-key-123" not in run.stderr + run.stdout
