"""Mastering: loudness to the target, true peaks under the ceiling, never a clipped sample."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import music_like
from lofi.render.loudness import loudness
from lofi.render.master import MAX_PASSES, master, settle, true_peak_db

RATE = 44100


@pytest.mark.parametrize("target", [-14.0, -16.0, -10.0])
def test_master_meets_the_loudness_target_and_the_true_peak_ceiling(target):
    out = master(music_like(), RATE, lufs=target, ceiling_db=-1.0)
    assert abs(out.lufs - target) <= 0.5
    assert abs(loudness(out.audio, RATE) - target) <= 0.5
    assert out.true_peak_db <= -1.0 + 1e-6
    assert true_peak_db(out.audio) <= -1.0 + 1e-6
    assert np.abs(out.audio).max() < 1.0
    assert out.audio.dtype == np.float32 and np.isfinite(out.audio).all()


def test_quiet_material_is_raised_and_the_limiter_reports_its_work():
    out = master(music_like(level=0.005), RATE)
    assert out.gain_db > 10
    assert out.limited_db > 0


def test_the_ceiling_is_configurable():
    out = master(music_like(), RATE, lufs=-16.0, ceiling_db=-3.0)
    assert out.true_peak_db <= -3.0 + 1e-6


def test_true_peak_finds_peaks_between_samples():
    # a sine at a quarter of the sample rate, sampled 45 degrees off its crests: samples at 0.707, peaks at 1
    n = np.arange(RATE)
    fade = np.minimum(1.0, np.minimum(n, n[::-1]) / 2000)  # no abrupt start or end to ring
    x = (0.5 * fade * np.sin(np.pi / 2 * n + np.pi / 4)).astype(np.float32)[None].repeat(2, axis=0)
    sample_peak_db = 20 * np.log10(np.abs(x).max())
    assert true_peak_db(x) == pytest.approx(20 * np.log10(0.5), abs=0.2)
    assert true_peak_db(x) > sample_peak_db + 2.5


def test_a_sine_measures_its_known_loudness():
    # BS.1770: a 997 Hz sine at 0 dBFS in one channel reads -3.01 LUFS
    t = np.arange(RATE * 5) / RATE
    x = np.stack([np.sin(2 * np.pi * 997 * t), np.zeros_like(t)]).astype(np.float32)
    assert loudness(x, RATE) == pytest.approx(-3.01, abs=0.1)


def test_silence_cannot_be_mastered():
    with pytest.raises(ValueError, match="silent"):
        master(np.zeros((2, RATE * 3), np.float32), RATE)


def test_settle_reports_the_gain_it_last_measured_when_the_loudness_never_arrives():
    calls: list[tuple[float, float]] = []

    def measure(gain_db: float, trim_db: float) -> tuple[float, float]:
        calls.append((gain_db, trim_db))
        return min(-20.0 + gain_db, -12.0), 3.0  # a limiter that holds everything under -12 LUFS

    settled = settle(measure, lambda: -1.5, input_lufs=-20.0, lufs=-10.0, ceiling_db=-1.0)
    assert len(calls) == MAX_PASSES and all(trim == 0.0 for _, trim in calls)
    assert settled.gain_db == calls[-1][0] and settled.trim_db == 0.0
    assert (settled.lufs, settled.true_peak_db, settled.limited_db) == (-12.0, -1.5, 3.0)


def test_settle_trims_a_true_peak_over_the_ceiling_after_the_limiter():
    calls: list[tuple[float, float]] = []
    peaks = iter([-0.8, -1.01])

    def measure(gain_db: float, trim_db: float) -> tuple[float, float]:
        calls.append((gain_db, trim_db))
        return -20.0 + gain_db + trim_db, 0.5

    settled = settle(measure, lambda: next(peaks), input_lufs=-20.0, lufs=-14.0, ceiling_db=-1.0)
    assert calls == [(6.0, 0.0), (6.0, pytest.approx(-0.21))]
    assert settled.trim_db == pytest.approx(-0.21) and settled.true_peak_db == -1.01


def test_settle_refuses_silence():
    with pytest.raises(ValueError, match="silent"):
        settle(lambda g, t: (0.0, 0.0), lambda: 0.0, float("-inf"), -14.0, -1.0)
