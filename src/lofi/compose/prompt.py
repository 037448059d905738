"""A MIDI file to continue from: its key, its tempo and its last bars as tokens."""

from __future__ import annotations

from pathlib import Path

from symusic import Score

from lofi.corpus.quality import Rejected, check_file, normalize
from lofi.limits import TEMPO_RANGE
from lofi.theory import Key, detect_key
from lofi.tokens.tokenizer import LofiTokenizer

PROMPT_BARS = 8  # bars the model hears before it goes on


def _load(path: Path) -> Score:
    try:
        return check_file(path).score
    except Rejected as exc:
        raise ValueError(f"cannot continue {path}: {exc}") from exc


def describe_file(path: Path) -> tuple[Key, int]:
    """The key detected from the notes and the first tempo, clamped to what the model knows."""
    score = _load(path)
    key = detect_key(score).key  # major or natural minor: what the condition tokens know
    bpm = float(score.tempos[0].qpm) if len(score.tempos) else 120.0
    return key, round(min(max(bpm, TEMPO_RANGE[0]), TEMPO_RANGE[1]))


def prompt_tokens(path: Path, tokenizer: LofiTokenizer) -> list[int]:
    """REMI tokens of the file's last PROMPT_BARS bars, programs folded to the palette."""
    score = normalize(_load(path))
    bar_ticks = 4 * score.tpq
    first = max(0, score.end() // bar_ticks - PROMPT_BARS) * bar_ticks
    tail = score.clip(first, score.end()).shift_time(-first)
    return tokenizer.encode_body(tail)
