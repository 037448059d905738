"""The lean engine: our GPT-2's forward written out in plain torch, over a preallocated KV cache.

Why not transformers: for a 4-layer, 256-wide model one decode step is ~70 small kernels, and
``generate()`` spends most of its time around them (cache objects, masks, logits processors, per-step
allocation). Here a step is the arithmetic and nothing else: the cache [rows, heads, n_positions,
head_dim] per layer is allocated once, the new key/value are written into it in place, and attention
reads a view of it up to the longest row. The weights are the checkpoint's own tensors (no copy on the
CPU), so its outputs match transformers' to float rounding (tests/model/test_engines.py).

Batch invariance: with MKL on AVX2, a matrix product's rows come out bit-identical for any number of
rows from 4 up, but not below (a different kernel). ``min_rows=4`` pads every step to 4 rows, so a row's
logits never depend on its neighbours: a section decoded beside others comes out as it would alone.

Linear layers are anything callable on [n, in]: the fp32 weights (Conv1D layout, ``x @ W + b``), or the
int8 dynamic-quantized ``Linear`` modules of lofi.model.quantize, so the int8 engine is this same loop.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor
from torch.nn import functional as F  # noqa: N812 (torch's own idiom)
from transformers import GPT2LMHeadModel

Linear = Callable[[Tensor], Tensor]


def linear_of(module: torch.nn.Module, dtype: torch.dtype | None = None, device: torch.device | None = None) -> Linear:
    """A plain function for one projection of the model, whatever module type holds it."""
    if type(module).__name__ == "Conv1D":  # transformers' GPT-2: weight is [in, out]
        weight, bias = module.weight.detach(), module.bias.detach()
    elif type(module) is torch.nn.Linear:
        weight, bias = module.weight.detach().t().contiguous(), module.bias.detach()
    else:  # a quantized module: it packs its own weights, so call it
        return module
    weight, bias = weight.to(device=device, dtype=dtype), bias.to(device=device, dtype=dtype)
    return lambda x: torch.addmm(bias, x, weight)


class _Block:
    def __init__(self, block: torch.nn.Module, dtype: torch.dtype, device: torch.device):
        def cast(t: Tensor) -> Tensor:  # no copy when already there (the CPU fp32 case)
            return t.detach().to(device=device, dtype=dtype)

        self.ln1 = (cast(block.ln_1.weight), cast(block.ln_1.bias))
        self.ln2 = (cast(block.ln_2.weight), cast(block.ln_2.bias))
        self.qkv = linear_of(block.attn.c_attn, dtype, device)
        self.proj = linear_of(block.attn.c_proj, dtype, device)
        self.fc = linear_of(block.mlp.c_fc, dtype, device)
        self.fc_out = linear_of(block.mlp.c_proj, dtype, device)


class LeanEngine:
    """GPT-2 decoding with a preallocated KV cache; rows 0..n-1 step together."""

    name = "lean"

    def __init__(self, model: GPT2LMHeadModel, *, device: str = "cpu", dtype: torch.dtype | None = None,
                 name: str | None = None, min_rows: int = 1):  # fmt: skip
        config = model.config
        self.min_rows = min_rows
        self.name = name or self.name
        self.device = torch.device(device)
        self.dtype = dtype or torch.float32
        self.n_positions, self.vocab_size = config.n_positions, config.vocab_size
        self.heads, self.width = config.n_head, config.n_embd
        self.head_dim = self.width // self.heads
        self.eps = config.layer_norm_epsilon
        self.scale = 1.0 / math.sqrt(self.head_dim)
        core = model.transformer
        on = {"device": self.device, "dtype": self.dtype}  # the checkpoint's model is shared: never moved
        self.wte = core.wte.weight.detach().to(**on)
        self.wpe = core.wpe.weight.detach().to(**on)
        self.lm_head = self.wte.t().contiguous()  # tied embedding, laid out for x @ W
        self.lnf = (core.ln_f.weight.detach().to(**on), core.ln_f.bias.detach().to(**on))
        self.blocks = [_Block(b, self.dtype, self.device) for b in core.h]
        self.rows = 0
        self.lens: list[int] = []
        self.keys: list[Tensor] = []
        self.values: list[Tensor] = []
        self._positions = torch.arange(self.n_positions, device=self.device)

    # the cache --------------------------------------------------------------------------------------
    def reserve(self, rows: int) -> None:
        if rows <= self.rows:
            return
        shape = (rows, self.heads, self.n_positions, self.head_dim)
        grown_k, grown_v = [], []
        for layer in range(len(self.blocks)):
            k = torch.zeros(shape, device=self.device, dtype=self.dtype)
            v = torch.zeros(shape, device=self.device, dtype=self.dtype)
            if self.rows:
                k[: self.rows] = self.keys[layer]
                v[: self.rows] = self.values[layer]
            grown_k.append(k)
            grown_v.append(v)
        self.keys, self.values = grown_k, grown_v
        self.lens += [0] * (rows - self.rows)
        self.rows = rows

    def length(self, row: int) -> int:
        return self.lens[row]

    def truncate(self, row: int, length: int) -> None:
        self.lens[row] = min(length, self.lens[row])  # the entries past it are masked, then overwritten

    def copy(self, src: int, dst: int) -> None:
        n = self.lens[src]
        for k, v in zip(self.keys, self.values, strict=True):
            k[dst, :, :n] = k[src, :, :n]
            v[dst, :, :n] = v[src, :, :n]
        self.lens[dst] = n

    def move(self, src: int, dst: int) -> None:
        if src != dst:
            self.copy(src, dst)
        self.lens[src] = 0

    # the forward ------------------------------------------------------------------------------------
    def _norm(self, x: Tensor, ln: tuple[Tensor, Tensor]) -> Tensor:
        return F.layer_norm(x, (self.width,), ln[0], ln[1], self.eps)

    def prefill(self, row: int, ids: Sequence[int]) -> Tensor:
        if not 0 < len(ids) <= self.n_positions:
            raise ValueError(f"a context holds 1..{self.n_positions} tokens, got {len(ids)}")
        self.lens[row] = 0
        return self.extend(row, ids)

    @torch.inference_mode()
    def extend(self, row: int, ids: Sequence[int]) -> Tensor:
        past, n = self.lens[row], len(ids)
        if not 0 < n <= self.n_positions - past:
            raise ValueError(f"row {row} holds {past} of {self.n_positions} tokens: no room for {n} more")
        end = past + n
        tokens = torch.as_tensor(list(ids), device=self.device)
        x = self.wte[tokens] + self.wpe[past:end]
        # each new token sees the row's past and the new tokens up to itself
        seen = self._positions[:end][None, :] <= self._positions[past:end][:, None]
        for block, kc, vc in zip(self.blocks, self.keys, self.values, strict=True):
            qkv = block.qkv(self._norm(x, block.ln1)).view(n, 3, self.heads, self.head_dim).transpose(0, 2)
            q, k, v = qkv.unbind(1)  # each [heads, n, head_dim]
            kc[row, :, past:end] = k
            vc[row, :, past:end] = v
            if past:
                y = F.scaled_dot_product_attention(q, kc[row, :, :end], vc[row, :, :end], attn_mask=seen)
            else:
                y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + block.proj(y.transpose(0, 1).reshape(n, self.width))
            x = x + block.fc_out(F.gelu(block.fc(self._norm(x, block.ln2)), approximate="tanh"))
        self.lens[row] = end
        return (self._norm(x[-1:], self.lnf) @ self.lm_head)[0].float()

    @torch.inference_mode()
    def step(self, tokens: Tensor) -> Tensor:
        b = tokens.shape[0]
        lens = self.lens[:b]
        if max(lens) >= self.n_positions:
            raise ValueError("a row is full: the decoder slides its window before this")
        span = max(lens) + 1  # attention reads the cache up to the longest row
        pos = torch.tensor(lens, device=self.device)
        x = self.wte[tokens.to(self.device)] + self.wpe[pos]
        padded = max(b, self.min_rows)  # rows of the matrix products (see the module's docstring)
        if padded > b:
            x = torch.cat([x, x.new_zeros(padded - b, self.width)])
        # rows shorter than the longest must not see the stale tail of their cache
        bias = torch.zeros((b, span), device=self.device, dtype=self.dtype)
        bias.masked_fill_(self._positions[:span] > pos[:, None], float("-inf"))
        bias = bias[:, None, None, :].expand(b, self.heads, 1, span).reshape(b * self.heads, 1, span)
        rows = torch.arange(b, device=self.device)
        for block, kc, vc in zip(self.blocks, self.keys, self.values, strict=True):
            qkv = block.qkv(self._norm(x, block.ln1))[:b].view(b, 3, self.heads, self.head_dim)
            q, k, v = qkv.unbind(1)  # each [b, heads, head_dim]
            kc[rows, :, pos] = k
            vc[rows, :, pos] = v
            keys = kc[:b, :, :span].reshape(b * self.heads, span, self.head_dim)
            values = vc[:b, :, :span].reshape(b * self.heads, span, self.head_dim)
            scores = torch.baddbmm(bias, q.reshape(b * self.heads, 1, self.head_dim), keys.transpose(1, 2),
                                   alpha=self.scale)  # fmt: skip
            y = torch.bmm(torch.softmax(scores, dim=-1), values).view(b, self.width)
            if padded > b:
                y = torch.cat([y, y.new_zeros(padded - b, self.width)])
            x = x + block.proj(y)
            x = x + block.fc_out(F.gelu(block.fc(self._norm(x, block.ln2)), approximate="tanh"))
        for i in range(b):
            self.lens[i] += 1
        return (self._norm(x, self.lnf) @ self.lm_head)[:b].float()
