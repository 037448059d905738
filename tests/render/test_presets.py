"""The mix-bus presets: the names, the data, and what each one does to a signal."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from lofi.render.effects import Chain, Effect, Sidechain, Vinyl, WowFlutter
from lofi.render.presets import DEFAULT_PRESET, PRESETS, Preset, get_preset

SR = 44_100
NAMES = ["clean", "tape", "vinyl", "cassette", "telephone", "dusty"]
RANDOM = {"tape", "vinyl", "cassette", "dusty"}  # presets with wow, flutter or noise


def mix(channels: int, seconds: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(channels)
    t = np.arange(int(seconds * SR)) / SR
    x = np.sin(2 * np.pi * 220 * t) + rng.standard_normal((channels, t.size))
    return (0.5 * x / np.abs(x).max()).astype(np.float32)  # peaks at -6 dBFS


def band_db(x: np.ndarray, low_hz: float, high_hz: float) -> float:
    spectrum = np.abs(np.fft.rfft(x[0].astype(np.float64) * np.hanning(x.shape[1]))) ** 2
    freqs = np.fft.rfftfreq(x.shape[1], 1 / SR)
    return float(10 * np.log10(spectrum[(freqs >= low_hz) & (freqs < high_hz)].sum() + 1e-30))


def change_db(x: np.ndarray, y: np.ndarray, low_hz: float, high_hz: float) -> float:
    return band_db(y, low_hz, high_hz) - band_db(x, low_hz, high_hz)


def test_the_presets_are_the_named_six():
    assert list(PRESETS) == NAMES
    assert DEFAULT_PRESET == "dusty"
    for name, preset in PRESETS.items():
        assert preset.name == name
        assert preset.description
        assert all(isinstance(effect, Effect) for effect in preset.effects)


def test_get_preset_forgives_case_and_spaces():
    assert get_preset(" Dusty ") is PRESETS["dusty"]


def test_unknown_preset_names_the_valid_ones():
    with pytest.raises(ValueError, match="unknown preset 'lofi'") as error:
        get_preset("lofi")
    for name in NAMES:
        assert name in str(error.value)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("channels", [1, 2])
def test_every_preset_keeps_the_effect_contract(name, channels):
    x = mix(channels)
    y = PRESETS[name].chain(seed=3)(x, SR)
    assert y.shape == x.shape
    assert y.dtype == np.float32
    assert np.isfinite(y).all()
    assert 0.05 < np.abs(y).max() <= 4.0


@pytest.mark.parametrize("name", NAMES)
def test_a_preset_is_reproducible_from_the_seed(name):
    x = mix(2)
    chain = PRESETS[name].chain
    np.testing.assert_array_equal(chain(5)(x, SR), chain(5)(x, SR))
    assert np.array_equal(chain(5)(x, SR), chain(6)(x, SR)) == (name not in RANDOM)


@pytest.mark.parametrize("name", NAMES)
def test_presets_are_data_that_describe_themselves(name):
    preset = PRESETS[name]
    lines = preset.describe().splitlines()
    assert len(lines) == len(preset.effects)
    for line, effect in zip(lines, preset.effects, strict=True):
        assert line.startswith(type(effect).__name__ + "(")
    assert isinstance(preset.chain(1), Chain)
    assert preset.chain(1).effects == preset.chain(1).effects
    assert hash(preset) == hash(dataclasses.replace(preset))
    assert not any(isinstance(effect, Sidechain) for effect in preset.effects)  # the mix builds that


@pytest.mark.parametrize("name", NAMES)
def test_preset_levels_stay_tasteful(name):
    for effect in PRESETS[name].effects:
        if isinstance(effect, WowFlutter):
            assert 0.05 <= effect.wow_depth_ms <= 0.3
            assert effect.flutter_depth_ms <= 0.1
        if isinstance(effect, Vinyl):
            assert -55 <= effect.hiss_level_db <= -40


def test_clean_is_nearly_transparent():
    t = np.arange(SR) / SR
    tones = (100, 1000, 5000, 12_000)
    x = np.tile(sum(0.03 * np.sin(2 * np.pi * hz * t) for hz in tones), (2, 1)).astype(np.float32)
    y = PRESETS["clean"].chain(0)(x, SR)
    for hz in tones:
        assert abs(change_db(x, y, 0.9 * hz, 1.1 * hz)) < 1


def test_dusty_is_warm_and_low_passed():
    x = (0.05 * np.random.default_rng(0).standard_normal((2, SR))).astype(np.float32)
    y = PRESETS["dusty"].chain(0)(x, SR)
    mids = change_db(x, y, 200, 2000)
    assert mids - change_db(x, y, 12_000, 16_000) > 15
    assert mids - change_db(x, y, 16_000, SR / 2) > 30


def test_cassette_is_darker_than_tape():
    x = (0.05 * np.random.default_rng(0).standard_normal((1, SR))).astype(np.float32)
    tape = PRESETS["tape"].chain(0)(x, SR)
    cassette = PRESETS["cassette"].chain(0)(x, SR)
    assert change_db(x, cassette, 12_000, 16_000) < change_db(x, tape, 12_000, 16_000) - 10


def test_telephone_keeps_only_the_voice_band():
    x = (0.05 * np.random.default_rng(0).standard_normal((1, SR))).astype(np.float32)
    y = PRESETS["telephone"].chain(0)(x, SR)
    voice = change_db(x, y, 500, 2500)
    assert voice - change_db(x, y, 20, 120) > 20
    assert voice - change_db(x, y, 4500, 8000) > 20


def test_preset_is_a_frozen_dataclass():
    preset = Preset("x", "y", ())
    with pytest.raises(dataclasses.FrozenInstanceError):
        preset.name = "z"
    x = mix(1)
    np.testing.assert_array_equal(preset.chain(0)(x, SR), x)
