"""Fax pages for tests: small TIFF-F documents drawn with Pillow and written by our libtiff writer."""

from __future__ import annotations

from pathlib import Path

from faxgw.sip.fax import PAGE_WIDTH, Compression, Resolution, write_tiff_f
from PIL import Image, ImageDraw

A4_ROWS = {Resolution.STANDARD: 1146, Resolution.FINE: 2292, Resolution.SUPERFINE: 4573}


def drawn_page(number: int, resolution: Resolution = Resolution.FINE) -> Image.Image:
    """A page whose content differs per page number, so a swapped or repeated page is caught."""
    page = Image.new("1", (PAGE_WIDTH, A4_ROWS[resolution]), 255)
    draw = ImageDraw.Draw(page)
    rows = page.height
    draw.rectangle((100 + 40 * number, rows // 10, 900, rows // 5), fill=0)
    draw.ellipse((1000, rows // 3, 1600 - 30 * number, rows // 2), outline=0, width=6)
    for line in range(number + 3):
        y = rows // 2 + 60 * line
        draw.line((120, y, 1500 - 100 * line, y), fill=0, width=3)
    draw.text((200, rows - 200), f"page {number}", fill=0)
    return page


def make_document(
    path: Path,
    pages: int,
    resolution: Resolution = Resolution.FINE,
    compression: Compression = Compression.T6,
) -> list[Image.Image]:
    images = [drawn_page(n, resolution) for n in range(1, pages + 1)]
    write_tiff_f(path, images, resolution, compression)
    return images


def read_pages(path: Path) -> list[Image.Image]:
    pages = []
    with Image.open(path) as tiff:
        for index in range(tiff.n_frames):
            tiff.seek(index)
            pages.append(tiff.convert("1"))
    return pages
