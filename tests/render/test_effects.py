"""The lo-fi effects on synthetic signals: each test asserts what the effect is for."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.signal import hilbert

from lofi.render.effects import (
    VINTAGE_CURVES,
    BitCrush,
    BusCompressor,
    Chain,
    Distortion,
    Downsample,
    Effect,
    Gain,
    HighPass,
    HighShelf,
    Limiter,
    LowPass,
    LowShelf,
    Peak,
    Reverb,
    Sidechain,
    SpectralGate,
    SpectralSmear,
    Tape,
    VintageEQ,
    Vinyl,
    Widen,
    WowFlutter,
)

SR = 44_100
OFF = -math.inf


def sine(freq_hz: float, seconds: float, sample_rate: int = SR, amp: float = 0.5, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    return np.tile(amp * np.sin(2 * np.pi * freq_hz * t), (channels, 1)).astype(np.float32)


def noise(seconds: float, sample_rate: int = SR, rms: float = 0.1, channels: int = 1, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rms * rng.standard_normal((channels, int(seconds * sample_rate)))).astype(np.float32)


def band_db(x: np.ndarray, sample_rate: int, low_hz: float, high_hz: float) -> float:
    """Energy of the first channel between two frequencies, in dB (Hann window: edges and leakage aside)."""
    spectrum = np.abs(np.fft.rfft(x[0].astype(np.float64) * np.hanning(x.shape[1]))) ** 2
    freqs = np.fft.rfftfreq(x.shape[1], 1 / sample_rate)
    return float(10 * np.log10(spectrum[(freqs >= low_hz) & (freqs < high_hz)].sum() + 1e-30))


def rms_db(x: np.ndarray) -> np.ndarray:
    return 20 * np.log10(np.sqrt(np.mean(np.square(x.astype(np.float64)), axis=-1)))


def music(channels: int, seconds: float = 1.0) -> np.ndarray:
    """A -6 dBFS stand-in for a mix: a few tones and some noise, different in each channel."""
    t = np.arange(int(seconds * SR)) / SR
    rng = np.random.default_rng(channels)
    rows = [
        np.sin(2 * np.pi * 110 * t) + 0.5 * np.sin(2 * np.pi * (660 + 7 * c) * t) + 0.3 * rng.standard_normal(t.size)
        for c in range(channels)
    ]
    x = np.array(rows)
    return (0.5 * x / np.abs(x).max()).astype(np.float32)


EVERY_EFFECT: list[Effect] = [
    Gain(gain_db=3.0),
    LowPass(cutoff_hz=5000.0),
    HighPass(cutoff_hz=100.0),
    LowShelf(cutoff_hz=200.0, gain_db=3.0),
    HighShelf(cutoff_hz=6000.0, gain_db=-6.0),
    Peak(center_hz=1000.0, gain_db=4.0, q=1.0),
    BusCompressor(threshold_db=-20.0, ratio=3.0, makeup_db=3.0),
    Limiter(threshold_db=-3.0),
    Reverb(room_size=0.5, wet_level=0.3),
    Distortion(drive_db=12.0),
    BitCrush(bit_depth=8.0),
    Downsample(sample_rate_hz=11_025.0),
    Downsample(sample_rate_hz=8000.0, antialias=False),
    Tape(drive_db=12.0),
    WowFlutter(wow_depth_ms=0.5, flutter_depth_ms=0.1, seed=3),
    Vinyl(seed=3),
    *(VintageEQ(curve=curve) for curve in VINTAGE_CURVES),
    SpectralGate(threshold_db=-40.0, reduction_db=20.0),
    SpectralSmear(amount=0.8),
    Sidechain(kick_times_s=(0.0, 0.5), depth_db=8.0),
    Widen(width=1.8),
    Chain((HighPass(cutoff_hz=40.0), Tape(), LowPass(cutoff_hz=9000.0))),
]


@pytest.mark.parametrize("effect", EVERY_EFFECT, ids=lambda e: e.describe()[:40])
@pytest.mark.parametrize("channels", [1, 2])
def test_every_effect_keeps_the_contract(effect, channels):
    x = music(channels)
    before = x.copy()
    y = effect(x, SR)
    assert y.shape == x.shape
    assert y.dtype == np.float32
    assert np.isfinite(y).all()
    assert np.abs(y).max() <= 4.0
    assert y is not x
    np.testing.assert_array_equal(x, before)  # the input is left alone


@pytest.mark.parametrize("effect", [Gain(gain_db=-3.0), Tape(), WowFlutter(wow_depth_ms=0.3)], ids=str)
def test_one_dimensional_audio_is_mono(effect):
    x = music(1)
    y = effect(x[0], SR)
    assert y.shape == x[0].shape
    np.testing.assert_array_equal(y, effect(x, SR)[0])


def test_empty_audio_comes_back_empty():
    assert Vinyl()(np.zeros((2, 0), np.float32), SR).shape == (2, 0)


@pytest.mark.parametrize("bad", [np.zeros((1, 2, 3)), np.zeros((0, 10))])
def test_audio_of_the_wrong_shape_is_refused(bad):
    with pytest.raises(ValueError, match="channels, samples"):
        Gain()(bad, SR)


def test_gain_up_then_down_is_identity():
    x = music(2)
    y = Gain(gain_db=-6.0)(Gain(gain_db=6.0)(x, SR), SR)
    np.testing.assert_allclose(y, x, atol=1e-5)
    np.testing.assert_allclose(Chain((Gain(gain_db=6.0), Gain(gain_db=-6.0)))(x, SR), x, atol=1e-5)


@pytest.mark.parametrize("cutoff_hz", [1000.0, 4000.0])
def test_lowpass_removes_energy_above_its_cutoff(cutoff_hz):
    x = noise(1.0)
    y = LowPass(cutoff_hz=cutoff_hz)(x, SR)
    assert band_db(x, SR, 2 * cutoff_hz, SR / 2) - band_db(y, SR, 2 * cutoff_hz, SR / 2) > 20
    assert abs(band_db(x, SR, 20, cutoff_hz / 2) - band_db(y, SR, 20, cutoff_hz / 2)) < 1


@pytest.mark.parametrize("cutoff_hz", [200.0, 2000.0])
def test_highpass_removes_energy_below_its_cutoff(cutoff_hz):
    x = noise(1.0)
    y = HighPass(cutoff_hz=cutoff_hz, order=4)(x, SR)
    assert band_db(x, SR, 10, cutoff_hz / 2) - band_db(y, SR, 10, cutoff_hz / 2) > 20
    assert abs(band_db(x, SR, 2 * cutoff_hz, SR / 2) - band_db(y, SR, 2 * cutoff_hz, SR / 2)) < 1


def test_lowpass_past_nyquist_leaves_the_audio_alone():
    x = noise(0.2, sample_rate=8000)
    np.testing.assert_array_equal(LowPass(cutoff_hz=10_000.0)(x, 8000), x)


def test_downsample_removes_what_the_lower_rate_cannot_hold():
    x = noise(1.0)
    y = Downsample(sample_rate_hz=11_025.0)(x, SR)
    assert band_db(x, SR, 6500, SR / 2) - band_db(y, SR, 6500, SR / 2) > 30
    assert abs(band_db(x, SR, 100, 4000) - band_db(y, SR, 100, 4000)) < 1


def test_downsample_without_antialias_holds_each_sample():
    x = noise(0.1)
    y = Downsample(sample_rate_hz=SR / 4, antialias=False)(x, SR)
    blocks = y[0, : y.shape[1] // 4 * 4].reshape(-1, 4)
    assert (blocks == blocks[:, :1]).all()
    np.testing.assert_array_equal(blocks[:, 0], x[0, : blocks.shape[0] * 4 : 4])


def test_bitcrush_quantizes():
    ramp = np.linspace(-0.9, 0.9, 10_000, dtype=np.float32)[None, :]
    steps = BitCrush(bit_depth=4.0)(ramp, SR) * 2**4  # pedalboard's steps are 2**-bit_depth apart
    np.testing.assert_array_equal(steps, np.round(steps))
    assert np.unique(steps).size > 20


def harmonic_db(x: np.ndarray, fundamental_hz: float, k: int) -> float:
    """Level of the k-th harmonic relative to the fundamental, in dB."""
    width = fundamental_hz / 4
    return band_db(x, SR, k * fundamental_hz - width, k * fundamental_hz + width) - band_db(
        x, SR, fundamental_hz - width, fundamental_hz + width
    )


def test_tape_saturation_adds_harmonics_and_asymmetry_adds_even_ones():
    x = sine(200.0, 1.0, amp=0.5)
    symmetric = Tape(drive_db=12.0, asymmetry=0.0)(x, SR)
    biased = Tape(drive_db=12.0, asymmetry=0.3)(x, SR)
    assert harmonic_db(symmetric, 200.0, 3) > -40
    assert harmonic_db(symmetric, 200.0, 2) < -80
    assert harmonic_db(biased, 200.0, 2) > -40


def test_tape_keeps_quiet_signals_at_unity_gain_and_loses_top():
    quiet = sine(1000.0, 0.5, amp=0.001)
    assert abs(rms_db(Tape(drive_db=12.0)(quiet, SR)) - rms_db(quiet))[0] < 0.5
    x = noise(1.0, rms=0.001)
    y = Tape(hf_rolloff_hz=5000.0, hf_loss_db=6.0)(x, SR)
    assert band_db(x, SR, 12_000, 20_000) - band_db(y, SR, 12_000, 20_000) > 4


def test_tape_head_bump_lifts_the_lows():
    x = noise(1.0, rms=0.001)
    y = Tape(head_bump_hz=90.0, head_bump_db=4.0, hf_loss_db=0.0)(x, SR)
    assert band_db(y, SR, 70, 110) - band_db(x, SR, 70, 110) > 2.5


def frequency_deviation(y: np.ndarray, sample_rate: int, trim_s: float = 0.5) -> np.ndarray:
    """Instantaneous frequency minus its mean, from the analytic signal, edges trimmed."""
    phase = np.unwrap(np.angle(hilbert(y.astype(np.float64))))
    inst = np.diff(phase) * sample_rate / (2 * np.pi)
    trim = int(trim_s * sample_rate)
    inst = inst[trim:-trim]
    return inst - inst.mean()


def dominant_rate(deviation: np.ndarray, sample_rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(deviation * np.hanning(deviation.size)))
    freqs = np.fft.rfftfreq(deviation.size, 1 / sample_rate)
    band = (freqs > 0.2) & (freqs < 40)
    return float(freqs[band][np.argmax(spectrum[band])])


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(
    ("rate_hz", "params"),
    [
        (1.0, {"wow_rate_hz": 1.0, "wow_depth_ms": 0.5, "flutter_depth_ms": 0.0}),
        (8.0, {"flutter_rate_hz": 8.0, "flutter_depth_ms": 0.1, "wow_depth_ms": 0.0}),
    ],
    ids=["wow", "flutter"],
)
def test_wow_and_flutter_modulate_pitch_at_their_rate(rate_hz, params, seed):
    sample_rate = 8000
    x = sine(1000.0, 8.0, sample_rate=sample_rate)
    effect = WowFlutter(**params, seed=seed)
    deviation = frequency_deviation(effect(x, sample_rate)[0], sample_rate)
    # a still tape holds 1 kHz to a small fraction of a hertz; this one wobbles by hertz
    assert np.abs(frequency_deviation(x[0], sample_rate)).max() < 0.05
    assert deviation.std() > 0.5
    assert dominant_rate(deviation, sample_rate) == pytest.approx(rate_hz, rel=0.3)


def test_wow_depth_is_the_largest_delay_excursion():
    effect = WowFlutter(wow_depth_ms=0.25, flutter_depth_ms=0.0)
    delay = effect.delay_ms(3 * SR, SR)
    assert delay.shape == (3 * SR,)
    assert np.abs(delay).max() == pytest.approx(0.25, rel=1e-3)
    assert delay.min() < 0 < delay.max()  # centred: no fixed latency


def test_wow_flutter_with_no_depth_is_identity():
    x = music(2)
    np.testing.assert_array_equal(WowFlutter(wow_depth_ms=0.0, flutter_depth_ms=0.0)(x, SR), x)


def test_wow_flutter_is_not_a_plain_sine():
    """Random rate drift and band noise: successive wow cycles differ in length."""
    delay = WowFlutter(wow_rate_hz=1.0, wow_depth_ms=0.3, flutter_depth_ms=0.0, seed=5).delay_ms(10 * SR, SR)
    crossings = np.flatnonzero(np.diff(np.signbit(delay)))
    periods = np.diff(crossings[::2]) / SR
    assert periods.size >= 4
    assert periods.std() > 0.01


@pytest.mark.parametrize("make", [lambda s: WowFlutter(seed=s), lambda s: Vinyl(seed=s)], ids=["wow", "vinyl"])
def test_seeded_effects_are_reproducible(make):
    x = music(2)
    np.testing.assert_array_equal(make(4)(x, SR), make(4)(x, SR))
    assert not np.array_equal(make(4)(x, SR), make(5)(x, SR))


VINYL_LAYERS = ["crackle", "pop", "rumble", "hiss"]


def only(layer: str, level_db: float) -> Vinyl:
    levels = {f"{name}_level_db": (level_db if name == layer else OFF) for name in VINYL_LAYERS}
    return Vinyl(**levels, pop_rate_hz=3.0, seed=11)


@pytest.mark.parametrize("layer", VINYL_LAYERS)
@pytest.mark.parametrize("level_db", [-45.0, -60.0])
def test_vinyl_layer_sits_at_its_stated_level(layer, level_db):
    x = music(2, seconds=2.0)
    added = only(layer, level_db)(x, SR).astype(np.float64) - x
    np.testing.assert_allclose(rms_db(added), level_db, atol=1.5)


def test_vinyl_layers_have_their_character():
    silence = np.zeros((2, 2 * SR), np.float32)
    crackle = only("crackle", -50.0)(silence, SR)
    assert np.mean(crackle[0] != 0) < 0.1  # sparse clicks, not a noise bed
    assert np.abs(crackle).max() > 30 * np.sqrt(np.mean(crackle**2))
    rumble = only("rumble", -50.0)(silence, SR)
    assert band_db(rumble, SR, 0, 40) - band_db(rumble, SR, 40, SR / 2) > 15
    np.testing.assert_array_equal(rumble[0], rumble[1])
    hiss = only("hiss", -50.0)(silence, SR)
    assert abs(np.corrcoef(hiss)[0, 1]) < 0.1  # independent per channel
    assert band_db(hiss, SR, 1000, 10_000) > band_db(hiss, SR, 20, 200) + 10


def test_vinyl_with_every_layer_off_is_identity():
    x = music(2)
    np.testing.assert_array_equal(Vinyl(**{f"{n}_level_db": OFF for n in VINYL_LAYERS})(x, SR), x)


def test_sidechain_ducks_at_each_kick_and_recovers():
    kicks = (0.5, 1.5)
    effect = Sidechain(kick_times_s=kicks, depth_db=8.0, attack_ms=10.0, release_ms=50.0)
    x = np.full((2, 2 * SR), 0.5, dtype=np.float32)
    gain = 20 * np.log10(effect(x, SR)[0] / 0.5)
    np.testing.assert_allclose(gain, effect.gain_db(x.shape[1], SR), atol=1e-4)
    for kick in kicks:
        onset = round(kick * SR)
        assert gain[onset] == pytest.approx(-8.0, abs=0.05)
        assert gain[onset - round(0.005 * SR)] == pytest.approx(-4.0, abs=0.1)  # halfway down the attack
        assert gain[onset + round(0.050 * SR)] == pytest.approx(-8.0 / math.e, abs=0.05)  # one release
        assert gain[onset + round(0.250 * SR)] > -0.1  # five releases: back near 0 dB
        assert np.all(np.diff(gain[onset : onset + round(0.4 * SR)]) >= 0)  # recovering all the way
    assert np.all(gain[: round(0.45 * SR)] == 0)


def reference_duck_db(kicks_s, n, depth_db, attack_ms, release_ms):
    """The sidechain curve by its definition, sample by sample from the latest and the next onset."""
    onsets = np.unique(np.round(np.asarray(kicks_s) * SR).astype(np.int64))
    samples = np.arange(n)
    after = np.searchsorted(onsets, samples, side="right")  # onsets[after - 1] <= sample < onsets[after]
    last = np.where(after > 0, onsets[np.maximum(after - 1, 0)], -(10**12))
    at_or_after = np.searchsorted(onsets, samples, side="left")
    following = np.where(at_or_after < onsets.size, onsets[np.minimum(at_or_after, onsets.size - 1)], 10**12)
    release = np.exp(-(samples - last) / (release_ms * 1e-3 * SR))
    attack_len = attack_ms * 1e-3 * SR
    attack = np.clip(1 - (following - samples) / attack_len, 0, 1) if attack_len else following == samples
    return -depth_db * np.maximum(release, attack)


@given(
    kicks=st.lists(st.floats(-0.05, 0.2), max_size=10),
    n=st.integers(1, 9000),
    depth_db=st.floats(0.5, 12),
    attack_ms=st.sampled_from([0.0, 0.01, 1.0, 5.0, 30.0]),
    release_ms=st.floats(0.05, 80),
)
@settings(max_examples=150, deadline=None)
def test_sidechain_curve_follows_its_definition(kicks, n, depth_db, attack_ms, release_ms):
    effect = Sidechain(kick_times_s=tuple(kicks), depth_db=depth_db, attack_ms=attack_ms, release_ms=release_ms)
    curve = effect.gain_db(n, SR)
    assert curve.dtype == np.float32 and curve.shape == (n,)
    expected = reference_duck_db(kicks, n, depth_db, attack_ms, release_ms) if kicks else np.zeros(n)
    np.testing.assert_allclose(curve, expected, atol=1e-4)


def test_sidechain_without_kicks_is_identity():
    x = music(2)
    np.testing.assert_array_equal(Sidechain(kick_times_s=())(x, SR), x)


def test_telephone_curve_is_a_band_pass():
    levels = {hz: rms_db(VintageEQ(curve="telephone")(sine(hz, 0.5), SR)[:, SR // 10 :])[0] for hz in (100, 1000, 8000)}
    assert levels[1000] - levels[100] > 20
    assert levels[1000] - levels[8000] > 20


def test_unknown_eq_curve_names_the_valid_ones():
    with pytest.raises(ValueError, match="lofi, vintage, telephone"):
        VintageEQ(curve="radio")


def test_spectral_gate_turns_down_the_noise_floor_and_keeps_the_tone():
    tone = sine(1000.0, 1.0, amp=0.5)
    x = tone + noise(1.0, rms=0.001, seed=1)  # a -60 dB noise floor
    y = SpectralGate(threshold_db=-50.0, reduction_db=20.0)(x, SR)
    assert band_db(x, SR, 3000, 15_000) - band_db(y, SR, 3000, 15_000) > 12
    assert abs(band_db(x, SR, 900, 1100) - band_db(y, SR, 900, 1100)) < 0.5


def test_spectral_gate_with_no_reduction_is_identity():
    x = music(2)
    np.testing.assert_array_equal(SpectralGate(reduction_db=0.0)(x, SR), x)


def test_spectral_smear_spreads_a_click_over_time():
    x = np.zeros((1, SR // 2), np.float32)
    x[0, SR // 4] = 0.5
    y = SpectralSmear(amount=0.9)(x, SR)
    after = slice(SR // 4 + 2048, SR // 4 + 8192)
    assert np.sqrt(np.mean(y[0, after] ** 2)) > 100 * np.sqrt(np.mean(x[0, after] ** 2) + 1e-20)
    np.testing.assert_array_equal(SpectralSmear(amount=0.0)(x, SR), x)


def test_widen_zero_is_mono_one_is_identity():
    x = music(2)
    mono = Widen(width=0.0)(x, SR)
    np.testing.assert_array_equal(mono[0], mono[1])
    np.testing.assert_allclose(mono[0], (x[0] + x[1]) / 2, atol=1e-6)
    np.testing.assert_array_equal(Widen(width=1.0)(x, SR), x)
    wide = Widen(width=2.0)(x, SR)
    assert np.std(wide[0] - wide[1]) == pytest.approx(2 * np.std(x[0] - x[1]), rel=1e-4)
    np.testing.assert_array_equal(Widen(width=0.0)(x[:1], SR), x[:1])


def test_effects_are_frozen_data_that_describe_themselves():
    effect = LowPass(cutoff_hz=2000.0)
    assert effect.describe() == "LowPass(cutoff_hz=2000, order=4)"
    assert VintageEQ(curve="telephone").describe() == "VintageEQ(curve='telephone')"
    assert Sidechain(kick_times_s=(0.0, 0.5, 1.0)).describe().startswith("Sidechain(kicks=3,")
    assert effect == LowPass(cutoff_hz=2000.0)
    assert hash(effect) == hash(LowPass(cutoff_hz=2000.0))
    with pytest.raises(dataclasses.FrozenInstanceError):
        effect.cutoff_hz = 100.0


def test_chain_describes_and_seeds_its_random_effects_apart():
    chain = Chain((HighPass(), WowFlutter(), Vinyl(), WowFlutter()))
    assert chain.describe().splitlines()[0] == "HighPass(cutoff_hz=30, order=2)"
    assert len(chain.describe().splitlines()) == 4
    seeded = chain.with_seed(7)
    seeds = [e.seed for e in seeded.effects if hasattr(e, "seed")]
    assert len(set(seeds)) == 3
    assert seeded == chain.with_seed(7)
    assert seeded != chain.with_seed(8)
    assert seeded.effects[0] == HighPass()


@pytest.mark.parametrize(
    "make",
    [
        lambda: LowPass(cutoff_hz=0.0),
        lambda: HighPass(order=0),
        lambda: BitCrush(bit_depth=0.0),
        lambda: BusCompressor(ratio=0.5),
        lambda: WowFlutter(wow_depth_ms=-1.0),
        lambda: Sidechain(release_ms=0.0),
        lambda: Widen(width=-1.0),
        lambda: SpectralSmear(amount=1.0),
        lambda: Tape(hf_loss_db=-3.0),
    ],
)
def test_nonsense_parameters_are_refused(make):
    with pytest.raises(ValueError):
        make()
