"""Sampling as the decoder does it (DecodeBatch._sample), on fixed logits from a stub engine."""

import itertools
from collections import Counter
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from engines import FixedLogits
from lofi.instruments import DRUMS
from lofi.model.constraints import Grammar
from lofi.model.generate import MAX_NOTES_AT_ONCE, Continuation, DecodeBatch, _Row, decode, decode_table
from lofi.model.sampling import SamplingConfig
from lofi.theory import Key
from lofi.theory.groove import KIT
from lofi.tokens.dataset import PREFIX_LEN
from lofi.tokens.tokenizer import LofiTokenizer

PROMPT = [0] * PREFIX_LEN + [2, 0]  # past the condition prefix: the grammar reads the last token, 0


def grammar(vocab, allowed_after=None):
    """A grammar allowing every token, or ``allowed_after[previous]`` after ``previous``."""
    masks = torch.ones(vocab, vocab, dtype=torch.bool)
    for previous, allowed in (allowed_after or {}).items():
        masks[previous] = False
        masks[previous, allowed] = True
    return SimpleNamespace(tok=SimpleNamespace(bar_id=0), masks=masks, start_mask=torch.ones(vocab, dtype=torch.bool))


def draws(logits, n=2000, seed=1, prompt=PROMPT, rules=None, **sampling):
    batch = DecodeBatch(FixedLogits(logits))
    batch.add(Continuation(prompt, 1, grammar(len(logits), rules), SamplingConfig(**sampling), seed=seed))
    with torch.inference_mode():
        return [batch._sample()[0] for _ in range(n)]


def test_top_k_keeps_exactly_the_k_best():
    assert set(draws([1.0, 5.0, 3.0, 4.0, 2.0], top_k=2, top_p=1.0)) == {1, 3}


def test_top_p_keeps_the_smallest_set_reaching_p():
    logits = np.log([0.5, 0.3, 0.15, 0.05]).tolist()
    assert set(draws(logits, top_k=0, top_p=0.75, temperature=1.0)) == {0, 1}
    # the most likely token survives any p
    assert set(draws(logits, top_k=0, top_p=0.01, temperature=1.0)) == {0}


def test_draws_follow_the_probabilities_at_temperature():
    probs = np.array([0.5, 0.3, 0.2])
    for temperature in (1.0, 0.5):
        counts = Counter(draws(np.log(probs).tolist(), n=4000, top_k=0, top_p=1.0, temperature=temperature))
        expected = probs ** (1 / temperature) / (probs ** (1 / temperature)).sum()
        assert np.abs(np.array([counts[i] for i in range(3)]) / 4000 - expected).max() < 0.03


def test_the_grammar_masks_tokens_after_the_previous_one():
    # after PROMPT's last token only 3 and 4 may come, though 0 is far more likely
    rules = {0: [3, 4]}
    assert set(draws([9.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], top_k=0, top_p=1.0, rules=rules)) == {3, 4}


def test_repetition_guard_blocks_a_run_at_its_limit_only():
    logits = [0.0, 8.0, 0.0]
    at_limit = draws(logits, n=300, prompt=[*PROMPT, 1, 1, 1], repeat_limit=3, top_k=0, top_p=1.0)
    assert 1 not in at_limit
    below = draws(logits, n=300, prompt=[*PROMPT, 2, 1, 1], repeat_limit=3, top_k=0, top_p=1.0)
    assert Counter(below)[1] > 250


def test_a_rows_draws_depend_on_its_seed_only():
    logits = torch.randn(50, generator=torch.Generator().manual_seed(1)).tolist()
    alone = draws(logits, n=50, seed=7)
    assert alone == draws(logits, n=50, seed=7)
    assert alone != draws(logits, n=50, seed=8)
    batch = DecodeBatch(FixedLogits(logits))
    for seed in (8, 7, 9):
        batch.add(Continuation(PROMPT, 1, grammar(50), SamplingConfig(), seed=seed))
    with torch.inference_mode():
        assert [batch._sample()[1] for _ in range(50)] == alone


@pytest.mark.parametrize("kwargs", [{"temperature": 0}, {"top_k": -1}, {"top_p": 0}, {"top_p": 1.5}])
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(ValueError):
        SamplingConfig(**kwargs)


# no stacked notes: the real tokenizer and grammar ------------------------------------------------------

KEY = Key(0)
FREE = SamplingConfig(temperature=1.0, top_k=0, top_p=1.0)  # every allowed token may come


@pytest.fixture(scope="module")
def tok():
    return LofiTokenizer.create()


def band_grammar(tok, drums=KIT):
    return Grammar(tok, KEY, 80, programs={0, 33, DRUMS}, drums=drums)


