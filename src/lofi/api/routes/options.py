"""The choices a request can make, so a front end never hard-codes them."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from lofi.api.routes import API_PREFIX
from lofi.moods import MOODS
from lofi.render.presets import DEFAULT_PRESET, PRESETS
from lofi.theory.keys import Key

router = APIRouter(prefix=API_PREFIX, tags=["options"])
TONICS = ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")


class Options(BaseModel):
    moods: list[str]
    keys: list[str]
    presets: dict[str, str]
    default_preset: str
    bpm: tuple[int, int]
    minutes: tuple[float, float]


@router.get("/options", response_model=Options)
def options() -> Options:
    keys = [Key.parse(f"{tonic} {mode}").name for mode in ("minor", "major") for tonic in TONICS]
    return Options(
        moods=list(MOODS),
        keys=keys,
        presets={name: preset.description for name, preset in PRESETS.items()},
        default_preset=DEFAULT_PRESET,
        bpm=(50, 130),
        minutes=(0.25, 10.0),
    )
