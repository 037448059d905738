"""lofi's model: a GPT-2 over MIDI tokens, its checkpoint folder and its training loop.

The names load on first use (PEP 562), so that checking a checkpoint folder and reading its model id
(``lofi.model.meta``), as the API server does, imports no torch.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lofi.model.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
    from lofi.model.config import SIZES, ModelConfig, build_model, model_config
    from lofi.model.train import TokenWindows, TrainConfig, TrainResult, train

__all__ = [
    "SIZES",
    "Checkpoint",
    "ModelConfig",
    "TokenWindows",
    "TrainConfig",
    "TrainResult",
    "build_model",
    "load_checkpoint",
    "model_config",
    "save_checkpoint",
    "train",
]


def __getattr__(name: str):
    if name in ("Checkpoint", "load_checkpoint", "save_checkpoint"):
        from lofi.model.checkpoint import Checkpoint, load_checkpoint, save_checkpoint

        found = {"Checkpoint": Checkpoint, "load_checkpoint": load_checkpoint, "save_checkpoint": save_checkpoint}
    elif name in ("SIZES", "ModelConfig", "build_model", "model_config"):
        from lofi.model.config import SIZES, ModelConfig, build_model, model_config

        found = {"SIZES": SIZES, "ModelConfig": ModelConfig, "build_model": build_model, "model_config": model_config}
    elif name in ("TokenWindows", "TrainConfig", "TrainResult", "train"):
        from lofi.model.train import TokenWindows, TrainConfig, TrainResult, train

        found = {"TokenWindows": TokenWindows, "TrainConfig": TrainConfig, "TrainResult": TrainResult, "train": train}
    else:
        raise AttributeError(f"module 'lofi.model' has no attribute {name!r}")
    globals().update(found)  # the next use finds them
    return found[name]


class _Model(ModuleType):
    def __setattr__(self, name: str, value: object) -> None:
        # importing the submodule lofi.model.train sets this package's "train" to it: the function keeps the name
        if name == "train" and isinstance(value, ModuleType):
            value = value.train
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Model
