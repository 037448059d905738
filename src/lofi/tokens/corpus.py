"""Tokenize the corpus into train and validation splits, once per manifest and tokenizer."""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, partial
from pathlib import Path

from symusic import Score

from lofi.corpus.manifest import Entry, read_manifest
from lofi.corpus.pool import run_each
from lofi.corpus.quality import normalize
from lofi.theory import Key
from lofi.tokens.augment import transpose
from lofi.tokens.dataset import save_split
from lofi.tokens.tokenizer import TEMPO_RANGE, LofiTokenizer

# MMA and melody pieces are already spread over all 12 keys; other sources get transposed copies
SPREAD_SOURCES = frozenset({"mma", "melody", "loops", "mma-lofi"})


@dataclass(frozen=True)
class TokenizeOptions:
    transpositions: int = 4  # extra transposed copies of each training piece from other sources
    workers: int = 2
    seed: int = 0


@cache
def _tokenizer(spec: str) -> LofiTokenizer:
    return LofiTokenizer.from_dict(json.loads(spec))


def _clamp_bpm(bpm: float) -> float:
    return min(max(bpm, TEMPO_RANGE[0]), TEMPO_RANGE[1])


def tokenize_entry(job: tuple[Entry, tuple[int, ...]], corpus_dir: Path, spec: str) -> list[list[int]]:
    """One sequence per transposition (0 = as written) of a corpus file."""
    entry, shifts = job
    tok = _tokenizer(spec)
    score = normalize(Score(str(corpus_dir / entry.path)))
    key = Key.from_token(entry.key)
    out = []
    for shift in shifts:
        moved, moved_key = transpose(score, key, shift) if shift else (score, key)
        out.append(tok.encode(moved, entry.mood, moved_key, _clamp_bpm(entry.bpm)))
    return out


def _fingerprint(entries: list[Entry], tokenizer: LofiTokenizer, options: TokenizeOptions) -> str:
    h = hashlib.sha256()
    h.update(json.dumps(tokenizer.to_dict(), sort_keys=True).encode())
    h.update(repr((options.transpositions, options.seed)).encode())
    for e in entries:
        h.update(f"{e.sha256}:{e.split}:{e.mood}:{e.key}:{e.bpm}".encode())
    return h.hexdigest()


def tokenize_corpus(
    corpus_dir: Path,
    tokenizer: LofiTokenizer,
    options: TokenizeOptions | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Write ``<corpus>/tokens/{train,val}.npz``; reuse them when nothing changed. Returns the folder."""
    options = options or TokenizeOptions()
    entries = [e for e in read_manifest(corpus_dir / "manifest.jsonl") if e.accepted]
    if not entries:
        raise FileNotFoundError(f"no accepted files in {corpus_dir}: run `lofi corpus build` first")
    out_dir = corpus_dir / "tokens"
    stamp = out_dir / "fingerprint.txt"
    fingerprint = _fingerprint(entries, tokenizer, options)
    if stamp.exists() and stamp.read_text() == fingerprint:
        return out_dir
    jobs = []
    for e in entries:
        shifts = [0]
        if e.split == "train" and e.source not in SPREAD_SOURCES:
            rng = random.Random(f"{options.seed}:{e.sha256}")
            shifts += rng.sample([s for s in range(-5, 7) if s], options.transpositions)
        jobs.append((e, tuple(shifts)))
    spec = json.dumps(tokenizer.to_dict(), sort_keys=True)
    work = partial(tokenize_entry, corpus_dir=corpus_dir, spec=spec)
    splits: dict[str, list[tuple[str, list[int]]]] = {"train": [], "val": []}
    for done, (job, result) in enumerate(run_each(work, jobs, options.workers, timeout_s=120), 1):
        if isinstance(result, BaseException):
            raise RuntimeError(f"tokenizing {job[0].path} failed: {result}") from result
        splits[job[0].split] += [(job[0].path, seq) for seq in result]
        if progress:
            progress(done, len(jobs))
    for name, items in splits.items():
        items.sort(key=lambda item: item[0])  # pool order varies; the files must not
        save_split(out_dir / f"{name}.npz", [seq for _, seq in items])
    stamp.write_text(fingerprint)
    return out_dir
