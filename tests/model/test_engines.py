import os

import pytest
import torch
from typer.testing import CliRunner

from lofi.model import load_checkpoint
from lofi.model.constraints import Grammar
from lofi.model.engines import load_engine
from lofi.model.engines.hf import HFEngine
from lofi.model.engines.lean import LeanEngine
from lofi.model.generate import Continuation, decode
from lofi.model.quantize import quantize_int8
from lofi.theory import Key
from lofi.tokens.tokenizer import LofiTokenizer


@pytest.fixture(scope="module")
def jobs(tiny_checkpoint):
    tok = LofiTokenizer.from_dict(tiny_checkpoint.tokenizer)
    key = Key.parse("D minor")
    grammar = Grammar(tok, key, 72)
    prefix = tok.condition_ids("rainy", key, 72)
    first = decode(HFEngine(tiny_checkpoint.model), [Continuation(prefix, 2, grammar, seed=5)])[0]
    # two tries of one prompt, and a longer prompt: rows of different lengths in one batch
    return [Continuation(prefix, 2, grammar, seed=1), Continuation(prefix, 2, grammar, seed=2),
            Continuation(prefix + first, 1, grammar, seed=3)]  # fmt: skip


def is_quantized(module) -> bool:
    return type(module).__module__.startswith("torch.ao.nn.quantized")


def _ids(n):
    return [3 + i % 200 for i in range(n)]


def test_lean_logits_match_transformers(tiny_checkpoint):
    model = tiny_checkpoint.model
    with torch.inference_mode():
        reference = model(torch.tensor([_ids(60)])).logits[0]
    engine = LeanEngine(model)
    engine.reserve(2)
    torch.testing.assert_close(engine.prefill(0, _ids(40)), reference[39], atol=1e-4, rtol=1e-4)
    engine.prefill(1, _ids(50))
    for t in range(10):
        logits = engine.step(torch.tensor([_ids(60)[40 + t], _ids(60)[50 + t]]))
    torch.testing.assert_close(logits[0], reference[49], atol=1e-4, rtol=1e-4)


def test_lean_and_hf_give_the_same_tokens_for_the_same_seeds(tiny_checkpoint, jobs):
    hf = decode(HFEngine(tiny_checkpoint.model), jobs)
    lean = decode(LeanEngine(tiny_checkpoint.model), jobs)
    assert hf == lean
    assert hf[0] != hf[1]  # the tries differ: each has its own random stream
    assert [t.count(LofiTokenizer.from_dict(tiny_checkpoint.tokenizer).bar_id) for t in lean] == [2, 2, 1]


def test_a_rows_tokens_do_not_depend_on_its_neighbours(tiny_checkpoint, jobs):
    engine = LeanEngine(tiny_checkpoint.model, min_rows=4)
    together = decode(engine, jobs)
    alone = [decode(LeanEngine(tiny_checkpoint.model, min_rows=4), [job])[0] for job in jobs]
    assert together == alone


def test_onnx_logits_match_torch(tiny_checkpoint, tmp_path):
    engine = load_engine(tiny_checkpoint, "onnx", home=tmp_path)
    lean = LeanEngine(tiny_checkpoint.model)
    for e in (engine, lean):
        e.reserve(2)
    torch.testing.assert_close(engine.prefill(0, _ids(30)), lean.prefill(0, _ids(30)), atol=1e-4, rtol=1e-4)
    engine.prefill(1, _ids(45))
    lean.prefill(1, _ids(45))
    # rows of different lengths, past the step where the ONNX cache grows (64 positions)
    for token in range(5, 30):
        a, b = engine.step(torch.tensor([token, token])), lean.step(torch.tensor([token, token]))
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
    assert engine.length(1) == lean.length(1) == 70
    # row 0 leaves: row 1 moves into its place and steps alone
    for e in (engine, lean):
        e.move(1, 0)
    torch.testing.assert_close(engine.step(torch.tensor([9])), lean.step(torch.tensor([9])), atol=1e-4, rtol=1e-4)
    folder = tmp_path / "cache" / "onnx" / tiny_checkpoint.model_id
    assert (folder / "extend.onnx").is_file() and (folder / "step.onnx").is_file()
    # exporting leaves the shared torch model as it was: in eval mode, its dropout off
    assert not any(module.training for module in tiny_checkpoint.model.modules())


