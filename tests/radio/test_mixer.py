"""The live mix, on pieces whose layers are tones: which layer plays when is read off the spectrum.

Each layer of a test piece is a pure tone of its own (the drums a tone that starts on every beat), so
whether a layer is heard in a stretch of the output is how strong its frequency is there. The "clean"
preset keeps tones as they are.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from lofi.radio.mixer import OVERLAP, PREROLL, Mixer, Streamed
from lofi.radio.pieces import CHANNELS, DUCK_CHANNEL, read_piece, write_piece
from lofi.radio.state import LAYERS, PieceSpec
from lofi.render.effects import HighPass, LowPass

RATE = 44100
BPM = 120  # a bar is 2 s: a 2-bar phrase is 4 s
BAR = 2 * RATE
TONES = {"drums": 1000.0, "bass": 110.0, "keys": 440.0, "lead": 660.0}


def tone_piece(folder: Path, bars: int, keys_hz: float = 440.0, generation: int = 0, urgent: bool = False):
    frames = bars * BAR + RATE // 2  # a tail after the last bar, as a rendered track has
    t = np.arange(frames) / RATE
    layers = np.zeros((frames, CHANNELS), np.float32)
    for i, name in enumerate(LAYERS):
        hz = keys_hz if name == "keys" else TONES[name]
        wave = 0.1 * np.sin(2 * np.pi * hz * t)
        if name == "drums":  # a hit on every beat, 100 ms long
            wave *= (t % (60 / BPM)) < 0.1
        layers[:, 2 * i] = layers[:, 2 * i + 1] = wave
    layers[:, DUCK_CHANNEL] = 1.0
    spec = PieceSpec("chill", "A minor", BPM, bars * 2 / 60, 1)
    write_piece(folder, layers, id=folder.name, spec=spec, title=folder.name, bars=bars, sample_rate=RATE,
                pre_gain_db=0.0, post_gain_db=0.0, generation=generation, urgent=urgent)  # fmt: skip
    return read_piece(folder)


def strength(audio: np.ndarray, hz: float, start_s: float, end_s: float) -> float:
    """The amplitude of ``hz`` in ``audio[:, start:end]`` (left channel), from its FFT bin."""
    part = audio[0, round(start_s * RATE) : round(end_s * RATE)]
    window = np.hanning(len(part))
    spectrum = np.abs(np.fft.rfft(part * window)) / window.sum() * 2
    freqs = np.fft.rfftfreq(len(part), 1 / RATE)
    return float(spectrum[np.abs(freqs - hz) < 3].max())


def play(mixer: Mixer, seconds: float, block: int = RATE // 4) -> np.ndarray:
    out = [mixer.render(block) for _ in range(math.ceil(seconds * RATE / block))]
    return np.concatenate(out, axis=1)


def heard(mixer: Mixer, audio: np.ndarray) -> np.ndarray:
    """The output as heard: the mixer's output runs its latency behind the timeline."""
    return audio[:, mixer.latency :]


@pytest.mark.parametrize("effect", [LowPass(cutoff_hz=2000.0, order=4), HighPass(cutoff_hz=35.0, order=2)])
def test_a_whole_array_effect_streamed_in_blocks_sounds_as_on_the_whole(effect):
    rng = np.random.default_rng(1)
    signal = (0.3 * rng.standard_normal((2, 40 * 11025))).astype(np.float32)
    streamed = Streamed(lambda i: effect, RATE)
    out = np.concatenate([streamed(signal[:, i : i + 11025]) for i in range(0, signal.shape[1], 11025)], axis=1)
    whole = effect(signal, RATE)
    lag = Streamed.LATENCY
    # after the first pre-roll, block joins leave no trace: the same signal to within -60 dB
    error = out[:, PREROLL + lag :] - whole[:, PREROLL : whole.shape[1] - lag]
    assert np.max(np.abs(error)) < 1e-3 * np.max(np.abs(whole))
    with pytest.raises(ValueError, match=f"blocks of at least {OVERLAP} frames"):
        streamed(signal[:, :100])


