"""The lo-fi effects: each a small frozen dataclass that is a callable ``effect(audio, sample_rate) -> audio``.

Audio is a float32 numpy array shaped (channels, samples), pedalboard's layout; a 1-D array is taken as mono
and comes back 1-D. Every effect returns a new float32 array of the input's shape. Because the effects are
plain data (a name and parameters), a preset is a tuple of them and can describe itself.

pedalboard does the filters, dynamics, reverb and bit crushing; scipy does the steep Butterworth filters,
the resampling and the STFT. Hand-written here: tape saturation, random wow and flutter, vinyl noise,
the vintage EQ curves, the spectral gate and smear, the sidechain envelope and mid/side widening.
Randomness comes from a ``seed`` field through ``numpy.random.Generator(PCG64(seed))``, so the same
seed always gives the same audio.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import pedalboard


@functools.cache
def _signal():
    # scipy.signal costs 0.8 s to import; presets are read (by the API, by every job's options) far
    # more often than audio is filtered, so it is imported when a filter first runs
    from scipy import signal

    return signal


@functools.cache
def _ndimage():
    from scipy import ndimage

    return ndimage


__all__ = [
    "VINTAGE_CURVES",
    "BitCrush",
    "BusCompressor",
    "Chain",
    "Distortion",
    "Downsample",
    "Effect",
    "Gain",
    "HighPass",
    "HighShelf",
    "Limiter",
    "LowPass",
    "LowShelf",
    "Peak",
    "Reverb",
    "Sidechain",
    "SpectralGate",
    "SpectralSmear",
    "Tape",
    "VintageEQ",
    "Vinyl",
    "Widen",
    "WowFlutter",
]

# Filters and shelves above this share of the sample rate are pulled down to it: a biquad at or past
# Nyquist is unstable or meaningless, and presets written for 44.1 kHz must still run at 8 kHz.
_MAX_CUTOFF_SHARE = 0.45


def _rng(seed: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(seed))


def _fmt(value: object) -> str:
    if isinstance(value, bool | int | str):
        return repr(value)
    if isinstance(value, numbers.Real):  # numpy scalars too
        return f"{float(value):g}"
    if isinstance(value, tuple):
        return "(" + ", ".join(_fmt(v) for v in value) + ")"
    if isinstance(value, Effect):
        return value.describe()
    return repr(value)


def _db_to_gain(db: float) -> float:
    return float(10.0 ** (db / 20.0))


def _clamp_hz(hz: float, sample_rate: float) -> float:
    return min(hz, _MAX_CUTOFF_SHARE * sample_rate)


# samples per block for long element-wise work, sized to stay in cache
_BLOCK = 8192


def _control_hop(sample_rate: float) -> int:
    """Samples per control point for slow modulation: about 1 kHz, far above the 15 Hz we modulate at."""
    return max(1, int(sample_rate // 1000))


def _upsample_linear(control: np.ndarray, hop: int, n: int) -> np.ndarray:
    """Linear interpolation of control points spaced ``hop`` samples apart, to ``n`` float32 samples."""
    control = control.astype(np.float32)
    ramp = np.arange(hop, dtype=np.float32) / hop
    full = control[:-1, None] + np.diff(control)[:, None] * ramp[None, :]
    return full.ravel()[:n]


def _unit_rms(x: np.ndarray, axis: int | None = None) -> np.ndarray:
    rms = np.sqrt(np.mean(np.square(x), axis=axis, keepdims=axis is not None))
    return x / np.maximum(rms, 1e-30)


def _filtered_noise(rng: np.random.Generator, k: int, sos: np.ndarray, lowest_hz: float, rate: float) -> np.ndarray:
    """``k`` samples of white noise through ``sos``, with the filter's start-up dropped, scaled to unit RMS."""
    warm = math.ceil(4.0 * rate / lowest_hz)
    return _unit_rms(_signal().sosfilt(sos, rng.standard_normal(k + warm))[warm:])


class Effect:
    """Base of every effect: checks the input, runs ``process`` and hands back a fresh float32 array.

    Subclasses are frozen dataclasses and implement ``process(audio, sample_rate)`` on a float32
    (channels, samples) array with at least one sample.
    """

    def __call__(self, audio: np.ndarray, sample_rate: float) -> np.ndarray:
        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {sample_rate}")
        x = np.asarray(audio, dtype=np.float32)
        shape = x.shape
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2 or x.shape[0] == 0:
            raise ValueError(f"audio must be shaped (channels, samples), got {shape}")
        if x.shape[1] == 0:
            return np.zeros(shape, dtype=np.float32)
        x = np.ascontiguousarray(x)
        y = np.asarray(self.process(x, float(sample_rate)), dtype=np.float32)
        if y.shape != x.shape:
            raise RuntimeError(f"{type(self).__name__} changed the shape {x.shape} to {y.shape}")
        if np.shares_memory(y, audio):
            y = y.copy()
        return np.ascontiguousarray(y).reshape(shape)

    def process(self, audio: np.ndarray, sample_rate: float) -> np.ndarray:
        raise NotImplementedError

    def describe(self) -> str:
        """``Name(param=value, ...)`` on one line."""
        params = ", ".join(f"{f.name}={_fmt(getattr(self, f.name))}" for f in dataclasses.fields(self))
        return f"{type(self).__name__}({params})"

    def with_seed(self, seed: int) -> Effect:
        """This effect with its ``seed`` replaced; effects without randomness come back unchanged."""
        if any(f.name == "seed" for f in dataclasses.fields(self)):
            return dataclasses.replace(self, seed=seed)
        return self


