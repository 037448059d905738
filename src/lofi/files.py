"""Writing files so that a reader never sees half of one."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write`` on a temporary file beside ``path``, then rename it into place.

    An interrupted write leaves the previous file (or none) where ``path`` is, never a half file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        tmp.chmod(0o644)  # mkstemp makes it private; these are shared outputs
        write(tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
