"""int8 dynamic quantization of what actually runs.

transformers' GPT-2 keeps its projections in ``Conv1D`` modules (``x @ W + b``, weight [in, out]), which
torch's dynamic quantization does not touch: quantizing the model as it comes changes nothing. So the
Conv1D modules are first replaced by the equivalent ``nn.Linear`` (transposed weight), then
``quantize_dynamic`` turns those into int8 ``Linear`` modules (weights int8 per channel, activations
quantized per call). The tied output layer stays fp32: it is the input embedding too.

The ONNX model is quantized with onnxruntime's ``quantize_dynamic`` (see lofi.model.engines.onnx).
Quality: bench/generate.py compares `lofi eval` metrics of int8 tracks with fp32 ones (docs/BENCHMARKS.md).
"""

from __future__ import annotations

import copy
import warnings

import torch
from torch import nn
from transformers import GPT2LMHeadModel


def conv1d_to_linear(model: nn.Module) -> nn.Module:
    """Replace every transformers Conv1D by an nn.Linear computing the same thing (in place)."""
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child).__name__ == "Conv1D":
                n_in, n_out = child.weight.shape
                linear = nn.Linear(n_in, n_out, device=child.weight.device, dtype=child.weight.dtype)
                with torch.no_grad():
                    linear.weight.copy_(child.weight.t())
                    linear.bias.copy_(child.bias)
                setattr(parent, name, linear)
    return model


def quantize_int8(model: GPT2LMHeadModel) -> GPT2LMHeadModel:
    """A copy of ``model`` whose projections run as int8 dynamic-quantized Linear modules (CPU)."""
    if "x86" in torch.backends.quantized.supported_engines:
        torch.backends.quantized.engine = "x86"  # fbgemm kernels with the x86 heuristics
    quantized = conv1d_to_linear(copy.deepcopy(model).cpu().eval())
    # lm_head shares the embedding's weight, and an embedding is no Linear: keep it fp32
    targets = {name for name, m in quantized.named_modules() if type(m) is nn.Linear and name != "lm_head"}
    with warnings.catch_warnings():  # torch.ao's deprecation notices: the kernels are what we want
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(quantized, targets, dtype=torch.qint8)
