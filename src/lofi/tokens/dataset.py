"""Token sequences on disk and the training windows cut from them.

A split is stored as one ``.npz``: ``tokens`` (all pieces' ids end to end, uint16) and ``offsets``
(where each piece starts; n+1 entries). Each piece begins with its condition prefix.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch

from lofi.files import atomic_write

PREFIX_LEN = 4  # BOS Mood Key Tempo
IGNORE = -100


def save_split(path: Path, sequences: Sequence[Sequence[int]]) -> None:
    """Write sequences atomically (a temporary file renamed into place)."""
    offsets = np.zeros(len(sequences) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(s) for s in sequences])
    tokens = np.fromiter((t for s in sequences for t in s), dtype=np.uint16, count=int(offsets[-1]))

    def write(tmp: Path) -> None:
        with tmp.open("wb") as fh:  # a file object: np.savez would add ".npz" to a bare name
            np.savez(fh, tokens=tokens, offsets=offsets)

    atomic_write(path, write)


def load_split(path: Path) -> list[np.ndarray]:
    with np.load(path) as data:
        tokens, offsets = data["tokens"].astype(np.int64), data["offsets"]
    return [tokens[offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1)]


class WindowDataset:
    """Bar-aligned windows, each led by its piece's condition prefix (the ``TokenWindows`` protocol)."""

    def __init__(self, splits: dict[str, list[np.ndarray]], vocab_size: int, bar_id: int, pad_id: int):
        self.vocab_size = vocab_size
        self.pad_id = pad_id
        self.splits = {name: [s for s in seqs if len(s) > PREFIX_LEN + 1] for name, seqs in splits.items()}
        # window starts: every bar token of the body
        self.bar_starts = {
            name: [np.flatnonzero(s[PREFIX_LEN:] == bar_id) + PREFIX_LEN for s in seqs]
            for name, seqs in self.splits.items()
        }

    @classmethod
    def from_dir(cls, directory: Path, vocab_size: int, bar_id: int, pad_id: int) -> WindowDataset:
        splits = {name: load_split(directory / f"{name}.npz") for name in ("train", "val")}
        return cls(splits, vocab_size, bar_id, pad_id)

    def token_count(self, split: str) -> int:
        return int(sum(len(s) for s in self.splits[split]))

    def _window(self, seq: np.ndarray, start: int, block_size: int) -> tuple[np.ndarray, np.ndarray]:
        body = seq[start : start + block_size + 1 - PREFIX_LEN]
        ids = np.concatenate([seq[:PREFIX_LEN], body])
        x = np.full(block_size, self.pad_id, dtype=np.int64)
        y = np.full(block_size, IGNORE, dtype=np.int64)
        n = min(len(ids) - 1, block_size)
        x[:n] = ids[:n]
        y[:n] = ids[1 : n + 1]
        # the condition tokens are given, not predicted: only the body's first token onwards counts
        y[: PREFIX_LEN - 1] = IGNORE
        return x, y

    def batch(
        self, split: str, batch_size: int, block_size: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        seqs, starts = self.splits[split], self.bar_starts[split]
        # pieces are drawn in proportion to their length, so every token is equally likely to be seen
        weights = torch.tensor([len(s) for s in seqs], dtype=torch.float)
        picks = torch.multinomial(weights, batch_size, replacement=True, generator=generator).tolist()
        xs, ys = [], []
        for i in picks:
            candidates = starts[i] if len(starts[i]) else np.array([PREFIX_LEN])
            j = int(torch.randint(len(candidates), (1,), generator=generator))
            x, y = self._window(seqs[i], int(candidates[j]), block_size)
            xs.append(x)
            ys.append(y)
        return torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ys))

    def val_batches(
        self, batch_size: int, block_size: int, limit: int = 64
    ) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
        """A fixed set of windows: each validation piece cut at bar starts one block apart."""
        windows = []
        for seq, bars in zip(self.splits["val"], self.bar_starts["val"], strict=True):
            next_free = 0
            for b in bars if len(bars) else [PREFIX_LEN]:
                if b >= next_free:
                    windows.append(self._window(seq, int(b), block_size))
                    next_free = b + block_size - PREFIX_LEN
        windows = windows[: limit * batch_size]
        for k in range(0, len(windows), batch_size):
            chunk = windows[k : k + batch_size]
            yield (
                torch.from_numpy(np.stack([w[0] for w in chunk])),
                torch.from_numpy(np.stack([w[1] for w in chunk])),
            )
