"""The radio pushed live to an RTMP server (YouTube Live, Twitch, an nginx relay): H.264 + AAC in FLV, the
picture being the current track's art and title with a visualizer driven by the audio.

One ffmpeg process reads two raw inputs: the station's float32 samples on stdin and yuv420p frames on a
second pipe. Each pipe has its own writer thread: ffmpeg interleaves by timestamp, so while it waits for
video it stops reading audio, and a single writer blocked on one pipe would never feed the other. The video
follows the audio's clock, not the wall's: frame ``i`` is painted once the audio up to its end has been
written, from the audio around its middle (``video.LiveLevels``), so the two can never drift apart. The
player's ``write`` only queues (at most ``MAX_QUEUED_S`` of audio; beyond that blocks are dropped, never
waited for); when painting falls behind, the last frame is sent again instead of painting, so a slow
moment costs smoothness, not sound.

Choices, for a machine that also composes and mixes the radio (2 cores here):
- 720p at 15 fps: the picture is a still with bars moving, and 15 fps moves them smoothly enough for
  about two thirds of the CPU of 30. YouTube takes 720p and any frame rate up to 60.
- x264 as the offline video has it (``video.X264_PRESET`` and ``X264_PARAMS``: ultrafast with CABAC,
  mbtree and adaptive quantization back, ``-tune stillimage``), constant quality capped at
  ``VIDEO_MAXRATE``: the still parts cost almost nothing and a new picture cannot burst past the upload.
  YouTube may say the bit rate is lower than it recommends; that is the still picture, not a fault. One
  encoder thread: no frame-thread latency, and the frames are cheap. A keyframe every ``GOP_S`` = 2 s
  (YouTube asks for at most 4), so a viewer joins within 2 s.
- AAC at 160 kb/s, 44.1 kHz stereo, as YouTube recommends.
- ``-rw_timeout``: a server that takes nothing for ``STALL_TIMEOUT_S`` ends the push with an error
  instead of a silent hang (on loopback, with nginx stopped, the error came 39 s later: the socket's
  buffers fill first); ``start`` waits for ffmpeg's first progress report, which comes once the server
  has taken the stream, so a refused connection or application is an error there and then.

Measured on this machine (2 cores, loopback nginx, 60 s of stream, CPU seconds per second of stream):
ffmpeg 0.11 ("bars"), 0.13 ("circle"), 0.14 ("rain"); the painting thread and the writers 0.03-0.04.
720p at 30 fps costs 0.16 + 0.06, 1080p at 15 fps 0.19 + 0.06.

A stream key is a secret: the URL in errors and logs ends in ``<key>`` (``redacted``).
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import logging
import math
import os
import subprocess
import threading
import time
from urllib.parse import urlsplit, urlunsplit

import numpy as np

import lofi.publish.art as art
import lofi.publish.video as video

log = logging.getLogger(__name__)
FPS = 15
GOP_S = 2
CRF = 23
VIDEO_MAXRATE, VIDEO_BUFSIZE = "2500k", "5000k"
AUDIO_BITRATE, AUDIO_RATE = "160k", 44100
START_TIMEOUT_S = 15.0  # how long ``start`` waits for the server to take the stream
STALL_TIMEOUT_S = 10.0  # a server that takes nothing this long ends the push
CLOSE_TIMEOUT_S = 10.0  # how long ``close`` lets ffmpeg finish the stream before it is killed
MAX_QUEUED_S = 5.0  # audio the writer may fall behind the player before blocks are dropped
RING = 1 << 16  # mono samples kept for the visualizer: 1.5 s at 44.1 kHz, far more than a frame needs
F_SETPIPE_SZ = 1031
PIPE_SIZE = 1 << 20  # a 720p frame is 1.4 MB: fewer wake-ups per frame (Linux's limit for a user)


def redacted(url: str) -> str:
    """``url`` as a log may show it: no password, no query, and the stream key (the path's last part)
    replaced by ``<key>``."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    with contextlib.suppress(ValueError):
        host += f":{parts.port}" if parts.port else ""
    head, _, key = parts.path.rpartition("/")
    path = f"{head}/<key>" if head and key else parts.path
    return urlunsplit((parts.scheme, host, path, "", ""))


class RtmpPush:
    """A live push to ``url``: ``start``, then ``write`` audio blocks and ``picture`` each new track, ``close``."""

    def __init__(
        self,
        url: str,
        sample_rate: int = 44100,
        channels: int = 2,
        resolution: str = "720p",
        fps: int = FPS,
        template: str = "bars",
    ) -> None:
        if not urlsplit(url).scheme.lower().startswith("rtmp"):
            raise ValueError(f"{redacted(url)!r} is not an RTMP URL: use rtmp://host/app/<stream key>")
        if template not in video.TEMPLATES:
            raise ValueError(f"unknown video template {template!r}: choose one of {', '.join(video.TEMPLATES)}")
        self.url, self.shown = url, redacted(url)
        self.rate, self.channels, self.fps, self.template = sample_rate, channels, fps, template
        self.size = video.parse_resolution(resolution)
        self.process: subprocess.Popen | None = None
        self.frames_sent = 0  # video frames handed to ffmpeg
        self.frames_painted = 0  # of which painted (the others repeat the last one: painting fell behind)
        self.dropped_blocks = 0  # audio blocks refused because ffmpeg fell MAX_QUEUED_S behind
        self._lock = threading.Lock()
        self._audio_ready = threading.Condition(self._lock)
        self._video_ready = threading.Condition(self._lock)
        self._audio: collections.deque[bytes] = collections.deque()
        self._queued = 0  # frames in _audio
        self._accepted = 0  # frames of audio taken from the player: the video's clock
        self._ring = np.zeros(RING, np.float32)
        self._picture: tuple[str, str, int, str | None] | None = None  # asked for, not yet painted
        self._closing = False
        self._killed = False
        self._stopped = False
        self._error: str | None = None
        self._stderr: collections.deque[str] = collections.deque(maxlen=20)
        self._connected = threading.Event()
        self._threads: list[threading.Thread] = []
        self._video_pipe = None

    # ---------------------------------------------------------------------------------------- ffmpeg

    def command(self, ffmpeg: str, video_fd: int) -> list[str]:
        width, height = self.size
        gop = max(1, round(self.fps * GOP_S))
        # raw inputs carry their format in the options: without a tiny probe, ffmpeg would read megabytes
        # (seconds of stream) before it even connects
        raw = ["-probesize", "32", "-analyzeduration", "0"]
        return [
            ffmpeg, "-hide_banner", "-loglevel", "error", "-nostats", "-progress", "pipe:1", "-stats_period", "1",
            "-thread_queue_size", "1024", *raw,
            "-f", "f32le", "-ar", str(self.rate), "-ac", str(self.channels), "-i", "pipe:0",
            "-thread_queue_size", "16", *raw,
            "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{width}x{height}", "-framerate", str(self.fps),
            "-i", f"pipe:{video_fd}",
            "-map", "1:v:0", "-map", "0:a:0",
            "-c:v", "libx264", "-preset", video.X264_PRESET, "-tune", "stillimage", "-x264-params", video.X264_PARAMS,
            "-crf", str(CRF), "-maxrate", VIDEO_MAXRATE, "-bufsize", VIDEO_BUFSIZE, "-g", str(gop),
            "-pix_fmt", "yuv420p", "-threads", "1",
            "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709", "-color_range", "tv",
            "-c:a", "aac", "-b:a", AUDIO_BITRATE, "-ar", str(AUDIO_RATE), "-ac", "2",
            "-rw_timeout", str(int(STALL_TIMEOUT_S * 1e6)),
            "-f", "flv", "-flvflags", "no_duration_filesize", self.url,
        ]  # fmt: skip

    def start(self) -> None:
        """Start ffmpeg and return once the server takes the stream; raise (naming the URL) when it does not."""
        ffmpeg = video.find_ffmpeg()
        read_fd, write_fd = os.pipe()
        try:
            self.process = subprocess.Popen(
                self.command(ffmpeg, read_fd),
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=(read_fd,),
            )  # fmt: skip
        except BaseException:
            os.close(write_fd)
            raise
        finally:
            os.close(read_fd)
        for fd in (self.process.stdin.fileno(), write_fd):
            with contextlib.suppress(OSError):
                fcntl.fcntl(fd, F_SETPIPE_SZ, PIPE_SIZE)
        self._video_pipe = os.fdopen(write_fd, "wb")
        for target, name in (
            (self._write_audio, "audio"), (self._write_video, "video"), (self._read_progress, "progress"),
            (self._read_errors, "errors"),
        ):  # fmt: skip
            thread = threading.Thread(target=target, name=f"lofi-rtmp-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        # ffmpeg connects only once it has read from both inputs: one frame of silence (and of picture)
        self.write(np.zeros((self.channels, math.ceil(self.rate / self.fps)), np.float32))
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._connected.wait(0.05):
            if self.process.poll() is not None or time.monotonic() > deadline:
                break
        if not self._connected.is_set():
            timed_out = self.process.poll() is None
            self._stop(kill=True)
            reason = f"no answer in {START_TIMEOUT_S:g} s" if timed_out else self._tail() or "ffmpeg exited"
            raise RuntimeError(f"could not push the stream to {self.shown}: {reason}")
        log.info("radio: pushing to %s", self.shown)

    def _tail(self) -> str:
        return " | ".join(self._stderr)

    def _hide_key(self, text: str) -> str:
        text = text.replace(self.url, self.shown)
        key = urlsplit(self.url).path.rpartition("/")[2]
        return text.replace(key, "<key>") if len(key) >= 6 else text

    def _read_progress(self) -> None:
        # ffmpeg's first progress report comes once its output is open: connected, and the server took it
        for line in self.process.stdout:
            if line.startswith(b"progress="):
                self._connected.set()

    def _read_errors(self) -> None:
        for line in self.process.stderr:
            if text := line.decode(errors="replace").strip():
                self._stderr.append(self._hide_key(text))
        code = self.process.wait()
        with self._lock:
            if not self._killed and (code != 0 or not self._closing):
                self._error = f"ffmpeg pushing to {self.shown} stopped (exit {code}): {self._tail() or 'no message'}"
                log.warning("radio: %s", self._error)
            self._audio_ready.notify_all()
            self._video_ready.notify_all()

    @property
    def error(self) -> str | None:
        """Why the push stopped, once ffmpeg has died (the connection lost, the server refusing the key)."""
        return self._error

    # ----------------------------------------------------------------------------------- the player's

    def write(self, block: np.ndarray) -> None:
        """Queue (channels, frames) float32 samples; never waits for ffmpeg (a block it is too far behind
        to take is dropped). After an error, blocks are let go: ``error`` says why."""
        block = np.asarray(block, np.float32)
        if block.ndim != 2 or block.shape[0] != self.channels:
            raise ValueError(f"expected ({self.channels}, frames) samples, got {block.shape}")
        if self.process is None or self._closing or self._error is not None:
            return
        frames = block.shape[1]
        data = np.ascontiguousarray(block.T).tobytes()  # interleaved, as f32le wants it
        mono = block.mean(axis=0)[-RING:]
        with self._lock:
            if self._queued + frames > MAX_QUEUED_S * self.rate:
                self.dropped_blocks += 1
                if self.dropped_blocks % 100 == 1:
                    log.warning(
                        "radio: RTMP push %s s behind, dropping audio (%d blocks)", MAX_QUEUED_S, self.dropped_blocks
                    )
                return
            self._audio.append(data)
            self._queued += frames
            at = (self._accepted + frames - len(mono) + np.arange(len(mono))) % RING
            self._ring[at] = mono
            self._accepted += frames
            self._audio_ready.notify()
            self._video_ready.notify()

    def picture(self, title: str, subtitle: str, seed: int, mood: str | None) -> None:
        """A new track is on air: its art and title from the next frame the video thread paints."""
        with self._lock:
            self._picture = (title, subtitle, seed, mood)
            self._video_ready.notify()

    # ---------------------------------------------------------------------------------------- threads

    def _write_audio(self) -> None:
        stdin = self.process.stdin
        try:
            while True:
                with self._lock:
                    while not self._audio and not self._closing and self._error is None:
                        self._audio_ready.wait()
                    if not self._audio or self._error is not None:
                        break  # closing with everything written, or ffmpeg gone
                    data = self._audio.popleft()
                    self._queued -= len(data) // (4 * self.channels)
                stdin.write(data)
                stdin.flush()
        except (OSError, ValueError):  # ffmpeg gone (its reader thread tells why)
            pass
        finally:
            with contextlib.suppress(OSError, ValueError):
                stdin.close()

    def _due(self) -> int:
        """Video frames the audio taken so far covers."""
        return self._accepted * self.fps // self.rate

    def _write_video(self) -> None:
        width, height = self.size
        black = np.full(width * height * 3 // 2, 128, np.uint8)
        black[: width * height] = 16
        last: np.ndarray = black
        painter: video.FramePainter | None = None
        levels: video.LiveLevels | None = None
        lag = max(2, self.fps // 2)  # frames behind the audio before painting gives way to repeating
        try:
            while True:
                with self._lock:
                    while (
                        self._error is None and not self._closing and self._picture is None
                        and self._due() <= self.frames_sent
                    ):  # fmt: skip
                        self._video_ready.wait()
                    if self._error is not None:
                        break
                    due, asked, self._picture = self._due(), self._picture, None
                    if self._closing and due <= self.frames_sent:
                        break
                if asked is not None:
                    try:
                        painter = self._painter(*asked)
                        levels = video.LiveLevels(self.rate, self.fps, painter.wave_points)
                    except Exception:  # a picture that cannot be painted keeps the last one on screen
                        log.exception("radio: the RTMP picture for %r failed", asked[0])
                while self.frames_sent < due:
                    i = self.frames_sent
                    if painter is not None and levels is not None and due - i <= lag:
                        try:
                            last = painter.paint(i, *levels(self._around(i)))
                            self.frames_painted += 1
                        except Exception:  # the stream goes on with the last frame rather than stall
                            log.exception("radio: painting an RTMP frame failed; the picture stays still")
                            painter = None
                    self._video_pipe.write(memoryview(last))
                    self.frames_sent += 1
                self._video_pipe.flush()
        except (OSError, ValueError):  # ffmpeg gone
            pass
        finally:
            with contextlib.suppress(OSError, ValueError):
                self._video_pipe.close()

    def _painter(self, title: str, subtitle: str, seed: int, mood: str | None) -> video.FramePainter:
        plan = video.video_plan(art.plan_art(seed, mood), self.template)
        still = video.background(plan, title, subtitle, self.size)
        rain, rain_box = video.rain_for(plan, self.template, self.size[0])
        return video.FramePainter(still, plan.palette, self.template, self.fps, plan.seed, rain, plan.moon, rain_box)

    def _around(self, i: int) -> np.ndarray:
        """The mono audio centred on frame ``i``'s middle, as far as it has been written (zeros before)."""
        span = video.LiveLevels.span_for(self.rate, self.fps)
        with self._lock:
            end = min(int((i + 0.5) * self.rate / self.fps) + span // 2, self._accepted)
            at = np.arange(end - span, end)
            kept = at >= max(0, self._accepted - RING)
            return np.where(kept, self._ring[at % RING], 0).astype(np.float32)

    # ------------------------------------------------------------------------------------------ close

    def close(self) -> None:
        """End the stream: ffmpeg gets the end of both inputs and closes the connection; joins every thread."""
        if self.process is None or self._stopped:
            return
        self._stop(kill=False)

    def _stop(self, kill: bool) -> None:
        self._stopped = True
        with self._lock:
            self._closing = True
            self._audio_ready.notify_all()
            self._video_ready.notify_all()
        writers = self._threads[:2]
        if not kill:
            deadline = time.monotonic() + CLOSE_TIMEOUT_S
            for thread in writers:
                thread.join(max(0.0, deadline - time.monotonic()))
            try:
                self.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                kill = True
        if kill and self.process.poll() is None:
            with self._lock:
                self._killed = True
            self.process.kill()
        self.process.wait()
        for thread in self._threads:
            thread.join(5)
        for stream in (self.process.stdout, self.process.stderr):
            with contextlib.suppress(OSError):
                stream.close()
        log.info("radio: the push to %s ended", self.shown)
