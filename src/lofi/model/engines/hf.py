"""The reference engine: transformers' own GPT-2 forward and its cache, one row at a time.

This is what lofi decoded with before the faster engines (a loop over its forward pass and cache), kept to
check them against: same logits to float rounding, hence the same tokens. The benchmark's baseline is
transformers' ``generate()`` itself (bench/generate.py).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from transformers import GPT2LMHeadModel


class HFEngine:
    name = "hf"

    def __init__(self, model: GPT2LMHeadModel, name: str | None = None):
        self.model = model.eval()
        self.name = name or self.name
        self.n_positions = model.config.n_positions
        self.vocab_size = model.config.vocab_size
        self.device = next(model.parameters()).device
        self.caches: list[object] = []
        self.lens: list[int] = []

    def reserve(self, rows: int) -> None:
        grow = rows - len(self.caches)
        self.caches += [None] * grow
        self.lens += [0] * grow

    def length(self, row: int) -> int:
        return self.lens[row]

    def prefill(self, row: int, ids: Sequence[int]) -> torch.Tensor:
        self.caches[row], self.lens[row] = None, 0
        return self.extend(row, ids)

    @torch.inference_mode()
    def extend(self, row: int, ids: Sequence[int]) -> torch.Tensor:
        if not 0 < len(ids) <= self.n_positions - self.lens[row]:
            raise ValueError(
                f"row {row} holds {self.lens[row]} of {self.n_positions} tokens: no room for {len(ids)} more"
            )
        out = self.model(input_ids=torch.tensor([list(ids)], device=self.device), past_key_values=self.caches[row],
                         use_cache=True)  # fmt: skip
        self.caches[row], self.lens[row] = out.past_key_values, self.lens[row] + len(ids)
        return out.logits[0, -1].float().cpu()

    def truncate(self, row: int, length: int) -> None:
        if length < self.lens[row]:
            self.caches[row].crop(length - self.lens[row])  # this transformers takes how many to drop, negated
            self.lens[row] = length

    def copy(self, src: int, dst: int) -> None:
        self.caches[dst], self.lens[dst] = copy.deepcopy(self.caches[src]), self.lens[src]

    def move(self, src: int, dst: int) -> None:
        self.caches[dst], self.lens[dst] = self.caches[src], self.lens[src]
        if src != dst:
            self.caches[src], self.lens[src] = None, 0

    @torch.inference_mode()
    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        rows = []
        for row, token in enumerate(tokens.tolist()):
            out = self.model(input_ids=torch.tensor([[token]], device=self.device),
                             past_key_values=self.caches[row], use_cache=True)  # fmt: skip
            self.caches[row] = out.past_key_values
            self.lens[row] += 1
            rows.append(out.logits[0, -1])
        return torch.stack(rows).float().cpu()
