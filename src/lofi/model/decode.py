"""Continue a token sequence by a given number of bars, with the KV cache and the constraints."""

from __future__ import annotations

import torch

from lofi.model.constraints import Grammar
from lofi.model.sampling import SamplingConfig, repetition_guard, sample
from lofi.tokens.dataset import PREFIX_LEN

MAX_TOKENS_PER_BAR = 320  # a guard: a dense bar of four parts stays well under this


def _window(ids: list[int], limit: int, bar_id: int) -> list[int]:
    """The condition prefix plus the longest tail that starts on a bar and fits in ``limit`` tokens."""
    if len(ids) <= limit:
        return ids
    body = ids[PREFIX_LEN:]
    keep = limit // 2  # slide by half a window so the cache is rebuilt rarely
    tail_start = len(body) - keep
    while tail_start < len(body) and body[tail_start] != bar_id:
        tail_start += 1
    return ids[:PREFIX_LEN] + body[tail_start:]


@torch.inference_mode()
def continue_bars(
    model,
    prompt: list[int],
    bars: int,
    grammar: Grammar,
    sampling: SamplingConfig,
    generator: torch.Generator,
) -> list[int]:
    """New tokens holding exactly ``bars`` bars (each opened by a Bar token) after ``prompt``."""
    bar_id = grammar.tok.bar_id
    limit = model.config.n_positions
    context = _window(list(prompt), limit - 1, bar_id)
    out = model(input_ids=torch.tensor([context]), use_cache=True)
    past, logits = out.past_key_values, out.logits[0, -1]
    new: list[int] = []
    history = list(context)
    bars_done = 0
    budget = bars * MAX_TOKENS_PER_BAR
    while len(new) < budget:
        at_start = not new and len(prompt) <= PREFIX_LEN
        masked = grammar.apply(logits.float(), history[-1], at_start)
        masked = repetition_guard(masked, history, sampling.repeat_limit)
        token = sample(masked, sampling, generator)
        if token == bar_id:
            if bars_done == bars:
                break
            bars_done += 1
        new.append(token)
        history.append(token)
        if len(context) + 1 >= limit:  # the window is full: slide it and rebuild the cache
            context = _window(history, limit - 1, bar_id)
            out = model(input_ids=torch.tensor([context]), use_cache=True)
        else:
            context.append(token)
            out = model(input_ids=torch.tensor([[token]]), past_key_values=past, use_cache=True)
        past, logits = out.past_key_values, out.logits[0, -1]
    # a section that ran out of budget is closed with empty bars, so the form keeps its length
    new += [bar_id] * (bars - bars_done)
    return new
