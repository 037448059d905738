"""One encoder for every listener: the MP3 frames a late listener starts on, and a stalled listener
dropped while the others go on."""

from __future__ import annotations

import subprocess
import threading
import time

import numpy as np

from lofi.radio.stream import LISTENER_CHUNKS, Broadcaster, Mp3Encoder, frame_start


def encoded(seconds: float) -> bytes:
    """``seconds`` of a tone through the radio's own encoder."""
    chunks: list[bytes] = []
    encoder = Mp3Encoder(chunks.append)
    encoder.start()
    t = np.arange(round(seconds * 44100)) / 44100
    encoder.write(np.stack([np.sin(2 * np.pi * 440 * t)] * 2).astype(np.float32) * 0.3)
    encoder.close()
    return b"".join(chunks)


def test_a_listener_joining_mid_stream_starts_on_a_whole_frame(tmp_path):
    data = encoded(3.0)
    assert frame_start(data) == 0  # no ID3 or Xing header: the stream is frames from its first byte
    for cut in (1, 700, 5000):
        start = frame_start(data[cut:])
        assert start >= 0 and data[cut + start] == 0xFF
        path = tmp_path / f"from-{cut}.mp3"
        path.write_bytes(data[cut + start :])
        run = subprocess.run(["ffmpeg", "-v", "error", "-i", path, "-f", "null", "-"], capture_output=True, text=True)
        assert run.returncode == 0 and run.stderr == "", run.stderr  # decodes without a complaint
    assert frame_start(data[:100]) == -1  # not a whole frame yet


def test_a_stalled_listener_is_dropped_and_the_others_go_on():
    broadcaster = Broadcaster(burst_bytes=4096)
    stalled, reading = broadcaster.subscribe(), broadcaster.subscribe()
    got: list[bytes] = []

    def read() -> None:
        while (chunk := reading.get(timeout=10)) is not None:
            got.append(chunk)

    reader = threading.Thread(target=read)
    reader.start()
    for i in range(LISTENER_CHUNKS + 50):
        broadcaster.publish(bytes([i % 256]) * 600)
        while reading.queue.qsize() > 8:  # the live pace: the reader keeps up, the stalled one does not
            time.sleep(0.001)
    assert stalled.dropped and broadcaster.count == 1  # never waited for: publish did not block
    chunks = []
    while (chunk := stalled.get(timeout=1)) is not None:
        chunks.append(chunk)
    assert len(chunks) == LISTENER_CHUNKS - 1  # what it had, then the end
    broadcaster.close()
    reader.join(timeout=10)
    assert len(got) == LISTENER_CHUNKS + 50 and got[-1] == bytes([(LISTENER_CHUNKS + 49) % 256]) * 600


def test_a_new_listener_gets_the_last_seconds_first():
    broadcaster = Broadcaster(burst_bytes=50_000)
    data = encoded(4.0)
    for at in range(0, len(data), 627):
        broadcaster.publish(data[at : at + 627])
    listener = broadcaster.subscribe()
    burst = listener.get(timeout=1)
    assert 48_000 < len(burst) <= 50_000 and burst == data[len(data) - len(burst) :]
    assert burst[0] == 0xFF and frame_start(burst) == 0
    broadcaster.close()
    assert listener.get(timeout=1) is None
