"""Humanization before synthesis: swing, small timing and velocity variation, all seeded.

A sequencer's grid sounds stiff; a player's notes land a little late on the off-beats (swing) and never
twice with the same force. Works on the Score in ticks so it applies to any MIDI file, not only ours.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from symusic import Score


@dataclass(frozen=True)
class Humanize:
    swing: float = 0.56  # where the off-beat eighth lands within the beat: 0.5 straight, 0.67 triplet swing
    timing_ms: float = 8.0  # standard deviation of onset jitter
    velocity: float = 6.0  # standard deviation of velocity jitter, MIDI units
    seed: int = 0

    def __call__(self, score: Score) -> Score:
        out = score.copy()
        rng = np.random.default_rng(self.seed)
        tpq = out.tpq
        qpm = out.tempos[0].qpm if len(out.tempos) else 120.0
        ticks_per_ms = tpq * qpm / 60_000.0
        half = tpq // 2
        for track in out.tracks:
            notes = track.notes.numpy()
            if len(notes["time"]) == 0:
                continue
            time = notes["time"].astype(np.int64)
            # off-beat eighths move later; the note keeps its end so legato lines stay legato
            offbeat = (time % tpq) == half
            shift = np.where(offbeat, round((self.swing - 0.5) * tpq), 0)
            jitter = np.rint(rng.normal(0.0, self.timing_ms * ticks_per_ms, len(time))).astype(np.int64)
            new_time = np.maximum(time + shift + jitter, 0)
            end = time + notes["duration"].astype(np.int64)
            duration = np.maximum(end - new_time, max(1, tpq // 32))
            velocity = np.clip(np.rint(notes["velocity"] + rng.normal(0.0, self.velocity, len(time))), 1, 127)
            notes["time"] = new_time.astype(notes["time"].dtype)
            notes["duration"] = duration.astype(notes["duration"].dtype)
            notes["velocity"] = velocity.astype(notes["velocity"].dtype)
            track.notes = type(track.notes).from_numpy(
                notes["time"], notes["duration"], notes["pitch"], notes["velocity"]
            )
            track.notes.sort()
        return out
