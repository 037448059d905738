"""Beam search: the likeliest continuation of a fixed length, for short sections (a fill, an ending).

Sampling is the default (lo-fi wants variety); beam search keeps the ``width`` best partial sequences
by summed log-probability, with the grammar's masks applied, on any engine: the beams are the engine's
rows, and a beam that is kept twice is copied (``Engine.copy``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from lofi.model.constraints import Grammar
from lofi.model.engines.base import Engine
from lofi.model.generate import decode_table


@torch.inference_mode()
def beam_search(engine: Engine, prompt: Sequence[int], steps: int, width: int = 4,
                grammar: Grammar | None = None) -> tuple[list[int], float]:  # fmt: skip
    """The ``steps`` new tokens with the highest summed log-probability among the beams, and that sum."""
    if len(prompt) + steps > engine.n_positions:
        raise ValueError("beam search does not slide the window: prompt + steps must fit the model")
    engine.reserve(2 * width)  # rows width.. are scratch for reordering the beams
    logits = engine.prefill(0, list(prompt))[None]
    beams: list[list[int]] = [[]]
    scores = torch.zeros(1)
    table = torch.from_numpy(decode_table(grammar)) if grammar is not None else None
    for _ in range(steps):
        logprobs = torch.log_softmax(logits.float(), dim=-1)
        if table is not None:
            previous = torch.tensor([b[-1] if b else prompt[-1] for b in beams])
            logprobs = logprobs.masked_fill(~table[previous], float("-inf"))
        total = (scores[:, None] + logprobs).flatten()
        top = torch.topk(total, min(width, int(torch.isfinite(total).sum())))
        vocab = logprobs.shape[-1]
        parents, tokens = (top.indices // vocab).tolist(), (top.indices % vocab).tolist()
        # beam i continues parents[i]: through the scratch rows, so no parent is overwritten before use
        for i, parent in enumerate(parents):
            engine.copy(parent, width + i)
        for i in range(len(parents)):
            engine.move(width + i, i)
        beams = [beams[p] + [t] for p, t in zip(parents, tokens, strict=True)]
        scores = top.values
        logits = engine.step(torch.tensor(tokens))
    best = int(scores.argmax())
    return beams[best], float(scores[best])
