"""How to sample next tokens: the settings. The sampling itself is batched, in lofi.model.generate."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SamplingConfig:
    temperature: float = 0.95
    top_k: int = 24
    top_p: float = 0.95
    repeat_limit: int = 16  # the same token at most this many times in a row (stops degenerate loops)

    def __post_init__(self):
        if self.temperature <= 0:
            raise ValueError("temperature must be above 0")
        if self.top_k < 0:
            raise ValueError("top_k must be 0 (off) or more")
        if not 0 < self.top_p <= 1:
            raise ValueError("top_p must be in (0, 1]")
