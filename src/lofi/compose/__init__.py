"""Composing: a request becomes sections, and sections an arranged Score.

The names load on first use (PEP 562), so that reading a request's limits (``lofi.compose.request``), as
the API does, does not import the model and torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lofi.compose.composer import Composer, Composition
    from lofi.compose.output import write_track
    from lofi.compose.request import ComposeRequest

__all__ = ["ComposeRequest", "Composer", "Composition", "write_track"]
_HOMES = {
    "Composer": "lofi.compose.composer",
    "Composition": "lofi.compose.composer",
    "write_track": "lofi.compose.output",
    "ComposeRequest": "lofi.compose.request",
}


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module 'lofi.compose' has no attribute {name!r}")
    return getattr(import_module(_HOMES[name]), name)
