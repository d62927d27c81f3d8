"""The fonts pages are drawn with: DejaVu (Debian fonts-dejavu-core), or Pillow's built-in font without it."""

from __future__ import annotations

import functools
from pathlib import Path

from PIL import ImageFont

DEJAVU_DIR = Path("/usr/share/fonts/truetype/dejavu")

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@functools.cache
def dejavu(face: str, size_px: int) -> Font:
    """``face`` is the file name's tail: "SansMono", "Sans", "Sans-Bold"."""
    try:
        return ImageFont.truetype(str(DEJAVU_DIR / f"DejaVu{face}.ttf"), size_px)
    except OSError:
        # Still readable, just not the face we chose; the package is a documented dependency.
        return ImageFont.load_default(size_px)


def points_to_pixels(points: float, dpi: int) -> int:
    return round(points * dpi / 72)
