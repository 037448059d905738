import json
from pathlib import Path

import pytest
import safetensors.torch
import torch

from lofi.model import ModelConfig, build_model, load_checkpoint, save_checkpoint
from lofi.model.config import weight_shapes
from lofi.model.meta import read_meta, read_model_id

CARD = {"name": "lofi-test", "data": "synthetic arithmetic runs", "losses": {"train": 1.25, "val": 1.5}}


def make_model(config: ModelConfig, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model(config).eval()


def logits(model: torch.nn.Module) -> torch.Tensor:
    x = torch.arange(3, 3 + 24).reshape(2, 12)
    with torch.no_grad():
        return model(x).logits


def test_round_trip_gives_identical_logits(tmp_path: Path, tiny: ModelConfig, tokenizer: dict) -> None:
    model = make_model(tiny)
    save_checkpoint(tmp_path / "ckpt", model, tiny, tokenizer, CARD)
    loaded = load_checkpoint(tmp_path / "ckpt")
    assert torch.equal(logits(loaded.model), logits(model))
    assert not loaded.model.training
    assert (loaded.config, loaded.tokenizer, loaded.card) == (tiny, tokenizer, CARD)
    assert loaded.model.lm_head.weight is loaded.model.transformer.wte.weight


def test_folder_holds_weights_once_metadata_and_card(tmp_path: Path, tiny: ModelConfig, tokenizer: dict) -> None:
    path = save_checkpoint(tmp_path / "ckpt", make_model(tiny), tiny, tokenizer, CARD)
    assert sorted(p.name for p in path.iterdir()) == ["MODEL_CARD.md", "lofi.json", "model.safetensors"]
    weights = safetensors.torch.load_file(path / "model.safetensors")
    assert "transformer.wte.weight" in weights
    assert "lm_head.weight" not in weights  # tied: stored once
    meta = json.loads((path / "lofi.json").read_text())
    assert meta["format"] == 1
    assert meta["model"] == tiny.to_dict()
    card = (path / "MODEL_CARD.md").read_text()
    assert card.startswith("# lofi-test\n")
    assert "synthetic arithmetic runs" in card
    assert "## Losses" in card
    assert "- `val`: 1.5" in card


def test_model_id_is_stable_and_follows_the_weights(tmp_path: Path, tiny: ModelConfig, tokenizer: dict) -> None:
    model = make_model(tiny)
    save_checkpoint(tmp_path / "ckpt", model, tiny, tokenizer, CARD)
    first = load_checkpoint(tmp_path / "ckpt").model_id
    assert first.startswith("ckpt-")
    assert len(first) == len("ckpt-") + 12
    save_checkpoint(tmp_path / "ckpt", model, tiny, tokenizer, CARD)
    assert load_checkpoint(tmp_path / "ckpt").model_id == first
    with torch.no_grad():
        model.transformer.h[0].mlp.c_fc.bias[0] += 1e-3
    save_checkpoint(tmp_path / "ckpt", model, tiny, tokenizer, CARD)
    assert load_checkpoint(tmp_path / "ckpt").model_id != first


def _missing_folder(path: Path) -> None:
    import shutil

    shutil.rmtree(path)


def _truncate_weights(path: Path) -> None:
    file = path / "model.safetensors"
    file.write_bytes(file.read_bytes()[:1000])


def _edit_meta(**changes: object) -> callable:
    def edit(path: Path) -> None:
        meta = json.loads((path / "lofi.json").read_text())
        (path / "lofi.json").write_text(json.dumps({**meta, **changes}))

    return edit


def _wrong_shape(path: Path) -> None:
    meta = json.loads((path / "lofi.json").read_text())
    meta["model"]["vocab_size"] += 1
    (path / "lofi.json").write_text(json.dumps(meta))


@pytest.mark.parametrize(
    ("damage", "error", "message"),
    [
        (_missing_folder, FileNotFoundError, "no checkpoint folder"),
        (lambda p: (p / "lofi.json").unlink(), FileNotFoundError, "lofi.json missing"),
        (lambda p: (p / "model.safetensors").unlink(), FileNotFoundError, "model.safetensors missing"),
        (lambda p: (p / "lofi.json").write_text("{not json"), ValueError, "not valid JSON"),
        (_edit_meta(format=2), ValueError, "format 1, found 2"),
        (_edit_meta(tokenizer=None), ValueError, "'tokenizer' is missing"),
        (_edit_meta(model={"vocab_size": 32}), ValueError, "bad model config"),
        (_truncate_weights, ValueError, "does not hold weights"),
        (_wrong_shape, ValueError, "does not hold weights"),
    ],
    ids=["no folder", "no lofi.json", "no weights", "bad json", "format", "tokenizer", "config", "truncated", "shape"],
)
@pytest.mark.parametrize("read", [load_checkpoint, read_model_id], ids=["load", "model id"])
def test_damaged_checkpoint_gives_a_clear_error(
    tmp_path: Path, tiny: ModelConfig, tokenizer: dict, damage, error: type, message: str, read
) -> None:
    """Loading the model and reading its id without torch (the API server) refuse a folder alike."""
    path = save_checkpoint(tmp_path / "ckpt", make_model(tiny), tiny, tokenizer, CARD)
    damage(path)
    with pytest.raises(error, match=message):
        read(path)


def test_the_model_id_read_without_loading_is_the_loaded_ones(
    tmp_path: Path, tiny: ModelConfig, tokenizer: dict
) -> None:
    path = save_checkpoint(tmp_path / "ckpt", make_model(tiny), tiny, tokenizer, CARD)
    assert read_model_id(path) == load_checkpoint(path).model_id
    meta = read_meta(path)
    assert (meta.config, meta.tokenizer, meta.card) == (tiny, tokenizer, CARD)


@pytest.mark.parametrize("shape", [{}, {"n_layer": 3, "n_embd": 96, "n_head": 4}], ids=["tiny", "other"])
def test_weight_shapes_are_the_models(tiny: ModelConfig, shape: dict) -> None:
    """The header check's list is the model's own: every tensor of its state, the tied output layer once."""
    config = ModelConfig(**{**tiny.to_dict(), **shape})
    state = build_model(config).state_dict()
    assert weight_shapes(config) == {name: tuple(t.shape) for name, t in state.items() if name != "lm_head.weight"}


def _fail_midway(monkeypatch: pytest.MonkeyPatch) -> None:
    def half_written(tensors: dict, filename: str, metadata: dict | None = None) -> None:
        Path(filename).write_bytes(b"\x00" * 100)
        raise OSError("disk full")

    monkeypatch.setattr("lofi.model.checkpoint.save_file", half_written)


def test_interrupted_save_keeps_the_previous_checkpoint(
    tmp_path: Path, tiny: ModelConfig, tokenizer: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = make_model(tiny, seed=0)
    save_checkpoint(tmp_path / "ckpt", good, tiny, tokenizer, CARD)
    before = load_checkpoint(tmp_path / "ckpt").model_id

    _fail_midway(monkeypatch)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(tmp_path / "ckpt", make_model(tiny, seed=1), tiny, tokenizer, {"name": "new"})

    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"]  # no temporary folder left behind
    kept = load_checkpoint(tmp_path / "ckpt")
    assert kept.model_id == before
    assert kept.card == CARD
    assert torch.equal(logits(kept.model), logits(good))


def test_interrupted_first_save_leaves_nothing(
    tmp_path: Path, tiny: ModelConfig, tokenizer: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fail_midway(monkeypatch)
    with pytest.raises(OSError):
        save_checkpoint(tmp_path / "ckpt", make_model(tiny), tiny, tokenizer, CARD)
    assert list(tmp_path.iterdir()) == []
