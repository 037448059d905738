"""The choices a request can make, so a front end never hard-codes them."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from lofi.api.deps import SettingsDep
from lofi.api.routes import API_PREFIX
from lofi.limits import MINUTES_RANGE, TEMPO_RANGE
from lofi.moods import MOODS
from lofi.render.presets import DEFAULT_PRESET, PRESETS
from lofi.theory.keys import Key
from lofi.theory.pitch import FLAT_NAMES

router = APIRouter(prefix=API_PREFIX, tags=["options"])


class IntRange(BaseModel):
    """From ``min`` to ``max``, both included. An object, not a pair: a pair's schema (prefixItems) is
    read as the invalid ``items: [...]`` by tools that treat OpenAPI 3.1 as 3.0."""

    min: int
    max: int


class Range(BaseModel):
    min: float
    max: float


class Options(BaseModel):
    moods: list[str]
    keys: list[str]
    presets: dict[str, str]
    default_preset: str
    bpm: IntRange
    minutes: Range
    api_key_required: bool = Field(description="Writes need the X-API-Key header (LOFI_API_KEY is set).")


@router.get("/options", response_model=Options)
def options(settings: SettingsDep) -> Options:
    keys = [Key.parse(f"{tonic} {mode}").name for mode in ("minor", "major") for tonic in FLAT_NAMES]
    return Options(
        moods=list(MOODS),
        keys=keys,
        presets={name: preset.description for name, preset in PRESETS.items()},
        default_preset=DEFAULT_PRESET,
        bpm=IntRange(min=TEMPO_RANGE[0], max=TEMPO_RANGE[1]),
        minutes=Range(min=MINUTES_RANGE[0], max=MINUTES_RANGE[1]),
        api_key_required=bool(settings.api_key),
    )
