"""What a user asks for, checked once, with messages that say how to fix it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from lofi.limits import MINUTES_RANGE, SWING_RANGE, TEMPO_RANGE
from lofi.moods import check_mood
from lofi.theory import Key


@dataclass(frozen=True)
class ComposeRequest:
    mood: str = "chill"
    bpm: int = 75
    key: str = "C major"
    minutes: float = 2.0
    seed: int | None = None
    strict_key: bool = True
    temperature: float = 0.95
    top_k: int = 24
    top_p: float = 0.95
    continue_from: Path | None = None
    swing: float | None = None  # where the off-beat 16ths land (0.5 straight); None: the mood's own
    parsed_key: Key = field(init=False, compare=False, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "mood", check_mood(self.mood))
        object.__setattr__(self, "parsed_key", Key.parse(self.key))
        low, high = TEMPO_RANGE
        if not low <= self.bpm <= high:
            raise ValueError(f"bpm must be between {low} and {high} (got {self.bpm})")
        if not MINUTES_RANGE[0] <= self.minutes <= MINUTES_RANGE[1]:
            raise ValueError(f"minutes must be between {MINUTES_RANGE[0]} and {MINUTES_RANGE[1]} (got {self.minutes})")
        if self.seed is not None and not 0 <= self.seed < 2**32:
            raise ValueError(f"seed must be between 0 and {2**32 - 1} (got {self.seed})")
        if self.swing is not None and not SWING_RANGE[0] <= self.swing <= SWING_RANGE[1]:
            raise ValueError(f"swing must be between {SWING_RANGE[0]} and {SWING_RANGE[1]} (got {self.swing})")
        if self.continue_from is not None and not Path(self.continue_from).is_file():
            raise ValueError(f"--continue file not found: {self.continue_from}")

    @property
    def total_bars(self) -> int:
        """Whole 4/4 bars nearest to the requested length (so the track is within half a bar of it)."""
        return max(3, round(self.minutes * self.bpm / 4))

    def to_dict(self) -> dict:
        data = asdict(self)
        data.pop("parsed_key")
        data["key"] = self.parsed_key.name
        data["continue_from"] = str(self.continue_from) if self.continue_from else None
        return data

    def fingerprint(self, model_id: str) -> str:
        """Same request, seed and model: same fingerprint (and the same MIDI)."""
        blob = json.dumps({**self.to_dict(), "model": model_id}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()


PARTS = {"drums": "drums", "bass": "bass", "keys": "harmony", "lead": "melody"}  # what a user names -> its role


@dataclass(frozen=True)
class VaryRequest:
    part: str  # drums, bass, keys or lead
    section: str | None = None  # a section's name in the track's form ("A", "B'", "breakdown"); None: all
    seed: int | None = None
    temperature: float = 0.95

    def __post_init__(self):
        if self.part not in PARTS:
            raise ValueError(f"part must be one of {', '.join(PARTS)} (got {self.part!r})")
        if self.seed is not None and not 0 <= self.seed < 2**32:
            raise ValueError(f"seed must be between 0 and {2**32 - 1} (got {self.seed})")
