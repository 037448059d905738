"""Inference engines: the same decoding on different runtimes, chosen by name.

hf          transformers' GPT-2 forward and cache, one row at a time: the reference
lean        our GPT-2 forward in plain torch over a preallocated KV cache (lean.py)
lean-int8   the same loop over int8 dynamic-quantized projections (lofi.model.quantize)
onnx        onnxruntime over the exported graph with a KV cache (onnx.py)
onnx-int8   the same graph, int8 dynamic-quantized by onnxruntime
lean-fp16, lean-bf16   the lean loop in half precision, on a CUDA GPU only

``auto`` takes the first available of AUTO_ORDER, the fastest measured by bench/generate.py.
Quality: int8 engines change the logits slightly, so their tracks differ from fp32 ones; the metrics
of `lofi eval` stay within the tolerance stated in docs/BENCHMARKS.md (checked by bench/generate.py).
Reproducibility: every engine gives the same tokens for the same composition on the same machine. The
int8 ONNX graph quantizes activations with one scale per step for all rows, so a row's tokens depend on
its neighbours: with BatchingDecoder (rows of other jobs) use lean with min_rows=4, which does not.
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

import torch

from lofi.model.checkpoint import Checkpoint
from lofi.model.engines.base import Engine

ENGINES = ("hf", "lean", "lean-int8", "onnx", "onnx-int8", "lean-fp16", "lean-bf16")
AUTO_ORDER = ("onnx-int8", "lean", "hf")  # fastest first for composing on the CPU (see docs/BENCHMARKS.md)
GPU_AUTO_ORDER = ("lean-bf16", "lean-fp16", "lean")
_quantized: dict[str, torch.nn.Module] = {}
_exported: dict[tuple[str, str | None], tuple[Path, Path]] = {}  # (model id, quantization) -> ONNX graphs
_lock = threading.Lock()


def available(name: str) -> bool:
    if name.startswith("onnx"):
        return importlib.util.find_spec("onnxruntime") is not None and importlib.util.find_spec("onnx") is not None
    if name == "lean-bf16":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if name == "lean-fp16":
        return torch.cuda.is_available()
    return name in ENGINES


def resolve(name: str | None = None) -> str:
    """The engine ``name`` stands for: None reads settings (LOFI_ENGINE), auto the fastest available."""
    if name is None:
        from lofi.settings import get_settings

        name = get_settings().engine
    if name == "auto":
        order = GPU_AUTO_ORDER if torch.cuda.is_available() else AUTO_ORDER
        return next(n for n in order if available(n))
    if name not in ENGINES:
        raise ValueError(f"unknown engine {name!r}; choose auto or one of: {', '.join(ENGINES)}")
    if not available(name):
        raise ValueError(f"engine {name!r} is not available here (needs onnxruntime, or a CUDA GPU)")
    return name


def onnx_dir(checkpoint: Checkpoint, home: Path | None = None) -> Path:
    if home is None:
        from lofi.settings import get_settings

        home = get_settings().home
    return Path(home).expanduser() / "cache" / "onnx" / checkpoint.model_id


def quantized_model(checkpoint: Checkpoint) -> torch.nn.Module:
    """The checkpoint's int8 model, quantized once per process."""
    from lofi.model.quantize import quantize_int8

    with _lock:
        if checkpoint.model_id not in _quantized:
            _quantized[checkpoint.model_id] = quantize_int8(checkpoint.model)
        return _quantized[checkpoint.model_id]


def load_engine(checkpoint: Checkpoint, name: str | None = None, *, threads: int = 1,
                home: Path | None = None) -> Engine:  # fmt: skip
    """A fresh engine (its own KV cache) for ``checkpoint``; weights and sessions are shared."""
    name = resolve(name)
    if name == "hf":
        from lofi.model.engines.hf import HFEngine

        return HFEngine(checkpoint.model)
    if name.startswith("onnx"):
        from lofi.model.engines.onnx import OnnxEngine, export_onnx, exported_onnx

        quantize = "int8" if name == "onnx-int8" else None
        # one export per model per process, wherever LOFI_HOME points now; across processes the export
        # folder's file lock (export_onnx) keeps them from writing the same files at once
        with _lock:
            paths = _exported.get((checkpoint.model_id, quantize)) if home is None else None
            if paths is None or not all(p.exists() for p in paths):
                folder = onnx_dir(checkpoint, home)
                # the torch model (and transformers) only when the graphs are not exported yet
                paths = exported_onnx(folder, quantize) or export_onnx(checkpoint.model, folder, quantize)
                if home is None:
                    _exported[checkpoint.model_id, quantize] = paths
        return OnnxEngine(paths, checkpoint.config, threads=threads, name=name)
    from lofi.model.engines.lean import LeanEngine

    if name == "lean-int8":
        return LeanEngine(quantized_model(checkpoint), name=name)
    if name in ("lean-fp16", "lean-bf16"):
        dtype = torch.float16 if name == "lean-fp16" else torch.bfloat16
        return LeanEngine(checkpoint.model, device="cuda", dtype=dtype, name=name)
    return LeanEngine(checkpoint.model, device=str(next(checkpoint.model.parameters()).device))


__all__ = ["AUTO_ORDER", "ENGINES", "Engine", "available", "load_engine", "resolve"]
