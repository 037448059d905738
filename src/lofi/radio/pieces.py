"""A rendered radio track on disk: its layers' audio and what the station needs to know about it.

``<radio>/pieces/<id>/layers.npy`` holds, as int16 (frames, 9), the left and right channels of each
layer of ``LAYERS`` after the mix's levels, then the kick's duck curve (the gain the non-drum layers get
when the drums play, so a layer taken out takes its pumping with it). int16 halves the size of float32
(2.5 minutes: 105 MB) at a noise floor far under the vinyl crackle the effects add. ``piece.json``
says the rest. Both are written atomically, the JSON last: a piece without it is a half-written one.
The station reads the audio through a memory map, a block at a time, so a piece costs no memory of
its own; a piece is deleted once played, so what is left at a restart is what was buffered.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from lofi.files import atomic_write
from lofi.radio.state import LAYERS, PieceSpec

PIECE_JSON = "piece.json"
AUDIO = "layers.npy"
CHANNELS = 2 * len(LAYERS) + 1  # each layer's left and right, then the duck curve
DUCK_CHANNEL = CHANNELS - 1
FULL_SCALE = 32767.0


@dataclass(frozen=True)
class Piece:
    id: str
    spec: PieceSpec
    title: str
    bars: int
    sample_rate: int
    frames: int  # of audio, the tails of the last notes included
    pre_gain_db: float  # brings the sum of the layers to the chain's reference loudness
    post_gain_db: float  # brings what the effects chain makes of it to the loudness target
    generation: int  # the state it was made for; a newer state's pieces replace it
    urgent: bool  # made for a state change: starts on the next phrase boundary
    folder: Path

    @property
    def bar_frames(self) -> float:
        return 4 * 60 / self.spec.bpm * self.sample_rate

    @property
    def music_frames(self) -> int:
        """Where the last bar ends: the tail after it rings under the next track."""
        return min(self.frames, round(self.bars * self.bar_frames))

    def audio(self) -> np.ndarray:
        return np.load(self.folder / AUDIO, mmap_mode="r")

    def to_dict(self) -> dict:
        data = asdict(self)
        data["spec"], data["folder"] = self.spec.to_dict(), str(self.folder)
        return data

    def now_playing(self) -> dict:
        """What listeners see of it."""
        spec = self.spec
        return {"id": self.id, "title": self.title, "mood": spec.mood, "key": spec.key, "bpm": spec.bpm,
                "seed": spec.seed, "bars": self.bars,
                "duration_s": round(self.music_frames / self.sample_rate, 1)}  # fmt: skip


def write_piece(folder: Path, layers: np.ndarray, **fields: object) -> Piece:
    """Write ``layers`` (frames, CHANNELS) float32 in -1..1 and the piece's fields; returns the Piece."""
    folder.mkdir(parents=True, exist_ok=True)
    scaled = np.clip(layers, -1.0, 1.0) * FULL_SCALE
    samples = np.round(scaled).astype(np.int16)

    def save(tmp: Path) -> None:
        with tmp.open("wb") as fh:  # a handle: np.save would add ".npy" to the temporary name
            np.save(fh, samples, allow_pickle=False)

    atomic_write(folder / AUDIO, save)
    piece = Piece(folder=folder, frames=len(layers), **fields)  # type: ignore[arg-type]
    text = json.dumps({k: v for k, v in piece.to_dict().items() if k != "folder"}, sort_keys=True, indent=2)
    atomic_write(folder / PIECE_JSON, lambda tmp: tmp.write_text(text + "\n"))
    return piece


def read_piece(folder: Path) -> Piece:
    data = json.loads((folder / PIECE_JSON).read_text())
    data["spec"] = PieceSpec(**data["spec"])
    return Piece(folder=folder, **data)


def buffered(root: Path) -> list[Piece]:
    """The whole pieces under ``root`` (oldest first); half-written ones are removed."""
    pieces = []
    for folder in sorted(p for p in root.glob("*") if p.is_dir()):
        try:
            pieces.append(read_piece(folder))
        except (OSError, ValueError, TypeError, KeyError):
            shutil.rmtree(folder, ignore_errors=True)
    return pieces


def remove(piece: Piece) -> None:
    shutil.rmtree(piece.folder, ignore_errors=True)
