"""Sampling as the decoder does it (DecodeBatch._sample), on fixed logits from a stub engine."""

from collections import Counter
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from lofi.model.generate import Continuation, DecodeBatch
from lofi.model.sampling import SamplingConfig
from lofi.tokens.dataset import PREFIX_LEN

PROMPT = [0] * PREFIX_LEN + [2, 0]  # past the condition prefix: the grammar reads the last token, 0


class FixedLogits:
    """An engine whose next-token logits are always the same."""

    name, n_positions = "fixed", 64

    def __init__(self, logits):
        self.logits = torch.tensor(logits, dtype=torch.float32)
        self.vocab_size = len(logits)

    def reserve(self, rows):
        pass

    def prefill(self, row, ids):
        return self.logits.clone()

    def step(self, tokens):
        return self.logits.expand(len(tokens), -1).clone()

    def copy(self, src, dst):
        pass

    def move(self, src, dst):
        pass

    def length(self, row):
        return 0


def grammar(vocab, allowed_after=None):
    """A grammar allowing every token, or ``allowed_after[previous]`` after ``previous``."""
    masks = torch.ones(vocab, vocab, dtype=torch.bool)
    for previous, allowed in (allowed_after or {}).items():
        masks[previous] = False
        masks[previous, allowed] = True
    return SimpleNamespace(tok=SimpleNamespace(bar_id=0), masks=masks, start_mask=torch.ones(vocab, dtype=torch.bool))


def draws(logits, n=2000, seed=1, prompt=PROMPT, rules=None, **sampling):
    batch = DecodeBatch(FixedLogits(logits))
    batch.add(Continuation(prompt, 1, grammar(len(logits), rules), SamplingConfig(**sampling), seed=seed))
    with torch.inference_mode():
        return [batch._sample()[0] for _ in range(n)]


def test_top_k_keeps_exactly_the_k_best():
    assert set(draws([1.0, 5.0, 3.0, 4.0, 2.0], top_k=2, top_p=1.0)) == {1, 3}


def test_top_p_keeps_the_smallest_set_reaching_p():
    logits = np.log([0.5, 0.3, 0.15, 0.05]).tolist()
    assert set(draws(logits, top_k=0, top_p=0.75, temperature=1.0)) == {0, 1}
    # the most likely token survives any p
    assert set(draws(logits, top_k=0, top_p=0.01, temperature=1.0)) == {0}


def test_draws_follow_the_probabilities_at_temperature():
    probs = np.array([0.5, 0.3, 0.2])
    for temperature in (1.0, 0.5):
        counts = Counter(draws(np.log(probs).tolist(), n=4000, top_k=0, top_p=1.0, temperature=temperature))
        expected = probs ** (1 / temperature) / (probs ** (1 / temperature)).sum()
        assert np.abs(np.array([counts[i] for i in range(3)]) / 4000 - expected).max() < 0.03


def test_the_grammar_masks_tokens_after_the_previous_one():
    # after PROMPT's last token only 3 and 4 may come, though 0 is far more likely
    rules = {0: [3, 4]}
    assert set(draws([9.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], top_k=0, top_p=1.0, rules=rules)) == {3, 4}


def test_repetition_guard_blocks_a_run_at_its_limit_only():
    logits = [0.0, 8.0, 0.0]
    at_limit = draws(logits, n=300, prompt=[*PROMPT, 1, 1, 1], repeat_limit=3, top_k=0, top_p=1.0)
    assert 1 not in at_limit
    below = draws(logits, n=300, prompt=[*PROMPT, 2, 1, 1], repeat_limit=3, top_k=0, top_p=1.0)
    assert Counter(below)[1] > 250


def test_a_rows_draws_depend_on_its_seed_only():
    logits = torch.randn(50, generator=torch.Generator().manual_seed(1)).tolist()
    alone = draws(logits, n=50, seed=7)
    assert alone == draws(logits, n=50, seed=7)
    assert alone != draws(logits, n=50, seed=8)
    batch = DecodeBatch(FixedLogits(logits))
    for seed in (8, 7, 9):
        batch.add(Continuation(PROMPT, 1, grammar(50), SamplingConfig(), seed=seed))
    with torch.inference_mode():
        assert [batch._sample()[1] for _ in range(50)] == alone


@pytest.mark.parametrize("kwargs", [{"temperature": 0}, {"top_k": -1}, {"top_p": 0}, {"top_p": 1.5}])
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(ValueError):
        SamplingConfig(**kwargs)
