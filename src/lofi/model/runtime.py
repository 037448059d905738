"""How torch runs here: thread count for decoding."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

# Batch-1 decoding gains little from a second thread, and while another process holds a core a
# two-thread decode runs many times slower; one thread is the safe default for composing.
DECODE_THREADS = 1


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run the block with ``count`` torch threads (0 keeps the current setting), then restore."""
    before = torch.get_num_threads()
    if count > 0:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)
