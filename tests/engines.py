"""Stand-in inference engines for the decoder's tests: logits chosen by the test, no model."""

from __future__ import annotations

import zlib

import numpy as np
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

    def truncate(self, row, length):
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

    def extend(self, row, ids):
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

    def extend(self, row, ids):
        return self._noise()

    def step(self, tokens):
        return self._noise(len(tokens))


class ContextLogits(StubEngine):
    """An engine whose logits are a fixed function of the row's whole context, as a real model's are: a
    row gets the same logits whether its tokens came one step at a time or several in one extend."""

    name = "context"

    def __init__(self, vocab_size: int, scale: float = 2.0, n_positions: int = 1 << 20):
        self.vocab_size, self.scale, self.n_positions = vocab_size, scale, n_positions
        self.contexts: list[list[int]] = []

    def reserve(self, rows):
        self.contexts += [[] for _ in range(rows - len(self.contexts))]

    def copy(self, src, dst):
        self.contexts[dst] = list(self.contexts[src])

    def move(self, src, dst):
        self.contexts[dst] = self.contexts[src]
        if src != dst:
            self.contexts[src] = []

    def length(self, row):
        return len(self.contexts[row])

    def truncate(self, row, length):
        assert 0 < length <= len(self.contexts[row]), f"row {row} cut to {length} of {len(self.contexts[row])}"
        del self.contexts[row][length:]

    def _logits(self, row):
        seed = zlib.crc32(np.asarray(self.contexts[row], np.int64).tobytes())
        return torch.from_numpy(np.random.default_rng(seed).normal(0, self.scale, self.vocab_size).astype(np.float32))

    def prefill(self, row, ids):
        self.contexts[row] = list(ids)
        return self._logits(row)

    def extend(self, row, ids):
        self.contexts[row] += list(ids)
        assert len(self.contexts[row]) <= self.n_positions, f"row {row} holds {len(self.contexts[row])} tokens"
        return self._logits(row)

    def step(self, tokens):
        for row, token in enumerate(tokens.tolist()):
            self.contexts[row].append(token)
        return torch.stack([self._logits(row) for row in range(len(tokens))])
