"""The track folder and its metadata.json: the one place that reads and writes them.

``<LOFI_HOME>/tracks/<track_id>/`` holds track.mid, metadata.json and what the later steps make.
``TrackFolder`` loads metadata.json once, keeps it in memory while steps change it, and writes it
atomically when asked (``save``), in the format every folder already has (sorted keys, indent 2).
``TrackMetadata`` names every key the stages write or read; a key it does not know is kept as it is, so
a folder written by an older or newer lofi loses nothing by passing through this one.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lofi.files import atomic_write

METADATA = "metadata.json"


@dataclass
class TrackMetadata:
    """metadata.json, typed. ``None`` means the key is absent (it is not written)."""

    # the compose step (lofi.compose.composer)
    track_id: str | None = None
    request: dict[str, Any] | None = None  # ComposeRequest.to_dict(): mood, key, bpm, minutes, seed...
    seed: int | None = None
    model_id: str | None = None
    key: str | None = None  # "D minor"
    bpm: int | None = None
    bars: int | None = None
    duration_s: float | None = None
    form: list[dict[str, Any]] | None = None  # sections: {"section", "bars", ...}
    chords: list[str | None] | None = None  # one per bar
    swing: float | None = None
    instruments: list[str] | None = None
    programs: list[int] | None = None
    generated_tokens: int | None = None
    tries: dict[str, int] | None = None
    quality_gate: dict[str, Any] | None = None
    review: list[str] | None = None
    left_out: list[str] | None = None
    fingerprint: str | None = None
    engine: str | None = None
    timings_s: dict[str, float] | None = None  # step -> seconds ("compose", "render.synth"...)
    # a track `lofi vary` made from another: its id, the part written again, the section, the bars
    varied_from: dict[str, Any] | None = None
    # the analyze step
    lofi: dict[str, Any] | None = None
    quality: dict[str, Any] | None = None
    originality: dict[str, Any] | None = None
    provenance: dict[str, Any] | None = None  # lofi.analysis.provenance: software, model, its data, the verdict
    # the render step
    audio: dict[str, Any] | None = None
    # the publish step
    title: str | None = None
    description: str | None = None
    tags: list[str] | None = None
    publish: dict[str, Any] | None = None
    # read when present, written by none of today's steps (older or hand-made folders)
    created_at: str | None = None  # ISO 8601
    mood: str | None = None
    # every key this class does not name, kept for the next save
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrackMetadata:
        if not isinstance(data, Mapping):
            raise ValueError(f"metadata is a JSON {type(data).__name__}, not an object")
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        return cls(
            **{k: v for k, v in data.items() if k in known},
            extra={k: v for k, v in data.items() if k not in known},
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON object metadata.json holds."""
        named = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        return {k: v for k, v in named.items() if v is not None} | self.extra

    def update(self, **fields: Any) -> None:
        """Set keys by name; a name this class does not know goes to ``extra``."""
        known = {f.name for f in dataclasses.fields(self)} - {"extra"}
        for name, value in fields.items():
            if name in known:
                setattr(self, name, value)
            else:
                self.extra[name] = value

    @property
    def requested_mood(self) -> str | None:
        """The mood asked for; older folders kept it at the top level."""
        return (self.request or {}).get("mood") or self.mood


class TrackFolder:
    """One track's folder; its metadata is read on first use and written only by ``save``."""

    def __init__(self, path: Path | str, metadata: TrackMetadata | None = None):
        self.path = Path(path)
        self._metadata = metadata

    @classmethod
    def new(cls, path: Path | str, metadata: Mapping[str, Any]) -> TrackFolder:
        """A folder whose metadata starts from ``metadata`` rather than from disk (nothing is written)."""
        return cls(path, TrackMetadata.from_dict(metadata))

    @property
    def metadata_path(self) -> Path:
        return self.path / METADATA

    def exists(self) -> bool:
        """Whether the folder holds a metadata.json (a track folder, possibly unfinished)."""
        return self.metadata_path.is_file()

    @property
    def metadata(self) -> TrackMetadata:
        if self._metadata is None:
            data = json.loads(self.metadata_path.read_text(encoding="utf-8"))
            try:
                self._metadata = TrackMetadata.from_dict(data)
            except (ValueError, TypeError) as exc:
                raise ValueError(f"{self.metadata_path}: {exc}") from None
        return self._metadata

    def update(self, **fields: Any) -> None:
        """Change the metadata in memory; ``save`` writes it."""
        self.metadata.update(**fields)

    def files(self) -> list[str]:
        """The files in the folder (paths relative to it, sorted), without a write's temporaries."""
        return sorted(
            p.relative_to(self.path).as_posix()
            for p in self.path.rglob("*")
            if p.is_file() and not (p.name.startswith(".") and p.name.endswith(".tmp"))
        )

    def save(self) -> None:
        """Write metadata.json atomically: a failed save leaves the previous file whole."""
        data = self.metadata.to_dict()

        def write(tmp: Path) -> None:
            # streamed: the bytes of json.dumps(indent=2, sort_keys=True) plus a newline, as always
            with tmp.open("w", encoding="utf-8") as out:
                json.dump(data, out, indent=2, sort_keys=True)
                out.write("\n")

        atomic_write(self.metadata_path, write)

    @contextmanager
    def timed(self, step: str) -> Iterator[None]:
        """Record how long the block took as ``timings_s[step]`` (seconds, 3 decimals) when it succeeds."""
        started = time.perf_counter()
        yield
        timings = self.metadata.timings_s if self.metadata.timings_s is not None else {}
        timings[step] = round(time.perf_counter() - started, 3)
        self.metadata.timings_s = timings
