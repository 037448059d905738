import pytest
import torch

from lofi.model import build_model, load_checkpoint, model_config, save_checkpoint
from lofi.tokens.tokenizer import LofiTokenizer


@pytest.fixture(scope="session")
def untrained_checkpoint(tmp_path_factory):
    """A tiny, untrained model: the constraints alone must make its output well-formed."""
    tok = LofiTokenizer.create()
    torch.manual_seed(0)
    config = model_config("tiny", tok.vocab_size)
    path = tmp_path_factory.mktemp("models") / "tiny-untrained"
    save_checkpoint(path, build_model(config), config, tok.to_dict(), {"note": "untrained, for tests"})
    return load_checkpoint(path)
