"""Mix-bus presets: named chains of effects, written as data.

A preset is the sound of the whole mix after the stems are summed. The sidechain is not part of it:
the mix stage builds that from the MIDI kick times. Loudness and limiting are the master stage's job,
so no preset ends in a limiter. ``preset.chain(seed)`` seeds the random effects (wow and flutter,
vinyl noise) from the track's seed, so a track's audio is reproducible.

Levels aim for taste, not caricature: tops rolled off around 9-14 kHz, mild saturation, wow of
0.1-0.25 ms, and hiss 45-50 dB below full scale. Crackle and pops read low in RMS because they are
sparse; their peaks land some 40 dB higher, around -20 to -30 dBFS.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from lofi.render.effects import (
    BitCrush,
    BusCompressor,
    Chain,
    Downsample,
    Effect,
    HighPass,
    LowPass,
    Tape,
    VintageEQ,
    Vinyl,
    WowFlutter,
)

__all__ = ["DEFAULT_PRESET", "PRESETS", "Preset", "get_preset"]

OFF = -math.inf  # a Vinyl layer at this level is not generated


@dataclass(frozen=True)
class Preset:
    """A named mix-bus chain with a one-line description."""

    name: str
    description: str
    effects: tuple[Effect, ...]

    def chain(self, seed: int = 0) -> Chain:
        """The effects as one Chain, every random effect seeded from ``seed``."""
        return Chain(self.effects).with_seed(seed)

    def describe(self) -> str:
        """One line per effect, in order, with its parameters."""
        return "\n".join(effect.describe() for effect in self.effects)


_PRESETS: tuple[Preset, ...] = (
    Preset(
        "clean",
        "Nearly transparent: a subsonic filter and gentle glue compression.",
        (
            HighPass(cutoff_hz=20.0, order=2),
            BusCompressor(threshold_db=-16.0, ratio=1.5, attack_ms=30.0, release_ms=250.0, makeup_db=0.5),
        ),
    ),
    Preset(
        "tape",
        "Warm tape: saturation, head bump, a soft top and a slow wobble.",
        (
            HighPass(cutoff_hz=30.0, order=2),
            Tape(
                drive_db=6.0, asymmetry=0.2, head_bump_hz=90.0, head_bump_db=2.0, hf_rolloff_hz=10_000.0, hf_loss_db=5.0
            ),
            WowFlutter(wow_rate_hz=0.7, wow_depth_ms=0.15, flutter_rate_hz=6.5, flutter_depth_ms=0.03),
            LowPass(cutoff_hz=14_000.0, order=2),
            BusCompressor(threshold_db=-18.0, ratio=2.0, attack_ms=20.0, release_ms=200.0, makeup_db=1.0),
        ),
    ),
    Preset(
        "vinyl",
        "A worn record: vintage EQ, turntable wow at 33 rpm, crackle, pops, rumble and surface hiss.",
        (
            HighPass(cutoff_hz=30.0, order=2),
            VintageEQ(curve="vintage"),
            # 33 1/3 rpm turns the platter 0.56 times a second: an off-centre record wobbles at that rate
            WowFlutter(wow_rate_hz=0.56, wow_depth_ms=0.12, flutter_rate_hz=10.0, flutter_depth_ms=0.02),
            # the noise goes in before the playback filter, so it is darkened with the music
            Vinyl(
                crackle_level_db=-60.0,
                crackle_rate_hz=10.0,
                pop_level_db=-66.0,
                pop_rate_hz=0.25,
                rumble_level_db=-52.0,
                hiss_level_db=-50.0,
            ),
            LowPass(cutoff_hz=12_000.0, order=2),
            BusCompressor(threshold_db=-18.0, ratio=2.0, attack_ms=20.0, release_ms=250.0, makeup_db=1.0),
        ),
    ),
    Preset(
        "cassette",
        "A dubbed cassette: hotter tape, a darker top, more wobble and tape hiss.",
        (
            HighPass(cutoff_hz=40.0, order=2),
            Tape(
                drive_db=8.0, asymmetry=0.25, head_bump_hz=70.0, head_bump_db=3.0, hf_rolloff_hz=6000.0, hf_loss_db=8.0
            ),
            WowFlutter(wow_rate_hz=1.2, wow_depth_ms=0.25, flutter_rate_hz=9.0, flutter_depth_ms=0.05),
            Vinyl(crackle_level_db=OFF, pop_level_db=OFF, rumble_level_db=OFF, hiss_level_db=-45.0),
            LowPass(cutoff_hz=9000.0, order=4),
            BusCompressor(threshold_db=-20.0, ratio=2.5, attack_ms=15.0, release_ms=200.0, makeup_db=2.0),
        ),
    ),
    Preset(
        "telephone",
        "A phone line: 8 kHz sampling, the 300-3400 Hz band, grit and squash.",
        (
            Downsample(sample_rate_hz=8000.0),
            VintageEQ(curve="telephone"),
            Tape(drive_db=10.0, asymmetry=0.3, head_bump_db=0.0, hf_loss_db=0.0),
            BitCrush(bit_depth=10.0),
            BusCompressor(threshold_db=-20.0, ratio=3.0, attack_ms=5.0, release_ms=100.0, makeup_db=3.0),
        ),
    ),
    Preset(
        "dusty",
        "The house sound: tape warmth, gentle wow, vinyl dust, a 10 kHz top and 12-bit grit.",
        (
            HighPass(cutoff_hz=35.0, order=2),
            Tape(
                drive_db=5.0, asymmetry=0.2, head_bump_hz=100.0, head_bump_db=2.0, hf_rolloff_hz=8000.0, hf_loss_db=4.0
            ),
            WowFlutter(wow_rate_hz=0.7, wow_depth_ms=0.2, flutter_rate_hz=6.0, flutter_depth_ms=0.04),
            Vinyl(
                crackle_level_db=-64.0,
                crackle_rate_hz=12.0,
                pop_level_db=-68.0,
                pop_rate_hz=0.3,
                rumble_level_db=-56.0,
                hiss_level_db=-48.0,
            ),
            LowPass(cutoff_hz=10_000.0, order=4),
            BitCrush(bit_depth=12.0),
            BusCompressor(threshold_db=-18.0, ratio=2.5, attack_ms=15.0, release_ms=250.0, makeup_db=2.0),
        ),
    ),
)

PRESETS: dict[str, Preset] = {preset.name: preset for preset in _PRESETS}
DEFAULT_PRESET = "dusty"


def get_preset(name: str) -> Preset:
    """The preset called ``name`` (case and surrounding spaces ignored), or ValueError naming the valid ones."""
    key = name.strip().lower()
    if key not in PRESETS:
        raise ValueError(f"unknown preset {name!r}: choose one of {', '.join(PRESETS)}")
    return PRESETS[key]
