import pytest
import torch

from lofi.model.sampling import SamplingConfig, repetition_guard, sample, top_k_filter, top_p_filter


def test_top_k_keeps_exactly_the_k_best():
    logits = torch.tensor([1.0, 5.0, 3.0, 4.0, 2.0])
    kept = torch.isfinite(top_k_filter(logits, 2)).nonzero().flatten().tolist()
    assert kept == [1, 3]


def test_top_p_keeps_the_smallest_set_reaching_p():
    probs = torch.tensor([0.5, 0.3, 0.15, 0.05])
    kept = torch.isfinite(top_p_filter(probs.log(), 0.75)).nonzero().flatten().tolist()
    assert kept == [0, 1]
    # the most likely token survives any p
    assert torch.isfinite(top_p_filter(probs.log(), 0.01)).nonzero().flatten().tolist() == [0]


def test_repetition_guard_blocks_a_run_at_its_limit_only():
    logits = torch.zeros(4)
    assert torch.isinf(repetition_guard(logits, [2, 2, 2], 3)[2])
    assert torch.isfinite(repetition_guard(logits, [1, 2, 2], 3)).all()


def test_sampling_is_reproducible_for_a_seed_and_respects_masks():
    logits = torch.randn(50, generator=torch.Generator().manual_seed(1))
    logits[10:] = float("-inf")
    config = SamplingConfig(temperature=1.0, top_k=0, top_p=1.0)
    a = [sample(logits, config, torch.Generator().manual_seed(7)) for _ in range(5)]
    b = [sample(logits, config, torch.Generator().manual_seed(7)) for _ in range(5)]
    assert a == b
    gen = torch.Generator().manual_seed(3)
    assert all(sample(logits, config, gen) < 10 for _ in range(200))


@pytest.mark.parametrize("kwargs", [{"temperature": 0}, {"top_k": -1}, {"top_p": 0}, {"top_p": 1.5}])
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(ValueError):
        SamplingConfig(**kwargs)