# --- chain -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Chain(Effect):
    """Effects run one after the other; itself an effect."""

    effects: tuple[Effect, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "effects", tuple(self.effects))

    def process(self, audio: np.ndarray, sample_rate: float) -> np.ndarray:
        for effect in self.effects:
            audio = effect(audio, sample_rate)
        return audio

    def describe(self) -> str:
        """One line per effect."""
        return "\n".join(effect.describe() for effect in self.effects)

    def with_seed(self, seed: int) -> Chain:
        """The chain with every random effect seeded from ``seed`` and its position, so no two share noise."""
        return Chain(
            tuple(
                effect.with_seed(int(np.random.SeedSequence([seed, i]).generate_state(1)[0]))
                for i, effect in enumerate(self.effects)
            )
        )


# --- gain and filters ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Gain(Effect):
    """A fixed gain in dB."""

    gain_db: float = 0.0

    def process(self, audio: np.ndarray, sample_rate: float) -> np.ndarray:
        return pedalboard.Gain(gain_db=self.gain_db)(audio, sample_rate)


def _butter(audio: np.ndarray, sample_rate: float, order: int, cutoff_hz: float, btype: str) -> np.ndarray:
    sos = _signal().butter(order, _clamp_hz(cutoff_hz, sample_rate), btype=btype, fs=sample_rate, output="sos")
    return _signal().sosfilt(sos, audio, axis=-1)


@dataclass(frozen=True)
class LowPass(Effect):
    """Butterworth low-pass: ``order`` times 6 dB per octave above ``cutoff_hz``.

    pedalboard's LowpassFilter is first order (6 dB/octave), too gentle to take the air off a mix, so
    this one is scipy's Butterworth. A cutoff at or above Nyquist leaves the audio alone.
    """

    cutoff_hz: float = 10_000.0
    order: int = 4

    def __post_init__(self) -> None:
        if self.cutoff_hz <= 0 or self.order < 1:
            raise ValueError(f"LowPass needs cutoff_hz > 0 and order >= 1, got {self.cutoff_hz}, {self.order}")

    def process(self, audio: np.ndarray, sample_rate: float) -> np.ndarray:
        if self.cutoff_hz >= sample_rate / 2:
            return audio.copy()
        return _butter(audio, sample_rate, self.order, self.cutoff_hz, "lowpass")


@dataclass(frozen=True)
class HighPass(Effect):
    """Butterworth high-pass: ``order`` times 6 dB per octave below ``cutoff_hz``."""

    cutoff_hz: float = 30.0
    order: int = 2

    def __post_init__(self) -> None:
        if self.cutoff_hz <= 0 or self.order < 1:
            raise ValueError(f"HighPass needs cutoff_hz > 0 and order >= 1, got {self.cutoff_hz}, {self.order}")

    def process(self, audio: np.ndarray, sample_rate: float) -> np.ndarray:
        return _butter(audio, sample_rate, self.order, self.cutoff_hz, "highpass")


@dataclass(frozen=True)
class LowShelf(Effect):
    """Low shelf: ``gain_db`` below ``cutoff_hz``."""

    cutoff_hz: float = 200.0
    gain_db: float = 0.0
    q: float = 0.707

    def process(self, audio: np.ndarray, sample_rate: float) -> np.ndarray:
        hz = _clamp_hz(self.cutoff_hz, sample_rate)
        return pedalboard.LowShelfFilter(cutoff_frequency_hz=hz, gain_db=self.gain_db, q=self.q)(audio, sample_rate)


@dataclass(frozen=True)
class HighShelf(Effect):
    """High shelf: ``gain_db`` above ``cutoff_hz``."""

    cutoff_hz: float = 8000.0
    gain_db: float = 0.0
    q: float = 0.707

    def process(self, audio: np.ndarray, sample_rate: float) -> np.ndarray:
        hz = _clamp_hz(self.cutoff_hz, sample_rate)
        return pedalboard.HighShelfFilter(cutoff_frequency_hz=hz, gain_db=self.gain_db, q=self.q)(audio, sample_rate)


