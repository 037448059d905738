"""The tiny model the tests compose with, trained by code in seconds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from symusic import Note, Track

from helpers import make_score
from lofi.corpus.quality import normalize
from lofi.model import TrainConfig, load_checkpoint, model_config, train
from lofi.theory import Key
from lofi.tokens.dataset import WindowDataset
from lofi.tokens.tokenizer import LofiTokenizer

# four-bar progressions in C major and D minor, voiced as the test pieces play them
PROGRESSIONS = (
    ((50, 53, 57, 60), (43, 47, 50, 53), (48, 52, 55, 59), (45, 48, 52, 55)),
    ((50, 53, 57, 60), (46, 50, 53, 57), (43, 46, 50, 53), (45, 49, 52, 55)),
    ((48, 52, 55, 59), (45, 48, 52, 55), (50, 53, 57, 60), (43, 47, 50, 53)),
)


def train_tiny_checkpoint(folder: Path):
    """A tiny model trained for a few seconds on code-built pieces (keys, bass, drums).

    It has learned the shape of a bar, so composing with it is quick; what it plays is not music,
    which is why the constraints, not the model, must guarantee key, tempo and length.
    """
    tok = LofiTokenizer.create()
    seqs = []
    for i, chords in enumerate(PROGRESSIONS * 4):
        score = make_score(bars=12, bpm=70 + 4 * i, chords=chords, program=(4, 0, 26)[i % 3])
        if i % 2 == 0:  # a flute melody enters at bar 5, as lo-fi melodies do: chord tones, sparse
            flute = Track(name="flute", program=73, is_drum=False)
            for bar in range(4, 12):
                top = chords[bar % len(chords)]
                flute.notes.extend(
                    Note(bar * 1920 + beat * 480, 400, top[j] + 24, 84) for j, beat in ((0, 0), (2, 1), (1, 3))
                )
            score.tracks.append(flute)
        key = Key.parse("D minor" if i % 2 else "C major")
        seqs.append(np.array(tok.encode(normalize(score), ("chill", "rainy", "jazzy")[i % 3], key, 70 + 4 * i)))
    data = WindowDataset({"train": seqs, "val": seqs[:2]}, tok.vocab_size, tok.bar_id, tok.pad_id)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = train(
            model_config("tiny", tok.vocab_size),
            data,
            folder / "tiny",
            TrainConfig(
                max_steps=200,
                batch_size=8,
                block_size=192,
                lr=3e-3,
                warmup_steps=20,
                eval_every=75,
                checkpoint_every=1000,
                patience=10,
                device="cpu",
                seed=0,
            ),
            tok.to_dict(),
            progress=False,
        )
    finally:
        torch.set_num_threads(threads)
    return load_checkpoint(result.best_path)
