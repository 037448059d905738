"""What every inference engine offers the decoder: a KV cache of numbered rows, filled and stepped.

The decoder (lofi.model.generate) owns sampling, constraints and stopping; an engine only turns token
ids into next-token logits. Rows are kept compact: the rows in use are always 0..n-1, and the decoder
moves the last row into a freed one (``move``) when a sequence leaves the batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import torch


class Engine(Protocol):
    name: str
    n_positions: int  # longest context a row may hold
    vocab_size: int

    def reserve(self, rows: int) -> None:
        """Make room for at least ``rows`` rows (the cache may grow; rows in use keep their contents)."""
        ...

    def prefill(self, row: int, ids: Sequence[int]) -> torch.Tensor:
        """Replace ``row``'s context with ``ids``; the fp32 logits [vocab] after its last token."""
        ...

    def extend(self, row: int, ids: Sequence[int]) -> torch.Tensor:
        """Append ``ids`` to ``row``'s context in one pass; the fp32 logits [vocab] after the last of them."""
        ...

    def truncate(self, row: int, length: int) -> None:
        """Forget ``row``'s context past its first ``length`` tokens (a bar written again starts there)."""
        ...

    def copy(self, src: int, dst: int) -> None:
        """Give ``dst`` the same context as ``src`` (tries of one section share their prompt)."""
        ...

    def move(self, src: int, dst: int) -> None:
        """Move ``src``'s context into ``dst``; ``src`` is free afterwards."""
        ...

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        """Append one token (int64 [n]) to each of rows 0..n-1; their fp32 logits [n, vocab]."""
        ...

    def length(self, row: int) -> int:
        """Tokens in ``row``'s context."""
        ...
