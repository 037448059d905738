"""The onnxruntime engine: GPT-2 exported to ONNX as two graphs, one to extend a row and one to step all rows.

The extend graph takes one row's new tokens [n] (their positions, an additive attention bias [1, n, past + n]
and each layer's past keys and values [1, heads, past, head_dim]) and returns the last token's logits and
the new keys/values [2 * layers, heads, n, head_dim]. A prefill is an extend of an empty row; the decoder
also extends a row by a run of tokens it need not sample (an infill's given notes) in one call.
The step graph takes one new token per row [rows], its position, an additive attention bias
[rows, 1, 1, past + 1] and each layer's past keys and values as their own inputs [rows, heads, past,
head_dim]; it returns the logits and the new keys/values only [2 * layers, rows, heads, 1, head_dim].

Both graphs are written for speed: no shape arithmetic (constant reshapes only), and attention over the
past and the new tokens computed apart and joined in the softmax, so the past is read, never concatenated
(copied) with the new entries. The engine keeps the cache as one numpy array per layer's keys or values,
hands them (or one row's slice) to the graph as they are, and writes new entries in place.

``lofi export onnx`` writes both graphs; ``int8`` quantizes them with onnxruntime's dynamic quantization
(MatMul weights int8 per channel, MLAS kernels). The bundled model's folder is read-only, so engines
export on first use to LOFI_HOME/cache/onnx/<model_id>/ (written to a temporary name, then renamed).
"""

from __future__ import annotations

import fcntl
import logging
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

EXTEND, STEP = "extend", "step"
OPSET = 20  # the first with a Gelu operator: one node instead of eight
POSITION_CHUNK = 64  # the cache grows by this many positions at a time
_sessions: dict[tuple[str, int], object] = {}
_lock = threading.Lock()


def _linear(conv1d: nn.Module, x: torch.Tensor) -> torch.Tensor:
    # transformers' Conv1D reshapes around its product, which exports as shape arithmetic; x is 2-D here
    return x @ conv1d.weight + conv1d.bias


class _ExtendGraph(nn.Module):
    """New tokens of one row over its past keys and values, from the checkpoint's own modules."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.core = model.transformer
        self.heads, self.width = model.config.n_head, model.config.n_embd
        self.head_dim = self.width // self.heads

    def forward(self, input_ids, position_ids, bias, *past):
        x = self.core.wte(input_ids) + self.core.wpe(position_ids)  # [new, width]
        scale = 1.0 / math.sqrt(self.head_dim)
        presents = []
        for layer, block in enumerate(self.core.h):
            qkv = _linear(block.attn.c_attn, block.ln_1(x)).reshape(-1, 3 * self.heads, self.head_dim)
            q, k, v = torch.split(qkv.transpose(0, 1), self.heads, dim=0)  # each [heads, new, head_dim]
            past_keys, past_values = past[2 * layer][0], past[2 * layer + 1][0]  # [heads, past, head_dim]
            scores = torch.cat([q @ past_keys.transpose(-1, -2), q @ k.transpose(-1, -2)], dim=-1)
            weights = torch.softmax(scores * scale + bias, dim=-1)
            width = past_keys.shape[1]
            y = weights[..., :width] @ past_values + weights[..., width:] @ v
            x = x + _linear(block.attn.c_proj, y.transpose(0, 1).reshape(-1, self.width))
            hidden = F.gelu(_linear(block.mlp.c_fc, block.ln_2(x)), approximate="tanh")
            x = x + _linear(block.mlp.c_proj, hidden)
            presents += [k, v]
        return self.core.ln_f(x[-1:]) @ self.core.wte.weight.t(), torch.stack(presents)


class _StepGraph(nn.Module):
    """One new token per row over each layer's past keys and values."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.core = model.transformer
        self.heads, self.width = model.config.n_head, model.config.n_embd
        self.head_dim = self.width // self.heads

    def forward(self, input_ids, position_ids, bias, *past):
        x = self.core.wte(input_ids) + self.core.wpe(position_ids)  # [rows, width]
        scale = 1.0 / math.sqrt(self.head_dim)
        presents = []
        for layer, block in enumerate(self.core.h):
            qkv = _linear(block.attn.c_attn, block.ln_1(x)).reshape(-1, 3 * self.heads, 1, self.head_dim)
            q, k, v = torch.split(qkv, self.heads, dim=1)  # each [rows, heads, 1, head_dim]
            past_keys, past_values = past[2 * layer], past[2 * layer + 1]
            scores = torch.cat([q @ past_keys.transpose(-1, -2), (q * k).sum(-1, keepdim=True)], dim=-1)
            weights = torch.softmax(scores * scale + bias, dim=-1)
            y = weights[..., :-1] @ past_values + weights[..., -1:] * v
            x = x + _linear(block.attn.c_proj, y.reshape(-1, self.width))
            hidden = F.gelu(_linear(block.mlp.c_fc, block.ln_2(x)), approximate="tanh")
            x = x + _linear(block.mlp.c_proj, hidden)
            presents += [k, v]
        return self.core.ln_f(x) @ self.core.wte.weight.t(), torch.stack(presents)


