"""Reading a MIDI file, alone: the composing path needs it without the audio stage's imports (scipy)."""

from __future__ import annotations

from pathlib import Path

from symusic import Score


def read_midi(path: Path) -> Score:
    """Any standard MIDI file (any meter, any tempo); a clear error for anything else."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such MIDI file: {path}")
    try:
        return Score(str(path))
    except Exception as exc:  # symusic raises plain RuntimeErrors for every parse failure
        raise ValueError(f"{path} is not a readable MIDI file ({exc})") from None
