"""A checkpoint is a self-describing folder: weights, model config, tokenizer config and model card.

model.safetensors   the weights (the tied input/output embedding is stored once)
lofi.json           {"format": 1, "model": ..., "tokenizer": ..., "card": ...}
MODEL_CARD.md       the card as readable Markdown
train_state.pt      only in a training run's last/: what resuming needs beyond the weights
"""

from __future__ import annotations

import json
import shutil
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_model, save_file

from lofi.model.config import ModelConfig, build_model
from lofi.model.meta import CARD, FORMAT, META, TRAIN_STATE, WEIGHTS, read_meta, sha256
from lofi.model.meta import model_id as checkpoint_model_id

if TYPE_CHECKING:
    from transformers import GPT2LMHeadModel

_building = threading.Lock()  # two engines asking for the torch model at once build it once


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


@dataclass
class Checkpoint:
    config: ModelConfig
    tokenizer: dict[str, Any]
    card: dict[str, Any]
    path: Path
    # Hashed when loaded, so the id names the weights in memory even if the folder is later replaced.
    weights_sha256: str = ""
    device: str = "cpu"
    built: GPT2LMHeadModel | None = field(default=None, repr=False)  # the torch model, once built

    @property
    def model(self) -> GPT2LMHeadModel:
        """The torch model, built from the weights on first use: the ONNX engines run from their exported
        graphs without it, so a process that only composes with them never imports transformers (~3 s)."""
        with _building:
            if self.built is None:
                model = build_model(self.config)
                try:
                    load_model(model, self.path / WEIGHTS, strict=True)
                except (SafetensorError, RuntimeError, OSError) as e:
                    raise ValueError(f"{self.path / WEIGHTS} does not hold weights for this model config: {e}") from e
                self.built = model.to(resolve_device(self.device)).eval()
            return self.built

    @property
    def model_id(self) -> str:
        return checkpoint_model_id(self.path, self.weights_sha256)


def save_checkpoint(
    path: Path,
    model: GPT2LMHeadModel,
    config: ModelConfig,
    tokenizer: dict[str, Any],
    card: dict[str, Any],
    *,
    train_state: dict[str, Any] | None = None,
) -> Path:
    """Write the checkpoint next to `path`, then rename it into place, so `path` is never half written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    old = path.with_name(f".{path.name}.old-{uuid.uuid4().hex[:8]}")
    for stale in path.parent.glob(f".{path.name}.tmp-*"):  # left by a save that was killed outright
        shutil.rmtree(stale, ignore_errors=True)
    try:
        tmp.mkdir()
        # Paths and other non-JSON values in a card are stored as their text.
        meta = {"format": FORMAT, "model": config.to_dict(), "tokenizer": tokenizer, "card": card}
        (tmp / META).write_text(json.dumps(meta, indent=2, default=str) + "\n")
        (tmp / CARD).write_text(render_card(card, title=card.get("name") or f"lofi model: {path.name}"))
        if train_state is not None:
            torch.save(train_state, tmp / TRAIN_STATE)
        _save_weights(model, tmp / WEIGHTS)
        # A directory cannot be renamed over another, so the old one steps aside first; it is
        # deleted only once the new one is in place.
        if path.exists():
            path.rename(old)
        tmp.rename(path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old.exists() and not path.exists():
            old.rename(path)
        raise
    shutil.rmtree(old, ignore_errors=True)
    return path


def _save_weights(model: GPT2LMHeadModel, file: Path) -> None:
    # safetensors refuses shared tensors: the tied output layer is the input embedding, so it is stored
    # once and load_model ties it back. (safetensors' save_model would do this too, but it records the
    # dropped names in a header whose key order varies from save to save, which would break model_id.)
    weights, seen = {}, set()
    for name, tensor in model.state_dict().items():
        if tensor.data_ptr() not in seen:
            seen.add(tensor.data_ptr())
            weights[name] = tensor.detach().contiguous()
    save_file(weights, str(file), metadata={"format": "pt"})


def load_checkpoint(path: Path, device: str = "cpu", *, build: bool = True) -> Checkpoint:
    """The checkpoint in ``path``; its torch model is built now, or with ``build=False`` when an engine
    first asks for it (a folder whose files and weights' header read_meta accepts loads either way)."""
    path = Path(path)
    meta = read_meta(path)  # the folder's files and the weights' header, checked before anything is built
    checkpoint = Checkpoint(meta.config, meta.tokenizer, meta.card, path, sha256(path / WEIGHTS), device)
    if build:
        checkpoint.model  # noqa: B018 (builds it)
    return checkpoint


def render_card(card: dict[str, Any], title: str) -> str:
    """Top-level values become a list under the title; nested dicts become their own sections."""
    lines = [f"# {title}"]
    scalars = [f"- `{k}`: {_fmt(v)}" for k, v in card.items() if not isinstance(v, dict) and k != "name"]
    if scalars:
        lines += ["", *scalars]
    for name, section in card.items():
        if isinstance(section, dict):
            lines += ["", f"## {name.replace('_', ' ').capitalize()}", ""]
            lines += [f"- `{k}`: {_fmt(v)}" for k, v in section.items()]
    return "\n".join(lines) + "\n"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple):
        return ", ".join(_fmt(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, default=str)
    return str(value)
