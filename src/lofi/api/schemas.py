"""What the API accepts and returns: one schema family per resource, never ORM rows."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, field_validator

from lofi.limits import AUDIO_FORMATS, MINUTES_RANGE, TEMPO_RANGE
from lofi.moods import MOODS
from lofi.render.presets import PRESETS
from lofi.theory import Key
from lofi.theory.keys import _MODE_ALIASES

Mood = Literal[tuple(MOODS)]  # type: ignore[valid-type]
PresetName = Literal[tuple(PRESETS)]  # type: ignore[valid-type]
Format = Literal[AUDIO_FORMATS]  # Literal of a tuple is the Literal of its members


def _json_number(value: Any) -> Any:
    """A number as JSON means it: true, false and "72" are not numbers (Python counts a bool as an int);
    an integral float (72.0) is still an integer, as JSON Schema says."""
    if isinstance(value, bool | str | bytes):
        raise ValueError(f"must be a number, not {type(value).__name__} {value!r}")
    return value


JsonInt = Annotated[int, BeforeValidator(_json_number)]
JsonFloat = Annotated[float, BeforeValidator(_json_number)]


def _key_pattern() -> str:
    """What Key.parse reads, as a regular expression for the OpenAPI document (the parser decides; this
    tells a client, and a fuzzer, which strings are keys): a note, its accidentals, then a mode in any
    case, its words joined by spaces, "_" or "-"."""

    def anycase(word: str) -> str:
        return "".join(f"[{c.upper()}{c}]" if c.isalpha() else re.escape(c) for c in word)

    modes = sorted((m for m in _MODE_ALIASES if m), key=len, reverse=True)
    alternatives = "|".join(r"[\s_-]+".join(anycase(w) for w in mode.split(" ")) for mode in modes)
    # the accidentals are read greedily: "Bblues" is B-flat "lues", never B "blues"
    return rf"^\s*[A-Ga-g][#♯b♭]*(?![#♯b♭])\s*(?:M|{alternatives})?\s*$"


KEY_PATTERN = _key_pattern()
# what every body that makes a track may say about its seed and its sound
Seed = Annotated[
    Annotated[int, Field(ge=0, lt=2**32), BeforeValidator(_json_number)] | None,
    Field(description="Seed; random (and recorded) when absent."),
]
Preset = Annotated[
    PresetName | None,  # type: ignore[valid-type]
    Field(description="Effects preset; the server's LOFI_PRESET (dusty unless set) when absent."),
]
Formats = Annotated[
    list[Format],
    Field(description="Audio files to write: track.wav, track.mp3, stems/*.flac; empty: MIDI only. A video needs wav."),
]


class GenerateRequest(BaseModel):
    """A track to make. Everything but the mood has a default."""

    model_config = ConfigDict(extra="forbid")

    mood: Mood = Field(description=f"One of: {', '.join(MOODS)}.")  # type: ignore[valid-type]
    bpm: JsonInt = Field(default=75, ge=TEMPO_RANGE[0], le=TEMPO_RANGE[1], description="Tempo in beats per minute.")
    key: str = Field(
        default="C major", max_length=32, description='e.g. "D minor", "Dm", "Bb major", "F#".',
        json_schema_extra={"pattern": KEY_PATTERN},
    )  # fmt: skip
    minutes: JsonFloat = Field(default=2.0, ge=MINUTES_RANGE[0], le=MINUTES_RANGE[1], description="Length in minutes.")
    seed: Seed = None
    preset: Preset = None
    formats: Formats = list(AUDIO_FORMATS)
    video: StrictBool = Field(default=False, description="Also make video.mp4 (true or false; 0 and 1 are not).")

    @field_validator("key")
    @classmethod
    def key_must_parse(cls, value: str) -> str:
        return Key.parse(value).name  # ValueError says what a key looks like


Part = Literal["drums", "bass", "keys", "lead"]  # lofi.compose.request.PARTS


class VaryBody(BaseModel):
    """A new track from one in the library with one part written again; the other parts kept note for note."""

    model_config = ConfigDict(extra="forbid")

    part: Part = Field(description="The part to write again: drums, bass, keys or lead.")
    section: str | None = Field(
        default=None, min_length=1, max_length=32,
        description="Only this section of the track's form (A, A', B, breakdown...); all of them when absent.",
    )  # fmt: skip
    seed: Seed = None
    preset: Preset = None
    formats: Formats = list(AUDIO_FORMATS)
    video: StrictBool = Field(default=False, description="Also make video.mp4 (true or false; 0 and 1 are not).")


class JobPublic(BaseModel):
    id: str
    kind: str
    state: str
    progress: float
    message: str
    request: dict
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    attempts: int
    error: str | None
    track_id: str | None


class JobsPublic(BaseModel):
    items: list[JobPublic]
    total: int


class FilePublic(BaseModel):
    name: str
    size: int
    url: str


class TrackPublic(BaseModel):
    id: str
    created_at: datetime
    title: str | None
    mood: str
    key: str
    bpm: int
    duration_s: float
    seed: int
    model_id: str
    preset: str | None
    lufs: float | None
    quality: float | None
    originality: str | None
    chords: list[str | None] = []
    instruments: list[str] = []
    # why the track needs a listen: a loop that failed the quality gate on every try (empty: none did)
    review: list[str] = []
    # the parts it plays, by the names `POST /tracks/{id}/vary` takes (drums, bass, keys, lead)
    parts: list[str] = []
    # the track it was made from with one part written again (track_id, part, section, bars); None: composed
    varied_from: dict[str, Any] | None = None
    files: list[FilePublic]
    # a small JPEG of the track's picture, for lists (the thumbnail itself is about a MB); None: no picture
    preview: str | None = None


class TracksPublic(BaseModel):
    items: list[TrackPublic]
    total: int
    limit: int
    offset: int


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    ready: bool
    checks: dict[str, str]


class ErrorPublic(BaseModel):
    detail: str


ERRORS = {
    400: "The body is not JSON.",
    401: "The API key is configured and the X-API-Key header does not carry it.",
    404: "No such job, track or file; for the radio's routes, the radio is off on this server.",
    409: "The job already ended.",
    429: "Too many jobs, or too many wrong API keys, from this client: wait Retry-After seconds.",
    503: "The server is busy (LOFI_MAX_REQUESTS_IN_FLIGHT requests in hand): wait Retry-After seconds. "
    "POST /generate also answers 503 when the server has no model.",
}
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}}


def errors(*codes: int) -> dict[int | str, dict]:
    """The OpenAPI ``responses`` of a route's errors: each code with its meaning and the error body."""
    responses: dict[int | str, dict] = {code: {"model": ErrorPublic, "description": ERRORS[code]} for code in codes}
    for code in {429, 503} & responses.keys():
        responses[code]["headers"] = RETRY_AFTER
    return responses
