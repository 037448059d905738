"""The radio end to end with the bundled model: a piece as the producer makes it, the producer process
(killed, superseded), and a station played in real time, changed, stopped and started again.

Waits are bounded (a test that hangs fails); nothing asserts how fast anything ran.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile

from lofi.radio.pieces import CHANNELS, DUCK_CHANNEL, buffered
from lofi.radio.producer import REFERENCE_LUFS, Order, Producer, ProducerConfig, make_piece
from lofi.radio.state import LAYERS, PieceSpec, RadioState
from lofi.radio.station import Station, StationConfig
from lofi.render.loudness import loudness
from lofi.render.master import true_peak_db
from lofi.render.presets import get_preset
from lofi.settings import Settings

SETTINGS = Settings()
SHORT = (0.25, 0.3)  # minutes: a track every 15-20 s, so a test hears several


def producer_config() -> ProducerConfig:
    return ProducerConfig(SETTINGS.default_model, "auto", SETTINGS.soundfont, "dusty", -14.0)


def wait_for(condition, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while not (value := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout_s} s for {what}")
        time.sleep(0.1)
    return value


def test_a_piece_holds_each_layer_and_the_gains_to_the_target(tmp_path):
    from lofi.compose import Composer
    from lofi.model.checkpoint import load_checkpoint

    composer = Composer(load_checkpoint(SETTINGS.default_model, build=False), threads=1, engine="auto")
    spec = PieceSpec("rainy", "D minor", 80, 0.3, 11)
    piece = make_piece(composer, Order(spec, tmp_path / "p", 0, False), producer_config())
    assert piece.bars == 6 and piece.title and piece.frames >= piece.music_frames == round(6 * 3.0 * 44100)
    audio = np.asarray(piece.audio(), np.float32) / 32767
    assert audio.shape == (piece.frames, CHANNELS)
    energy = {name: float(np.sqrt(np.mean(audio[:, 2 * i : 2 * i + 2] ** 2))) for i, name in enumerate(LAYERS)}
    assert energy["drums"] > 0.01 and energy["bass"] > 0.01 and energy["keys"] > 0.005
    # the bass layer is low: most of its energy under 300 Hz
    bass = np.abs(np.fft.rfft(audio[:, 2 * LAYERS.index("bass")]))
    freqs = np.fft.rfftfreq(len(audio), 1 / 44100)
    assert (bass[freqs < 300] ** 2).sum() > 0.8 * (bass**2).sum()
    duck = audio[:, DUCK_CHANNEL]
    assert duck.min() < 0.7 and np.median(duck) > 0.9  # dips at the kicks, 1 between them
    # every layer in, at the pre-gain: the chain's reference; through the chain, at the post-gain: the target
    layers = audio[:, : 2 * len(LAYERS)].reshape(-1, len(LAYERS), 2)
    drums = LAYERS.index("drums")
    heard = (layers[:, drums] + duck[:, None] * (layers.sum(axis=1) - layers[:, drums])).T
    heard *= np.float32(10 ** (piece.pre_gain_db / 20))
    assert loudness(heard, 44100) == pytest.approx(REFERENCE_LUFS, abs=0.3)
    coloured = get_preset("dusty").chain(spec.seed)(heard, 44100) * np.float32(10 ** (piece.post_gain_db / 20))
    assert loudness(coloured, 44100) == pytest.approx(-14.0, abs=0.3)


def test_the_producer_comes_back_after_a_kill_and_abandons_a_superseded_order(tmp_path):
    producer = Producer(producer_config())
    producer.start()
    try:
        wait_for(lambda: producer.poll(0.2) or producer.ready, 120, "the producer to load the model")
        producer.process.kill()  # out of memory, say: the order sent after must still be made
        order = Order(PieceSpec("chill", "C major", 76, 0.25, 5), tmp_path / "one", 0, False)
        producer.submit(order)
        answers: list = []
        wait_for(lambda: answers.extend(producer.poll(0.2)) or any(a[0] == "done" for a in answers), 180, "the piece")
        assert producer.restarts >= 1 and not producer.pending
        assert (tmp_path / "one" / "piece.json").is_file()
        stale = Order(PieceSpec("chill", "C major", 76, 0.25, 6), tmp_path / "two", 0, False)
        producer.submit(stale)
        producer.supersede(1)
        answers.clear()
        wait_for(lambda: answers.extend(producer.poll(0.2)) or answers, 120, "an answer")
        assert [kind for kind, *_ in answers] == ["superseded"] and not (tmp_path / "two").exists()
    finally:
        producer.close()
    assert producer.process is None


class Recorder:
    """The station's MP3 as a listener receives it, and every event it announces."""

    def __init__(self, station: Station):
        self.events: list[dict] = []
        self.mp3 = bytearray()
        station.watch(self.events.append)
        self.listener = station.broadcaster.subscribe()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        while (chunk := self.listener.get()) is not None:
            self.mp3 += chunk

    def tracks(self) -> list[dict]:
        return [e["track"] for e in self.events if e["type"] == "now"]