@dataclass(frozen=True)
class Peak(Effect):
    """A bell: ``gain_db`` around ``center_hz``, bandwidth set by ``q``."""

    center_hz: float = 1000.0
    gain_db: float = 0.0
    q: float = 0.707

    def process(self, audio: np.ndarray, sample_rate: float) -> np.ndarray:
        hz = _clamp_hz(self.center_hz, sample_rate)
        return pedalboard.PeakFilter(cutoff_frequency_hz=hz, gain_db=self.gain_db, q=self.q)(audio, sample_rate)


# --- dynamics, space, grit (pedalboard) ----------------------------------------------------------------


@dataclass(frozen=True)
class BusCompressor(Effect):
    """A gentle glue compressor with make-up gain."""

    threshold_db: float = -18.0
    ratio: float = 2.0
    attack_ms: float = 20.0
    release_ms: float = 200.0
    makeup_db: float = 0.0

    def __post_init__(self) -> None:
        if self.ratio < 1:
            raise ValueError(f"BusCompressor ratio must be >= 1, got {self.ratio}")

    def process(self, audio: np.ndarray, sample_rate: float) -> np.ndarray:
        board = pedalboard.Pedalboard(
            [
                pedalboard.Compressor(
                    threshold_db=self.threshold_db,
                    ratio=self.ratio,
                    attack_ms=self.attack_ms,
                    release_ms=self.release_ms,
                ),
                pedalboard.Gain(gain_db=self.makeup_db),
            ]
        )
        return board(audio, sample_rate)


@dataclass(frozen=True)
class Limiter(Effect):
    """A brick-wall limiter at ``threshold_db``."""

    threshold_db: float = -1.0
    release_ms: float = 100.0

    def process(self, audio: np.ndarray, sample_rate: float) -> np.ndarray:
        return pedalboard.Limiter(threshold_db=self.threshold_db, release_ms=self.release_ms)(audio, sample_rate)


@dataclass(frozen=True)
class Reverb(Effect):
    """Freeverb-style room; levels are linear mixes (0..1), ``dry_level`` 1 keeps the dry signal whole."""

    room_size: float = 0.3
    damping: float = 0.5
    wet_level: float = 0.15
    dry_level: float = 1.0
    width: float = 1.0

    def process(self, audio: np.ndarray, sample_rate: float) -> np.ndarray:
        plugin = pedalboard.Reverb(
            room_size=self.room_size,
            damping=self.damping,
            wet_level=self.wet_level,
            dry_level=self.dry_level,
            width=self.width,
        )
        return plugin(audio, sample_rate)


@dataclass(frozen=True)
class Distortion(Effect):
    """pedalboard's tanh distortion, ``drive_db`` into the curve."""

    drive_db: float = 6.0

    def process(self, audio: np.ndarray, sample_rate: float) -> np.ndarray:
        return pedalboard.Distortion(drive_db=self.drive_db)(audio, sample_rate)


@dataclass(frozen=True)
class BitCrush(Effect):
    """Quantize to steps of ``2**-bit_depth`` (pedalboard's Bitcrush): 12 is a sampler's crunch, 8 is harsh."""

    bit_depth: float = 12.0

    def __post_init__(self) -> None:
        if not 1 <= self.bit_depth <= 32:
            raise ValueError(f"BitCrush bit_depth must be between 1 and 32, got {self.bit_depth}")

    def process(self, audio: np.ndarray, sample_rate: float) -> np.ndarray:
        return pedalboard.Bitcrush(bit_depth=self.bit_depth)(audio, sample_rate)


@dataclass(frozen=True)
class Downsample(Effect):
    """Sample-rate reduction: down to ``sample_rate_hz`` and back to the original rate, same length.

    With ``antialias`` (the default) this is a polyphase resample both ways, so everything above
    ``sample_rate_hz / 2`` is gone cleanly. Without it each sample is held until the next low-rate
    tick, the aliasing crunch of an old sampler. (pedalboard's Resample is several times slower at
    low rates, so this uses scipy's resample_poly.)
    """

    sample_rate_hz: float = 22_050.0
    antialias: bool = True

    def __post_init__(self) -> None:
        if self.sample_rate_hz <= 0:
            raise ValueError(f"Downsample sample_rate_hz must be positive, got {self.sample_rate_hz}")

    def process(self, audio: np.ndarray, sample_rate: float) -> np.ndarray:
        if self.sample_rate_hz >= sample_rate:
            return audio.copy()
        n = audio.shape[1]
        if not self.antialias:
            step = sample_rate / self.sample_rate_hz
            held = np.floor(np.floor(np.arange(n) / step) * step).astype(np.int64)
            return audio[:, held]
        ratio = Fraction(self.sample_rate_hz / sample_rate).limit_denominator(1000)
        low = _signal().resample_poly(audio, ratio.numerator, ratio.denominator, axis=-1)
        back = _signal().resample_poly(low, ratio.denominator, ratio.numerator, axis=-1)
        if back.shape[1] < n:
            back = np.pad(back, ((0, 0), (0, n - back.shape[1])))
        return back[:, :n]


