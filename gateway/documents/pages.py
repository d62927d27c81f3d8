"""Fax pages on their way to the final file, kept on disk one page per file rather than in memory.

Pillow holds a mode "1" page at one byte per pixel, 4 MB for an A4 fine page: a few hundred pages would
need gigabytes. Each page is written as soon as it is drawn (or as Ghostscript renders it); the final
TIFF-F copies the pages' coded data from these files without decoding them (see sip.fax.tiff).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from faxgw.sip.fax import Compression, Resolution, write_tiff_f
from PIL import Image


def spool(pages: Iterable[Image.Image], directory: Path, resolution: Resolution) -> list[Path]:
    """Write each page to its own one-page TIFF-F file as it arrives; return the files in page order."""
    directory.mkdir(parents=True, exist_ok=True)
    files = []
    for number, page in enumerate(pages, start=1):
        file = directory / f"page-{number:05d}.tif"
        write_tiff_f(file, [page], resolution, Compression.T6)
        files.append(file)
    return files
