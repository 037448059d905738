"""The mix: stems set to their levels, everything but the drums ducked by the kick, summed.

The stems a producer takes away are exactly the ones summed here, so `sum(stems) == premix` (up to the
FLAC's 24-bit quantization); the preset's bus chain and mastering come after.
"""

from __future__ import annotations

import numpy as np
from symusic import Score

from lofi.render.effects import Sidechain

KICKS = frozenset({35, 36})  # General MIDI acoustic and electric bass drum
# Relative levels of a lo-fi mix: bass and keys carry it, drums sit back, pads and leads under the keys.
LEVELS_DB = {"keys": 0.0, "guitar": -1.5, "bass": 1.0, "pad": -5.0, "lead": -2.5, "drums": -2.0}
DUCK = {"depth_db": 4.0, "attack_ms": 5.0, "release_ms": 180.0}


def kick_times(score: Score) -> tuple[float, ...]:
    """Onsets of the kick drum, in seconds, for the sidechain."""
    seconds = score.to("second")
    times = [note.time for track in seconds.tracks if track.is_drum for note in track.notes if note.pitch in KICKS]
    return tuple(sorted({round(t, 5) for t in times}))


def balance(
    stems: dict[str, np.ndarray], roles: dict[str, str], kicks: tuple[float, ...], sample_rate: int
) -> dict[str, np.ndarray]:
    """Each stem at its role's level and, but for the drums, ducked at each kick (the pumping of lo-fi).

    One multiplication per stem: the level and the duck curve are folded into one gain, so a 3-minute
    track's stems are copied once, not twice.
    """
    gains = {name: np.float32(10 ** (LEVELS_DB.get(roles[name], 0.0) / 20)) for name in stems}
    if kicks and any(roles[name] != "drums" for name in stems):
        length = next(iter(stems.values())).shape[1]
        # one curve for every ducked stem (the stems are sample-aligned)
        curve = 10 ** (Sidechain(kick_times_s=kicks, **DUCK).gain_db(length, sample_rate) / np.float32(20))
        gains = {name: gain if roles[name] == "drums" else curve * gain for name, gain in gains.items()}
    return {name: audio * gains[name] for name, audio in stems.items()}


def premix(stems: dict[str, np.ndarray]) -> np.ndarray:
    """The sum of the stems, float32 (2, samples), added in place rather than stacked first."""
    parts = iter(stems.values())
    total = np.array(next(parts), dtype=np.float32)
    for audio in parts:
        total += audio
    return total
