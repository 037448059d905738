"""The radio's live mix: rendered pieces in, one mastered stereo stream out, a block at a time.

The mixer keeps a timeline in stream frames (frame 0 is the first sample the station ever played). A
piece is *placed* on it: the next track after the one playing starts where that one's last bar ends,
less half the crossfade, and the two cross with the mix's equal-power curves (cos and sin of a quarter
turn, as ``lofi.render.longmix``); a piece made for a state change starts on the playing piece's next
phrase boundary instead, its first downbeat on that boundary, while the old piece fades out over the
eighth note before it, so the beat goes on. Layer levels (intensity) change on a phrase boundary too, with a
ramp of ``RAMP_S`` ending on it, and the low-pass sweeps over ``SWEEP_S`` from it.

Per block: each sounding piece's layers at their gains (the duck curve applied to the non-drum layers
as much as the drums play), its fades and its gain to the chain's reference loudness; their sum through
the low-pass, the effects preset (``Streamed``: the preset's chain works on whole arrays, so each block
runs with a pre-roll and the joins are crossfaded), the pieces' gains to the loudness target, and a
limiter at the true-peak ceiling (pedalboard's, whose state carries from block to block).

Nothing here knows the clock: the station calls ``render`` as time passes and fires the events (a new
track on air, a change in effect) when the air reaches their frames.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pedalboard

from lofi.radio.pieces import DUCK_CHANNEL, FULL_SCALE, Piece
from lofi.radio.state import LAYERS, Levels, levels
from lofi.render.master import limit
from lofi.render.presets import get_preset

RAMP_S = 0.03  # a layer coming in or going out: short enough to be on the beat, long enough not to click
SWEEP_S = 0.5  # the low-pass moving to a new intensity's cutoff
PREROLL = 8192  # frames the effects chain runs before each block: its filters settle well within it
OVERLAP = 1024  # frames over which a block's chain output crosses into the next's
DRUMS = LAYERS.index("drums")


@dataclass
class Placement:
    piece: Piece
    start: int  # the stream frame of the piece's frame 0
    audio: np.ndarray
    fade_in: tuple[int, int] = (0, 0)  # (first frame, length) of the equal-power rise; length 0: none
    fade_out: tuple[int, int] | None = None  # (first frame, length) of the fall; the piece stops after it

    @property
    def end(self) -> int:
        stop = self.start + self.piece.frames
        return min(stop, sum(self.fade_out)) if self.fade_out else stop

    def gain(self, lo: int, hi: int) -> np.ndarray:
        frames = np.arange(lo, hi, dtype=np.float64)
        gain = np.ones(hi - lo)
        first, length = self.fade_in
        if length:
            gain *= np.sin(np.clip((frames - first) / length, 0, 1) * math.pi / 2)
        if self.fade_out:
            first, length = self.fade_out
            gain *= np.cos(np.clip((frames - first) / max(length, 1), 0, 1) * math.pi / 2)
        return gain


@dataclass
class Envelope:
    """A value over stream frames: breakpoints joined by straight lines, flat before the first and after the last."""

    points: list[tuple[int, float]] = field(default_factory=list)

    def at(self, frames: np.ndarray | int) -> np.ndarray:
        xs, ys = zip(*self.points, strict=True)
        return np.interp(frames, xs, ys)

    def move(self, start: int, length: int, value: float) -> None:
        """From ``start`` go to ``value`` over ``length`` frames (points after ``start`` are replaced)."""
        before = float(self.at(start))
        self.points = [p for p in self.points if p[0] < start] + [(start, before), (start + max(length, 1), value)]

    def forget(self, before: int) -> None:
        """Drop the points no block will read again (the value at ``before`` is kept)."""
        if len(self.points) > 2 and self.points[1][0] < before:
            value = float(self.at(before))
            self.points = [(before, value)] + [p for p in self.points if p[0] > before]


class Streamed:
    """A whole-array effect run on a stream: each block with ``PREROLL`` frames of the input before it,
    so its filters have settled, and its first ``OVERLAP`` frames crossed with the last run's tail (a
    straight crossfade: the two runs are the same signal, within a little wow, so their gains add to one).

    ``effect(i)`` is the effect for block ``i``: the preset's random layers (vinyl crackle) are seeded per
    block, or every block would crackle alike. The output is ``LATENCY`` frames behind the input.
    """

    LATENCY = OVERLAP

    def __init__(self, effect: Callable[[int], Callable[[np.ndarray, float], np.ndarray]], sample_rate: int):
        self.effect, self.rate, self.blocks = effect, sample_rate, 0
        self.history = np.zeros((2, PREROLL + OVERLAP), np.float32)
        self.tail = np.zeros((2, OVERLAP), np.float32)
        self.rise = ((np.arange(OVERLAP) + 0.5) / OVERLAP).astype(np.float32)

    def __call__(self, block: np.ndarray) -> np.ndarray:
        n = block.shape[1]
        if n < OVERLAP:
            raise ValueError(f"blocks of at least {OVERLAP} frames, got {n}")
        joined = np.concatenate([self.history, block], axis=1)
        out = self.effect(self.blocks)(joined, self.rate)[:, PREROLL:]  # stream frames [start - OVERLAP, end)
        self.blocks += 1
        head = out[:, :OVERLAP] * self.rise + self.tail * (1 - self.rise)
        self.tail = out[:, n:].copy()
        self.history = joined[:, -(PREROLL + OVERLAP) :].copy()
        return np.concatenate([head, out[:, OVERLAP:n]], axis=1)


@dataclass(frozen=True)
class Event:
    frame: int  # the stream frame at which it is heard
    kind: str  # "track": a piece on air; "levels": an intensity in effect; "music": a new state's first bar
    data: dict


class Mixer:
    def __init__(
        self,
        sample_rate: int = 44100,
        preset: str = "dusty",
        seed: int = 0,
        ceiling_db: float = -1.0,
        phrase_bars: int = 2,
        crossfade_s: float = 4.0,
        intensity: float = 0.6,
    ):
        self.rate, self.phrase_bars = sample_rate, phrase_bars
        self.crossfade = round(crossfade_s * sample_rate)
        effects = get_preset(preset)
        self.chain = Streamed(lambda i: effects.chain(seed + i), sample_rate)
        self.lowpass = pedalboard.LadderFilter(mode=pedalboard.LadderFilter.Mode.LPF24, cutoff_hz=18000.0)
        # the master's look-ahead true-peak limiter: the block after the one limited is its look-ahead
        self.limiter = Streamed(lambda i: lambda audio, rate: limit(audio, ceiling_db, rate)[0], sample_rate)
        self.post_delay = np.zeros(self.chain.LATENCY)  # the pieces' gains, as far behind as the chain's output
        start = levels(intensity)
        self.gains = {name: Envelope([(0, start.gains[name])]) for name in LAYERS}
        self.cutoff = Envelope([(0, start.cutoff_hz)])
        self.position = 0  # the next frame to render
        self.placed: list[Placement] = []
        self.ready: deque[Piece] = deque()
        self.events: list[Event] = []
        self.finished: list[Piece] = []  # played out; the station deletes their files
        self.lock = threading.Lock()
        self.silent_frames = 0  # frames rendered with nothing to play: the stream's gaps
        self.underruns = 0  # how many gaps began
        self._was_silent = False

    # ------------------------------------------------------------------------------------- scheduling

    @property
    def latency(self) -> int:
        """How far the output is behind the timeline: the chain's and the limiter's overlaps."""
        return 2 * Streamed.LATENCY

    def current(self) -> Placement | None:
        return self.placed[-1] if self.placed else None

    def add(self, piece: Piece) -> None:
        """A piece to play after those already waiting (``switch`` for one made for a state change)."""
        with self.lock:
            self.ready.append(piece)

    def buffered_frames(self) -> int:
        """How much music is ready beyond the frame being rendered: the rest of the playing piece and the
        pieces waiting."""
        with self.lock:
            ahead = sum(p.music_frames for p in self.ready)
            now = self.current()
            if now is not None:
                ahead += max(0, now.start + now.piece.music_frames - self.position)
            return ahead

    def next_boundary(self, earliest: int) -> int:
        """The first phrase boundary of the playing piece at or after ``earliest`` (``earliest`` itself
        when nothing plays); at most the end of its last bar."""
        now = self.current()
        if now is None:
            return earliest
        phrase = now.piece.bar_frames * self.phrase_bars
        count = math.ceil(max(0, earliest - now.start) / phrase)
        return min(now.start + round(count * phrase), now.start + now.piece.music_frames)

    def switch(self, piece: Piece) -> int:
        """Play ``piece`` from the next phrase boundary on, fading the playing piece out over the eighth note
        before it; pieces of older generations waiting are dropped. Returns the boundary's frame."""
        with self.lock:
            dropped = [p for p in self.ready if p.generation < piece.generation]
            self.finished.extend(dropped)
            self.ready = deque(p for p in self.ready if p.generation >= piece.generation)
            for later in [p for p in self.placed if p.start >= self.position]:  # placed, not started yet
                self.placed.remove(later)
                self.finished.append(later.piece)
            now = self.current()
            if now is None:
                self._place(piece, self.position, (0, 0))
                return self.position
            beat = round(now.piece.bar_frames / 8)  # an eighth note: short, so the switch comes soon
            at = self.next_boundary(self.position + beat)
            for playing in self.placed:
                fade = (at - beat, beat)
                if playing.fade_out is None or sum(playing.fade_out) > sum(fade):
                    playing.fade_out = fade
            self._place(piece, at, (at, 64), kind="music")
            return at

    def set_levels(self, intensity: float) -> int:
        """Take ``intensity``'s levels from the next phrase boundary; returns its frame."""
        with self.lock:
            ramp = round(RAMP_S * self.rate)
            at = self.next_boundary(self.position + ramp)
            target: Levels = levels(intensity)
            for name, envelope in self.gains.items():
                envelope.move(at - ramp, ramp, target.gains[name])
            self.cutoff.move(at, round(SWEEP_S * self.rate), target.cutoff_hz)
            self.events.append(Event(at, "levels", {"intensity": intensity}))
            return at

    def _place(self, piece: Piece, start: int, fade_in: tuple[int, int], kind: str = "track") -> None:
        self.placed.append(Placement(piece, start, piece.audio(), fade_in))
        data = piece.now_playing()
        self.events.append(Event(start + fade_in[1] // 2, "track", data))
        if kind == "music":
            self.events.append(Event(start, "music", {**data, "generation": piece.generation}))

    def _schedule(self, end: int) -> None:
        """Place the waiting pieces that start before ``end``: the next one crossing into the playing
        one's last bar, or at once when nothing sounds (the start, or after a gap)."""
        while self.ready:
            now, following = self.current(), self.ready[0]
            if now is None or now.end <= self.position:
                self._place(self.ready.popleft(), self.position, (self.position, 64))
                continue
            length = min(self.crossfade, now.piece.music_frames // 2, following.music_frames // 2)
            start = max(self.position, now.start + now.piece.music_frames - length // 2)
            if start >= end:
                return
            if now.fade_out is None or sum(now.fade_out) > start + length:
                now.fade_out = (start, length)
            self._place(self.ready.popleft(), start, (start, length))

    # ---------------------------------------------------------------------------------------- render

    def render(self, n: int) -> np.ndarray:
        """The next ``n`` frames of the stream, (2, n) float32 (the chain's latency behind the timeline)."""
        with self.lock:
            lo, hi = self.position, self.position + n
            self._schedule(hi)
            bus = np.zeros((2, n), np.float32)
            weight = np.zeros(n)
            covered = np.zeros(n, bool)
            post = np.zeros(n)
            frames = np.arange(lo, hi)
            gains = {name: self.gains[name].at(frames).astype(np.float32) for name in LAYERS}
            duck_share = np.clip(gains["drums"], 0, 1)
            for placement in self.placed:
                a, b = max(lo, placement.start), min(hi, placement.end)
                if a >= b:
                    continue
                raw = np.asarray(placement.audio[a - placement.start : b - placement.start], np.float32)
                raw *= np.float32(1 / FULL_SCALE)
                part = slice(a - lo, b - lo)
                covered[part] = True
                duck = 1 - duck_share[part] * (1 - raw[:, DUCK_CHANNEL])
                mixed = np.zeros((b - a, 2), np.float32)
                for i, name in enumerate(LAYERS):
                    gain = gains[name][part] * (1 if i == DRUMS else duck)
                    mixed += raw[:, 2 * i : 2 * i + 2] * gain[:, None]
                fade = placement.gain(a, b)
                bus[:, part] += mixed.T * (fade * 10 ** (placement.piece.pre_gain_db / 20)).astype(np.float32)
                power = fade**2
                weight[part] += power
                post[part] += power * placement.piece.post_gain_db
            silent = int((~covered).sum())
            self.silent_frames += silent
            if silent and not self._was_silent:
                self.underruns += 1
            self._was_silent = bool(silent and not covered[-1])
            heard = weight > 1e-6
            post_db = np.where(heard, post / np.maximum(weight, 1e-6), 0.0)
            self.lowpass.cutoff_hz = float(self.cutoff.at(lo + n // 2))
            filtered = self.lowpass(bus, self.rate, reset=False)
            coloured = self.chain(filtered)
            post_db = np.concatenate([self.post_delay, post_db])
            self.post_delay = post_db[n:]
            out = self.limiter(coloured * (10 ** (post_db[:n] / 20)).astype(np.float32))
            self._retire(hi)
            self.position = hi
            return np.clip(out, -1.0, 1.0)

    def _retire(self, upto: int) -> None:
        for placement in [p for p in self.placed if p.end <= upto]:
            self.placed.remove(placement)
            self.finished.append(placement.piece)
        for envelope in (*self.gains.values(), self.cutoff):
            envelope.forget(upto)

    def take_events(self, upto: int) -> list[Event]:
        """The events heard by stream frame ``upto`` (in order), removed from the list."""
        with self.lock:
            due = sorted((e for e in self.events if e.frame + self.latency <= upto), key=lambda e: e.frame)
            self.events = [e for e in self.events if e.frame + self.latency > upto]
            return due

    def take_finished(self) -> list[Piece]:
        with self.lock:
            done, self.finished = self.finished, []
            return done

    def waiting(self) -> list[Piece]:
        with self.lock:
            return list(self.ready)
