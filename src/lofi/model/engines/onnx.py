"""The onnxruntime engine: GPT-2 exported to ONNX with its KV cache as inputs and outputs.

One graph serves both prefill and decode: it takes the new tokens [rows, new], their positions, an
additive attention bias [rows, 1, new, past + new] and the past keys/values [2 * layers, rows, heads,
past, head_dim], and returns the last position's logits and the new keys/values only. The engine keeps
the cache in one preallocated numpy array (as the lean engine does) and writes the new entries in place.

``lofi export onnx`` writes the graph; ``int8`` quantizes it with onnxruntime's dynamic quantization
(MatMul weights int8 per channel, MLAS kernels). The bundled model's folder is read-only, so engines
export on first use to LOFI_HOME/cache/onnx/<model_id>/ (written to a temporary name, then renamed).
"""

from __future__ import annotations

import math
import threading
import uuid
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812 (torch's own idiom)

FP32, INT8 = "model.onnx", "model.int8.onnx"
_sessions: dict[tuple[str, int], object] = {}
_lock = threading.Lock()


class _StepGraph(nn.Module):
    """What is exported: GPT-2's forward over a past, from the checkpoint's own modules."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.core = model.transformer
        self.heads = model.config.n_head

    def forward(self, input_ids, position_ids, bias, past):
        rows, new = input_ids.shape
        x = self.core.wte(input_ids) + self.core.wpe(position_ids)
        width = x.shape[-1]
        head_dim = width // self.heads
        presents = []
        for layer, block in enumerate(self.core.h):
            qkv = block.attn.c_attn(block.ln_1(x)).view(rows, new, 3, self.heads, head_dim).permute(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]
            keys = torch.cat([past[2 * layer], k], dim=2)
            values = torch.cat([past[2 * layer + 1], v], dim=2)
            scores = q @ keys.transpose(-1, -2) * (1.0 / math.sqrt(head_dim)) + bias
            y = (torch.softmax(scores, dim=-1) @ values).transpose(1, 2).reshape(rows, new, width)
            x = x + block.attn.c_proj(y)
            x = x + block.mlp.c_proj(F.gelu(block.mlp.c_fc(block.ln_2(x)), approximate="tanh"))
            presents += [k, v]
        logits = self.core.ln_f(x[:, -1]) @ self.core.wte.weight.t()
        return logits, torch.stack(presents)


def export_onnx(model: nn.Module, out_dir: Path, quantize: str | None = None) -> Path:
    """Write model.onnx (and model.int8.onnx when ``quantize == "int8"``) into ``out_dir``; the path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fp32 = out_dir / FP32
    if not fp32.exists():
        config = model.config
        head_dim = config.n_embd // config.n_head
        graph = _StepGraph(model.cpu().eval())
        example = (torch.tensor([[1, 2, 3]]), torch.tensor([[5, 6, 7]]), torch.zeros(1, 1, 3, 8),
                   torch.zeros(2 * config.n_layer, 1, config.n_head, 5, head_dim))  # fmt: skip
        tmp = out_dir / f".{FP32}.{uuid.uuid4().hex[:8]}"
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                graph, example, str(tmp), dynamo=False, opset_version=17,
                input_names=["input_ids", "position_ids", "bias", "past"], output_names=["logits", "present"],
                dynamic_axes={"input_ids": {0: "rows", 1: "new"}, "position_ids": {0: "rows", 1: "new"},
                              "bias": {0: "rows", 2: "new", 3: "total"}, "past": {1: "rows", 3: "past"},
                              "logits": {0: "rows"}, "present": {1: "rows", 3: "new"}},
            )  # fmt: skip
        tmp.replace(fp32)
    if quantize is None:
        return fp32
    if quantize != "int8":
        raise ValueError(f"unknown quantization {quantize!r}; only int8")
    int8 = out_dir / INT8
    if not int8.exists():
        from onnxruntime.quantization import QuantType, quantize_dynamic

        tmp = out_dir / f".{INT8}.{uuid.uuid4().hex[:8]}"
        quantize_dynamic(fp32, tmp, weight_type=QuantType.QInt8, per_channel=True)
        tmp.replace(int8)
    return int8


def _session(path: Path, threads: int):
    import onnxruntime as ort

    key = (str(path), threads)
    with _lock:  # a session is thread-safe to run; one per file and thread count
        if key not in _sessions:
            options = ort.SessionOptions()
            options.intra_op_num_threads = max(1, threads)
            options.inter_op_num_threads = 1
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            _sessions[key] = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        return _sessions[key]


class OnnxEngine:
    name = "onnx"

    def __init__(self, path: Path, config, *, threads: int = 1, name: str | None = None):
        self.session = _session(Path(path), threads)
        self.name = name or self.name
        self.n_positions, self.vocab_size = config.n_positions, config.vocab_size
        self.heads, self.layers = config.n_head, config.n_layer
        self.head_dim = config.n_embd // config.n_head
        self.cache = np.zeros((2 * self.layers, 0, self.heads, self.n_positions, self.head_dim), np.float32)
        self.lens: list[int] = []

    def reserve(self, rows: int) -> None:
        have = self.cache.shape[1]
        if rows > have:
            grown = np.zeros((*self.cache.shape[:1], rows, *self.cache.shape[2:]), np.float32)
            grown[:, :have] = self.cache
            self.cache = grown
            self.lens += [0] * (rows - have)

    def length(self, row: int) -> int:
        return self.lens[row]

    def copy(self, src: int, dst: int) -> None:
        n = self.lens[src]
        self.cache[:, dst, :, :n] = self.cache[:, src, :, :n]
        self.lens[dst] = n

    def move(self, src: int, dst: int) -> None:
        if src != dst:
            self.copy(src, dst)
        self.lens[src] = 0

    def _run(self, ids: np.ndarray, positions: np.ndarray, bias: np.ndarray, past: np.ndarray):
        feeds = {"input_ids": ids, "position_ids": positions, "bias": bias, "past": past}
        return self.session.run(None, feeds)

    def prefill(self, row: int, ids: Sequence[int]) -> torch.Tensor:
        n = len(ids)
        if not 0 < n <= self.n_positions:
            raise ValueError(f"a context holds 1..{self.n_positions} tokens, got {n}")
        bias = np.triu(np.full((n, n), -np.inf, np.float32), k=1)[None, None]
        past = np.zeros((2 * self.layers, 1, self.heads, 0, self.head_dim), np.float32)
        logits, present = self._run(np.array([ids], np.int64), np.arange(n, dtype=np.int64)[None], bias, past)
        self.cache[:, row, :, :n] = present[:, 0]
        self.lens[row] = n
        return torch.from_numpy(logits[0])

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        rows = tokens.shape[0]
        lens = np.array(self.lens[:rows])
        span = int(lens.max())
        if span >= self.n_positions:
            raise ValueError("a row is full: the decoder slides its window before this")
        # rows shorter than the longest must not see the stale tail of their cache; the new token sees itself
        bias = np.zeros((rows, 1, 1, span + 1), np.float32)
        bias[:, 0, 0, :span][np.arange(span)[None] >= lens[:, None]] = -np.inf
        past = np.ascontiguousarray(self.cache[:, :rows, :, :span])
        logits, present = self._run(tokens.numpy().astype(np.int64)[:, None], lens[:, None].astype(np.int64),
                                    bias, past)  # fmt: skip
        self.cache[:, np.arange(rows), :, lens] = present[:, :, :, 0].transpose(1, 0, 2, 3)
        for i in range(rows):
            self.lens[i] += 1
        return torch.from_numpy(logits)
