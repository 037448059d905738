"""The track folder: files written under a temporary name and renamed into place."""

from __future__ import annotations

import json
from pathlib import Path

from lofi.compose.composer import Composition
from lofi.files import atomic_write


def write_track(composition: Composition, out_dir: Path) -> Path:
    """``out_dir/<track_id>/track.mid`` and ``metadata.json``; returns the track folder."""
    folder = out_dir / composition.track_id
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(folder / "track.mid", lambda p: composition.score.dump_midi(str(p)))
    text = json.dumps(composition.metadata, indent=2, sort_keys=True) + "\n"
    atomic_write(folder / "metadata.json", lambda p: p.write_text(text, encoding="utf-8"))
    return folder