def test_the_next_track_crosses_in_over_the_last_bar(tmp_path):
    first, second = tone_piece(tmp_path / "a", 4, 440.0), tone_piece(tmp_path / "b", 4, 550.0)
    mixer = Mixer(RATE, "clean", crossfade_s=2.0)
    mixer.add(first)
    mixer.add(second)
    audio = heard(mixer, play(mixer, 17))
    events = [(e.frame, e.data["id"]) for e in mixer.take_events(10**9) if e.kind == "track"]
    # the second starts a second before the first's last bar ends; "now playing" turns where the curves cross
    assert events == [(32, "a"), (4 * BAR, "b")]
    assert strength(audio, 440, 4, 6) > 0.08 and strength(audio, 550, 4, 6) < 1e-3
    assert strength(audio, 550, 9.5, 11.5) > 0.08 and strength(audio, 440, 9.5, 11.5) < 1e-3
    # equal power in the middle of the crossfade: each at -3 dB
    assert strength(audio, 440, 7.9, 8.1) == pytest.approx(0.1 / math.sqrt(2), rel=0.15)
    assert strength(audio, 550, 7.9, 8.1) == pytest.approx(0.1 / math.sqrt(2), rel=0.15)
    second_ends = 7 * RATE + second.frames  # it started at 7 s
    assert mixer.silent_frames == mixer.position - second_ends and mixer.underruns == 1  # only after both
    assert [p.id for p in mixer.take_finished()] == ["a", "b"]


def test_intensity_changes_on_the_next_phrase_boundary(tmp_path):
    mixer = Mixer(RATE, "clean", phrase_bars=2, intensity=1.0)
    mixer.add(tone_piece(tmp_path / "a", 8))
    audio = play(mixer, 1.0)
    boundary = mixer.set_levels(0.1)
    assert boundary == 2 * BAR  # the first 2-bar boundary after what is rendered
    audio = heard(mixer, np.concatenate([audio, play(mixer, 7.0)], axis=1))
    for name in ("drums", "lead"):  # out, from the boundary on, not before
        assert strength(audio, TONES[name], 3.0, 3.95) > 0.01
        assert strength(audio, TONES[name], 4.05, 6.0) < 0.002
    for name in ("bass", "keys"):
        assert strength(audio, TONES[name], 4.05, 6.0) > 0.05
    assert [(e.frame, e.kind) for e in mixer.take_events(10**9) if e.kind == "levels"] == [(boundary, "levels")]


def test_a_new_state_starts_on_a_phrase_boundary_and_drops_what_waited(tmp_path):
    mixer = Mixer(RATE, "clean", phrase_bars=2)
    mixer.add(tone_piece(tmp_path / "old", 8, 440.0))
    mixer.add(tone_piece(tmp_path / "stale", 8, 330.0))  # drifted on before the state changed
    audio = play(mixer, 3.0)
    boundary = mixer.switch(tone_piece(tmp_path / "new", 8, 550.0, generation=1, urgent=True))
    assert boundary == 2 * BAR  # the first 2-bar boundary at least an eighth (the old piece's fade) ahead
    audio = heard(mixer, np.concatenate([audio, play(mixer, 6.0)], axis=1))
    assert strength(audio, 440, 1.0, 3.7) > 0.08  # the old piece until the eighth note before the boundary
    assert strength(audio, 440, 4.05, 7.0) < 1e-3 and strength(audio, 550, 4.05, 7.0) > 0.08
    assert strength(audio, 550, 1.0, 3.95) < 1e-3
    kinds = [(e.kind, e.data["id"], e.frame) for e in mixer.take_events(10**9) if e.kind in ("music", "track")]
    assert ("music", "new", boundary) in kinds and all(name != "stale" for _, name, _ in kinds)
    assert "stale" in [p.id for p in mixer.take_finished()]
    assert mixer.silent_frames == 0
