import json
import math
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from lofi.model import ModelConfig, TrainConfig, load_checkpoint, train
from lofi.model.train import TrainStatus, lr_at

pytestmark = pytest.mark.usefixtures("one_thread")

FAST = {"batch_size": 16, "block_size": 32, "lr": 3e-3, "min_lr": 3e-4, "warmup_steps": 5, "device": "cpu"}


def read_metrics(out_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (out_dir / "metrics.jsonl").read_text().splitlines()]


def test_lr_warms_up_then_decays_to_min_lr() -> None:
    recipe = TrainConfig(max_steps=100, lr=1e-3, min_lr=1e-4, warmup_steps=10)
    assert lr_at(0, recipe) == pytest.approx(1e-4)
    assert lr_at(9, recipe) == pytest.approx(1e-3)
    assert lr_at(55, recipe) == pytest.approx(5.5e-4)
    assert lr_at(100, recipe) == pytest.approx(1e-4)
    lrs = [lr_at(step, recipe) for step in range(10, 101)]
    assert lrs == sorted(lrs, reverse=True)


def test_training_learns_the_pattern_and_writes_its_outputs(
    data, tiny: ModelConfig, tokenizer: dict, out_dir: Path
) -> None:
    recipe = TrainConfig(max_steps=100, eval_every=25, checkpoint_every=50, **FAST)
    statuses: list[TrainStatus] = []
    result = train(tiny, data, out_dir, recipe, tokenizer, card={"data": "arithmetic runs"}, progress=statuses.append)

    metrics = read_metrics(out_dir)
    assert [m["step"] for m in metrics] == [0, 25, 50, 75, 100]
    # whoever shows the run hears each step's loss and each evaluation's, in order
    assert statuses[0] == TrainStatus(0, 100)
    assert [s.step for s in statuses if s.loss is not None] == list(range(1, 101))
    assert [(s.step, s.val_loss) for s in statuses if s.val_loss is not None] == [
        (m["step"], m["val_loss"]) for m in metrics
    ]
    start = metrics[0]["val_loss"]
    assert start == pytest.approx(math.log(tiny.vocab_size), rel=0.15)  # an untrained model guesses
    assert result.best_val_loss < start / 2
    assert (result.steps, result.stopped) == (100, "max_steps")
    assert result.best_val_loss == min(m["val_loss"] for m in metrics)
    assert result.final_train_loss == metrics[-1]["train_loss"]

    events = EventAccumulator(str(out_dir / "tb"))
    events.Reload()
    assert set(events.Tags()["scalars"]) == {"loss/train", "loss/val", "lr", "tokens_per_s"}
    assert len(events.Scalars("loss/train")) == 100
    best = load_checkpoint(result.best_path)
    assert best.card["data"] == "arithmetic runs"
    assert best.card["training"]["steps"] == result.best_step
    assert best.card["recipe"]["max_steps"] == 100
    assert best.card["model"]["n_layer"] == 2
    assert not (result.best_path / "train_state.pt").exists()
    assert load_checkpoint(out_dir / "last").card["training"]["steps"] == 100
    assert torch.load(out_dir / "last" / "train_state.pt", weights_only=True)["step"] == 100

    with pytest.raises(FileExistsError):  # a second fresh run would overwrite this one
        train(tiny, data, out_dir, recipe, tokenizer)


class Crash(Exception):
    pass


class CrashAfter:
    """The data, until the process 'dies' while fetching batch number `n + 1`."""

    def __init__(self, data, n: int) -> None:
        self.data, self.left, self.vocab_size = data, n, data.vocab_size

    def batch(self, *args, **kwargs):
        if self.left == 0:
            raise Crash
        self.left -= 1
        return self.data.batch(*args, **kwargs)

    def val_batches(self, *args, **kwargs):
        return self.data.val_batches(*args, **kwargs)


