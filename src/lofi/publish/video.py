"""The track's video: its art, gently moving, with a visualizer driven by its own audio.

The picture is painted once (``art.scene`` plus the title) and converted to YUV 4:2:0, the encoder's
own format; each frame is then a copy of it with a few small layers changed: the visualizer, rain
streaks, a speck of dust, a progress line. Every moving layer is precomputed fully lit, so a frame only
picks, per pixel, lit or not (``np.copyto(where=mask)``): no full-frame arithmetic per frame.
``FramePainter`` draws a frame from the levels it is given; ``FrameRenderer`` measures them over the whole
track first, ``LiveLevels`` one frame at a time for a stream with no end (the radio's RTMP push).

Frames go to Debian's ``ffmpeg`` binary as raw yuv420p through a pipe (faster than encoding in-process,
see BASELINES.md); the audio stream is the mastered track.wav encoded to AAC with no filters. The file is
written under a temporary name and renamed into place.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import soundfile
from PIL import Image

import lofi.publish.art as art  # not through lofi.publish, whose __init__ imports this module
from lofi.files import atomic_write
from lofi.progress import Progress, no_progress

TEMPLATES = ("bars", "circle", "rain")
RESOLUTIONS = {"1080p": (1920, 1080), "720p": (1280, 720)}
FPS = 30
GOP_S = 8  # a keyframe every 8 s: grain makes keyframes the costly ones, and these frames barely change
# x264's ultrafast, with back the three things that matter on frames that are mostly still: CABAC and
# mbtree (half the file size of plain ultrafast) and adaptive quantization (no banding in dark skies).
# Measured at 1080p on 2 cores (ffmpeg CPU a frame, file size): this 13-15 ms and 17 MB a minute;
# veryfast 26-30 ms and 8-14 MB; superfast 19-21 ms and 33 MB; plain ultrafast 10-12 ms and 51 MB.
# Even a still 1080p frame costs veryfast ~17 ms (with its cheapest motion search), so on 2 cores a
# 3-minute video (5400 frames) is under 60 s only with a preset this fast.
X264_PRESET = "ultrafast"
X264_PARAMS = "cabac=1:mbtree=1:rc-lookahead=5:aq-mode=1"
BANDS = 32  # spectrum bands: "bars" mirrors them into 64 bars, "circle" spreads them over 48 spokes a side
WINDOW = 4096  # FFT size: 93 ms at 44.1 kHz, fine enough for the bass bands


class FFmpegNotFound(RuntimeError):
    pass


def find_ffmpeg(name: str = "ffmpeg") -> str:
    """The path of the ffmpeg binary, or an error that says how to install it."""
    path = shutil.which(name)
    if path is None:
        raise FFmpegNotFound(f"{name} not found: run `make setup` (it installs Debian's ffmpeg) to render videos")
    return path


def parse_resolution(value: str | tuple[int, int]) -> tuple[int, int]:
    """``"1080p"``, ``"720p"``, ``"WIDTHxHEIGHT"`` or a (width, height) pair; both even (4:2:0 needs it)."""
    if isinstance(value, str):
        if value.lower() in RESOLUTIONS:
            return RESOLUTIONS[value.lower()]
        try:
            width, height = (int(v) for v in value.lower().split("x"))
        except ValueError:
            raise ValueError(f"resolution {value!r}: use 1080p, 720p or WIDTHxHEIGHT") from None
    else:
        width, height = value
    if width < 64 or height < 64 or width % 2 or height % 2:
        raise ValueError(f"resolution {width}x{height}: width and height must be even and at least 64")
    return width, height


# ---- colour: BT.709, limited range, what x264 is told the frames are ----------------------------------


def rgb_to_yuv420(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(H, W, 3) uint8 RGB, H and W even -> Y (H, W), U and V (H/2, W/2) uint8."""
    f = rgb.astype(np.float32) / 255.0
    luma = f @ np.array([0.2126, 0.7152, 0.0722], np.float32)
    h, w = luma.shape
    quad = f.reshape(h // 2, 2, w // 2, 2, 3).mean(axis=(1, 3))  # chroma sits between four pixels
    quad_luma = quad @ np.array([0.2126, 0.7152, 0.0722], np.float32)
    y = 16 + 219 * luma
    u = 128 + 224 * (quad[..., 2] - quad_luma) / 1.8556
    v = 128 + 224 * (quad[..., 0] - quad_luma) / 1.5748
    return tuple(np.clip(np.rint(p), 0, 255).astype(np.uint8) for p in (y, u, v))  # type: ignore[return-value]


def yuv420_to_rgb(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The inverse of ``rgb_to_yuv420`` (chroma repeated over each 2x2 block), for checks and stills."""
    luma = (y.astype(np.float32) - 16) / 219
    cb = np.repeat(np.repeat((u.astype(np.float32) - 128) / 224, 2, 0), 2, 1)
    cr = np.repeat(np.repeat((v.astype(np.float32) - 128) / 224, 2, 0), 2, 1)
    r = luma + 1.5748 * cr
    b = luma + 1.8556 * cb
    g = (luma - 0.2126 * r - 0.0722 * b) / 0.7152
    return np.clip(np.rint(np.stack([r, g, b], -1) * 255), 0, 255).astype(np.uint8)


# ---- what the audio looks like ------------------------------------------------------------------------


def spectrum_levels(
    mono: np.ndarray, sample_rate: int, fps: float, frames: int, bands: int = BANDS, window: int = WINDOW
) -> np.ndarray:
    """Per video frame, the loudness of ``bands`` log-spaced bands (40 Hz to 16 kHz), 0..1, (frames, bands).

    Each frame's FFT window is centred on the frame's middle. Levels are dB above a floor 45 dB under the
    track's loud moments (never under -60 dBFS, so near-silence stays flat), tilted +4.5 dB an octave so
    treble shows as much as bass, then held: a bar jumps up at once and falls back over ~150 ms.
    """
    pad = window // 2
    mono = np.asarray(mono, dtype=np.float32)  # no copy: an hour's mono track is 635 MB / 2
    centres = np.minimum(((np.arange(frames) + 0.5) * sample_rate / fps).astype(np.int64), len(mono))
    hann = np.hanning(window).astype(np.float32)
    idx, tilt_db = _band_layout(sample_rate, bands, window)
    offsets = np.arange(window) - pad
    db = np.empty((frames, bands), np.float32)
    for start in range(0, frames, 256):  # bounded memory: 256 windows of 4096 at a time
        at = centres[start : start + 256, None] + offsets  # each window centred on its frame, zeros outside
        inside = (at >= 0) & (at < len(mono))
        chunk = np.where(inside, mono[np.clip(at, 0, max(len(mono) - 1, 0))] if len(mono) else 0, 0) * hann
        db[start : start + 256] = _band_db(chunk, idx, tilt_db)
    top = max(float(np.percentile(db, 99)) if db.size else 0.0, _full_scale_db(window) - 60)
    levels = np.clip((db - (top - 45)) / 45, 0, 1)
    held = np.empty_like(levels)
    current = np.zeros(bands, np.float32)
    for i in range(frames):
        current = np.maximum(levels[i], current * 0.8)
        held[i] = current
    return held


def _band_layout(sample_rate: int, bands: int, window: int) -> tuple[np.ndarray, np.ndarray]:
    """The FFT bins where each band starts and ends, and its tilt in dB."""
    freqs = np.fft.rfftfreq(window, 1 / sample_rate)
    edges = np.geomspace(40.0, min(16000.0, sample_rate / 2 * 0.95), bands + 1)
    idx = np.searchsorted(freqs, edges)
    idx = np.maximum(idx, np.arange(len(idx)) + idx[0])  # at least one FFT bin per band
    centre_hz = np.sqrt(edges[:-1] * edges[1:])
    return idx, 4.5 * np.log2(centre_hz / 1000.0)


def _band_db(chunk: np.ndarray, idx: np.ndarray, tilt_db: np.ndarray) -> np.ndarray:
    """(n, bands) tilted dB of the mean power in each band of each windowed row of ``chunk`` (n, window)."""
    power = np.abs(np.fft.rfft(chunk, axis=1)) ** 2
    cum = np.concatenate([np.zeros((len(chunk), 1)), np.cumsum(power, axis=1)], axis=1)
    band_power = (cum[:, idx[1:]] - cum[:, idx[:-1]]) / (idx[1:] - idx[:-1])
    return 10 * np.log10(band_power + 1e-12) + tilt_db


def _full_scale_db(window: int) -> float:
    return 20 * math.log10(window / 4)  # a full-scale sine's peak bin under a Hann window


def _smooth_wave(samples: np.ndarray) -> np.ndarray:
    smooth = np.convolve(samples, np.ones(5, np.float32) / 5, mode="same")  # no aliasing jaggies
    return np.clip(smooth, -1, 1)


class LiveLevels:
    """``spectrum_levels`` and the wave for a stream, one frame at a time from the audio around it.

    A stream has no end to find its loud moments in, so the top is the loudest band heard lately: it jumps
    up at once and falls back 1.5 dB a second, so the bars of a quieter track grow back within seconds
    while a loud one's do not sink between beats. The hold lasts as long as the offline one at any fps.
    """

    RELEASE_DB_S = 1.5

    def __init__(self, sample_rate: int, fps: float, points: int = 0, bands: int = BANDS, window: int = WINDOW) -> None:
        self.window, self.points = window, points
        self.span = self.span_for(sample_rate, fps, window)
        self.idx, self.tilt_db = _band_layout(sample_rate, bands, window)
        self.hann = np.hanning(window).astype(np.float32)
        self.floor = _full_scale_db(window) - 60
        self.top = self.floor
        self.release_db = self.RELEASE_DB_S / fps
        self.hold = 0.8 ** (FPS / fps)
        self.held = np.zeros(bands, np.float32)
        self.peak = 1e-3
        self.peak_fall = 10 ** (-self.release_db / 20)

    @staticmethod
    def span_for(sample_rate: int, fps: float, window: int = WINDOW) -> int:
        """The samples a frame needs: the FFT's window, or the wave's two frames if longer."""
        return max(window, int(sample_rate / fps * 2))

    def __call__(self, around: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Levels (bands,) 0..1 and wave (points,) -1..1 from ``span`` mono samples centred on the frame."""
        around = np.asarray(around, np.float32)
        start = (len(around) - self.window) // 2
        db = _band_db(around[None, start : start + self.window] * self.hann, self.idx, self.tilt_db)[0]
        self.top = max(float(db.max()), self.top - self.release_db, self.floor)
        levels = np.clip((db - (self.top - 45)) / 45, 0, 1)
        self.held = np.maximum(levels, self.held * self.hold).astype(np.float32)
        if not self.points:
            return self.held, np.zeros(0, np.float32)
        self.peak = max(float(np.max(np.abs(around))), self.peak * self.peak_fall, 1e-3)
        at = np.linspace(0, len(around) - 1, self.points).astype(np.int64)
        return self.held, _smooth_wave(around[at] / self.peak)


# ---- moving layers ------------------------------------------------------------------------------------


@dataclass
class _Lit:
    """A rectangle of the frame fully lit by a layer, in YUV; a frame copies the pixels a mask selects."""

    y0: int
    x0: int
    y: np.ndarray
    u: np.ndarray
    v: np.ndarray

    @classmethod
    def over(cls, background: np.ndarray, y0: int, x0: int, colour: np.ndarray, alpha: np.ndarray) -> _Lit:
        """``colour`` (h, w, 3) blended over the background at (y0, x0) with ``alpha`` (h, w) 0..1."""
        h, w = alpha.shape
        under = background[y0 : y0 + h, x0 : x0 + w].astype(np.float32)
        lit = under + (colour.astype(np.float32) - under) * alpha[..., None]
        return cls(y0, x0, *rgb_to_yuv420(np.clip(lit, 0, 255).astype(np.uint8)))

    def paint(self, planes: tuple[np.ndarray, np.ndarray, np.ndarray], mask: np.ndarray) -> None:
        y, u, v = planes
        h, w = mask.shape
        np.copyto(y[self.y0 : self.y0 + h, self.x0 : self.x0 + w], self.y[:h, :w], where=mask)
        m = mask[::2, ::2]
        cy, cx = self.y0 // 2, self.x0 // 2
        np.copyto(u[cy : cy + m.shape[0], cx : cx + m.shape[1]], self.u[: m.shape[0], : m.shape[1]], where=m)
        np.copyto(v[cy : cy + m.shape[0], cx : cx + m.shape[1]], self.v[: m.shape[0], : m.shape[1]], where=m)


def _even(x: float) -> int:
    return round(x / 2) * 2


def _vertical(top: tuple[int, ...], bottom: tuple[int, ...], h: int, w: int) -> np.ndarray:
    t = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    column = np.array(top, np.float32) * (1 - t) + np.array(bottom, np.float32) * t
    return np.broadcast_to(column, (h, w, 3))


class _Bars:
    """Mirrored spectrum bars (bass in the middle) standing on a line, with a faint reflection."""

    def __init__(self, background: np.ndarray, palette: art.Palette, bands: int) -> None:
        height, width = background.shape[:2]
        self.x0, x1 = _even(0.14 * width), _even(0.86 * width)
        self.base = _even(0.86 * height)
        self.top = _even(0.86 * height - 0.3 * height)
        w = x1 - self.x0
        count = 2 * bands
        slot = w / count
        cols = np.arange(w)
        self.bar_of_col = np.minimum((cols / slot).astype(np.int64), count - 1)
        self.on_col = (cols - self.bar_of_col * slot) < slot * 0.62
        order = np.concatenate([np.arange(bands)[::-1], np.arange(bands)])  # low bands meet in the middle
        self.band_of_col = order[self.bar_of_col]
        self.up_h = self.base - self.top
        self.down_h = _even(0.07 * height)
        self.stub = max(2, round(0.004 * height))
        up_colour = _vertical(palette.glow, palette.lights, self.up_h, w)
        self.lit_up = _Lit.over(background, self.top, self.x0, up_colour, np.full((self.up_h, w), 0.92, np.float32))
        fade = np.linspace(0.4, 0.05, self.down_h, dtype=np.float32)[:, None] * np.ones(w, np.float32)
        down_colour = np.broadcast_to(np.array(palette.lights, np.float32), (self.down_h, w, 3))
        self.lit_down = _Lit.over(background, self.base, self.x0, down_colour, fade)
        self.rows_up = np.arange(self.up_h)[:, None]
        self.rows_down = np.arange(self.down_h)[:, None]
        self.box = (self.x0, self.top, x1, self.base + self.down_h)

    def paint(self, planes, levels: np.ndarray, wave: np.ndarray) -> None:
        heights = np.where(self.on_col, self.stub + (levels**1.4)[self.band_of_col] * (self.up_h - self.stub), 0)
        self.lit_up.paint(planes, self.rows_up >= (self.up_h - heights.astype(np.int64))[None, :])
        self.lit_down.paint(planes, self.rows_down < (heights * 0.25).astype(np.int64)[None, :])


class _Circle:
    """Spokes around the moon, mirrored left and right, bass at the top."""

    def __init__(self, background: np.ndarray, palette: art.Palette, bands: int, centre, radius: float) -> None:
        height = background.shape[0]
        cx, cy = centre
        self.r0 = radius * 1.22
        self.reach = 0.15 * height
        half = _even(self.r0 + self.reach + 4)
        self.x0, self.y0 = _even(cx) - half, _even(cy) - half
        side = 2 * half
        yy, xx = np.mgrid[0:side, 0:side].astype(np.float32)
        dx, dy = xx + self.x0 - cx, yy + self.y0 - cy
        rr = np.hypot(dx, dy)
        theta = np.mod(np.arctan2(dx, -dy), 2 * np.pi)  # 0 at the top, clockwise
        slots = 3 * bands  # spokes around the circle; each half shows every band (some bands get two spokes)
        pos = theta / (2 * np.pi) * slots
        spoke = np.minimum(pos.astype(np.int64), slots - 1)
        mirrored = np.minimum(spoke, slots - 1 - spoke)  # left half mirrors the right
        self.band = np.minimum((mirrored * 2 * bands) // slots, bands - 1)
        ring = (rr >= self.r0) & (rr <= self.r0 + self.reach) & (np.mod(pos, 1.0) < 0.6)
        self.flat = np.flatnonzero(ring)
        self.rr = rr.ravel()[self.flat]
        self.band_flat = self.band.ravel()[self.flat]
        self.side = side
        t = np.clip((rr - self.r0) / self.reach, 0, 1)[..., None]
        colour = np.array(palette.lights, np.float32) * (1 - t) + np.array(palette.glow, np.float32) * t
        self.lit = _Lit.over(background, self.y0, self.x0, colour, np.full((side, side), 0.9, np.float32))
        self.stub = max(2.0, 0.006 * height)
        self.box = (self.x0, self.y0, self.x0 + side, self.y0 + side)

    def paint(self, planes, levels: np.ndarray, wave: np.ndarray) -> None:
        lengths = self.stub + (levels**1.3) * (self.reach - self.stub)
        mask = np.zeros(self.side * self.side, bool)
        mask[self.flat] = self.rr <= self.r0 + lengths[self.band_flat]
        self.lit.paint(planes, mask.reshape(self.side, self.side))


class _Wave:
    """The waveform as a glowing line across the lower part of the picture."""

    def __init__(self, background: np.ndarray, palette: art.Palette) -> None:
        height, width = background.shape[:2]
        self.x0, x1 = _even(0.06 * width), _even(0.94 * width)
        self.y0, y1 = _even(0.72 * height), _even(0.92 * height)
        h, w = y1 - self.y0, x1 - self.x0
        self.mid, self.amp = h / 2, h * 0.45
        self.core = max(1.5, 0.0022 * height)
        self.rows = np.arange(h, dtype=np.float32)[:, None]
        colour = np.broadcast_to(np.array(palette.lights, np.float32), (h, w, 3))
        self.lit_core = _Lit.over(background, self.y0, self.x0, colour, np.full((h, w), 0.95, np.float32))
        self.lit_glow = _Lit.over(background, self.y0, self.x0, colour, np.full((h, w), 0.3, np.float32))
        self.width = w
        self.box = (self.x0, self.y0, x1, y1)

    def paint(self, planes, levels: np.ndarray, wave: np.ndarray) -> None:
        ys = self.mid - wave * self.amp
        # each column spans from its point to the next one's, so steep slopes stay one unbroken line
        following = np.append(ys[1:], ys[-1])
        low, high = np.minimum(ys, following)[None, :], np.maximum(ys, following)[None, :]
        for lit, reach in ((self.lit_glow, self.core * 4), (self.lit_core, self.core)):
            lit.paint(planes, (self.rows >= low - reach) & (self.rows <= high + reach))


class FramePainter:
    """Draws frame ``i`` from the visualizer's levels and wave into one reused yuv420p buffer."""

    def __init__(
        self,
        background: np.ndarray,
        palette: art.Palette,
        template: str,
        fps: float = FPS,
        seed: int = 0,
        rain: int = 0,
        moon: tuple[float, float, float] | None = None,
        rain_box: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0),
    ) -> None:
        if template not in TEMPLATES:
            raise ValueError(f"unknown video template {template!r}: choose one of {', '.join(TEMPLATES)}")
        self.height, self.width = background.shape[:2]
        self.fps, self.seed = fps, seed
        self.background = rgb_to_yuv420(background)
        size = self.width * self.height
        self.buffer = np.empty(size * 3 // 2, np.uint8)
        self.planes = (
            self.buffer[:size].reshape(self.height, self.width),
            self.buffer[size : size * 5 // 4].reshape(self.height // 2, self.width // 2),
            self.buffer[size * 5 // 4 :].reshape(self.height // 2, self.width // 2),
        )
        if template == "bars":
            self.visualizer: _Bars | _Circle | _Wave = _Bars(background, palette, BANDS)
        elif template == "circle":
            mx, my, mr = moon or (0.5, 0.5, 0.1)
            self.visualizer = _Circle(background, palette, BANDS, (mx * self.width, my * self.height), mr * self.height)
        else:
            self.visualizer = _Wave(background, palette)
        self.visualizer_box = self.visualizer.box
        # rain falls only inside rain_box (fractions of the frame): behind the glass, for the window motif
        self.rain_box = tuple(round(f * side) for f, side in zip(rain_box, (self.width, self.height) * 2, strict=True))
        self._rain_setup(rain)
        self.wave_points = self.visualizer.width if isinstance(self.visualizer, _Wave) else 0

    def _rain_setup(self, count: int) -> None:
        rng = np.random.default_rng([self.seed % 2**63, 7])
        u = self.height / 1000
        self.rain_len = rng.uniform(30, 70, count) * u
        self.rain_x = rng.uniform(-0.1, 1.1, count) * self.width
        self.rain_y = rng.uniform(0, self.height, count)
        self.rain_speed = rng.uniform(16, 26, count) * u  # pixels a frame: a drop crosses in about 2 s
        self.rain_gain = rng.uniform(18, 48, count).astype(np.float32)
        self.rain_slant = float(rng.uniform(-0.16, 0.0))
        self.rain_steps = np.arange(int(np.ceil(self.rain_len.max())) if count else 0)
        self.rain_width = max(1, round(1.4 * u))

    def _rain(self, i: int) -> None:
        if not len(self.rain_len):
            return
        span = self.height + self.rain_len
        heads = np.mod(self.rain_y + self.rain_speed * i, span) - self.rain_len
        ys = (heads[:, None] + self.rain_steps[None, :]).astype(np.int64)
        left, top, right, bottom = self.rain_box
        keep = (self.rain_steps[None, :] < self.rain_len[:, None]) & (ys >= top) & (ys < bottom)
        xs = (self.rain_x[:, None] + self.rain_slant * ys).astype(np.int64)
        fade = (self.rain_steps[None, :] / self.rain_len[:, None]) * self.rain_gain[:, None]  # bright head, dim tail
        luma = self.planes[0]
        for dx in range(self.rain_width):
            ok = keep & (xs + dx >= left) & (xs + dx < right)
            yy, xx = ys[ok], xs[ok] + dx
            luma[yy, xx] = np.minimum(luma[yy, xx] + fade[ok], 235).astype(np.uint8)

    def _dust(self, i: int) -> None:
        """Now and then a speck of dust, as on an old film print."""
        rng = np.random.default_rng([self.seed % 2**63, 11, i])
        if rng.random() > 0.3:
            return
        size = max(2, round(self.height / 360))
        for _ in range(int(rng.integers(1, 3))):
            y, x = int(rng.integers(0, self.height - size)), int(rng.integers(0, self.width - size))
            self.planes[0][y : y + size, x : x + size] = 30 if rng.random() < 0.5 else 200

    def paint(self, i: int, levels: np.ndarray, wave: np.ndarray) -> np.ndarray:
        """Frame ``i`` (it moves the rain and the dust) as the flat yuv420p buffer, valid until the next call.

        ``levels``: (BANDS,) 0..1; ``wave``: (``wave_points``,) -1..1, only the "rain" template draws it.
        """
        for plane, still in zip(self.planes, self.background, strict=True):
            np.copyto(plane, still)
        self.visualizer.paint(self.planes, levels, wave)
        self._rain(i)
        self._dust(i)
        return self.buffer

    def rgb(self) -> np.ndarray:
        """The last frame painted as (H, W, 3) RGB, for checks and previews."""
        return yuv420_to_rgb(*self.planes)


class FrameRenderer(FramePainter):
    """Draws frame ``i`` of a track's video, with the levels of its whole audio measured beforehand."""

    def __init__(
        self,
        background: np.ndarray,
        palette: art.Palette,
        template: str,
        mono: np.ndarray,
        sample_rate: int,
        fps: float = FPS,
        seed: int = 0,
        rain: int = 0,
        moon: tuple[float, float, float] | None = None,
        rain_box: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0),
    ) -> None:
        super().__init__(background, palette, template, fps, seed, rain, moon, rain_box)
        self.sample_rate = sample_rate
        self.mono = np.asarray(mono, dtype=np.float32)
        self.frames = max(1, round(len(mono) / sample_rate * fps))
        self.levels = spectrum_levels(self.mono, sample_rate, fps, self.frames)
        self.peak = max(float(np.max(np.abs(self.mono))) if len(mono) else 0.0, 1e-3)
        bar_y = self.height - _even(0.008 * self.height) - 2
        strip = np.broadcast_to(np.array(palette.lights, np.float32), (2, self.width, 3))
        self.progress_lit = _Lit.over(background, bar_y, 0, strip, np.full((2, self.width), 0.85, np.float32))

    def wave(self, i: int) -> np.ndarray:
        """The audio around frame ``i`` as ``points`` samples in -1..1 (relative to the track's peak)."""
        points = self.wave_points
        if not points:
            return np.zeros(0, np.float32)
        span = int(self.sample_rate / self.fps * 2)
        centre = int((i + 0.5) * self.sample_rate / self.fps)
        idx = np.clip(np.linspace(centre - span / 2, centre + span / 2, points).astype(np.int64), 0, len(self.mono) - 1)
        return _smooth_wave(self.mono[idx] / self.peak)

    def frame(self, i: int) -> np.ndarray:
        """Frame ``i`` as the flat yuv420p buffer (valid until the next call)."""
        self.paint(i, self.levels[min(i, self.frames - 1)], self.wave(i))
        done = int(self.width * (i + 1) / self.frames)
        mask = np.zeros((2, self.width), bool)
        mask[:, :done] = True
        self.progress_lit.paint(self.planes, mask)
        return self.buffer

    def frame_rgb(self, i: int) -> np.ndarray:
        """Frame ``i`` as (H, W, 3) RGB, for checks and previews."""
        self.frame(i)
        return self.rgb()


# ---- putting it together -------------------------------------------------------------------------------


def video_plan(plan: art.ArtPlan, template: str) -> art.ArtPlan:
    """The art plan the video paints: for "circle" the moon sits in the middle, in the ring, unframed."""
    if template == "circle":
        motif = "skyline" if plan.motif == "window" else plan.motif  # no window bars across the ring
        return replace(plan, moon=(0.5, 0.5, 0.1), crescent=False, motif=motif)
    x, y, r = plan.moon
    return replace(plan, moon=(max(x, 1 - x, 0.62), y, r))  # the title sits top left: keep the moon clear of it


def background(plan: art.ArtPlan, title: str, subtitle: str, size: tuple[int, int]) -> np.ndarray:
    """The still picture under every frame: the scene with the title set top left."""
    width, height = size
    still = Image.fromarray(art.scene(plan, width, height, scrim=(0.38, 0.0, 0.5)))
    box = (0.045 * width, 0.05 * height, 0.5 * width, 0.2 * height)
    return np.asarray(art.draw_title(still, title, subtitle, box, plan.palette, align="left"))


def rain_for(plan: art.ArtPlan, template: str, width: int) -> tuple[int, tuple[float, float, float, float]]:
    """How many streaks of rain fall (many for "rain", a few when the art has rain) and in which part of the
    frame (behind the glass, for the window motif)."""
    count = (260 if template == "rain" else 80 if plan.rain else 0) * width // 1920
    return count, art.WINDOW_OPENING if plan.motif == "window" else (0.0, 0.0, 1.0, 1.0)


def ffmpeg_command(
    ffmpeg: str,
    size: tuple[int, int],
    fps: float,
    audio: Path,
    out: Path,
    crf: int = 23,
    preset: str = X264_PRESET,
    x264_params: str = X264_PARAMS,
    threads: int = 2,
) -> list[str]:
    """ffmpeg reading raw yuv420p frames on stdin and the WAV ``audio``, writing H.264 + AAC MP4 to ``out``."""
    width, height = size
    return [
        ffmpeg, "-hide_banner", "-loglevel", "error", "-y",
        "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{width}x{height}", "-framerate", str(fps), "-i", "pipe:0",
        "-i", str(audio),
        "-map", "0:v:0", "-map", "1:a:0",
        "-c:v", "libx264", "-preset", preset, "-tune", "stillimage", "-crf", str(crf), "-pix_fmt", "yuv420p",
        *(["-x264-params", x264_params] if x264_params else []),
        "-g", str(int(fps * GOP_S)), "-threads", str(threads),
        "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709", "-color_range", "tv",
        "-c:a", "aac", "-b:a", "192k",  # the mastered track, encoded, with no filters in between
        "-movflags", "+faststart", "-f", "mp4", str(out),
    ]  # fmt: skip


def _encode(command: list[str], renderer: FrameRenderer, progress: Progress) -> None:
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=errors)
        try:
            with contextlib.suppress(OSError):  # a bigger pipe: fewer wake-ups per 3 MB frame (Linux only)
                import fcntl

                fcntl.fcntl(proc.stdin.fileno(), 1031, 1 << 20)  # F_SETPIPE_SZ
            every = max(1, int(renderer.fps))
            for i in range(renderer.frames):
                proc.stdin.write(memoryview(renderer.frame(i)))
                if i % every == 0:
                    progress(i / renderer.frames, f"video: frame {i} of {renderer.frames}")
            proc.stdin.close()
            code = proc.wait()
        except BrokenPipeError:
            code = proc.wait()
        finally:
            if proc.poll() is None:  # interrupted (or cancelled through progress): stop the encoder
                proc.kill()
                proc.wait()
        if code != 0:
            errors.seek(0)
            tail = errors.read().decode(errors="replace").strip()[-1500:]
            raise RuntimeError(f"ffmpeg failed (exit {code}): {tail}")


def read_mono(path: Path, block: int = 1 << 20) -> tuple[np.ndarray, int]:
    """The mean of the channels of an audio file as float32, and its rate; read in blocks, so a long mix
    never sits in memory in stereo."""
    with soundfile.SoundFile(str(path)) as f:
        mono = np.empty(f.frames, np.float32)
        filled = 0
        while len(samples := f.read(block, dtype="float32", always_2d=True)):
            mono[filled : filled + len(samples)] = samples.mean(axis=1)
            filled += len(samples)
        return mono[:filled], f.samplerate


def render_video(
    audio: Path,
    out: Path,
    plan: art.ArtPlan,
    title: str,
    subtitle: str = "",
    template: str = "bars",
    resolution: str | tuple[int, int] = "1080p",
    fps: int = FPS,
    crf: int = 23,
    preset: str = X264_PRESET,
    x264_params: str = X264_PARAMS,
    threads: int = 2,
    progress: Progress = no_progress,
) -> dict:
    """Render ``out`` (H.264 + AAC in MP4) for the track ``audio`` (a WAV); returns what metadata records."""
    ffmpeg = find_ffmpeg()
    size = parse_resolution(resolution)
    if template not in TEMPLATES:
        raise ValueError(f"unknown video template {template!r}: choose one of {', '.join(TEMPLATES)}")
    started = time.perf_counter()
    mono, sample_rate = read_mono(Path(audio))
    vplan = video_plan(plan, template)
    still = background(vplan, title, subtitle, size)
    rain, rain_box = rain_for(vplan, template, size[0])
    renderer = FrameRenderer(
        still, vplan.palette, template, mono, sample_rate, fps, vplan.seed, rain, vplan.moon, rain_box
    )  # fmt: skip
    prepared = time.perf_counter() - started
    command = ffmpeg_command(ffmpeg, size, fps, Path(audio), Path("OUT"), crf, preset, x264_params, threads)
    atomic_write(Path(out), lambda tmp: _encode([*command[:-1], str(tmp)], renderer, progress))
    seconds = time.perf_counter() - started
    progress(1.0, "video: done")
    return {
        "template": template,
        "resolution": f"{size[0]}x{size[1]}",
        "fps": fps,
        "frames": renderer.frames,
        "palette": vplan.palette.name,
        "visualizer_box": list(renderer.visualizer_box),  # x0, y0, x1, y1 in pixels
        "timings_s": {"prepare": round(prepared, 3), "total": round(seconds, 3)},
        "frames_per_s": round(renderer.frames / seconds, 1),
    }
