"""Loudness: lofi's BS.1770 measurement agrees with pyloudnorm's, fed whole or in blocks."""

from __future__ import annotations

import numpy as np
import pyloudnorm
import pytest

from helpers import music_like
from lofi.render.loudness import LoudnessMeter, loudness

RATE = 44100


def _signals():
    rng = np.random.default_rng(3)
    t = np.arange(RATE * 12) / RATE
    swell = (0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 0.2 * t))).astype(np.float32)
    quiet_start = music_like(12.0, seed=4)
    quiet_start[:, : RATE * 4] *= 1e-3  # under the relative gate: the gating must drop those blocks
    yield "stereo music", music_like(seed=1)
    yield "mono", music_like(seed=2)[0]
    yield "gated start", quiet_start
    yield "swell", np.stack([swell, np.roll(swell, 700) * 0.5])
    yield "five channels", rng.normal(0, 0.05, (5, RATE * 3)).astype(np.float32)
    yield "odd length", music_like(1.37, seed=5)


@pytest.mark.parametrize(("name", "audio"), list(_signals()), ids=[name for name, _ in _signals()])
def test_loudness_agrees_with_pyloudnorm(name, audio):
    reference = pyloudnorm.Meter(RATE).integrated_loudness(np.atleast_2d(audio).T.astype(np.float64))
    assert loudness(audio, RATE) == pytest.approx(reference, abs=0.01)


def test_loudness_of_silence_is_minus_infinity_and_of_too_short_audio_an_error():
    assert loudness(np.zeros((2, RATE)), RATE) == -np.inf
    with pytest.raises(ValueError, match=r"0\.4 s"):
        loudness(np.zeros((2, RATE // 10)), RATE)


def test_loudness_in_blocks_is_pyloudnorms():
    rng = np.random.default_rng(0)
    audio = (rng.standard_normal((2, RATE * 7 + 123)) * 0.1).astype(np.float32)
    audio[:, 2 * RATE : 3 * RATE] *= 0.001  # a quiet second the relative gate drops
    meter = LoudnessMeter(RATE, 2, audio.shape[1])
    for start in range(0, audio.shape[1], 10007):
        meter.add(audio[:, start : start + 10007])
    expected = pyloudnorm.Meter(RATE).integrated_loudness(audio.T.astype(np.float64))
    assert meter.lufs() == pytest.approx(expected, abs=0.01)
