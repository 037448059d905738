"""Mastering: integrated loudness to a target (ITU-R BS.1770) under a true-peak ceiling.

Gain brings the track to the target loudness; a look-ahead limiter, driven by the 4x oversampled (true)
peak, holds every inter-sample peak under the ceiling; since limiting lowers loudness a little, gain and
limiting repeat until the loudness is within tolerance. Nothing is ever clipped.

``settle`` is that rule, once, for every way of holding the audio: ``master`` applies it to a track in
memory, ``lofi.render.longmix.master_mix`` to an hour-long mix read in blocks from a memory map.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import maximum_filter1d, uniform_filter1d
from scipy.signal import firwin

from lofi.render.loudness import loudness

OVERSAMPLE = 4
# BS.1770-4 Annex 2 suggests a 48-tap (12 per phase) interpolator for 4x true peak; 49 taps keep phase 0 on the samples
_TRUE_PEAK_FIR = firwin(49, 1.0 / OVERSAMPLE) * OVERSAMPLE  # odd length: phase 0 falls on the samples
ATTACK_MS = 3.0  # the limiter starts lowering the gain this long before a peak
HOLD_MS = 60.0  # and lets it back up over this long after
NEAR_PEAK = 10 ** (-6 / 20)  # inter-sample peaks are looked for where samples reach within 6 dB of the ceiling
TOLERANCE_LU = 0.2
MAX_PASSES = 5


@dataclass(frozen=True)
class Mastered:
    audio: np.ndarray  # float32 (channels, samples)
    lufs: float  # integrated loudness after mastering
    true_peak_db: float
    gain_db: float  # gain applied before the limiter
    limited_db: float  # deepest gain reduction of the limiter (0: it never acted)


def _oversampled_peaks(audio: np.ndarray, floor: float = 0.0) -> np.ndarray:
    """Per sample, the largest magnitude of the 4x oversampled signal from it to the next sample (all channels).

    Inter-sample peaks only matter near the ceiling, so interpolation runs only where a sample peak
    reaches ``floor`` (a few dB under the ceiling): a 3-minute track costs milliseconds, not seconds.
    """
    peaks = np.abs(audio).max(axis=0)
    candidates = np.nonzero(peaks >= floor)[0]
    if len(candidates) == 0:
        return peaks
    taps = (len(_TRUE_PEAK_FIR) - 1) // OVERSAMPLE
    # phase p of the interpolator gives the value p/4 of a sample after x[n], from x[n - taps/2 + 1 .. n + taps/2]
    offsets = np.arange(taps) - taps // 2 + 1
    padded = np.pad(audio, ((0, 0), (taps, taps)))  # silence before and after, as the filter assumes
    windows = padded[:, candidates[:, None] + offsets[None, :] + taps]  # (channels, candidates, taps)
    for phase in range(1, OVERSAMPLE):
        kernel = _TRUE_PEAK_FIR[phase::OVERSAMPLE][::-1].astype(np.float32)
        values = np.abs(windows @ kernel).max(axis=0)
        peaks[candidates] = np.maximum(peaks[candidates], values)
    return peaks


def true_peak_db(audio: np.ndarray) -> float:
    sample_peak = float(np.abs(audio).max())
    peak = float(_oversampled_peaks(audio, sample_peak * NEAR_PEAK).max())
    return 20 * np.log10(max(peak, 1e-12))


def limit(audio: np.ndarray, ceiling_db: float, sample_rate: int) -> tuple[np.ndarray, float]:
    """Look-ahead limiting of the true peak to ``ceiling_db``; returns the audio and the deepest reduction."""
    peaks = _oversampled_peaks(audio, 10 ** (ceiling_db / 20) * NEAR_PEAK)
    over_db = np.maximum(20 * np.log10(np.maximum(peaks, 1e-12)) - ceiling_db, 0.0)
    if not over_db.any():
        return audio, 0.0
    attack = max(1, int(ATTACK_MS * sample_rate / 1000))
    hold = max(1, int(HOLD_MS * sample_rate / 1000))
    # hold each needed reduction from `attack` before its peak to `hold` after it, then smooth over `attack`:
    # the smoothed reduction never falls below the reduction any sample needs
    size = attack + hold + 1
    held = maximum_filter1d(over_db, size=size, origin=hold - size // 2)
    reduction = uniform_filter1d(held, size=attack, mode="nearest")
    reduction = np.maximum(reduction, over_db)
    return (audio * (10 ** (-reduction / 20))).astype(np.float32), float(reduction.max())


@dataclass(frozen=True)
class Settled:
    """What ``settle`` chose and the last measurement of the audio it gives."""

    gain_db: float  # before the limiter
    trim_db: float  # after it (0: the exact true peak was within the ceiling)
    lufs: float
    true_peak_db: float
    limited_db: float


def settle(
    measure: Callable[[float, float], tuple[float, float]],
    true_peak: Callable[[], float],
    input_lufs: float,
    lufs: float,
    ceiling_db: float,
) -> Settled:
    """The gain, limiting and trim that bring audio measured at ``input_lufs`` to ``lufs`` under ``ceiling_db``.

    ``measure(gain_db, trim_db)`` applies the gain, the limiter at the ceiling and the trim to the audio
    and returns its integrated loudness and the limiter's deepest reduction; ``true_peak()`` is the exact
    true peak of the audio last measured. The gain is corrected until the loudness is within
    ``TOLERANCE_LU`` (at most ``MAX_PASSES`` passes); the gain returned is always the one last measured.
    """
    if not math.isfinite(input_lufs):
        raise ValueError("the mix is silent: there is nothing to master")
    gain_db = lufs - input_lufs
    measured, limited = measure(gain_db, 0.0)
    for _ in range(MAX_PASSES - 1):
        if abs(measured - lufs) <= TOLERANCE_LU:
            break
        gain_db += lufs - measured
        measured, limited = measure(gain_db, 0.0)
    # the limiter works on a 4x estimate; a last exact check keeps the promise of the ceiling
    trim_db, peak = 0.0, true_peak()
    if peak > ceiling_db:
        trim_db = ceiling_db - peak - 0.01
        measured, limited = measure(gain_db, trim_db)
        peak = true_peak()
    return Settled(gain_db, trim_db, measured, peak, limited)


def master(audio: np.ndarray, sample_rate: int, lufs: float = -14.0, ceiling_db: float = -1.0) -> Mastered:
    """``audio`` at ``lufs`` integrated loudness with true peaks at or under ``ceiling_db``."""
    audio = np.asarray(audio, dtype=np.float32)
    out = limited_out = audio
    reduced, limited_at = 0.0, None

    def measure(gain_db: float, trim_db: float) -> tuple[float, float]:
        nonlocal out, limited_out, reduced, limited_at
        if gain_db != limited_at:  # the trim comes after the limiter: the trim pass reuses its output
            limited_out, reduced = limit(audio * np.float32(10 ** (gain_db / 20)), ceiling_db, sample_rate)
            limited_at = gain_db
        out = (limited_out * np.float32(10 ** (trim_db / 20))).astype(np.float32) if trim_db else limited_out
        return loudness(out, sample_rate), reduced

    settled = settle(measure, lambda: true_peak_db(out), loudness(audio, sample_rate), lufs, ceiling_db)
    return Mastered(out, settled.lufs, settled.true_peak_db, settled.gain_db, settled.limited_db)
