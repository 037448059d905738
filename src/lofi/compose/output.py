"""The track folder: files written under a temporary name and renamed into place."""

from __future__ import annotations

from pathlib import Path

from lofi.compose.composer import Composition
from lofi.files import atomic_write
from lofi.track import TrackFolder


def write_track(composition: Composition, out_dir: Path) -> Path:
    """``out_dir/<track_id>/track.mid`` and ``metadata.json``; returns the track folder."""
    folder = out_dir / composition.track_id
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(folder / "track.mid", lambda p: composition.score.dump_midi(str(p)))
    TrackFolder.new(folder, composition.metadata).save()
    return folder
