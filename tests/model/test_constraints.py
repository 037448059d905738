import pytest
import torch

from lofi.model.constraints import Grammar
from lofi.theory import Key
from lofi.tokens.tokenizer import LofiTokenizer


@pytest.fixture(scope="module")
def tok():
    return LofiTokenizer.create()


def _allowed(grammar, tok, previous_name):
    mask = grammar.allowed_after(tok.vocab[previous_name])
    return {tok.id_to_token[i] for i in mask.nonzero().flatten().tolist()}


@pytest.mark.parametrize(("key_name", "extra"), [("D minor", {1}), ("F major", set()), ("D dorian", set())])
def test_strict_key_allows_only_scale_pitches_after_a_pitched_program(tok, key_name, extra):
    # the scale, and in natural minor its leading tone (C# in D minor: the V7 is A7)
    key = Key.parse(key_name)
    grammar = Grammar(tok, key, 72)
    allowed = _allowed(grammar, tok, "Program_4")
    assert allowed
    assert all(name.startswith("Pitch_") for name in allowed)
    assert {int(n.split("_")[1]) % 12 for n in allowed} == set(key.pitch_classes) | extra


def test_drums_keep_every_drum_sound(tok):
    grammar = Grammar(tok, Key.parse("D minor"), 72)
    allowed = _allowed(grammar, tok, "Program_-1")
    assert allowed == {n for n in tok.vocab if n.startswith("PitchDrum_")}


def test_the_tempo_is_forced(tok):
    grammar = Grammar(tok, None, 72)
    allowed = _allowed(grammar, tok, "Position_0")
    assert {n for n in allowed if n.startswith("Tempo_")} == {"Tempo_72.0"}


def test_a_bar_is_never_empty(tok):
    grammar = Grammar(tok)
    assert {n.split("_")[0] for n in _allowed(grammar, tok, "Bar_None")} == {"Position"}


def test_a_note_is_program_pitch_velocity_duration(tok):
    grammar = Grammar(tok)
    assert all(n.startswith("Velocity_") for n in _allowed(grammar, tok, "Pitch_60"))
    velocity = next(n for n in tok.vocab if n.startswith("Velocity_"))
    assert all(n.startswith("Duration_") for n in _allowed(grammar, tok, velocity))
    after_duration = {n.split("_")[0] for n in _allowed(grammar, tok, "Duration_1.0.8")}
    assert after_duration == {"Program", "Position", "Bar"}


def test_the_body_opens_with_a_bar_and_condition_tokens_never_follow(tok):
    grammar = Grammar(tok, Key.parse("C"), 80)
    start = grammar.allowed_after(0, at_start=True)
    assert start.nonzero().flatten().tolist() == [tok.bar_id]
    conditions = [tok.vocab[t] for t in tok.condition_tokens]
    assert not grammar.masks[:, conditions].any()


def test_apply_masks_logits(tok):
    grammar = Grammar(tok, Key.parse("C"), 80)
    logits = torch.zeros(tok.vocab_size)
    out = grammar.apply(logits, tok.vocab["Pitch_60"])
    finite = {tok.id_to_token[i] for i in torch.isfinite(out).nonzero().flatten().tolist()}
    assert finite and all(n.startswith("Velocity_") for n in finite)
