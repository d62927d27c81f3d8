"""The fonts pages are drawn with: DejaVu (Debian fonts-dejavu-core), or Pillow's built-in font without it."""

from __future__ import annotations

import functools
from pathlib import Path

from PIL import ImageFont

DEJAVU_DIR = Path("/usr/share/fonts/truetype/dejavu")

Font = ImageFont.FreeTypeFont  # metrics (getmetrics) are what lays pages out: bitmap fonts lack them


@functools.cache
def dejavu(face: str, size_px: int) -> Font:
    """``face`` is the file name's tail: "SansMono", "Sans", "Sans-Bold"."""
    try:
        return ImageFont.truetype(str(DEJAVU_DIR / f"DejaVu{face}.ttf"), size_px)
    except OSError:
        # Still readable, just not the face we chose; the package is a documented dependency. Pillow
        # built with FreeType (its wheels are) gives a scalable face here; without it there is none.
        fallback = ImageFont.load_default(size_px)
        if isinstance(fallback, ImageFont.FreeTypeFont):
            return fallback
        raise


def points_to_pixels(points: float, dpi: int) -> int:
    return round(points * dpi / 72)
