"""The radio's producer: a process of its own that composes and renders pieces when asked.

It is the one place the radio loads the model (torch stays out of the server, as it does for jobs), and
it works one order at a time: compose the track (``lofi.compose.Composer``), humanize and synthesize its
parts, set their levels, sum them per layer, measure the loudness before and after the effects chain,
write the piece (``lofi.radio.pieces``). An order older than the state the station now wants is
abandoned at the composer's next progress report (``supersede``), so a state change waits for at most
one pass of the model, not a whole track.

A producer that dies (out of memory, killed) is started again by ``Producer.poll`` and given the orders it
had not finished: an order is never lost.
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lofi.logs import LogConfig
from lofi.logs import apply as apply_logging
from lofi.radio.pieces import CHANNELS, DUCK_CHANNEL, Piece, write_piece
from lofi.radio.state import LAYERS, PieceSpec

log = logging.getLogger(__name__)
REFERENCE_LUFS = -20.0  # every piece enters the effects chain this loud, so the chain colours them alike
LOUDNESS_S = 30  # seconds of a track its gains are measured on
LAYER_OF_ROLE = {"drums": "drums", "bass": "bass", "lead": "lead"}  # keys, guitar and pads play as "keys"


@dataclass(frozen=True)
class ProducerConfig:
    model: Path
    engine: str | None
    soundfont: Path
    preset: str
    lufs: float
    sample_rate: int = 44100
    log: LogConfig | None = None  # the host's logging, applied in the producer process too


@dataclass(frozen=True)
class Order:
    spec: PieceSpec
    folder: Path
    generation: int
    urgent: bool
    spare: bool = False  # made ahead for a likely change (the other feel): abandoned by ``drop_spare``


class Superseded(Exception):
    """The station wants a newer state than the one this order was for."""


def make_piece(composer, order: Order, config: ProducerConfig, still_wanted=lambda: True) -> Piece:
    """Compose and render ``order`` into its folder."""
    from lofi.compose import ComposeRequest
    from lofi.publish.seo import track_name
    from lofi.render import mix
    from lofi.render.effects import Sidechain
    from lofi.render.humanize import Humanize
    from lofi.render.loudness import loudness
    from lofi.render.presets import get_preset
    from lofi.render.synth import render_stems

    spec, rate = order.spec, config.sample_rate
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def check(fraction: float = 1.0, message: str = "", step: str | None = None) -> None:
        nonlocal clock
        if step is not None:
            timings[step] = round(time.perf_counter() - clock, 3)
            clock = time.perf_counter()
        if not still_wanted():  # between steps too: a state change waits for one step, not a whole track
            raise Superseded(message or step)

    request = ComposeRequest(mood=spec.mood, bpm=spec.bpm, key=spec.key, minutes=spec.minutes, seed=spec.seed)
    composition = composer.compose(request, check)
    check(step="compose")
    score = Humanize(swing=0.5, seed=spec.seed)(composition.score)  # the composer wrote the swing in
    stems, parts = render_stems(score, config.soundfont, rate, spec.mood)
    check(step="synth")
    roles = {part.name: part.role for part in parts}
    stems = mix.balance(stems, roles, (), rate)  # levels only: the duck is applied live, with the drums
    frames = next(iter(stems.values())).shape[1]
    layers = np.zeros((frames, CHANNELS), np.float32)
    for name, audio in stems.items():
        at = 2 * LAYERS.index(LAYER_OF_ROLE.get(roles[name], "keys"))
        layers[:, at : at + 2] += audio.T
    del stems
    kicks = mix.kick_times(score)
    duck = Sidechain(kick_times_s=kicks, **mix.DUCK).gain_db(frames, rate) if kicks else np.zeros(frames)
    layers[:, DUCK_CHANNEL] = 10 ** (duck / 20)
    music = layers[:, : 2 * len(LAYERS)]
    music *= np.float32(min(1.0, 0.99 / max(float(np.max(np.abs(music))), 1e-9)))  # each layer fits in int16
    check(step="layers")

    # the gains from a stretch of the track, every layer in (as at intensity 1): past the intro, at most
    # LOUDNESS_S long; a lo-fi track's loudness hardly moves, and the chain costs in proportion
    bar = round(4 * 60 / spec.bpm * rate)
    start = min(2 * bar, max(0, frames - LOUDNESS_S * rate))
    stretch = layers[start : start + LOUDNESS_S * rate]
    by_layer = stretch[:, : 2 * len(LAYERS)].reshape(len(stretch), len(LAYERS), 2)
    drums = LAYERS.index("drums")
    others = by_layer.sum(axis=1) - by_layer[:, drums]
    heard = (by_layer[:, drums] + stretch[:, DUCK_CHANNEL, None] * others).T
    pre_gain_db = REFERENCE_LUFS - loudness(heard, rate)
    coloured = get_preset(config.preset).chain(spec.seed)(heard * np.float32(10 ** (pre_gain_db / 20)), rate)
    post_gain_db = config.lufs - loudness(coloured, rate)
    check(step="loudness")
    title = track_name({"seed": spec.seed, "request": {"mood": spec.mood}})
    piece = write_piece(
        order.folder, layers, id=order.folder.name, spec=spec, title=title, bars=request.total_bars,
        sample_rate=rate, pre_gain_db=round(pre_gain_db, 3), post_gain_db=round(post_gain_db, 3),
        generation=order.generation, urgent=order.urgent,
    )  # fmt: skip
    timings["write"] = round(time.perf_counter() - clock, 3)
    log.debug("radio: %s made in %s", piece.id, timings)
    return piece


def _run(config: ProducerConfig, orders, results, floor, spares) -> None:
    """The producer process: load the model once, then make pieces until told to stop (None)."""
    from lofi.compose import Composer
    from lofi.model.checkpoint import load_checkpoint

    if config.log is not None:
        apply_logging(config.log)
    composer = Composer(load_checkpoint(config.model, build=False), threads=1, engine=config.engine)
    results.put(("ready", None, None))
    while (order := orders.get()) is not None:
        started = time.perf_counter()
        try:
            wanted = (lambda: bool(spares.value)) if order.spare else (lambda o=order: o.generation >= floor.value)
            piece = make_piece(composer, order, config, wanted)
        except Superseded:
            results.put(("superseded", order, None))
        except Exception as exc:  # a bad piece costs that piece, not the radio
            log.exception("radio: piece %s failed", order.folder.name)
            results.put(("failed", order, f"{type(exc).__name__}: {exc}"))
        else:
            results.put(("done", order, (piece, round(time.perf_counter() - started, 3))))


class Producer:
    """The station's handle on the producer process."""

    def __init__(self, config: ProducerConfig):
        self.config = config
        self.context = multiprocessing.get_context("spawn")  # a fresh interpreter: torch never in the host
        self.floor = self.context.Value("q", 0)
        self.spares = self.context.Value("b", 1)  # 0: a spare being made is no longer wanted
        self.process = None
        self.pending: list[Order] = []  # sent and not yet answered, in order
        self.ready = False
        self.restarts = 0

    def start(self) -> None:
        self.orders, self.results = self.context.Queue(), self.context.Queue()
        self.ready = False
        self.process = self.context.Process(
            target=_run, args=(self.config, self.orders, self.results, self.floor, self.spares),
            name="lofi-radio-producer",
            daemon=True,
        )  # fmt: skip
        self.process.start()
        for order in self.pending:
            self.orders.put(order)

    def submit(self, order: Order) -> None:
        if order.spare:
            self.spares.value = 1
        self.pending = [*self.pending, order]
        self.orders.put(order)

    def supersede(self, generation: int, keep_spare: bool = False) -> None:
        """Orders for a generation below ``generation`` are abandoned, and a spare unless ``keep_spare``;
        their answers still come."""
        self.floor.value = generation
        if not keep_spare:
            self.spares.value = 0

    def poll(self, timeout: float) -> list[tuple[str, Order | None, object]]:
        """The answers that came within ``timeout`` seconds; a dead producer is started again."""
        answers = []
        try:
            answers.append(self.results.get(timeout=timeout))
            while True:
                answers.append(self.results.get_nowait())
        except queue.Empty:
            pass
        self.ready = self.ready or any(kind == "ready" for kind, _, _ in answers)
        answered = [order for kind, order, _ in answers if kind != "ready"]
        if answered:  # a new list, not changed in place: the station reads it from other threads
            self.pending = [order for order in self.pending if order not in answered]
        if self.process is not None and not self.process.is_alive() and not answers:
            log.warning("radio: the producer died (exit %s); starting it again", self.process.exitcode)
            self.restarts += 1
            self.start()
        return answers

    def close(self) -> None:
        if self.process is None:
            return
        self.supersede(2**62)  # whatever it is composing is no longer wanted
        self.orders.put(None)
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(timeout=5)
        self.process = None
