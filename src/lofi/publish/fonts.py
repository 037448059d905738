"""The typeface for titles: DejaVu Sans from Debian's fonts-dejavu-core, or Pillow's built-in font.

DejaVu is what `make setup` installs (and what fontconfig pulls in anyway). Pillow's own scalable
font (Pillow >= 10.1) keeps covers drawable on a machine without it, at some cost in looks.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from PIL import ImageFont

FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"))
FILES = {False: "DejaVuSans.ttf", True: "DejaVuSans-Bold.ttf"}


def font_path(bold: bool = False) -> Path | None:
    """Where the title font lives, or None when it is not installed."""
    for folder in FONT_DIRS:
        path = folder / FILES[bold]
        if path.is_file():
            return path
    return None


@lru_cache(maxsize=64)
def font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """The title font at ``size`` pixels."""
    path = font_path(bold)
    if path is not None:
        return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size=size)
