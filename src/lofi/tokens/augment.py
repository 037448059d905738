"""Transposition augmentation: notes and key token move together."""

from __future__ import annotations

from symusic import Score

from lofi.theory import Key

PITCH_LOW, PITCH_HIGH = 21, 108


def _fold_into_range(pitch: int) -> int:
    while pitch < PITCH_LOW:
        pitch += 12
    while pitch > PITCH_HIGH:
        pitch -= 12
    return pitch


def transpose(score: Score, key: Key, semitones: int) -> tuple[Score, Key]:
    """Shift every pitched note (drums stay) and the key by ``semitones``.

    Notes pushed off the piano's range fold back by octaves, so the pitch classes always follow the key.
    """
    out = score.copy()
    for track in out.tracks:
        if track.is_drum:
            continue
        for note in track.notes:
            note.pitch = _fold_into_range(note.pitch + semitones)
    return out, key.transpose(semitones)
