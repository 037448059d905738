"""One MP3 encoder for every listener: ffmpeg turns the station's samples into MP3 frames, and the
broadcaster hands each chunk to every listener.

A listener who joins gets the last ``BURST_S`` seconds first (from a frame's start), so a player starts
at once instead of waiting for its buffer to fill at the speed of real time; then every chunk as it is
encoded. A listener who cannot keep up (its queue full: a stalled connection) is dropped, never waited
for: one slow client must not hold the encoder, or every other listener would stall with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import queue
import subprocess
import threading
from collections.abc import Callable

import numpy as np

from lofi.publish.video import find_ffmpeg

log = logging.getLogger(__name__)
BITRATE_KBPS = 192
BURST_S = 3.0
# chunks a listener may fall behind before it is dropped: ffmpeg writes a frame (26 ms) a chunk, so about 25 s
LISTENER_CHUNKS = 1024
MP3_RATES = (44100, 48000, 32000)  # MPEG-1: the sample rates by index
MP3_BITRATES = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)


def frame_start(data: bytes | bytearray) -> int:
    """Where the first whole MPEG-1 Layer III frame in ``data`` begins (a header followed by another one
    where its length says); -1 when there is none yet."""
    at = 0
    while (at := data.find(b"\xff", at)) != -1 and at + 4 <= len(data):
        length = _frame_length(data[at : at + 4])
        following = at + length
        if length and following + 2 <= len(data) and _frame_length(data[following : following + 4]):
            return at
        at += 1
    return -1


def _frame_length(header: bytes | bytearray) -> int:
    if len(header) < 4 or header[0] != 0xFF or (header[1] & 0xFE) != 0xFA:  # MPEG-1, Layer III
        return 0
    bitrate, rate = header[2] >> 4, (header[2] >> 2) & 3
    if bitrate in (0, 15) or rate == 3:
        return 0
    return 144_000 * MP3_BITRATES[bitrate] // MP3_RATES[rate] + ((header[2] >> 1) & 1)


class Listener:
    """One listener's chunks: ``get`` (a thread) or ``next`` (asyncio) until ``None`` ends them."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None):
        self.loop = loop
        self.dropped = False
        self.queue: asyncio.Queue | queue.Queue = (
            asyncio.Queue(LISTENER_CHUNKS) if loop else queue.Queue(LISTENER_CHUNKS)
        )

    def offer(self, chunk: bytes | None) -> None:
        if self.loop is not None:
            with contextlib.suppress(RuntimeError):  # its event loop has closed: nobody to hand it to
                self.loop.call_soon_threadsafe(self._put, chunk)
        else:
            self._put(chunk)

    def _put(self, chunk: bytes | None) -> None:
        if self.dropped:
            return
        try:
            self.queue.put_nowait(chunk)
        except (asyncio.QueueFull, queue.Full):
            self.dropped = True
            with contextlib.suppress(asyncio.QueueEmpty, queue.Empty):
                self.queue.get_nowait()  # room for the end
            self.queue.put_nowait(None)

    def get(self, timeout: float | None = None) -> bytes | None:
        return self.queue.get(timeout=timeout)  # type: ignore[call-arg]

    async def next(self) -> bytes | None:
        return await self.queue.get()  # type: ignore[misc]


class Broadcaster:
    def __init__(self, burst_bytes: int = int(BURST_S * BITRATE_KBPS * 1000 / 8)):
        self.burst_bytes = burst_bytes
        self.recent = bytearray()
        self.listeners: set[Listener] = set()
        self.lock = threading.Lock()
        self.sent_bytes = 0

    def publish(self, chunk: bytes) -> None:
        with self.lock:
            self.recent += chunk
            del self.recent[: max(0, len(self.recent) - self.burst_bytes)]
            self.sent_bytes += len(chunk)
            for listener in list(self.listeners):
                listener.offer(chunk)
                if listener.dropped:
                    self.listeners.discard(listener)

    def subscribe(self, loop: asyncio.AbstractEventLoop | None = None) -> Listener:
        listener = Listener(loop)
        with self.lock:
            start = frame_start(self.recent)
            if start >= 0:
                listener.offer(bytes(self.recent[start:]))
            self.listeners.add(listener)
        return listener

    def unsubscribe(self, listener: Listener) -> None:
        with self.lock:
            self.listeners.discard(listener)

    def close(self) -> None:
        with self.lock:
            for listener in self.listeners:
                listener.offer(None)
            self.listeners.clear()

    @property
    def count(self) -> int:
        return len(self.listeners)


class Mp3Encoder:
    """ffmpeg reading float32 stereo on stdin, writing constant-bit-rate MP3 to stdout, read by a thread
    that publishes each chunk. Constant bit rate: a listener can start at any frame, and the burst is a
    known number of seconds."""

    def __init__(self, publish: Callable[[bytes], None], sample_rate: int = 44100, kbps: int = BITRATE_KBPS):
        self.publish, self.rate, self.kbps = publish, sample_rate, kbps
        self.process: subprocess.Popen | None = None
        self.reader: threading.Thread | None = None

    def start(self) -> None:
        command = [
            find_ffmpeg(), "-hide_banner", "-loglevel", "error", "-f", "f32le", "-ar", str(self.rate), "-ac", "2",
            "-i", "pipe:0", "-c:a", "libmp3lame", "-b:a", f"{self.kbps}k", "-write_xing", "0", "-id3v2_version", "0",
            "-flush_packets", "1", "-f", "mp3", "pipe:1",
        ]  # fmt: skip
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
        self.reader = threading.Thread(target=self._read, args=(self.process,), name="lofi-radio-mp3", daemon=True)
        self.reader.start()

    def _read(self, process: subprocess.Popen) -> None:
        while chunk := os.read(process.stdout.fileno(), 1 << 14):
            self.publish(chunk)

    def write(self, block: np.ndarray) -> None:
        """(2, n) float32 samples; a dead encoder is started again (the listeners hear a short gap)."""
        try:
            self.process.stdin.write(np.ascontiguousarray(block.T, np.float32).tobytes())
        except (BrokenPipeError, ValueError, AttributeError):
            log.warning("radio: the MP3 encoder stopped; starting it again")
            self.close()
            self.start()

    def close(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(OSError, ValueError):
            self.process.stdin.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.reader is not None:
            self.reader.join(timeout=5)
        self.process = None
