import json

import pytest

from lofi.model import SIZES, ModelConfig, build_model, model_config
from lofi.model.config import count_parameters

VOCAB = 500


def test_sizes_build_the_named_shapes_in_growing_order() -> None:
    counts = []
    for size in ("tiny", "small", "base"):
        model = build_model(model_config(size, VOCAB))
        for name, value in SIZES[size].items():
            assert getattr(model.config, name) == value
        counts.append(count_parameters(model))
    assert counts == sorted(counts)
    assert counts[0] < 200_000 < 3_000_000 < counts[1] < 5_000_000 < 20_000_000 < counts[2]


def test_the_output_layer_shares_the_input_embedding() -> None:
    model = build_model(model_config("tiny", VOCAB))
    assert model.lm_head.weight is model.transformer.wte.weight


def test_unknown_size_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="tiny, small, base"):
        model_config("huge", VOCAB)


def test_overrides_replace_size_defaults() -> None:
    config = model_config("tiny", VOCAB, dropout=0.0, n_positions=128)
    assert (config.dropout, config.n_positions, config.n_layer) == (0.0, 128, 2)
    gpt2 = config.to_gpt2()
    assert (gpt2.attn_pdrop, gpt2.n_positions, gpt2.vocab_size) == (0.0, 128, VOCAB)


@pytest.mark.parametrize("size", list(SIZES))
def test_config_round_trips_through_json(size: str) -> None:
    config = model_config(size, VOCAB, dropout=0.05, bos_id=7)
    assert ModelConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"n_head": 3}, "multiple of n_head"),
        ({"vocab_size": 0}, "vocab_size"),
        ({"dropout": 1.0}, "dropout"),
        ({"eos_id": VOCAB}, "eos_id"),
        ({"n_lyer": 4}, "unknown ModelConfig keys: n_lyer"),
    ],
)
def test_bad_configs_are_refused(change: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ModelConfig.from_dict({**model_config("tiny", VOCAB).to_dict(), **change})