# --- tape --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tape(Effect):
    """Tape colour in one effect: saturation, head bump and high-frequency loss.

    Saturation is an asymmetric tanh, ``tanh(g*x + b) - tanh(b)`` with ``g`` from ``drive_db`` and the
    bias ``b = asymmetry``, divided by its slope at zero so quiet passages keep unity gain. The bias
    adds even harmonics next to tanh's odd ones; the DC it leaves on loud passages is blocked at 10 Hz.
    Then a bell of ``head_bump_db`` at ``head_bump_hz`` and a high shelf cutting ``hf_loss_db`` above
    ``hf_rolloff_hz``.
    """

    drive_db: float = 6.0
    asymmetry: float = 0.2
    head_bump_hz: float = 90.0
    head_bump_db: float = 2.0
    hf_rolloff_hz: float = 9000.0
    hf_loss_db: float = 6.0

    def __post_init__(self) -> None:
        if self.hf_loss_db < 0:
            raise ValueError(f"Tape hf_loss_db is a cut, give it as a positive number, got {self.hf_loss_db}")

    def process(self, audio: np.ndarray, sample_rate: float) -> np.ndarray:
        drive = np.float32(_db_to_gain(self.drive_db))
        bias = np.float32(self.asymmetry)
        offset = np.tanh(bias)
        slope = drive * (1 - offset * offset)
        saturated = (np.tanh(audio * drive + bias) - offset) / slope
        board = pedalboard.Pedalboard(
            [
                pedalboard.HighpassFilter(cutoff_frequency_hz=min(10.0, 0.1 * sample_rate)),  # DC block
                pedalboard.PeakFilter(
                    cutoff_frequency_hz=_clamp_hz(self.head_bump_hz, sample_rate), gain_db=self.head_bump_db, q=1.0
                ),
                pedalboard.HighShelfFilter(
                    cutoff_frequency_hz=_clamp_hz(self.hf_rolloff_hz, sample_rate), gain_db=-self.hf_loss_db, q=0.707
                ),
            ]
        )
        return board(saturated, sample_rate)


# --- wow and flutter ---------------------------------------------------------------------------------


def _wobble(rng: np.random.Generator, k: int, rate_hz: float, control_rate: float, jitter: float, noise: float):
    """A wandering oscillation around ``rate_hz`` at ``control_rate``, scaled to a peak of 1.

    A sine whose rate drifts by about ``jitter`` (relative RMS) and whose phase starts at random, mixed
    with band-limited noise around the rate (``noise`` is its share), like a warped capstan.
    """
    nyquist = control_rate / 2
    drift_hz = min(rate_hz / 4, 0.4 * nyquist)
    drift_sos = _signal().butter(2, drift_hz, btype="lowpass", fs=control_rate, output="sos")
    drift = _filtered_noise(rng, k, drift_sos, drift_hz, control_rate)
    inst_rate = rate_hz * np.maximum(1 + jitter * drift, 0.1)
    phase = rng.uniform(0, 2 * np.pi) + 2 * np.pi * np.cumsum(inst_rate) / control_rate
    low, high = 0.7 * rate_hz, min(1.4 * rate_hz, 0.9 * nyquist)
    band_sos = _signal().butter(2, [low, high], btype="bandpass", fs=control_rate, output="sos")
    band = _filtered_noise(rng, k, band_sos, low, control_rate)
    wobble = (1 - noise) * np.sqrt(2) * np.sin(phase) + noise * band
    return wobble / max(float(np.max(np.abs(wobble))), 1e-12)


