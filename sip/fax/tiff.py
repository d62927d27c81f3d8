"""Writing TIFF-F (RFC 3949 profile S/F): the multi-page fax image file SpanDSP sends from.

Written through libtiff, the same library SpanDSP reads with. Pillow reads these files well, but
cannot write MinIsWhite bilevel pages without a per-pixel Python loop.

A page is either a Pillow image, or a one-page TIFF file. A file already coded the way the output
wants (a Ghostscript ``tiffg4`` page, a page we spooled earlier) has its coded strips copied as they
are: no decoding, no re-coding, and not one pixel can change on the way.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from faxgw.sip.fax.binding import ffi, lib
from faxgw.sip.fax.options import Compression, Resolution
from PIL import Image, TiffImagePlugin

#: Every fax page is 1728 pixels wide at 204 dpi: the 215 mm scan line of A4 and Letter (T.4 2.2).
PAGE_WIDTH = 1728

Page = Image.Image | Path


class TiffWriteError(OSError):
    """libtiff could not write the file (disk full, unwritable directory, ...)."""


def open_tiff(path: Path) -> TiffImagePlugin.TiffImageFile:
    """A TIFF opened for reading page by page (``n_frames``, ``seek``); anything that is not a readable
    TIFF raises what Pillow raises (OSError and friends). Close it, or use it in a ``with``."""
    # formats=["TIFF"] lets only the TIFF plugin open it, so the image is a TiffImageFile.
    return cast(TiffImagePlugin.TiffImageFile, Image.open(path, formats=["TIFF"]))


def write_tiff_f(
    path: str | os.PathLike[str],
    pages: Sequence[Page],
    resolution: Resolution,
    compression: Compression = Compression.T6,
) -> None:
    """Write pages as a TIFF-F file: images (mode "1", black = 0) are coded one strip per page,
    one-page TIFF files coded as wanted are copied, others are decoded and coded again."""
    if not pages:
        raise ValueError("a fax needs at least one page")
    tif = lib.TIFFOpen(os.fsencode(path), b"w")
    if tif == ffi.NULL:
        raise TiffWriteError(f"cannot create {path}")
    try:
        for index, page in enumerate(pages):
            coded = _coded_page(page, resolution, compression) if isinstance(page, Path) else None
            if coded is not None:
                _write_tags(
                    tif, coded.length, index, len(pages), resolution, compression, coded.rows_per_strip
                )
                for number, strip in enumerate(coded.strips):
                    if lib.TIFFWriteRawStrip(tif, number, strip, len(strip)) < 0:
                        raise TiffWriteError(f"libtiff failed writing page {index + 1}")
            else:
                image = _load(page, index)
                _write_tags(tif, image.height, index, len(pages), resolution, compression, image.height)
                # MinIsWhite wants black as 1: Pillow's "1;I" raw mode packs exactly that.
                data = image.tobytes("raw", "1;I")
                if lib.TIFFWriteEncodedStrip(tif, 0, ffi.from_buffer(data), len(data)) < 0:
                    raise TiffWriteError(f"libtiff failed writing page {index + 1}")
            if not lib.TIFFWriteDirectory(tif):
                raise TiffWriteError(f"libtiff failed writing page {index + 1}")
    finally:
        lib.TIFFClose(tif)


def _load(page: Page, index: int) -> Image.Image:
    if isinstance(page, Path):
        with Image.open(page) as image:
            image.load()
            page = image.convert("1") if image.mode != "1" else image.copy()
    if page.mode != "1" or page.width != PAGE_WIDTH:
        raise ValueError(
            f"page {index + 1}: need a mode '1' image {PAGE_WIDTH} px wide, got {page.mode} {page.size}"
        )
    return page


def _short(value: int):
    # TIFFSetField is variadic: small integer tags are promoted to int.
    return ffi.cast("int", value)


def _long(value: int):
    return ffi.cast("uint32_t", value)


def _write_tags(
    tif,
    rows: int,
    index: int,
    total: int,
    resolution: Resolution,
    compression: Compression,
    rows_per_strip: int,
) -> None:
    x_dpi, y_dpi = resolution.dpi
    lib.TIFFSetField(tif, lib.TIFFTAG_SUBFILETYPE, _long(lib.FILETYPE_PAGE))
    lib.TIFFSetField(tif, lib.TIFFTAG_IMAGEWIDTH, _long(PAGE_WIDTH))
    lib.TIFFSetField(tif, lib.TIFFTAG_IMAGELENGTH, _long(rows))
    lib.TIFFSetField(tif, lib.TIFFTAG_BITSPERSAMPLE, _short(1))
    lib.TIFFSetField(tif, lib.TIFFTAG_SAMPLESPERPIXEL, _short(1))
    if compression is Compression.T6:
        lib.TIFFSetField(tif, lib.TIFFTAG_COMPRESSION, _short(lib.COMPRESSION_CCITTFAX4))
    else:
        lib.TIFFSetField(tif, lib.TIFFTAG_COMPRESSION, _short(lib.COMPRESSION_CCITTFAX3))
        lib.TIFFSetField(tif, lib.TIFFTAG_GROUP3OPTIONS, _long(_group3_options(compression)))
    lib.TIFFSetField(tif, lib.TIFFTAG_PHOTOMETRIC, _short(lib.PHOTOMETRIC_MINISWHITE))
    lib.TIFFSetField(tif, lib.TIFFTAG_FILLORDER, _short(lib.FILLORDER_MSB2LSB))
    lib.TIFFSetField(tif, lib.TIFFTAG_XRESOLUTION, ffi.cast("double", x_dpi))
    lib.TIFFSetField(tif, lib.TIFFTAG_YRESOLUTION, ffi.cast("double", y_dpi))
    lib.TIFFSetField(tif, lib.TIFFTAG_RESOLUTIONUNIT, _short(lib.RESUNIT_INCH))
    lib.TIFFSetField(tif, lib.TIFFTAG_ROWSPERSTRIP, _long(rows_per_strip))
    lib.TIFFSetField(tif, lib.TIFFTAG_PAGENUMBER, _short(index), _short(total))
    lib.TIFFSetField(tif, lib.TIFFTAG_SOFTWARE, ffi.new("char[]", b"faxgw"))


def _group3_options(compression: Compression) -> int:
    return lib.GROUP3OPT_2DENCODING if compression is Compression.T4_2D else 0


@dataclass(frozen=True)
class _CodedPage:
    length: int
    rows_per_strip: int
    strips: list[bytes]


def _coded_page(path: Path, resolution: Resolution, compression: Compression) -> _CodedPage | None:
    """The coded strips of a one-page TIFF, if they can go into the output unchanged (else None)."""
    tif = lib.TIFFOpen(os.fsencode(path), b"r")
    if tif == ffi.NULL:
        raise TiffWriteError(f"cannot read {path}")
    try:
        short = ffi.new("uint16_t *")
        long = ffi.new("uint32_t *")
        real = ffi.new("float *")

        def field(tag: int, holder):
            return holder[0] if lib.TIFFGetFieldDefaulted(tif, tag, holder) else None

        wanted_compression = (
            lib.COMPRESSION_CCITTFAX4 if compression is Compression.T6 else lib.COMPRESSION_CCITTFAX3
        )
        checks = [
            (lib.TIFFTAG_IMAGEWIDTH, long, PAGE_WIDTH),
            (lib.TIFFTAG_BITSPERSAMPLE, short, 1),
            (lib.TIFFTAG_SAMPLESPERPIXEL, short, 1),
            (lib.TIFFTAG_COMPRESSION, short, wanted_compression),
            (lib.TIFFTAG_PHOTOMETRIC, short, lib.PHOTOMETRIC_MINISWHITE),
            (lib.TIFFTAG_FILLORDER, short, lib.FILLORDER_MSB2LSB),
        ]
        if compression is not Compression.T6:
            checks.append((lib.TIFFTAG_GROUP3OPTIONS, long, _group3_options(compression)))
        if any(field(tag, holder) != wanted for tag, holder, wanted in checks):
            return None
        x_dpi, y_dpi = field(lib.TIFFTAG_XRESOLUTION, real), field(lib.TIFFTAG_YRESOLUTION, real)
        if x_dpi is None or y_dpi is None or Resolution.from_dpi(x_dpi, y_dpi) is not resolution:
            return None
        length = field(lib.TIFFTAG_IMAGELENGTH, long)
        rows_per_strip = min(field(lib.TIFFTAG_ROWSPERSTRIP, long) or length, length)
        strips = []
        for strip in range(lib.TIFFNumberOfStrips(tif)):
            size = lib.TIFFRawStripSize(tif, strip)
            buffer = ffi.new("uint8_t[]", max(size, 0))
            if size <= 0 or lib.TIFFReadRawStrip(tif, strip, buffer, size) != size:
                return None
            strips.append(ffi.buffer(buffer, size)[:])
        return _CodedPage(length, rows_per_strip, strips)
    finally:
        lib.TIFFClose(tif)
