"""The station: keeps the producer ahead, plays the mixer out at the speed of real time, takes state
changes, and tells whoever listens what is on air.

Two threads. The **controller** asks the producer for the next track whenever fewer than
``ahead`` tracks wait beyond the one playing (so at least one is always rendered ahead), hands each
finished piece to the mixer, and turns a state change into levels (intensity: at the next phrase
boundary) or an urgent order (everything else: a new track in the new state, switched in on the first
phrase boundary after it is ready). With the buffer full, it has a *spare* made: a short track in the
other feel (tense when calm or unset, calm when tense), the change a game makes most; a change that the
spare fits starts it on the next phrase boundary without waiting for the model. The **player** renders
the mixer a block at a time, ``LOOKAHEAD_S`` ahead of the clock, into the MP3 encoder (and an RTMP push
when asked), and fires the mixer's events as the air reaches them: "now playing" changes exactly when
the new track is heard (as the server sends it; a listener's own buffer adds its few seconds).

What it measures (``stats``): frames played with nothing to play (gaps) and how many times that began
(underruns), how often the player fell behind the clock (late), the music buffered ahead, and for each
state change the time from the request to the first bar heard in the new state.

The radio folder (``<LOFI_HOME>/radio``) keeps ``state.json`` (the state, the drift's random state, the
last track asked for) and the rendered pieces not yet played: a restarted station plays those at once
and drifts on from where it was.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import shutil
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from lofi.files import atomic_write
from lofi.radio import pieces as piece_files
from lofi.radio.mixer import Mixer
from lofi.radio.pieces import Piece
from lofi.radio.producer import Order, Producer, ProducerConfig
from lofi.radio.state import TRACK_MINUTES, PieceSpec, RadioState, next_piece
from lofi.radio.stream import Broadcaster, Mp3Encoder

log = logging.getLogger(__name__)
BLOCK_S = 0.25  # rendered at a time
LOOKAHEAD_S = 0.75  # how far ahead of the clock the player renders: the floor of a change's latency
CONTROL_S = 0.1  # how often the controller looks at the producer and the buffer
STATE_FILE = "state.json"


@dataclass(frozen=True)
class StationConfig:
    folder: Path  # <LOFI_HOME>/radio
    producer: ProducerConfig
    preset: str = "dusty"
    lufs: float = -14.0
    ceiling_db: float = -1.0
    phrase_bars: int = 2
    crossfade_s: float = 4.0
    minutes: tuple[float, float] = TRACK_MINUTES
    # a track made for a state change is short, so it is ready sooner; the drift goes on after it
    urgent_minutes: tuple[float, float] = (0.75, 1.0)
    ahead: int = 1  # tracks rendered and waiting beyond the one playing
    seed: int | None = None  # the drift's; None: a new one (a restart keeps the saved one)
    sample_rate: int = 44100


@dataclass
class Stats:
    started_at: float = 0.0  # monotonic, when the first sample was played
    gap_s: float = 0.0
    underruns: int = 0
    late: int = 0
    pieces: int = 0
    music_s: float = 0.0  # of the pieces made
    failed: int = 0
    buffer_s: float = 0.0
    changes: deque = field(default_factory=lambda: deque(maxlen=500))


class Station:
    def __init__(self, config: StationConfig, state: RadioState | None = None):
        self.config = config
        self.folder = Path(config.folder)
        self.pieces_dir = self.folder / "pieces"
        self.spares_dir = self.folder / "spares"
        self.spare: Piece | None = None
        saved = self._load()
        self.state = state or saved.get("state") or RadioState()
        seed = config.seed if config.seed is not None else random.randrange(2**32)
        self.rng = random.Random(seed)
        if saved.get("rng") and config.seed is None:
            self.rng.setstate(saved["rng"])
        self.previous: PieceSpec | None = saved.get("previous")
        self.generation = saved.get("generation", 0)
        self.counter = saved.get("counter", 0)
        self.mixer = Mixer(
            config.sample_rate, config.preset, seed % 2**31, config.ceiling_db, config.phrase_bars, config.crossfade_s,
            self.state.intensity,
        )  # fmt: skip
        self.producer = Producer(config.producer)
        self.broadcaster = Broadcaster()
        self.encoder = Mp3Encoder(self.broadcaster.publish, config.sample_rate)
        self.outputs: list = []  # more sinks of samples (an RTMP push): write(block), picture(...), error
        self.stats = Stats()
        self.now: dict | None = None
        self.watchers: list[Callable[[dict], None]] = []
        self.lock = threading.RLock()
        self.stopping = threading.Event()
        self.on_air = threading.Event()
        self.pending_music: dict[int, dict] = {}  # generation -> the change waiting for its track
        self.threads: list[threading.Thread] = []

    # --------------------------------------------------------------------------------- persistence

    def _load(self) -> dict:
        try:
            data = json.loads((self.folder / STATE_FILE).read_text())
            return {
                "state": RadioState(**{**data["state"], "tempo": tuple(data["state"]["tempo"])}),
                "rng": (data["rng"][0], tuple(data["rng"][1]), data["rng"][2]),
                "previous": PieceSpec(**data["previous"]) if data.get("previous") else None,
                "generation": int(data.get("generation", 0)),
                "counter": int(data.get("counter", 0)),
            }
        except (OSError, ValueError, KeyError, TypeError):
            return {}

    def _save(self) -> None:
        data = {
            "state": self.state.to_dict(), "rng": self.rng.getstate(), "generation": self.generation,
            "previous": self.previous.to_dict() if self.previous else None, "counter": self.counter,
        }  # fmt: skip
        text = json.dumps(data)
        atomic_write(self.folder / STATE_FILE, lambda tmp: tmp.write_text(text))

    # ------------------------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.spares_dir, ignore_errors=True)  # made for a state of the last run
        for output in self.outputs:  # first: a push the server refuses fails before anything else runs
            output.start()
        for piece in piece_files.buffered(self.pieces_dir):  # a restart: what was rendered plays at once
            if self.state.fits(piece.spec):
                self.mixer.add(replace(piece, generation=self.generation, urgent=False))
            else:  # made for a state changed since
                piece_files.remove(piece)
        self.producer.start()
        self.encoder.start()
        for target, name in ((self._control, "lofi-radio-control"), (self._play, "lofi-radio-player")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self.threads.append(thread)

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=10)
        self.producer.close()
        self.encoder.close()
        for output in self.outputs:
            with contextlib.suppress(Exception):
                output.close()
        self.broadcaster.close()
        with self.lock:
            self._save()

    # ---------------------------------------------------------------------------------- the state

    def set_state(self, **changes: object) -> dict:
        """Change the state (validated first: a bad value changes nothing). Returns the new state, what the
        change needs ("levels", "music" or nothing) and, for levels, the seconds until it is heard."""
        requested = time.monotonic()
        with self.lock:
            new = self.state.changed(**changes)
            old, self.state = self.state, new
            answer: dict = {"state": new.to_dict(), "takes_effect": []}
            if new.intensity != old.intensity:
                frame = self.mixer.set_levels(new.intensity)
                heard = self._air_time(frame)
                self._record("levels", requested, frame, self._track_end())
                answer["takes_effect"].append("levels")
                answer["levels_in_s"] = round(max(0.0, heard - requested), 2)
            if old.music_differs(new):
                self.generation += 1
                coming = next((o for o in self.producer.pending if o.spare and new.fits(o.spec)), None)
                self.producer.supersede(self.generation, keep_spare=coming is not None)
                change = {"requested": requested, "track_end": self._track_end()}
                self.pending_music = {self.generation: change}  # a change still waiting is overtaken by this one
                if self.spare is not None and new.fits(self.spare.spec):
                    spare, self.spare = self.spare, None
                    self.previous = spare.spec  # the drift goes on from the track the change brought
                    self._bring_in(replace(spare, generation=self.generation, urgent=True))
                elif coming is not None:
                    change["spare"] = coming.folder  # the spare on its way is this change's track
                else:
                    self._order(urgent=True)
                answer["takes_effect"].append("music")
            self._save()
        self._tell({"type": "state", **answer})
        return answer

    def _air_time(self, frame: int) -> float:
        """The monotonic time at which stream ``frame`` is heard (as the server sends it)."""
        started = self.stats.started_at or time.monotonic()
        return started + (frame + self.mixer.latency) / self.config.sample_rate

    def _track_end(self) -> float | None:
        """When the playing track's last bar ends (monotonic): when a playlist would change."""
        now = self.mixer.current()
        return self._air_time(now.start + now.piece.music_frames) if now is not None else None

    def _record(self, kind: str, requested: float, frame: int, track_end: float | None, playing=None) -> None:
        """A change heard from stream ``frame``: how long after the request, how far from the playing
        piece's nearest phrase boundary (0: on it), and how long a change at the end of the track would
        have waited."""
        heard = self._air_time(frame)
        playing = playing or self.mixer.current()  # the piece whose phrase grid the change waited for
        off_boundary_s = None
        if playing is not None and playing.start <= frame:
            phrase = playing.piece.bar_frames * self.config.phrase_bars
            offset = (frame - playing.start) % phrase
            off_boundary_s = round(min(offset, phrase - offset) / self.config.sample_rate, 3)
        self.stats.changes.append({
            "kind": kind, "latency_s": round(heard - requested, 3), "heard_at": heard, "frame": frame,
            "off_boundary_s": off_boundary_s,
            "until_track_end_s": round(track_end - requested, 3) if track_end is not None else None,
        })  # fmt: skip

    # ------------------------------------------------------------------------------- the producer

    def _order(self, urgent: bool = False) -> None:
        minutes = self.config.minutes
        if urgent:
            minutes = (min(minutes[0], self.config.urgent_minutes[0]), min(minutes[1], self.config.urgent_minutes[1]))
        spec = next_piece(self.state, self.previous, self.rng, minutes)
        self.previous = spec
        self.counter += 1
        folder = self.pieces_dir / f"{self.counter:06d}-{spec.mood}"
        self.producer.submit(Order(spec, folder, self.generation, urgent))

    def _control(self) -> None:
        while not self.stopping.is_set():
            answers = self.producer.poll(CONTROL_S)
            with self.lock:
                for kind, _, payload in answers:
                    if kind == "done":
                        self._arrived(payload[0])
                    elif kind == "failed":
                        self.stats.failed += 1
                        log.warning("radio: a track failed (%s); asking for another", payload)
                waiting = sum(1 for p in self.mixer.waiting() if p.generation >= self.generation)
                ordered = [o for o in self.producer.pending if not o.spare]
                if waiting + len(ordered) < self.config.ahead:
                    self._order()
                    self._save()
                elif not self.producer.pending:
                    self._keep_a_spare()
                self.stats.buffer_s = round(self.mixer.buffered_frames() / self.config.sample_rate, 1)

    def _other_feel(self) -> RadioState:
        return self.state.changed(feel="calm" if self.state.feel == "tense" else "tense")

    def _keep_a_spare(self) -> None:
        """Have a spare in the other feel made, unless the one there still fits it."""
        other = self._other_feel()
        if self.spare is not None:
            if other.fits(self.spare.spec):
                return
            piece_files.remove(self.spare)
            self.spare = None
        minutes = self.config.minutes
        minutes = (min(minutes[0], self.config.urgent_minutes[0]), min(minutes[1], self.config.urgent_minutes[1]))
        spec = next_piece(other, self.previous, self.rng, minutes)
        if other.fits(spec):  # not when a pinned key or mood cannot go with the other feel
            self.counter += 1
            folder = self.spares_dir / f"{self.counter:06d}-{spec.mood}"
            self.producer.submit(Order(spec, folder, self.generation, urgent=True, spare=True))

    def _arrived(self, piece: Piece) -> None:
        self.stats.pieces += 1
        self.stats.music_s += piece.music_frames / piece.sample_rate
        if piece.folder.parent == self.spares_dir:
            waited = next((g for g, c in self.pending_music.items() if c.get("spare") == piece.folder), None)
            if waited is None:  # kept for a change to come
                if self.spare is not None:
                    piece_files.remove(self.spare)
                self.spare = piece
                return
            piece = replace(piece, generation=waited, urgent=True)
            self.previous = piece.spec  # the drift goes on from the track the change brought
        if piece.generation < self.generation:  # made for a state that has changed since
            piece_files.remove(piece)
        elif piece.urgent and piece.generation in self.pending_music:
            self._bring_in(piece)
        else:
            self.mixer.add(piece)

    def _bring_in(self, piece: Piece) -> None:
        """Switch to ``piece``, made for the change of its generation, on the next phrase boundary."""
        playing_before = self.mixer.current()
        frame = self.mixer.switch(piece)
        change = self.pending_music.pop(piece.generation)
        ready_s = time.monotonic() - change["requested"]
        log.info("radio: %s, made for a state change, ready %.1f s after it", piece.id, ready_s)
        if self.stats.started_at:
            self._record("music", change["requested"], frame, change["track_end"], playing_before)
            self.stats.changes[-1]["ready_s"] = round(ready_s, 3)

    # ---------------------------------------------------------------------------------- the player

    def _play(self) -> None:
        rate = self.config.sample_rate
        block = round(BLOCK_S * rate)
        while not self.stopping.is_set() and not self.mixer.waiting():  # the stream starts with music
            time.sleep(CONTROL_S)
        if self.stopping.is_set():
            return
        self.stats.started_at = time.monotonic()
        self.on_air.set()
        written = 0
        while not self.stopping.is_set():
            air = (time.monotonic() - self.stats.started_at) * rate
            if 0 < written < air:  # (the first pass starts at 0 by definition)
                self.stats.late += 1  # the player fell behind the clock: a listener's buffer drains
            while written < air + LOOKAHEAD_S * rate:
                audio = self.mixer.render(block)
                for sink in (self.encoder, *self.outputs):
                    sink.write(audio)
                written += block
            self.stats.gap_s = round(self.mixer.silent_frames / rate, 2)
            self.stats.underruns = self.mixer.underruns
            for event in self.mixer.take_events(int(air)):
                self._on_event(event)
            for piece in self.mixer.take_finished():
                piece_files.remove(piece)
            time.sleep(block / rate / 2)

    def _on_event(self, event) -> None:
        if event.kind == "track":
            with self.lock:
                self.now = {**event.data, "started_at": datetime.now(UTC).isoformat(timespec="seconds")}
            for output in self.outputs:
                with contextlib.suppress(Exception):
                    output.picture(event.data["title"], f"{event.data['mood']} · {event.data['key']}",
                                   event.data["seed"], event.data["mood"])  # fmt: skip
            self._tell({"type": "now", **self.now_playing()})
        elif event.kind == "levels":
            self._tell({"type": "levels", **event.data})

    # --------------------------------------------------------------------------------- listeners

    def watch(self, callback: Callable[[dict], None]) -> Callable[[], None]:
        """Call ``callback`` with every event (a new track on air, a state change); returns the unwatch."""
        self.watchers.append(callback)
        return lambda: self.watchers.remove(callback) if callback in self.watchers else None

    def _tell(self, message: dict) -> None:
        for callback in list(self.watchers):
            try:
                callback(message)
            except Exception:
                log.exception("radio: a watcher failed")

    def now_playing(self) -> dict:
        with self.lock:
            on_air = time.monotonic() - self.stats.started_at if self.stats.started_at else 0.0
            return {
                "track": self.now,
                "state": self.state.to_dict(),
                "listeners": self.broadcaster.count,
                "on_air_s": round(on_air, 1),
                "buffer_s": self.stats.buffer_s,
                "gap_s": self.stats.gap_s,
                "underruns": self.stats.underruns,
            }


def station_from_settings(settings, state: RadioState | None = None, seed: int | None = None) -> Station:
    """The station ``settings`` describe (LOFI_HOME/radio, the default model, the preset and loudness)."""
    from lofi.logs import current

    producer = ProducerConfig(
        settings.default_model, settings.engine, settings.soundfont, settings.preset, settings.lufs, log=current()
    )
    config = StationConfig(
        settings.radio_dir, producer, preset=settings.preset, lufs=settings.lufs, ceiling_db=settings.true_peak_db,
        phrase_bars=settings.radio_phrase_bars, minutes=tuple(settings.radio_minutes), seed=seed,
    )  # fmt: skip
    return Station(config, state)