@dataclass(frozen=True)
class WowFlutter(Effect):
    """Tape and turntable speed wobble as a randomly modulated fractional delay.

    The delay is the sum of two wandering oscillations (see ``_wobble``): wow near ``wow_rate_hz``
    (0.5-2 Hz) and flutter near ``flutter_rate_hz`` (4-15 Hz). Each is scaled so its largest excursion
    over the clip equals its ``*_depth_ms``. The delay is centred on zero (offline, so it may read ahead)
    and the signal is read at the delayed positions with cubic (Catmull-Rom) interpolation; the same
    delay drives every channel, as one transport moves both. Depth 0 everywhere is the identity.
    """

    wow_rate_hz: float = 0.8
    wow_depth_ms: float = 0.2
    flutter_rate_hz: float = 7.0
    flutter_depth_ms: float = 0.03
    rate_jitter: float = 0.15
    noise: float = 0.3
    seed: int = 0

    def __post_init__(self) -> None:
        if min(self.wow_rate_hz, self.flutter_rate_hz) <= 0:
            raise ValueError("WowFlutter rates must be positive")
        if min(self.wow_depth_ms, self.flutter_depth_ms) < 0:
            raise ValueError("WowFlutter depths must not be negative")
        if not 0 <= self.noise <= 1 or self.rate_jitter < 0:
            raise ValueError(f"WowFlutter needs noise between 0 and 1 and rate_jitter >= 0, got {self}")

    def delay_ms(self, n: int, sample_rate: float) -> np.ndarray:
        """The delay curve (ms, float32, one value per sample) this effect applies to ``n`` samples."""
        hop = _control_hop(sample_rate)
        control_rate = sample_rate / hop
        k = math.ceil(n / hop) + 1
        rng = _rng(self.seed)
        control = np.zeros(k)
        for rate, depth in ((self.wow_rate_hz, self.wow_depth_ms), (self.flutter_rate_hz, self.flutter_depth_ms)):
            if depth > 0:
                control += depth * _wobble(rng, k, rate, control_rate, self.rate_jitter, self.noise)
        return _upsample_linear(control, hop, n)

    def process(self, audio: np.ndarray, sample_rate: float) -> np.ndarray:
        if self.wow_depth_ms == 0 and self.flutter_depth_ms == 0:
            return audio.copy()
        channels, n = audio.shape
        delay = self.delay_ms(n, sample_rate) * np.float32(sample_rate / 1000)
        pad = int(np.ceil(np.max(np.abs(delay)))) + 2
        padded = np.pad(audio, ((0, 0), (pad, pad)), mode="edge")
        out = np.empty_like(audio)
        # Blocks that fit in cache make the dozen array operations below several times faster.
        for start in range(0, n, _BLOCK):
            stop = min(start + _BLOCK, n)
            # The read position is sample - delay, split into an integer and a float32 fraction:
            # float32 alone cannot hold a long track's sample index and a sub-sample fraction.
            whole = np.ceil(delay[start:stop])
            frac = whole - delay[start:stop]
            first = np.arange(start + pad - 1, stop + pad - 1) - whole.astype(np.intp)  # x0 of x0..x3
            for c in range(channels):
                row = padded[c]
                # take() on shifted views is much faster than fancy indexing with first + k
                out[c, start:stop] = _catmull_rom(
                    row.take(first), row[1:].take(first), row[2:].take(first), row[3:].take(first), frac
                )
        return out


def _catmull_rom(x0: np.ndarray, x1: np.ndarray, x2: np.ndarray, x3: np.ndarray, frac: np.ndarray) -> np.ndarray:
    """Cubic (Catmull-Rom) interpolation between x1 and x2 at ``frac`` in [0, 1)."""
    slope = 0.5 * (x2 - x0)
    curve = x0 - 2.5 * x1 + 2 * x2 - 0.5 * x3
    cubic = 1.5 * (x1 - x2) + 0.5 * (x3 - x0)
    return ((cubic * frac + curve) * frac + slope) * frac + x1


# --- vinyl -------------------------------------------------------------------------------------------


def _add_bursts(out: np.ndarray, rng: np.random.Generator, kernels: np.ndarray, level: float) -> None:
    """Add one copy of each row of ``kernels`` at a random place in ``out``, the layer at RMS ``level``.

    Bursts sit at the same place in all channels (one stylus) with a per-channel level between 0.6 and 1.
    Only the samples the bursts touch are computed: the layer is sparse, and a full-length array per
    layer would cost more than everything else here.
    """
    channels, n = out.shape
    count, length = kernels.shape
    starts = rng.integers(0, n, count)
    spots = (starts[:, None] + np.arange(length)[None, :]).ravel()
    keep = spots < n
    # overlapping bursts add up on the samples they share
    where, slot = np.unique(spots[keep], return_inverse=True)
    levels = rng.uniform(0.6, 1.0, (channels, count))
    for c in range(channels):
        layer = np.bincount(slot, weights=(kernels * levels[c][:, None]).ravel()[keep], minlength=where.size)
        rms = np.sqrt(np.sum(np.square(layer)) / n)
        if rms > 0:
            out[c, where] += (level / rms) * layer


