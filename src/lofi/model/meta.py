"""A checkpoint folder read without torch: lofi.json checked, the weights' header checked, the model id.

The API server checks its model and names it with these (it composes nothing, so it loads no torch);
``lofi.model.checkpoint.load_checkpoint`` runs the same checks before it builds the model, so both say the
same thing about a damaged folder.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safetensors import SafetensorError, safe_open

from lofi.model.config import ModelConfig, weight_shapes

FORMAT = 1
WEIGHTS = "model.safetensors"
META = "lofi.json"
CARD = "MODEL_CARD.md"
TRAIN_STATE = "train_state.pt"


@dataclass(frozen=True)
class CheckpointMeta:
    """What lofi.json says, its model config parsed."""

    path: Path
    config: ModelConfig
    tokenizer: dict[str, Any]
    card: dict[str, Any]


def read_meta(path: Path) -> CheckpointMeta:
    """The checkpoint folder at ``path``, checked without loading it: FileNotFoundError when the folder, its
    lofi.json or its weights are missing; ValueError when lofi.json is not a checkpoint's of this format or
    the weights' header does not name the tensors of its model config."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"no checkpoint folder at {path}")
    missing = [name for name in (META, WEIGHTS) if not (path / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{path} is not a lofi checkpoint: {' and '.join(missing)} missing")
    try:
        meta = json.loads((path / META).read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path / META} is not valid JSON: {e}") from e
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else meta
        raise ValueError(f"{path / META}: expected checkpoint format {FORMAT}, found {found!r}")
    for key in ("model", "tokenizer", "card"):
        if not isinstance(meta.get(key), dict):
            raise ValueError(f"{path / META}: '{key}' is missing or not an object")
    try:
        config = ModelConfig.from_dict(meta["model"])
    except (TypeError, ValueError) as e:
        raise ValueError(f"{path / META}: bad model config: {e}") from e
    check_weights(path / WEIGHTS, config)
    return CheckpointMeta(path, config, meta["tokenizer"], meta["card"])


def check_weights(file: Path, config: ModelConfig) -> None:
    """ValueError unless ``file``'s safetensors header names exactly the tensors of ``config``, in their
    shapes (the header only: the bytes are read when the model loads)."""
    try:
        with safe_open(file, framework="numpy") as weights:
            found = {name: tuple(weights.get_slice(name).get_shape()) for name in weights.keys()}  # noqa: SIM118 (not iterable)
    except (SafetensorError, OSError) as e:
        raise ValueError(f"{file} does not hold weights for this model config: {e}") from e
    expected = weight_shapes(config)
    if found != expected:
        wrong = sorted(name for name in found.keys() | expected.keys() if found.get(name) != expected.get(name))
        more = f" and {len(wrong) - 3} more" if len(wrong) > 3 else ""
        raise ValueError(
            f"{file} does not hold weights for this model config: "
            + ", ".join(f"{name} is {found.get(name)}, expected {expected.get(name)}" for name in wrong[:3])
            + more
        )


def model_id(path: Path, weights_sha256: str = "") -> str:
    """A checkpoint's id: its folder's name and the start of its weights' hash (hashed here when not given)."""
    path = Path(path)
    return f"{path.name}-{(weights_sha256 or sha256(path / WEIGHTS))[:12]}"


def read_model_id(path: Path) -> str:
    """The model id of the checkpoint folder at ``path``, checked as ``read_meta`` checks it (same errors)."""
    return model_id(read_meta(path).path)


def sha256(file: Path) -> str:
    digest = hashlib.sha256()
    with file.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
