"""How a long step reports how far it has got: one signature for every stage, from composing to uploading."""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[float, str], None]  # the share done (0..1), and what is happening
Count = Callable[[int, int], None]  # items done, items in all (corpus build, evaluation)


def no_progress(fraction: float, message: str) -> None:
    """A Progress that reports to no one."""
