"""Training, nanoGPT-style: one loop a reader can follow from top to bottom.

out_dir/
    best/           the checkpoint with the lowest validation loss so far (self-describing, no optimizer)
    last/           the latest checkpoint plus train_state.pt, which `resume=True` continues from
    metrics.jsonl   one line per evaluation
    tb/             TensorBoard events
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import Tensor, nn
from transformers import GPT2LMHeadModel

from lofi.model.checkpoint import TRAIN_STATE, load_checkpoint, resolve_device, save_checkpoint
from lofi.model.config import ModelConfig, build_model, count_parameters

IGNORE = -100  # target id that cross_entropy skips: padding


class TokenWindows(Protocol):
    vocab_size: int

    def batch(self, split: str, batch_size: int, block_size: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """x, y int64 [batch, block]; y is x shifted by one, IGNORE where the target must not count.
        Padding goes at the end of a window: attention is causal, so real tokens never see it."""
        ...

    def val_batches(self, batch_size: int, block_size: int) -> Iterable[tuple[Tensor, Tensor]]:
        """The same batches on every call, so validation losses compare across evaluations."""
        ...


@dataclass
class TrainConfig:
    max_steps: int = 20000
    batch_size: int = 8
    block_size: int = 512
    lr: float = 1e-3
    min_lr: float = 1e-4
    warmup_steps: int = 200
    weight_decay: float = 0.1
    grad_clip: float = 1.0  # 0 turns clipping off
    eval_every: int = 250
    checkpoint_every: int = 500
    patience: int = 4  # evaluations without a new best before stopping
    max_minutes: float | None = None  # budget of this call; the run still ends with an eval and a checkpoint
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"  # auto: bf16 autocast on CUDA, fp32 on CPU; or "fp32", "bf16"
    threads: int = 0  # torch.set_num_threads when > 0

    def __post_init__(self) -> None:
        for name in ("max_steps", "batch_size", "block_size", "eval_every", "checkpoint_every", "patience"):
            if getattr(self, name) <= 0:
                raise ValueError(f"TrainConfig.{name} must be positive, got {getattr(self, name)}")
        if not 0 <= self.min_lr <= self.lr:
            raise ValueError(f"need 0 <= min_lr <= lr, got min_lr={self.min_lr}, lr={self.lr}")
        if self.precision not in ("auto", "fp32", "bf16"):
            raise ValueError(f"precision must be auto, fp32 or bf16, got {self.precision!r}")


@dataclass(frozen=True)
class TrainStatus:
    """Where a run stands, for whoever shows it: after each step (its loss and speed) and each evaluation."""

    step: int
    max_steps: int
    loss: float | None = None
    val_loss: float | None = None
    tokens_per_s: float | None = None


TrainProgress = Callable[[TrainStatus], None]


@dataclass
class TrainResult:
    steps: int
    best_step: int
    best_val_loss: float
    final_train_loss: float
    wall_s: float
    stopped: str  # "max_steps", "patience" or "max_minutes"
    best_path: Path


@dataclass
class RunState:
    """What a run knows beyond its weights and optimizer; saved in train_state.pt."""

    step: int = 0
    best_step: int = 0
    best_val_loss: float = math.inf
    bad_evals: int = 0  # evaluations since the last new best
    eval_step: int = -1  # step of the latest evaluation
    train_loss: float | None = None  # mean training loss of the steps before the latest evaluation
    val_loss: float | None = None
    wall_s: float = 0.0  # over all calls, resumes included


def lr_at(step: int, recipe: TrainConfig) -> float:
    """Linear warm-up to lr, then cosine decay to min_lr at max_steps."""
    if step < recipe.warmup_steps:
        return recipe.lr * (step + 1) / recipe.warmup_steps
    progress = min(1.0, (step - recipe.warmup_steps) / max(1, recipe.max_steps - recipe.warmup_steps))
    return recipe.min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (recipe.lr - recipe.min_lr)


def make_optimizer(model: nn.Module, recipe: TrainConfig, device: torch.device) -> torch.optim.AdamW:
    embeddings = {id(m.weight) for m in model.modules() if isinstance(m, nn.Embedding)}
    # Only matrices are decayed: shrinking biases, LayerNorm gains or embeddings does not regularise.
    decay = [p for p in model.parameters() if p.dim() >= 2 and id(p) not in embeddings]
    rest = [p for p in model.parameters() if p.dim() < 2 or id(p) in embeddings]
    groups = [{"params": decay, "weight_decay": recipe.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=recipe.lr, betas=(0.9, 0.95), fused=device.type == "cuda")


def autocast(precision: str, device: torch.device) -> AbstractContextManager[Any]:
    # auto keeps fp32 on the CPU: without native bf16 (AVX2-only machines) autocast ran 4x slower or worse.
    cuda_bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
    use_bf16 = precision == "bf16" or (precision == "auto" and cuda_bf16)
    return torch.autocast(device.type, dtype=torch.bfloat16) if use_bf16 else nullcontext()


def window_loss(model: GPT2LMHeadModel, x: Tensor, y: Tensor, amp: AbstractContextManager[Any]) -> Tensor:
    """Summed cross entropy over the counted targets (the caller divides)."""
    with amp:
        logits = model(x, use_cache=False).logits
    # The loss is taken in fp32 even under bf16 autocast: softmax over the vocab needs the precision.
    return nn.functional.cross_entropy(logits.float().flatten(0, 1), y.flatten(), ignore_index=IGNORE, reduction="sum")


@torch.no_grad()
def evaluate(
    model: GPT2LMHeadModel, data: TokenWindows, recipe: TrainConfig, amp: AbstractContextManager[Any]
) -> float:
    model.eval()
    device = next(model.parameters()).device
    total, count = 0.0, 0
    for x, y in data.val_batches(recipe.batch_size, recipe.block_size):
        x, y = x.to(device), y.to(device)
        total += window_loss(model, x, y, amp).item()
        count += int((y != IGNORE).sum())
    model.train()
    if count == 0:
        raise ValueError("the validation batches hold no targets")
    return total / count


def train(
    model_config: ModelConfig,
    data: TokenWindows,
    out_dir: Path,
    recipe: TrainConfig,
    tokenizer: dict[str, Any],
    card: dict[str, Any] | None = None,
    resume: bool = False,
    progress: TrainProgress | None = None,
    init_from: Path | None = None,
) -> TrainResult:
    # Imported here: tensorboard is part of the `train` extra, not of lofi's core.
    from torch.utils.tensorboard import SummaryWriter

    out_dir = Path(out_dir)
    last_dir, best_dir, metrics_path = out_dir / "last", out_dir / "best", out_dir / "metrics.jsonl"
    if data.vocab_size > model_config.vocab_size:
        raise ValueError(f"data uses {data.vocab_size} token ids but the model has only {model_config.vocab_size}")
    if recipe.block_size > model_config.n_positions:
        raise ValueError(f"block_size {recipe.block_size} exceeds the model's {model_config.n_positions} positions")
    if recipe.threads > 0:
        torch.set_num_threads(recipe.threads)
    device = resolve_device(recipe.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True  # TF32 matmuls: the usual ~2x on Ampere+ for fp32 parts
    amp = autocast(recipe.precision, device)
    torch.manual_seed(recipe.seed)  # seeds CUDA too: weight init and dropout
    generator = torch.Generator().manual_seed(recipe.seed)  # batch sampling, saved for resume

    if resume:
        checkpoint = load_checkpoint(last_dir, device=str(device))
        if checkpoint.config != model_config:
            raise ValueError(f"{last_dir} holds a model shaped {checkpoint.config}, not {model_config}")
        model = checkpoint.model
    elif last_dir.exists():
        raise FileExistsError(f"{out_dir} already holds a run: resume it or choose another folder")
    else:
        model = build_model(model_config).to(device)
        if init_from is not None:  # a new run (fresh optimizer and schedule) from trained weights
            start_from = load_checkpoint(init_from, device=str(device))
            if start_from.config != model_config:
                raise ValueError(f"{init_from} holds a model shaped {start_from.config}, not {model_config}")
            model.load_state_dict(start_from.model.state_dict())
    model.train()
    optimizer = make_optimizer(model, recipe, device)
    run = _restore(last_dir / TRAIN_STATE, optimizer, generator, device) if resume else RunState()
    out_dir.mkdir(parents=True, exist_ok=True)
    # Logs past the checkpoint (or of an earlier run that never checkpointed) are about to be redone.
    _drop_metrics_after(metrics_path, run.eval_step)
    purge_step = run.step + 1 if resume else 0

    n_params = count_parameters(model)
    tokens_per_step = recipe.batch_size * recipe.block_size
    start, wall_before = time.perf_counter(), run.wall_s
    window_losses: list[float] = []  # training losses since the latest evaluation
    window_time = 0.0

    def card_now() -> dict[str, Any]:
        return _card(card, recipe, model_config, n_params, run, device)

    report = progress or (lambda status: None)
    with (
        SummaryWriter(str(out_dir / "tb"), purge_step=purge_step) as tb,
        metrics_path.open("a") as metrics,
    ):
        report(TrainStatus(run.step, recipe.max_steps))
        saved_step = run.step if resume else -1
        while True:
            run.wall_s = wall_before + time.perf_counter() - start
            stopped = _stop_reason(run, recipe, time.perf_counter() - start)

            if (run.step % recipe.eval_every == 0 or stopped) and run.step != run.eval_step:
                run.val_loss = evaluate(model, data, recipe, amp)
                run.train_loss = sum(window_losses) / len(window_losses) if window_losses else run.train_loss
                run.eval_step = run.step
                if run.val_loss < run.best_val_loss:
                    run.best_val_loss, run.best_step, run.bad_evals = run.val_loss, run.step, 0
                    save_checkpoint(best_dir, model, model_config, tokenizer, card_now())
                else:
                    run.bad_evals += 1
                tok_s = len(window_losses) * tokens_per_step / window_time if window_time else None
                line = {
                    "step": run.step,
                    "train_loss": run.train_loss,
                    "val_loss": run.val_loss,
                    "best_val_loss": run.best_val_loss,
                    "lr": lr_at(run.step, recipe),
                    "tokens_per_s": tok_s,
                    "wall_s": run.wall_s,
                }
                metrics.write(json.dumps(line) + "\n")
                metrics.flush()
                tb.add_scalar("loss/val", run.val_loss, run.step)
                report(TrainStatus(run.step, recipe.max_steps, val_loss=run.val_loss))
                window_losses, window_time = [], 0.0
                stopped = stopped or _stop_reason(run, recipe, time.perf_counter() - start)

            if (run.step % recipe.checkpoint_every == 0 or stopped) and run.step != saved_step:
                state = _train_state(run, optimizer, generator, device)
                save_checkpoint(last_dir, model, model_config, tokenizer, card_now(), train_state=state)
                saved_step = run.step
            if stopped:
                break

            t0 = time.perf_counter()
            lr = lr_at(run.step, recipe)
            for group in optimizer.param_groups:
                group["lr"] = lr
            x, y = data.batch("train", recipe.batch_size, recipe.block_size, generator)
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            loss = window_loss(model, x, y, amp) / (y != IGNORE).sum().clamp(min=1)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if recipe.grad_clip > 0:
                nn.utils.clip_grad_norm_(model.parameters(), recipe.grad_clip)
            optimizer.step()
            loss_value = loss.item()  # also waits for the GPU, so the step time below is honest
            window_time += time.perf_counter() - t0
            window_losses.append(loss_value)
            run.step += 1

            tok_s = len(window_losses) * tokens_per_step / window_time
            tb.add_scalar("loss/train", loss_value, run.step)
            tb.add_scalar("lr", lr, run.step)
            tb.add_scalar("tokens_per_s", tok_s, run.step)
            report(TrainStatus(run.step, recipe.max_steps, loss=loss_value, tokens_per_s=tok_s))

    return TrainResult(
        steps=run.step,
        best_step=run.best_step,
        best_val_loss=run.best_val_loss,
        final_train_loss=math.nan if run.train_loss is None else run.train_loss,
        wall_s=run.wall_s,
        stopped=stopped,
        best_path=best_dir,
    )


def _train_state(
    run: RunState, optimizer: torch.optim.Optimizer, generator: torch.Generator, device: torch.device
) -> dict[str, Any]:
    return {
        **asdict(run),
        "optimizer": optimizer.state_dict(),
        "rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if device.type == "cuda" else [],
        "data_rng": generator.get_state(),
    }


def _restore(
    path: Path, optimizer: torch.optim.Optimizer, generator: torch.Generator, device: torch.device
) -> RunState:
    """Put the optimizer and every random stream back where _train_state found them."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: this checkpoint cannot be resumed")
    saved = torch.load(path, map_location="cpu", weights_only=True)
    optimizer.load_state_dict(saved.pop("optimizer"))
    torch.set_rng_state(saved.pop("rng"))
    generator.set_state(saved.pop("data_rng"))
    cuda_rng = saved.pop("cuda_rng")
    if cuda_rng and device.type == "cuda":
        torch.cuda.set_rng_state_all(cuda_rng)
    return RunState(**saved)


def _stop_reason(run: RunState, recipe: TrainConfig, elapsed_s: float) -> str | None:
    if run.step >= recipe.max_steps:
        return "max_steps"
    if run.bad_evals >= recipe.patience:
        return "patience"
    if recipe.max_minutes is not None and elapsed_s >= recipe.max_minutes * 60:
        return "max_minutes"
    return None


def _card(
    card: dict[str, Any] | None,
    recipe: TrainConfig,
    model_config: ModelConfig,
    n_params: int,
    run: RunState,
    device: torch.device,
) -> dict[str, Any]:
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    return {
        **(card or {}),
        "training": {
            "steps": run.step,
            "best_step": run.best_step,
            "best_val_loss": run.best_val_loss,
            "train_loss": run.train_loss,
            "val_loss": run.val_loss,
            "wall_time_s": round(run.wall_s, 1),
            "device": device_name,
            "torch": torch.__version__,
        },
        "model": {**model_config.to_dict(), "parameters": n_params},
        "recipe": asdict(recipe),
    }


def _drop_metrics_after(path: Path, step: int) -> None:
    if path.is_file():
        lines = [line for line in path.read_text().splitlines() if line and json.loads(line)["step"] <= step]
        path.write_text("".join(line + "\n" for line in lines))
