"""The track folder: files written under a temporary name and renamed into place."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from lofi.compose.composer import Composition


def _atomic_write(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        Path(tmp).replace(path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def write_track(composition: Composition, out_dir: Path) -> Path:
    """``out_dir/<track_id>/track.mid`` and ``metadata.json``; returns the track folder."""
    folder = out_dir / composition.track_id
    folder.mkdir(parents=True, exist_ok=True)
    _atomic_write(folder / "track.mid", lambda p: composition.score.dump_midi(str(p)))
    text = json.dumps(composition.metadata, indent=2, sort_keys=True) + "\n"
    _atomic_write(folder / "metadata.json", lambda p: p.write_text(text, encoding="utf-8"))
    return folder
