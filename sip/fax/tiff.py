"""Writing TIFF-F (RFC 3949 profile S/F): the multi-page fax image file SpanDSP sends from.

Written through libtiff, the same library SpanDSP reads with. Pillow reads these files well, but
cannot write MinIsWhite bilevel pages without a per-pixel Python loop.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from PIL import Image, ImageChops

from sip.fax.binding import ffi, lib
from sip.fax.options import Compression, Resolution

#: Every fax page is 1728 pixels wide at 204 dpi: the 215 mm scan line of A4 and Letter (T.4 2.2).
PAGE_WIDTH = 1728


class TiffWriteError(OSError):
    """libtiff could not write the file (disk full, unwritable directory, ...)."""


def write_tiff_f(
    path: str | os.PathLike[str],
    pages: Sequence[Image.Image],
    resolution: Resolution,
    compression: Compression = Compression.T6,
) -> None:
    """Write bilevel pages (Pillow mode "1", black = 0) as a TIFF-F file, one strip per page."""
    if not pages:
        raise ValueError("a fax needs at least one page")
    for number, page in enumerate(pages, start=1):
        if page.mode != "1" or page.width != PAGE_WIDTH:
            raise ValueError(
                f"page {number}: need a mode '1' image {PAGE_WIDTH} px wide, got {page.mode} {page.size}"
            )
    tif = lib.TIFFOpen(os.fsencode(path), b"w")
    if tif == ffi.NULL:
        raise TiffWriteError(f"cannot create {path}")
    try:
        for index, page in enumerate(pages):
            _write_page(tif, page, index, len(pages), resolution, compression)
    finally:
        lib.TIFFClose(tif)


def _short(value: int):
    # TIFFSetField is variadic: small integer tags are promoted to int.
    return ffi.cast("int", value)


def _long(value: int):
    return ffi.cast("uint32_t", value)


def _write_page(
    tif, page: Image.Image, index: int, total: int, resolution: Resolution, compression: Compression
) -> None:
    x_dpi, y_dpi = resolution.dpi
    lib.TIFFSetField(tif, lib.TIFFTAG_SUBFILETYPE, _long(lib.FILETYPE_PAGE))
    lib.TIFFSetField(tif, lib.TIFFTAG_IMAGEWIDTH, _long(page.width))
    lib.TIFFSetField(tif, lib.TIFFTAG_IMAGELENGTH, _long(page.height))
    lib.TIFFSetField(tif, lib.TIFFTAG_BITSPERSAMPLE, _short(1))
    lib.TIFFSetField(tif, lib.TIFFTAG_SAMPLESPERPIXEL, _short(1))
    if compression is Compression.T6:
        lib.TIFFSetField(tif, lib.TIFFTAG_COMPRESSION, _short(lib.COMPRESSION_CCITTFAX4))
    else:
        lib.TIFFSetField(tif, lib.TIFFTAG_COMPRESSION, _short(lib.COMPRESSION_CCITTFAX3))
        options = lib.GROUP3OPT_2DENCODING if compression is Compression.T4_2D else 0
        lib.TIFFSetField(tif, lib.TIFFTAG_GROUP3OPTIONS, _long(options))
    lib.TIFFSetField(tif, lib.TIFFTAG_PHOTOMETRIC, _short(lib.PHOTOMETRIC_MINISWHITE))
    lib.TIFFSetField(tif, lib.TIFFTAG_FILLORDER, _short(lib.FILLORDER_MSB2LSB))
    lib.TIFFSetField(tif, lib.TIFFTAG_XRESOLUTION, ffi.cast("double", x_dpi))
    lib.TIFFSetField(tif, lib.TIFFTAG_YRESOLUTION, ffi.cast("double", y_dpi))
    lib.TIFFSetField(tif, lib.TIFFTAG_RESOLUTIONUNIT, _short(lib.RESUNIT_INCH))
    lib.TIFFSetField(tif, lib.TIFFTAG_ROWSPERSTRIP, _long(page.height))
    lib.TIFFSetField(tif, lib.TIFFTAG_PAGENUMBER, _short(index), _short(total))
    lib.TIFFSetField(tif, lib.TIFFTAG_SOFTWARE, ffi.new("char[]", b"faxgw"))
    # Pillow packs white as 1; MinIsWhite wants black as 1.
    data = ImageChops.invert(page).tobytes()
    if lib.TIFFWriteEncodedStrip(tif, 0, ffi.from_buffer(data), len(data)) < 0 or not lib.TIFFWriteDirectory(
        tif
    ):
        raise TiffWriteError(f"libtiff failed writing page {index + 1}")