def test_resume_continues_exactly_where_the_run_stopped(
    data, tiny: ModelConfig, tokenizer: dict, tmp_path: Path
) -> None:
    recipe = TrainConfig(max_steps=40, eval_every=10, checkpoint_every=20, **FAST)
    straight = train(tiny, data, tmp_path / "straight", recipe, tokenizer)

    with pytest.raises(Crash):
        train(tiny, CrashAfter(data, 30), tmp_path / "resumed", recipe, tokenizer)
    assert [m["step"] for m in read_metrics(tmp_path / "resumed")] == [0, 10, 20, 30]
    resumed = train(tiny, data, tmp_path / "resumed", recipe, tokenizer, resume=True)

    assert resumed.steps == straight.steps == 40
    a = load_checkpoint(tmp_path / "straight" / "last").model.state_dict()
    b = load_checkpoint(tmp_path / "resumed" / "last").model.state_dict()
    assert all(torch.equal(a[name], b[name]) for name in a)
    # The evaluation at step 30 was redone after the resume, not logged twice.
    assert losses(tmp_path / "resumed") == losses(tmp_path / "straight")


def losses(out_dir: Path) -> list[dict]:
    return [{k: v for k, v in m.items() if k not in ("wall_s", "tokens_per_s")} for m in read_metrics(out_dir)]


def test_patience_stops_a_run_that_cannot_improve(data, tiny: ModelConfig, tokenizer: dict, out_dir: Path) -> None:
    recipe = TrainConfig(max_steps=1000, eval_every=5, patience=1, **{**FAST, "lr": 0.0, "min_lr": 0.0})
    result = train(tiny, data, out_dir, recipe, tokenizer)
    assert (result.stopped, result.steps, result.best_step) == ("patience", 5, 0)
    assert load_checkpoint(out_dir / "last").card["training"]["steps"] == 5


def test_max_minutes_stops_cleanly(data, tiny: ModelConfig, tokenizer: dict, out_dir: Path) -> None:
    recipe = TrainConfig(max_steps=10**6, eval_every=10**5, checkpoint_every=10**5, max_minutes=1 / 60, **FAST)
    result = train(tiny, data, out_dir, recipe, tokenizer)
    assert result.stopped == "max_minutes"
    assert 0 < result.steps < 10**5
    assert result.wall_s >= 1.0  # the budget (one second) was spent before the run stopped
    assert read_metrics(out_dir)[-1]["step"] == result.steps  # the final evaluation
    last = load_checkpoint(out_dir / "last")
    assert last.card["training"]["steps"] == result.steps
    assert torch.load(out_dir / "last" / "train_state.pt", weights_only=True)["step"] == result.steps


def test_resume_refuses_a_different_model(data, tiny: ModelConfig, tokenizer: dict, out_dir: Path) -> None:
    recipe = TrainConfig(max_steps=2, eval_every=2, checkpoint_every=2, **FAST)
    train(tiny, data, out_dir, recipe, tokenizer)
    wider = ModelConfig.from_dict({**tiny.to_dict(), "n_embd": 128})
    with pytest.raises(ValueError, match="holds a model shaped"):
        train(wider, data, out_dir, recipe, tokenizer, resume=True)


def test_a_new_run_can_start_from_trained_weights(data, tiny: ModelConfig, tokenizer: dict, tmp_path: Path) -> None:
    first = train(tiny, data, tmp_path / "first", TrainConfig(max_steps=60, eval_every=30, **FAST), tokenizer)
    second_dir = tmp_path / "second"
    train(
        tiny,
        data,
        second_dir,
        TrainConfig(max_steps=1, eval_every=30, **FAST),
        tokenizer,
        init_from=first.best_path,
    )
    # its step-0 validation is the trained model's, not an untrained one's
    assert read_metrics(second_dir)[0]["val_loss"] == pytest.approx(first.best_val_loss, rel=1e-5)
    wider = ModelConfig(**{**tiny.to_dict(), "n_embd": 128})
    with pytest.raises(ValueError, match="shaped"):
        train(
            wider,
            data,
            tmp_path / "third",
            TrainConfig(max_steps=1, **FAST),
            tokenizer,
            init_from=first.best_path,
        )
