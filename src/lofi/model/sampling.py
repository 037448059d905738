"""Sampling from next-token logits: small pieces that compose, each a plain function."""

from __future__ import annotations

from dataclasses import dataclass

import torch


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


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    if 0 < k < logits.shape[-1]:
        kth = torch.topk(logits, k).values[..., -1, None]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    return logits


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    if p >= 1.0:
        return logits
    sorted_logits, order = torch.sort(logits, descending=True)
    cumulative = torch.softmax(sorted_logits, dim=-1).cumsum(dim=-1)
    # drop a token once the mass before it already reaches p; the most likely token always stays
    drop = (cumulative - torch.softmax(sorted_logits, dim=-1)) >= p
    sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
    return torch.empty_like(logits).scatter_(-1, order, sorted_logits)


def repetition_guard(logits: torch.Tensor, history: list[int], limit: int) -> torch.Tensor:
    """Forbid a token that has already come ``limit`` times in a row."""
    if limit and len(history) >= limit and len(set(history[-limit:])) == 1:
        logits = logits.clone()
        logits[..., history[-1]] = float("-inf")
    return logits


def sample(logits: torch.Tensor, config: SamplingConfig, generator: torch.Generator) -> int:
    """One token id from 1-D logits (already masked by constraints)."""
    logits = top_k_filter(logits / config.temperature, config.top_k)
    logits = top_p_filter(logits, config.top_p)
    probs = torch.softmax(logits, dim=-1)
    return int(torch.multinomial(probs, 1, generator=generator))