@dataclass(frozen=True)
class Vinyl(Effect):
    """Record noise added to the signal: crackle, dust pops, rumble and surface hiss.

    Level means this: each ``*_level_db`` is the RMS of that layer alone, in each channel, measured over
    the whole clip, in dB relative to full scale (an RMS of 1.0 is 0 dB, so a full-scale sine sits at
    -3 dB). Every layer is scaled to meet its level exactly; ``-inf`` turns a layer off. Crackle and
    pops come ``round(rate * seconds)`` times, so a clip too short to hold one gets none of them.
    Being sparse, they peak far above their RMS: crackle at -60 dB has its loudest clicks near
    -20 dBFS, pops at -60 dB near -15 dBFS.

    - crackle: short (0.1-0.5 ms decay) noisy clicks, ``crackle_rate_hz`` a second on average;
    - pops: rarer, longer (1-4 ms) low thumps, ``pop_rate_hz`` a second;
    - rumble: noise band-passed to 8-30 Hz (steeply above), the same in every channel;
    - hiss: white noise band-passed (first order) to 500 Hz-10 kHz, independent per channel.
    """

    crackle_level_db: float = -48.0
    crackle_rate_hz: float = 12.0
    pop_level_db: float = -54.0
    pop_rate_hz: float = 0.3
    rumble_level_db: float = -56.0
    hiss_level_db: float = -50.0
    seed: int = 0

    def process(self, audio: np.ndarray, sample_rate: float) -> np.ndarray:
        channels, n = audio.shape
        rng = _rng(self.seed)
        out = audio.copy()
        # Each layer draws from its own child generator so turning one off leaves the others as they were.
        crackle_rng, pop_rng, rumble_rng, hiss_rng = (_rng(s) for s in rng.integers(0, 2**63, 4))
        seconds = n / sample_rate

        if (level := _db_to_gain(self.crackle_level_db)) > 0 and (count := round(self.crackle_rate_hz * seconds)):
            length = max(4, int(0.002 * sample_rate))
            t = np.arange(length) / sample_rate
            tau = crackle_rng.uniform(0.1e-3, 0.5e-3, count)
            # a modest spread, capped: RMS says little about sparse clicks, and a heavy tail would put a
            # few of them near full scale
            spread = np.minimum(crackle_rng.lognormal(0.0, 0.5, count), 3.0)
            amp = spread * crackle_rng.choice([-1.0, 1.0], count)
            grain = crackle_rng.standard_normal((count, length))
            kernels = amp[:, None] * np.exp(-t[None, :] / tau[:, None]) * grain
            _add_bursts(out, crackle_rng, kernels, level)

        if (level := _db_to_gain(self.pop_level_db)) > 0 and (count := round(self.pop_rate_hz * seconds)):
            length = max(4, int(0.012 * sample_rate))
            t = np.arange(length) / sample_rate
            tau = pop_rng.uniform(1e-3, 4e-3, count)
            hz = pop_rng.uniform(150.0, min(1200.0, 0.4 * sample_rate), count)
            amp = np.minimum(pop_rng.lognormal(0.0, 0.4, count), 2.5) * pop_rng.choice([-1.0, 1.0], count)
            body = np.sin(2 * np.pi * hz[:, None] * t[None, :]) + 0.3 * pop_rng.standard_normal((count, length))
            kernels = amp[:, None] * np.exp(-t[None, :] / tau[:, None]) * body
            _add_bursts(out, pop_rng, kernels, level)

        if (level := _db_to_gain(self.rumble_level_db)) > 0:
            # rumble lives below 40 Hz: make it at the ~1 kHz control rate and interpolate up
            hop = _control_hop(sample_rate)
            control_rate = sample_rate / hop
            sos = np.concatenate(
                [
                    _signal().butter(4, min(30.0, 0.4 * control_rate), fs=control_rate, output="sos"),
                    _signal().butter(2, 8.0, btype="highpass", fs=control_rate, output="sos"),
                ]
            )
            rumble = _filtered_noise(rumble_rng, math.ceil(n / hop) + 1, sos, 8.0, control_rate)
            out += level * _unit_rms(_upsample_linear(rumble, hop, n))[None, :]

        if (level := _db_to_gain(self.hiss_level_db)) > 0:
            band = [min(500.0, 0.1 * sample_rate), _clamp_hz(10_000.0, sample_rate)]
            # Uniform float32 noise: it is several times cheaper to draw than Gaussian, and once band-passed
            # it sounds the same. This layer covers every sample, so it is the one that costs.
            white = hiss_rng.random((channels, n), dtype=np.float32) - np.float32(0.5)
            sos = _signal().butter(1, band, btype="bandpass", fs=sample_rate, output="sos").astype(np.float32)
            hiss = _signal().sosfilt(sos, white, axis=-1)
            hiss *= level / np.maximum(np.sqrt(np.mean(np.square(hiss), axis=1, keepdims=True)), 1e-30)
            out += hiss

        return out


# --- vintage EQ --------------------------------------------------------------------------------------

VINTAGE_CURVES: dict[str, tuple[Effect, ...]] = {
    # warm and soft: thin lows trimmed, low-mids lifted, upper mids and air pulled back
    "lofi": (
        HighPass(cutoff_hz=60.0, order=2),
        LowShelf(cutoff_hz=250.0, gain_db=2.0),
        Peak(center_hz=2500.0, gain_db=-2.0, q=0.8),
        HighShelf(cutoff_hz=6000.0, gain_db=-6.0),
    ),
    # an old console: a little bottom and presence, gentle top roll-off
    "vintage": (
        HighPass(cutoff_hz=40.0, order=2),
        Peak(center_hz=120.0, gain_db=1.5, q=0.8),
        Peak(center_hz=1200.0, gain_db=1.0, q=0.7),
        HighShelf(cutoff_hz=9000.0, gain_db=-4.0),
        LowPass(cutoff_hz=14_000.0, order=2),
    ),
    # a phone line: band-pass 300-3400 Hz with a nasal bump
    "telephone": (
        HighPass(cutoff_hz=300.0, order=4),
        LowPass(cutoff_hz=3400.0, order=4),
        Peak(center_hz=1800.0, gain_db=4.0, q=1.0),
    ),
}


