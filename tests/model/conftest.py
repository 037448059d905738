"""A synthetic TokenWindows: arithmetic runs a tiny model learns in a hundred steps."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from torch import Tensor

from lofi.model import ModelConfig, model_config

PAD, BOS, EOS = 0, 1, 2
FIRST = 3  # first note-like token id
VOCAB = 32
STEPS = (1, 2, 3)  # a run climbs by one of these, modulo the notes: predictable after two tokens


def arithmetic_runs(n: int, length: int, seed: int) -> Tensor:
    """n sequences of `length` ids: BOS, a run of FIRST + (start + i*step) % notes, EOS, then PAD."""
    g = torch.Generator().manual_seed(seed)
    notes = VOCAB - FIRST
    seqs = torch.full((n, length), PAD, dtype=torch.long)
    for row in seqs:
        run = int(torch.randint(length // 4, length - 1, (1,), generator=g))
        start = int(torch.randint(notes, (1,), generator=g))
        step = STEPS[int(torch.randint(len(STEPS), (1,), generator=g))]
        row[0] = BOS
        row[1 : run + 1] = FIRST + (start + step * torch.arange(run)) % notes
        row[run + 1] = EOS
    return seqs


def windows(seqs: Tensor, block_size: int) -> tuple[Tensor, Tensor]:
    chunk = seqs[:, : block_size + 1]
    x, y = chunk[:, :-1].clone(), chunk[:, 1:].clone()
    y[y == PAD] = -100
    return x, y


class ArithmeticWindows:
    vocab_size = VOCAB

    def __init__(self, n_train: int = 256, n_val: int = 32, length: int = 65) -> None:
        self.train = arithmetic_runs(n_train, length, seed=1)
        self.val = arithmetic_runs(n_val, length, seed=2)

    def batch(self, split: str, batch_size: int, block_size: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        seqs = self.train if split == "train" else self.val
        rows = torch.randint(len(seqs), (batch_size,), generator=generator)
        return windows(seqs[rows], block_size)

    def val_batches(self, batch_size: int, block_size: int) -> Iterator[tuple[Tensor, Tensor]]:
        for i in range(0, len(self.val), batch_size):
            yield windows(self.val[i : i + batch_size], block_size)


@pytest.fixture
def data() -> ArithmeticWindows:
    return ArithmeticWindows()


@pytest.fixture
def tiny() -> ModelConfig:
    return model_config("tiny", VOCAB)


@pytest.fixture
def tokenizer() -> dict:
    return {"kind": "synthetic", "vocab": VOCAB, "special": {"PAD": PAD, "BOS": BOS, "EOS": EOS}}


@pytest.fixture
def one_thread() -> Iterator[None]:
    # Training tests run on one thread: two threads slow down 16x when another process (a parallel test
    # worker) holds a core, and one thread keeps the CPU maths bitwise repeatable.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    return tmp_path / "run"