def decode(mp3: bytes, folder: Path) -> np.ndarray:
    (folder / "stream.mp3").write_bytes(mp3)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", folder / "stream.mp3", folder / "stream.wav"], check=True)
    audio, rate = soundfile.read(folder / "stream.wav", dtype="float32", always_2d=True)
    assert rate == 44100
    return audio.T


def test_a_station_plays_changes_and_resumes_after_a_restart(tmp_path):
    config = StationConfig(tmp_path / "radio", producer_config(), minutes=SHORT, phrase_bars=2, seed=3)
    station = Station(config, RadioState(intensity=0.8))
    recorder = Recorder(station)
    station.start()
    try:
        wait_for(lambda: len({t["id"] for t in recorder.tracks()}) >= 2, 180, "a second track on air")
        first, second = recorder.tracks()[:2]
        assert first["id"] != second["id"] and {"title", "mood", "key", "bpm"} <= first.keys()
        quieter = station.set_state(intensity=0.2)
        phrase_s = 2 * 4 * 60 / station.mixer.current().piece.spec.bpm
        assert quieter["takes_effect"] == ["levels"] and 0 < quieter["levels_in_s"] <= phrase_s + 1.0
        # a spare in the other feel waits, made while the buffer was full: a change it fits brings it in
        spare = wait_for(lambda: station.spare, 120, "a spare track").id
        assert station.spare.spec.mood in ("sad", "rainy", "jazzy", "upbeat")  # tense: the other feel
        assert station.set_state(feel="tense")["takes_effect"] == ["music"] and station.spare is None
        wait_for(lambda: recorder.tracks()[-1]["id"] == spare, 60, "the spare on air")
        assert station.stats.changes[-1]["kind"] == "music" and station.stats.changes[-1]["off_boundary_s"] == 0
        rainy = station.set_state(mood="rainy")
        assert rainy["takes_effect"] == ["music"] and rainy["state"]["mood"] == "rainy"
        wait_for(lambda: any(t["mood"] == "rainy" for t in recorder.tracks()), 120, "a rainy track")
        music = [c for c in station.stats.changes if c["kind"] == "music"]
        assert len(music) == 2 and all(c["latency_s"] > 0 for c in music)
        with pytest.raises(ValueError, match="unknown mood"):
            station.set_state(mood="loud")
        assert station.state.mood == "rainy"  # a refused change changed nothing
    finally:
        station.stop()
    recorder.thread.join(timeout=10)
    stats = station.stats
    assert stats.gap_s == 0 and stats.underruns == 0  # the producer kept ahead the whole time
    audio = decode(bytes(recorder.mp3), tmp_path)
    # every sample the mixer rendered reached the listener (the MP3's own padding aside)
    assert audio.shape[1] / 44100 == pytest.approx(station.mixer.position / 44100, abs=0.2)
    assert true_peak_db(audio) <= -0.5  # the limiter's ceiling of -1 dBTP, give or take the MP3
    first_track = audio[:, 44100 : 44100 * 12]  # inside the first track, drums in
    assert loudness(first_track, 44100) == pytest.approx(-14.0, abs=2.0)

    # what was rendered and not played is on disk; a new station plays it first, in the saved state
    left = [piece.id for piece in buffered(config.folder / "pieces")]
    saved = json.loads((config.folder / "state.json").read_text())
    assert left and saved["state"]["mood"] == "rainy" and saved["state"]["intensity"] == 0.2
    again = Station(StationConfig(config.folder, producer_config(), minutes=SHORT))
    assert again.state.mood == "rainy" and again.state.intensity == 0.2
    recorder = Recorder(again)
    again.start()
    try:
        wait_for(lambda: recorder.tracks(), 60, "the restarted station on air")
        assert recorder.tracks()[0]["id"] == left[0]
    finally:
        again.stop()
