"""The model's shape as a dataclass: a checkpoint stores its fields, so loading needs nothing else."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transformers import GPT2Config, GPT2LMHeadModel


@dataclass(frozen=True)
class ModelConfig:
    vocab_size: int
    n_layer: int
    n_head: int
    n_embd: int
    n_positions: int
    dropout: float = 0.1
    bos_id: int = 1
    eos_id: int = 2
    pad_id: int = 0

    def __post_init__(self) -> None:
        # Checked here because a config also arrives from a checkpoint's JSON, not only from code.
        for name in ("vocab_size", "n_layer", "n_head", "n_embd", "n_positions"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"ModelConfig.{name} must be a positive integer, got {value!r}")
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd ({self.n_embd}) must be a multiple of n_head ({self.n_head})")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        for name in ("bos_id", "eos_id", "pad_id"):
            value = getattr(self, name)
            if not isinstance(value, int) or not 0 <= value < self.vocab_size:
                raise ValueError(f"{name} must be a token id below vocab_size {self.vocab_size}, got {value!r}")

    def to_gpt2(self) -> GPT2Config:
        from transformers import GPT2Config  # here, so reading a config (the API's model check) needs no torch

        return GPT2Config(
            vocab_size=self.vocab_size,
            n_positions=self.n_positions,
            n_embd=self.n_embd,
            n_layer=self.n_layer,
            n_head=self.n_head,
            resid_pdrop=self.dropout,
            embd_pdrop=self.dropout,
            attn_pdrop=self.dropout,
            bos_token_id=self.bos_id,
            eos_token_id=self.eos_id,
            pad_token_id=self.pad_id,
            tie_word_embeddings=True,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        names = {f.name for f in fields(cls)}
        if unknown := sorted(set(d) - names):
            raise ValueError(f"unknown ModelConfig keys: {', '.join(unknown)}")
        return cls(**d)


# Named shapes. tiny trains in seconds for tests; small is the CPU default; base wants a GPU.
SIZES: dict[str, dict[str, int]] = {
    "tiny": {"n_layer": 2, "n_head": 2, "n_embd": 64, "n_positions": 256},
    "small": {"n_layer": 4, "n_head": 4, "n_embd": 256, "n_positions": 1024},
    "base": {"n_layer": 8, "n_head": 8, "n_embd": 512, "n_positions": 1024},
}


def model_config(size: str, vocab_size: int, **overrides: Any) -> ModelConfig:
    if size not in SIZES:
        raise ValueError(f"unknown model size {size!r}; choose one of: {', '.join(SIZES)}")
    return ModelConfig(vocab_size=vocab_size, **{**SIZES[size], **overrides})


def build_model(config: ModelConfig) -> GPT2LMHeadModel:
    from transformers import GPT2LMHeadModel

    return GPT2LMHeadModel(config.to_gpt2())


def weight_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """The tensors a checkpoint of ``config`` stores, with their shapes: GPT-2's, the output layer (tied to
    the input embedding) stored once. What the weights' header must say, checked without building the model."""
    e, inner = config.n_embd, 4 * config.n_embd
    shapes = {"transformer.wte.weight": (config.vocab_size, e), "transformer.wpe.weight": (config.n_positions, e)}
    layer = {
        "ln_1.weight": (e,), "ln_1.bias": (e,),
        "attn.c_attn.weight": (e, 3 * e), "attn.c_attn.bias": (3 * e,),
        "attn.c_proj.weight": (e, e), "attn.c_proj.bias": (e,),
        "ln_2.weight": (e,), "ln_2.bias": (e,),
        "mlp.c_fc.weight": (e, inner), "mlp.c_fc.bias": (inner,),
        "mlp.c_proj.weight": (inner, e), "mlp.c_proj.bias": (e,),
    }  # fmt: skip
    for i in range(config.n_layer):
        shapes |= {f"transformer.h.{i}.{name}": shape for name, shape in layer.items()}
    return shapes | {"transformer.ln_f.weight": (e,), "transformer.ln_f.bias": (e,)}


def count_parameters(model: GPT2LMHeadModel) -> int:
    # parameters() yields the tied embedding once, so it is not counted twice.
    return sum(p.numel() for p in model.parameters())
