"""Stand-in inference engines for the decoder's tests: logits chosen by the test, no model."""

from __future__ import annotations

import torch


class StubEngine:
    """The Engine protocol (lofi.model.engines.base) with no cache: subclasses say what the logits are."""

    name, n_positions = "stub", 1 << 20

    def reserve(self, rows):
        pass

    def copy(self, src, dst):
        pass

    def move(self, src, dst):
        pass

    def length(self, row):
        return 0


class FixedLogits(StubEngine):
    """An engine whose next-token logits are always the same."""

    name = "fixed"

    def __init__(self, logits):
        self.logits = torch.tensor(logits, dtype=torch.float32)
        self.vocab_size = len(logits)

    def prefill(self, row, ids):
        return self.logits.clone()

    def step(self, tokens):
        return self.logits.expand(len(tokens), -1).clone()


class RandomLogits(StubEngine):
    """An engine whose logits are fresh normal noise at every step (its own seeded stream)."""

    name = "random"

    def __init__(self, vocab_size: int, seed: int, scale: float = 2.0):
        self.vocab_size, self.scale = vocab_size, scale
        self.generator = torch.Generator().manual_seed(seed)

    def _noise(self, *shape: int) -> torch.Tensor:
        return torch.randn(*shape, self.vocab_size, generator=self.generator) * self.scale

    def prefill(self, row, ids):
        return self._noise()

    def step(self, tokens):
        return self._noise(len(tokens))
