"""The corpus manifest: one JSON line per file, accepted or rejected, with its reason."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from lofi.files import atomic_write


@dataclass
class Entry:
    path: str  # relative to the corpus folder (or the original path, when rejected)
    source: str  # mma | melody | openmsx | user
    status: str  # accepted | rejected
    reason: str | None = None  # why it was rejected
    sha256: str | None = None
    split: str | None = None  # train | val
    mood: str | None = None
    key: str | None = None  # key token, e.g. "D_minor"
    bpm: float | None = None
    seconds: float | None = None
    bars: int | None = None
    notes: int | None = None
    programs: list[int] = field(default_factory=list)
    has_lead: bool = False
    family: str | None = None  # groove family used by the mood rule
    licence: str | None = None
    origin: str | None = None  # what it was made from: groove and progression, tune, original file

    @property
    def accepted(self) -> bool:
        return self.status == "accepted"


def split_for(sha256: str) -> str:
    """Deterministic 90/10 split by content hash: the same file always lands on the same side."""
    return "val" if int(sha256[:8], 16) % 10 == 0 else "train"


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_manifest(path: Path, entries: Iterable[Entry]) -> None:
    text = "".join(json.dumps(asdict(entry), sort_keys=True) + "\n" for entry in entries)
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def read_manifest(path: Path) -> list[Entry]:
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as fh:
        return [Entry(**json.loads(line)) for line in fh if line.strip()]