def _export(graph: nn.Module, example: tuple, path: Path, names: list[str], dynamic: dict) -> None:
    # ``graph`` must be in eval mode: the exporter puts a module back in the mode it found it in, and a
    # wrapper left in training mode would switch the checkpoint's shared model (its dropout) on with it
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(graph, example, str(tmp), dynamo=False, opset_version=OPSET, input_names=names,
                          output_names=["logits", "present"], dynamic_axes=dynamic)  # fmt: skip
    tmp.replace(path)


def _quantize(source: Path, path: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    logging.disable(logging.WARNING)  # it advises a pre-processing pass meant for static quantization
    try:
        quantize_dynamic(source, tmp, weight_type=QuantType.QInt8, per_channel=True)
    finally:
        logging.disable(logging.NOTSET)
    tmp.replace(path)


def exported_onnx(out_dir: Path, quantize: str | None = None) -> tuple[Path, Path] | None:
    """The graphs ``export_onnx`` wrote into ``out_dir`` before, if both are there (no model needed)."""
    suffix = ".int8.onnx" if quantize == "int8" else ".onnx"
    paths = Path(out_dir) / f"{EXTEND}{suffix}", Path(out_dir) / f"{STEP}{suffix}"
    return paths if all(p.is_file() for p in paths) else None


def export_onnx(model: nn.Module, out_dir: Path, quantize: str | None = None) -> tuple[Path, Path]:
    """Write extend.onnx and step.onnx (or their int8 versions, *.int8.onnx) into ``out_dir``; their paths."""
    if quantize not in (None, "int8"):
        raise ValueError(f"unknown quantization {quantize!r}; only int8")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # one process exports at a time: onnxruntime's quantizer writes a scratch file under a fixed name
    # next to its input, which a second process exporting the same model would remove under it
    with (out_dir / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _export_all(model, out_dir, quantize)


def _export_all(model: nn.Module, out_dir: Path, quantize: str | None) -> tuple[Path, Path]:
    config = model.config
    layers, heads, head_dim = config.n_layer, config.n_head, config.n_embd // config.n_head
    model = model.cpu().eval()
    extend, step = out_dir / f"{EXTEND}.onnx", out_dir / f"{STEP}.onnx"
    pasts = [f"past_{i}" for i in range(2 * layers)]
    if not extend.exists():
        example = (torch.tensor([5, 6, 7]), torch.tensor([5, 6, 7]), torch.zeros(1, 3, 8),
                   *[torch.zeros(1, heads, 5, head_dim) for _ in pasts])  # fmt: skip
        dynamic = {"input_ids": {0: "new"}, "position_ids": {0: "new"}, "bias": {1: "new", 2: "total"},
                   "present": {2: "new"}}  # fmt: skip
        dynamic |= {name: {2: "past"} for name in pasts}
        _export(_ExtendGraph(model).eval(), example, extend, ["input_ids", "position_ids", "bias", *pasts], dynamic)
    if not step.exists():
        example = (torch.tensor([5, 6]), torch.tensor([3, 2]), torch.zeros(2, 1, 1, 4),
                   *[torch.zeros(2, heads, 3, head_dim) for _ in pasts])  # fmt: skip
        dynamic = {"input_ids": {0: "rows"}, "position_ids": {0: "rows"}, "bias": {0: "rows", 3: "total"},
                   "logits": {0: "rows"}, "present": {1: "rows"}}  # fmt: skip
        dynamic |= {name: {0: "rows", 2: "past"} for name in pasts}
        _export(_StepGraph(model).eval(), example, step, ["input_ids", "position_ids", "bias", *pasts], dynamic)
    if quantize is None:
        return extend, step
    quantized = []
    for source in (extend, step):
        path = source.with_suffix(".int8.onnx")
        if not path.exists():
            _quantize(source, path)
        quantized.append(path)
    return quantized[0], quantized[1]


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

    def __init__(self, paths: tuple[Path, Path], config, *, threads: int = 1, name: str | None = None):
        self.extend_session = _session(Path(paths[0]), threads)
        self.step_session = _session(Path(paths[1]), threads)
        self.name = name or self.name
        self.n_positions, self.vocab_size = config.n_positions, config.vocab_size
        self.heads, self.layers = config.n_head, config.n_layer
        self.head_dim = config.n_embd // config.n_head
        self.past_names = [f"past_{i}" for i in range(2 * self.layers)]
        # one array per layer's keys or values: [rows, heads, positions, head_dim]
        self.cache = [np.zeros((0, self.heads, 0, self.head_dim), np.float32) for _ in self.past_names]
        self.lens: list[int] = []

    # The cache goes to the graph as it is, with no copy: so it holds exactly the rows that step, and
    # its positions grow in chunks, the unused tail masked by the bias (a few wasted positions cost less
    # than copying the cache every step).
    def _resize(self, rows: int, positions: int) -> None:
        have_rows, have = self.cache[0].shape[0], self.cache[0].shape[2]
        if (have_rows, have) == (rows, positions):
            return
        keep_rows, keep = min(rows, have_rows), min(positions, have)
        for i, old in enumerate(self.cache):
            self.cache[i] = np.zeros((rows, self.heads, positions, self.head_dim), np.float32)
            self.cache[i][:keep_rows, :, :keep] = old[:keep_rows, :, :keep]
        self.lens = (self.lens + [0] * rows)[:rows]  # rows past ``rows`` are free (the decoder keeps 0..n-1)

    def _room(self, positions: int) -> None:
        if positions > self.cache[0].shape[2]:
            chunked = min(self.n_positions, -(-positions // POSITION_CHUNK) * POSITION_CHUNK)
            self._resize(self.cache[0].shape[0], chunked)

    def reserve(self, rows: int) -> None:
        if rows > self.cache[0].shape[0]:
            self._resize(rows, self.cache[0].shape[2])

    def length(self, row: int) -> int:
        return self.lens[row]

    def truncate(self, row: int, length: int) -> None:
        self.lens[row] = min(length, self.lens[row])  # the entries past it are masked, then overwritten

    def copy(self, src: int, dst: int) -> None:
        n = self.lens[src]
        for part in self.cache:
            part[dst, :, :n] = part[src, :, :n]
        self.lens[dst] = n

    def move(self, src: int, dst: int) -> None:
        if src != dst:
            self.copy(src, dst)
        self.lens[src] = 0

    def prefill(self, row: int, ids: Sequence[int]) -> torch.Tensor:
        if not 0 < len(ids) <= self.n_positions:
            raise ValueError(f"a context holds 1..{self.n_positions} tokens, got {len(ids)}")
        self.lens[row] = 0
        return self.extend(row, ids)

    def extend(self, row: int, ids: Sequence[int]) -> torch.Tensor:
        past, new = self.lens[row], len(ids)
        if not 0 < new <= self.n_positions - past:
            raise ValueError(f"row {row} holds {past} of {self.n_positions} tokens: no room for {new} more")
        self._room(past + new)
        width = self.cache[0].shape[2]
        bias = np.zeros((1, new, width + new), np.float32)
        bias[:, :, past:width] = -np.inf  # the row's stale or empty rest of the cache
        bias[0, :, width:] = np.triu(np.full((new, new), -np.inf, np.float32), k=1)  # causal among the new
        feeds = {"input_ids": np.asarray(ids, np.int64), "position_ids": np.arange(past, past + new, dtype=np.int64),
                 "bias": bias}  # fmt: skip
        feeds.update((name, part[row : row + 1]) for name, part in zip(self.past_names, self.cache, strict=True))
        logits, present = self.extend_session.run(None, feeds)
        for part, entries in zip(self.cache, present, strict=True):
            part[row, :, past : past + new] = entries
        self.lens[row] = past + new
        return torch.from_numpy(logits[0])

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        rows = tokens.shape[0]
        lens = np.array(self.lens[:rows])
        if lens.max() >= self.n_positions:
            raise ValueError("a row is full: the decoder slides its window before this")
        if rows < self.cache[0].shape[0]:  # rows left the batch: drop their slots so the cache is what steps
            self._resize(rows, self.cache[0].shape[2])
        self._room(int(lens.max()) + 1)
        width = self.cache[0].shape[2]
        # each row sees its own positions and the new token, not the stale or empty rest of the cache
        bias = np.zeros((rows, 1, 1, width + 1), np.float32)
        bias[:, 0, 0, :width][np.arange(width)[None] >= lens[:, None]] = -np.inf
        feeds = {"input_ids": tokens.numpy().astype(np.int64), "position_ids": lens.astype(np.int64), "bias": bias}
        feeds.update(zip(self.past_names, self.cache, strict=True))
        logits, present = self.step_session.run(None, feeds)
        every = np.arange(rows)
        for part, new in zip(self.cache, present, strict=True):
            part[every, :, lens] = new[:, :, 0]
        for i in range(rows):
            self.lens[i] += 1
        return torch.from_numpy(logits)