class Scripted(FixedLogits):
    """An engine that plays ``script`` (one token far above the rest at each step), then gives ``then``."""

    n_positions = 1 << 20

    def __init__(self, vocab_size, script, then):
        super().__init__(then)
        self.script, self.calls = script, 0
        self.vocab_size = vocab_size

    def _next(self):
        logits = self.logits.clone()
        if self.calls < len(self.script):
            logits = torch.zeros(self.vocab_size)
            logits[self.script[self.calls]] = 100.0
        self.calls += 1
        return logits

    def prefill(self, row, ids):
        self.calls = 0
        return self._next()

    def step(self, tokens):
        return self._next()[None].expand(len(tokens), -1).clone()


def draws_after(tok, script: list[str], wanted: str, n=300, grammar=None):
    """``n`` draws for the token after ``script`` (REMI names), with logits that want ``wanted`` above all."""
    then = torch.zeros(tok.vocab_size)
    then[tok.vocab[wanted]] = 20.0
    ids = [tok.vocab[name] for name in script]
    batch = DecodeBatch(Scripted(tok.vocab_size, ids, then.tolist()))
    prefix = tok.condition_ids("chill", KEY, 80)
    batch.add(Continuation(prefix, 4, grammar or band_grammar(tok), FREE, seed=3))
    for _ in ids:
        assert not batch.step()
    assert batch.rows[0].new == ids, "the script was not followed"
    with torch.inference_mode():
        return Counter(tok.id_to_token[batch._sample()[0]] for _ in range(n))


NOTE = ["Pitch_60", "Velocity_63", "Duration_1.0.8"]


def test_a_program_never_plays_a_pitch_twice_at_one_position(tok):
    after = draws_after(tok, ["Bar_None", "Position_0", "Program_0", *NOTE, "Program_0"], "Pitch_60")
    assert "Pitch_60" not in after, "the piano's second note at position 0 stacked on its first"
    in_key = {f"Pitch_{p}" for p in range(21, 109) if p % 12 in KEY.pitch_classes}
    assert set(after) <= in_key - {"Pitch_60"} and len(after) > 20  # any other pitch of the key, evenly
    # the stub wants Pitch_60 there: everywhere the rule does not apply, it gets it
    for script in (
        ["Bar_None", "Position_0", "Program_0"],  # the first note
        ["Bar_None", "Position_0", "Program_0", *NOTE, "Program_33"],  # another program shares the pitch
        ["Bar_None", "Position_0", "Program_0", *NOTE, "Position_4", "Program_0"],  # a later position
        ["Bar_None", "Position_0", "Program_0", *NOTE, "Bar_None", "Position_0", "Program_0"],  # the next bar
    ):
        assert draws_after(tok, script, "Pitch_60") == {"Pitch_60": 300}, script
    # every pitch played at the position is masked, not only the last one
    played = ["Bar_None", "Position_8", "Program_0", *NOTE, "Program_0", "Pitch_64", *NOTE[1:], "Program_33"]
    played += ["Pitch_67", *NOTE[1:], "Program_0"]
    after = draws_after(tok, played, "Pitch_64")
    assert not {"Pitch_60", "Pitch_64"} & set(after) and "Pitch_67" in after


def test_a_drum_is_never_struck_twice_at_one_position(tok):
    script = ["Bar_None", "Position_0", "Program_-1", "PitchDrum_36", *NOTE[1:], "Program_-1"]
    after = draws_after(tok, script, "PitchDrum_36")
    assert "PitchDrum_36" not in after and set(after) <= {f"PitchDrum_{d}" for d in KIT}
    assert draws_after(tok, [*script[:-1], "Program_0"], "Pitch_36") == {"Pitch_36": 300}  # another part may


def test_positions_only_move_forward_inside_a_bar(tok):
    script = ["Bar_None", "Position_10", "Program_0", *NOTE]
    after = draws_after(tok, script, "Position_3")
    positions = {name for name in after if name.startswith("Position")}
    assert positions and all(int(name.split("_")[1]) > 10 for name in positions), sorted(positions)
    assert "Position_10" not in after, "a repeated position would let notes stack"
    # a new bar starts from its beginning
    assert draws_after(tok, [*script, "Bar_None"], "Position_3") == {"Position_3": 300}
    # after the last position, only another note or the next bar
    after = draws_after(tok, ["Bar_None", "Position_31", "Program_0", *NOTE], "Position_3")
    assert {name.split("_")[0] for name in after} <= {"Program", "Bar"}


def stacking_logits(tok):
    """Logits that want Pitch_60 and the kick above every other pitch, a note more than a new position (so
    a program often plays again where it played), and the bar to end."""
    logits = np.zeros(tok.vocab_size, np.float32)
    logits[[tok.vocab["Pitch_60"], tok.vocab["PitchDrum_36"]]] = 12.0
    logits[list(tok.ids_of_type("Program"))] = 2.0
    logits[tok.bar_id] = 2.0
    return logits


def free_decode(tok, logits, grammar, seeds=range(6), bars=4):
    engine = FixedLogits(logits.tolist())
    engine.n_positions = 1 << 20
    prefix = tok.condition_ids("chill", KEY, 80)
    jobs = [Continuation(prefix, bars, grammar, FREE, seed=s) for s in seeds]
    return prefix, decode(engine, jobs)