@pytest.mark.parametrize("name", ["hf", "lean", "onnx"])
def test_extending_and_cutting_a_row_match_the_whole_forward(tiny_checkpoint, tmp_path, name):
    with torch.inference_mode():
        reference = tiny_checkpoint.model(torch.tensor([_ids(100)])).logits[0]
    engine = load_engine(tiny_checkpoint, name, home=tmp_path)
    engine.reserve(2)
    engine.prefill(0, _ids(30))
    engine.prefill(1, _ids(80))  # another row, longer: an extend of row 0 must not see it
    torch.testing.assert_close(engine.extend(0, _ids(100)[30:37]), reference[36], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(engine.extend(0, _ids(100)[37:38]), reference[37], atol=1e-4, rtol=1e-4)
    assert engine.length(0) == 38
    # a step after an extend continues from where it left the row
    logits = engine.step(torch.tensor([_ids(100)[38], _ids(100)[80]]))
    torch.testing.assert_close(logits[0], reference[38], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(logits[1], reference[80], atol=1e-4, rtol=1e-4)
    # cut back (a bar written again) and extended: as if the cut tokens had never been there
    engine.truncate(0, 35)
    assert engine.length(0) == 35
    torch.testing.assert_close(engine.extend(0, _ids(100)[35:41]), reference[40], atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match="no room"):
        engine.extend(0, _ids(engine.n_positions))


def test_int8_runs_quantized_modules(tiny_checkpoint):
    quantized = quantize_int8(tiny_checkpoint.model)
    block = quantized.transformer.h[0]
    for module in (block.attn.c_attn, block.attn.c_proj, block.mlp.c_fc, block.mlp.c_proj):
        assert is_quantized(module)
    assert not is_quantized(tiny_checkpoint.model.transformer.h[0].attn.c_attn)  # the original is untouched
    engine = LeanEngine(quantized)
    assert engine.blocks[0].qkv is block.attn.c_attn  # the lean loop calls the int8 module itself
    engine.reserve(1)
    with torch.inference_mode():
        fp32 = tiny_checkpoint.model(torch.tensor([_ids(20)])).logits[0, -1]
        int8 = quantized(torch.tensor([_ids(20)])).logits[0, -1]
    logits = engine.prefill(0, _ids(20))
    assert not torch.equal(logits, fp32)
    torch.testing.assert_close(logits, int8, atol=1e-3, rtol=1e-3)  # what runs is the int8 model


def test_export_onnx_command(tiny_checkpoint, tmp_path):
    from lofi.cli.main import app

    result = CliRunner().invoke(
        app, ["export", "onnx", str(tiny_checkpoint.path), "--out", str(tmp_path), "--quantize", "int8"]
    )
    assert result.exit_code == 0, result.output
    for name in ("extend.onnx", "step.onnx", "extend.int8.onnx", "step.int8.onnx"):
        assert (tmp_path / name).is_file()
    assert "step.int8.onnx" in "".join(result.output.split())  # the console may wrap a long path


def test_composing_from_exported_graphs_needs_no_torch_model(tiny_checkpoint, tmp_path):
    """With the ONNX graphs exported once (the first track), a fresh process composes without building
    the torch model, so transformers is never imported: a cold `lofi generate` saves its ~3 s."""
    import subprocess
    import sys

    load_engine(tiny_checkpoint, "onnx", home=tmp_path)  # exports into tmp_path/cache/onnx
    code = f"""
import sys
from lofi.compose import Composer, ComposeRequest
from lofi.model import load_checkpoint

checkpoint = load_checkpoint({str(tiny_checkpoint.path)!r}, build=False)
composition = Composer(checkpoint, engine="onnx").compose(ComposeRequest(mood="chill", minutes=0.25, seed=3))
assert composition.score.note_num() > 0
print(checkpoint.built is None, "transformers" in sys.modules)
"""
    env = {**os.environ, "LOFI_HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "False"]
    assert load_checkpoint(tiny_checkpoint.path, build=False).model.config.n_layer == tiny_checkpoint.config.n_layer
