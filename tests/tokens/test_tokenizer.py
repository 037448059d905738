import json

import numpy as np
import pytest
import torch

from helpers import make_score
from lofi.moods import MOODS
from lofi.theory import Key
from lofi.tokens.augment import transpose
from lofi.tokens.dataset import IGNORE, PREFIX_LEN, WindowDataset, load_split, save_split
from lofi.tokens.tokenizer import KEY_TOKENS, LofiTokenizer


@pytest.fixture(scope="module")
def tok():
    return LofiTokenizer.create()


def _notes(score):
    """(program or drum, start in quarter notes, pitch) of every note, sorted."""
    out = []
    for t in score.tracks:
        for n in t.notes:
            out.append((-1 if t.is_drum else t.program, round(n.time / score.tpq, 3), n.pitch))
    return sorted(out)


def test_condition_tokens_lead_every_sequence(tok):
    ids = tok.encode(make_score(), "rainy", Key.parse("D minor"), 72)
    names = [tok.id_to_token[i] for i in ids[:5]]
    assert names == ["BOS_None", "Mood_rainy", "Key_D_minor", "Tempo_72.0", "Bar_None"]


def test_every_mood_and_key_has_a_token(tok):
    for mood in MOODS:
        assert f"Mood_{mood}" in tok.vocab
    assert len(KEY_TOKENS) == 24
    for token in KEY_TOKENS:
        assert f"Key_{token}" in tok.vocab


def test_midi_to_tokens_to_midi_keeps_the_notes(tok):
    score = make_score(bars=4)
    back = tok.decode(tok.encode(score, "chill", Key.parse("D minor"), 80))
    assert _notes(back) == _notes(score)


def test_config_round_trips_through_json_with_the_same_ids(tok):
    again = LofiTokenizer.from_dict(json.loads(json.dumps(tok.to_dict())))
    assert again.vocab == tok.vocab
    assert json.dumps(again.to_dict(), sort_keys=True) == json.dumps(tok.to_dict(), sort_keys=True)


def test_a_tokenizer_from_another_vocabulary_is_refused(tok):
    data = tok.to_dict()
    data["vocab"] = {
        **data["vocab"],
        "Program_32": data["vocab"]["Program_33"],
        "Program_33": data["vocab"]["Program_32"],
    }
    with pytest.raises(ValueError, match="miditok"):
        LofiTokenizer.from_dict(data)


def test_tempo_token_is_the_nearest_bpm(tok):
    assert tok.id_to_token[tok.tempo_id(72)] == "Tempo_72.0"
    assert tok.id_to_token[tok.tempo_id(200)] == "Tempo_130.0"


@pytest.mark.parametrize("shift", [-5, -1, 3, 6])
def test_transposition_moves_notes_and_key_together_and_leaves_drums(shift):
    score = make_score(bars=2)
    moved, key = transpose(score, Key.parse("D minor"), shift)
    assert key == Key.parse("D minor").transpose(shift)
    for before, after in zip(score.tracks, moved.tracks, strict=True):
        for a, b in zip(before.notes, after.notes, strict=True):
            assert b.pitch == (a.pitch if before.is_drum else a.pitch + shift)


def test_transposition_folds_notes_back_into_range():
    score = make_score(bars=1, chords=((100, 104, 107),))
    moved, _ = transpose(score, Key.parse("C"), 6)
    pitches = [n.pitch for t in moved.tracks if not t.is_drum for n in t.notes]
    assert max(pitches) <= 108
    assert {p % 12 for p in pitches} == {(p + 6) % 12 for p in (100, 104, 107, 88)}


def test_split_round_trip(tmp_path):
    seqs = [[1, 2, 3, 4, 5], [1, 9, 9, 9], list(range(1, 300))]
    save_split(tmp_path / "train.npz", seqs)
    assert [s.tolist() for s in load_split(tmp_path / "train.npz")] == seqs


def test_windows_start_on_a_bar_behind_the_prefix(tok):
    seqs = [np.array(tok.encode(make_score(bars=16), m, Key.parse("C"), 80)) for m in ("chill", "sad")]
    data = WindowDataset({"train": seqs, "val": seqs[:1]}, tok.vocab_size, tok.bar_id, tok.pad_id)
    x, y = data.batch("train", 16, 64, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (16, 64)
    for row_x, row_y in zip(x.tolist(), y.tolist(), strict=True):
        assert row_x[0] == tok.bos_id
        assert tok.id_to_token[row_x[1]] in ("Mood_chill", "Mood_sad")
        assert row_x[PREFIX_LEN] == tok.bar_id
        assert row_y[: PREFIX_LEN - 1] == [IGNORE] * (PREFIX_LEN - 1)
        assert row_y[PREFIX_LEN - 1] == tok.bar_id  # the first predicted token is the body's bar
        assert row_x[PREFIX_LEN + 1 :][:10] == row_y[PREFIX_LEN : PREFIX_LEN + 10]


def test_validation_batches_are_fixed(tok):
    seqs = [np.array(tok.encode(make_score(bars=24), "chill", Key.parse("C"), 80))]
    data = WindowDataset({"train": seqs, "val": seqs}, tok.vocab_size, tok.bar_id, tok.pad_id)
    first = [x.tolist() for x, _ in data.val_batches(2, 128)]
    again = [x.tolist() for x, _ in data.val_batches(2, 128)]
    assert first == again
    assert sum(len(b) for b in first) >= 2
