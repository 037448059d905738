"""Composing: a request becomes sections, and sections an arranged Score.

The names load on first use (PEP 562), so that reading a request's limits (``lofi.compose.request``), as
the API does, does not import the model and torch. The submodules import each other, never this package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lofi.compose.composer import Composer, Composition
    from lofi.compose.output import write_track
    from lofi.compose.request import ComposeRequest

__all__ = ["ComposeRequest", "Composer", "Composition", "write_track"]


def __getattr__(name: str):
    # plain imports, not import_module(name): tests/test_layers.py reads them when it looks for cycles
    if name in ("Composer", "Composition"):
        from lofi.compose.composer import Composer, Composition

        found = {"Composer": Composer, "Composition": Composition}
    elif name == "write_track":
        from lofi.compose.output import write_track

        found = {"write_track": write_track}
    elif name == "ComposeRequest":
        from lofi.compose.request import ComposeRequest

        found = {"ComposeRequest": ComposeRequest}
    else:
        raise AttributeError(f"module 'lofi.compose' has no attribute {name!r}")
    globals().update(found)  # the next use finds them
    return found[name]
