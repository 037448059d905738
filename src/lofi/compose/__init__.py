"""Composing: a request becomes sections, and sections an arranged Score."""

from lofi.compose.composer import Composer, Composition
from lofi.compose.output import write_track
from lofi.compose.request import ComposeRequest

__all__ = ["ComposeRequest", "Composer", "Composition", "write_track"]
