"""Fax pages on their way to the final file, kept on disk one page per file rather than in memory.

Pillow holds a mode "1" page at one byte per pixel, 4 MB for an A4 fine page: a few hundred pages would
need gigabytes. Each page is written as soon as it is drawn (or as Ghostscript renders it) and read back
one at a time while the final TIFF-F is written.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import overload

from PIL import Image

from sip.fax import Compression, Resolution, write_tiff_f


def spool(pages: Iterable[Image.Image], directory: Path, resolution: Resolution) -> list[Path]:
    """Write each page to its own one-page TIFF-F file as it arrives; return the files in page order."""
    directory.mkdir(parents=True, exist_ok=True)
    files = []
    for number, page in enumerate(pages, start=1):
        file = directory / f"page-{number:05d}.tif"
        write_tiff_f(file, [page], resolution, Compression.T6)
        files.append(file)
    return files


class PageFiles(Sequence[Image.Image]):
    """One-page fax TIFF files seen as a sequence of pages, each read only when asked for."""

    def __init__(self, files: Iterable[Path]) -> None:
        self._files = list(files)

    def __len__(self) -> int:
        return len(self._files)

    @overload
    def __getitem__(self, index: int) -> Image.Image: ...
    @overload
    def __getitem__(self, index: slice) -> PageFiles: ...
    def __getitem__(self, index: int | slice) -> Image.Image | PageFiles:
        if isinstance(index, slice):
            return PageFiles(self._files[index])
        # Opened from memory, the page stays undecoded until its pixels are used: write_tiff_f checks every
        # page's mode and width before writing any, and that pass need not decode. A G4 page is a few
        # dozen kilobytes, and no file handle waits for the garbage collector.
        return Image.open(io.BytesIO(self._files[index].read_bytes()), formats=["TIFF"])