@dataclass(frozen=True)
class VintageEQ(Effect):
    """A named tone curve: one of ``VINTAGE_CURVES`` ("lofi", "vintage", "telephone")."""

    curve: str = "lofi"

    def __post_init__(self) -> None:
        if self.curve not in VINTAGE_CURVES:
            raise ValueError(f"unknown EQ curve {self.curve!r}: choose one of {', '.join(VINTAGE_CURVES)}")

    def bands(self) -> tuple[Effect, ...]:
        return VINTAGE_CURVES[self.curve]

    def process(self, audio: np.ndarray, sample_rate: float) -> np.ndarray:
        return Chain(self.bands())(audio, sample_rate)


# --- spectral ----------------------------------------------------------------------------------------


def _stft(audio: np.ndarray, sample_rate: float, n_fft: int) -> np.ndarray:
    return _signal().stft(audio, fs=sample_rate, nperseg=n_fft, noverlap=n_fft * 3 // 4, axis=-1)[2]


def _istft(spectrum: np.ndarray, sample_rate: float, n_fft: int, n: int) -> np.ndarray:
    y = _signal().istft(spectrum, fs=sample_rate, nperseg=n_fft, noverlap=n_fft * 3 // 4, time_axis=-1, freq_axis=-2)[1]
    if y.shape[-1] < n:
        y = np.pad(y, ((0, 0), (0, n - y.shape[-1])))
    return y[:, :n]


@dataclass(frozen=True)
class SpectralGate(Effect):
    """STFT noise gate: bins quieter than ``threshold_db`` are turned down by ``reduction_db``.

    A bin's level is its magnitude scaled so a sine of amplitude A reads A in its peak bin, in dB
    relative to full scale (a full-scale sine's bin reads 0 dB). White noise spreads thin: with a Hann
    window its bins read about 10*log10(n_fft/6) dB below the noise's RMS (25 dB at n_fft=2048).
    The cut fades in over ``knee_db`` below the threshold, and the gains are smoothed over 3 bins and
    3 frames so the gate does not warble.
    """

    threshold_db: float = -60.0
    reduction_db: float = 12.0
    knee_db: float = 6.0
    n_fft: int = 2048

    def __post_init__(self) -> None:
        if self.reduction_db < 0 or self.knee_db <= 0 or self.n_fft < 16:
            raise ValueError("SpectralGate needs reduction_db >= 0, knee_db > 0 and n_fft >= 16")

    def process(self, audio: np.ndarray, sample_rate: float) -> np.ndarray:
        n = audio.shape[1]
        if self.reduction_db == 0 or n < self.n_fft:
            return audio.copy()
        spectrum = _stft(audio, sample_rate, self.n_fft)
        level_db = 20 * np.log10(2 * np.abs(spectrum) + 1e-12)
        cut = np.clip((self.threshold_db - level_db) / self.knee_db, 0.0, 1.0) * self.reduction_db
        cut = _ndimage().uniform_filter(cut, size=(1, 3, 3), mode="nearest")
        return _istft(spectrum * 10 ** (-cut / 20), sample_rate, self.n_fft, n)


@dataclass(frozen=True)
class SpectralSmear(Effect):
    """Blur the sound over time: each STFT bin is smoothed across frames by a one-pole filter.

    ``amount`` (0 to <1) is the smoother's coefficient per frame (hop = n_fft/4): 0 is the identity,
    0.5 smears over a couple of frames, 0.9 over about ten. Magnitudes come from smoothed power, so
    the level holds. Where a bin has sound of its own it keeps its phase; in the tail after it, the
    phase comes from the complex spectrum smoothed the same way with each bin's phase advance per hop
    taken out, so the bin rings on coherently, as a held partial would, instead of going silent or
    turning to noise (an empty frame's own phase is meaningless).
    """

    amount: float = 0.5
    n_fft: int = 2048

    def __post_init__(self) -> None:
        if not 0 <= self.amount < 1 or self.n_fft < 16 or self.n_fft % 4:
            raise ValueError(f"SpectralSmear needs amount in [0, 1) and n_fft a multiple of 4, got {self}")

    def process(self, audio: np.ndarray, sample_rate: float) -> np.ndarray:
        n = audio.shape[1]
        if self.amount == 0 or n < self.n_fft:
            return audio.copy()
        spectrum = _stft(audio, sample_rate, self.n_fft)
        bins, frames = spectrum.shape[-2:]
        smooth = [1 - self.amount], [1, -self.amount]
        power = _signal().lfilter(*smooth, np.abs(spectrum) ** 2, axis=-1)
        # a hop of n_fft/4 turns bin k by k quarter turns: take that out, smooth, put it back
        turns = (1j) ** ((np.arange(bins)[:, None] * np.arange(frames)[None, :]) % 4)
        coherent = _signal().lfilter(*smooth, spectrum * np.conj(turns), axis=-1) * turns
        # where the original bin is loud its own phase wins, in the tail the ringing one takes over
        phase = np.angle(spectrum + coherent)
        return _istft(np.sqrt(power) * np.exp(1j * phase), sample_rate, self.n_fft, n)


# --- mix-bus helpers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sidechain(Effect):
    """Duck the audio at each kick: ``depth_db`` down at the onset, recovering exponentially.

    The gain (dB) is ``-depth_db * exp(-t / release)`` after the latest onset, where ``release_ms`` is the
    time constant (after one release the duck is at 37 % of its depth, after five under 1 %). It looks
    ahead: the gain falls linearly over the ``attack_ms`` before each onset, so the duck is complete
    when the kick lands. Overlapping ducks take the deeper one.
    """

    kick_times_s: tuple[float, ...] = ()
    depth_db: float = 6.0
    attack_ms: float = 5.0
    release_ms: float = 150.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "kick_times_s", tuple(float(t) for t in self.kick_times_s))
        if self.depth_db < 0 or self.attack_ms < 0 or self.release_ms <= 0:
            raise ValueError("Sidechain needs depth_db >= 0, attack_ms >= 0 and release_ms > 0")

    def describe(self) -> str:
        return (
            f"Sidechain(kicks={len(self.kick_times_s)}, depth_db={_fmt(self.depth_db)}, "
            f"attack_ms={_fmt(self.attack_ms)}, release_ms={_fmt(self.release_ms)})"
        )

    def gain_db(self, n: int, sample_rate: float) -> np.ndarray:
        """The gain curve (dB, float32, one value per sample) applied to ``n`` samples."""
        onsets = np.unique(np.round(np.asarray(self.kick_times_s, dtype=np.float64) * sample_rate).astype(np.int64))
        if n == 0 or onsets.size == 0 or self.depth_db == 0:
            return np.zeros(n, dtype=np.float32)
        tau = self.release_ms * 1e-3 * sample_rate
        attack_len = self.attack_ms * 1e-3 * sample_rate
        # a release is written out until it is under 1e-8 of the depth (exp(-19)); past that the gain is 0 dB
        tail = int(np.ceil(19 * tau)) + 1
        release = np.exp(-(np.arange(tail, dtype=np.float32) / np.float32(tau)))
        duck = np.zeros(n, dtype=np.float32)  # 0..1: the share of the depth at each sample
        # kicks are a few per second: a loop over them writes short segments instead of whole-track arrays
        for i, onset in enumerate(onsets):
            previous = onsets[i - 1] if i else None
            following = onsets[i + 1] if i + 1 < onsets.size else None
            # the release from this kick until the next one (or until it has died away)
            start, stop = max(int(onset), 0), min(n, int(onset) + tail, n if following is None else int(following))
            if start < stop:
                duck[start:stop] = release[start - onset : stop - onset]
            # the look-ahead ramp down to this kick, over samples whose next kick it is
            first = 0 if previous is None else int(previous) + 1
            ramp_start, ramp_stop = max(first, int(np.floor(onset - attack_len)) + 1, 0), min(int(onset) + 1, n)
            if ramp_start < ramp_stop:
                ahead = (onset - np.arange(ramp_start, ramp_stop)).astype(np.float32)
                ramp = np.clip(1 - ahead / np.float32(attack_len), 0, 1) if attack_len > 0 else (ahead == 0)
                np.maximum(duck[ramp_start:ramp_stop], ramp, out=duck[ramp_start:ramp_stop])
        duck *= np.float32(-self.depth_db)
        return duck

    def process(self, audio: np.ndarray, sample_rate: float) -> np.ndarray:
        gain = 10 ** (self.gain_db(audio.shape[1], sample_rate) / np.float32(20))
        return audio * gain[None, :]


@dataclass(frozen=True)
class Widen(Effect):
    """Mid/side width: 1 is the identity, 0 folds to mono, above 1 is wider. Mono passes through."""

    width: float = 1.0

    def __post_init__(self) -> None:
        if self.width < 0:
            raise ValueError(f"Widen width must not be negative, got {self.width}")

    def process(self, audio: np.ndarray, sample_rate: float) -> np.ndarray:
        if audio.shape[0] == 1 or self.width == 1:
            return audio.copy()
        if audio.shape[0] != 2:
            raise ValueError(f"Widen works on mono or stereo, got {audio.shape[0]} channels")
        mid = (audio[0] + audio[1]) * np.float32(0.5)
        side = (audio[0] - audio[1]) * np.float32(0.5 * self.width)
        return np.stack([mid + side, mid - side])
