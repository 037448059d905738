"""Magnitude pruning for bench/generate.py: zero the smallest weights of every projection matrix.

A measurement, not a feature: on a model this small, zeros do not run faster with dense kernels (the
ONNX and lean engines), so a pruned model composes no faster, and its quality cost grows with the
fraction (docs/BENCHMARKS.md). That is why lofi offers no pruning command.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


def projection_weights(model: nn.Module) -> list[torch.Tensor]:
    """The matrices of the transformer blocks (Conv1D or Linear), not embeddings or norms."""
    return [m.weight for m in model.modules() if type(m).__name__ in ("Conv1D", "Linear") and m.weight.dim() == 2
            and m.weight.data_ptr() != getattr(model, "lm_head", m).weight.data_ptr()]  # fmt: skip


def prune_magnitude(model: nn.Module, fraction: float) -> nn.Module:
    """A copy of ``model`` with ``fraction`` of each projection matrix's weights (the smallest) set to 0."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"fraction must be in [0, 1), got {fraction}")
    pruned = copy.deepcopy(model)
    with torch.no_grad():
        for weight in projection_weights(pruned):
            count = int(fraction * weight.numel())
            if count:
                # per matrix, so no layer loses more than the others
                smallest = weight.abs().flatten().argsort()[:count]
                weight.view(-1)[smallest] = 0.0
    return pruned


def sparsity(model: nn.Module) -> float:
    weights = projection_weights(model)
    return sum(int((w == 0).sum()) for w in weights) / sum(w.numel() for w in weights)
