"""lofi's model: a GPT-2 over MIDI tokens, its checkpoint folder and its training loop."""

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