def notes_by_position(tok, ids):
    """[(bar, position value, Program id, pitch id)] for every Program-pitch pair, and backward positions."""
    notes, backward = [], 0
    bar, position, program = -1, -1, None
    for t in ids:
        name = tok.id_to_token[t]
        if t == tok.bar_id:
            bar, position = bar + 1, -1
        elif name.startswith("Position_"):
            backward += int(name.split("_")[1]) <= position
            position = int(name.split("_")[1])
        elif name.startswith("Program_"):
            program = t
        elif name.startswith(("Pitch_", "PitchDrum_")):
            notes.append((bar, position, program, t))
    return notes, backward


def test_a_free_decode_never_stacks_notes(tok):
    grammar = band_grammar(tok)
    table = decode_table(grammar)
    after_piano = table[tok.vocab["Program_0"]]
    logits = stacking_logits(tok)
    # the stub really wants the repeat: after the piano's Program token, Pitch_60 is all but certain
    probs = np.exp(logits[after_piano] - logits[after_piano].max())
    assert probs[np.flatnonzero(after_piano) == tok.vocab["Pitch_60"]].item() / probs.sum() > 0.99
    prefix, results = free_decode(tok, logits, grammar)
    chances = shared = 0
    for seed, result in enumerate(results):
        assert result.count(tok.bar_id) == 4
        breaks = [(a, b) for a, b in itertools.pairwise(result) if not table[a, b]]
        assert not breaks, f"seed {seed}: tokens the grammar does not allow: {breaks[:4]}"
        notes, backward = notes_by_position(tok, result)
        assert backward == 0, f"seed {seed}: a position went back inside a bar"
        stacked = [k for k, n in Counter(notes).items() if n > 1]
        assert not stacked, f"seed {seed}: stacked notes (bar, position, program, pitch): {stacked[:4]}"
        programs_at = Counter((b, p, program) for b, p, program, _ in notes)
        chances += sum(n - 1 for n in programs_at.values())  # a program's second notes at one position
        sixties = Counter((b, p) for b, p, _, pitch in notes if pitch == tok.vocab["Pitch_60"])
        shared += sum(n > 1 for n in sixties.values())  # several programs on Pitch_60 at one position
        score = tok.decode(prefix + result)
        struck = Counter((t.program, t.is_drum, n.time, n.pitch) for t in score.tracks for n in t.notes)
        assert sum(struck.values()) == len(notes)
        assert max(struck.values()) == 1, f"seed {seed}: two notes of one track at one tick and pitch"
    assert chances >= 10, f"only {chances} second notes of a program at a position (the test proves little)"
    assert shared >= 3, "different programs never shared Pitch_60 at a position: the mask is too wide"


def test_without_the_bookkeeping_the_stub_stacks_notes(tok, monkeypatch):
    # the control for the test above: a row that does not follow its tokens (the decoder before the rule)
    monkeypatch.setattr(_Row, "follow", lambda self, token, kinds: None)
    _, results = free_decode(tok, stacking_logits(tok), band_grammar(tok))
    stacked = backward = 0
    for result in results:
        notes, back = notes_by_position(tok, result)
        stacked += sum(n > 1 for n in Counter(notes).values())
        backward += back
    assert stacked >= 5 and backward >= 5, (stacked, backward)


def test_a_program_with_every_pitch_played_at_a_position_stays_in_the_grammar(tok):
    """A kit of one drum, and logits that want the drum Program token above all.

    After one kick at a position no drum note is left for the drums there; the row must not be led into
    a Program token with no pitch allowed after it (nothing allowed, so it draws token 0, PAD).
    """
    grammar = band_grammar(tok, drums={36})
    logits = np.zeros(tok.vocab_size, np.float32)
    logits[tok.vocab["Program_-1"]] = 8.0
    _, results = free_decode(tok, logits, grammar, seeds=range(2), bars=1)
    table = decode_table(grammar)
    for result in results:
        names = tok.id_to_token
        breaks = [f"{names[a]} -> {names[b]}" for a, b in itertools.pairwise(result) if not table[a, b]]
        assert not breaks and tok.pad_id not in result, (
            "a program whose allowed pitches are all played at a position is still offered; the next step has "
            f"nothing allowed and writes PAD: {breaks[:3]}"
        )


def test_a_part_strikes_at_most_a_voicing_at_once(tok):
    # a stub that always wants the piano again after a note: without the cap it would pile up a cluster
    logits = np.zeros(tok.vocab_size, dtype=np.float32)
    logits[tok.vocab["Program_0"]] = 12.0
    _, results = free_decode(tok, logits, band_grammar(tok), seeds=range(3), bars=2)
    for result in results:
        notes, _ = notes_by_position(tok, result)
        per_position = Counter((b, p, program) for b, p, program, _ in notes)
        assert max(per_position.values()) == MAX_NOTES_AT_ONCE  # the stub fills each position up to the cap
