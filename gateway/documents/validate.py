"""Checking a fax TIFF before dialling: SpanDSP only complains about a bad file seconds into the call."""

from __future__ import annotations

from pathlib import Path

from faxgw.gateway.documents import tifftags as tag
from faxgw.gateway.documents.errors import ConversionError
from faxgw.gateway.domain import FaxStatus
from faxgw.sip.fax import PAGE_WIDTH, Resolution, open_tiff
from PIL import TiffImagePlugin


def validate_fax_tiff(path: Path) -> int:
    """Check every page is TIFF-F SpanDSP can send, all there; returns the number of pages.

    A page must be 1728 pixels wide, 1 bit MinIsWhite, G3 (T.4) or G4 (T.6) coded, at standard, fine or
    superfine resolution, its coded data inside the file. Anything else is a ConversionError
    (failed_image_preparation). The pages are not decoded: the coded data is what libtiff's or
    Ghostscript's encoder just wrote (gateway.documents never passes a client's coded page through), and
    decoding took as long as Ghostscript's rendering.
    """
    try:
        size = path.stat().st_size
        with open_tiff(path) as tiff:
            for index in range(tiff.n_frames):
                tiff.seek(index)
                problem = _page_problem(tiff) or _data_problem(tiff, size)
                if problem:
                    raise ConversionError(FaxStatus.FAILED_IMAGE_PREPARATION, f"page {index + 1}: {problem}")
            return tiff.n_frames
    except FileNotFoundError:
        raise ConversionError(FaxStatus.FAILED_IMAGE_PREPARATION, "file not found", path.name) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ConversionError(
            FaxStatus.FAILED_IMAGE_PREPARATION, f"not a readable fax TIFF: {exc}", path.name
        ) from None


def _data_problem(tiff: TiffImagePlugin.TiffImageFile, file_size: int) -> str | None:
    """A cut-off file keeps its directories only when cut inside the last page's data: found here."""
    offsets = tag.values(tiff.tag_v2.get(tag.STRIP_OFFSETS))
    counts = tag.values(tiff.tag_v2.get(tag.STRIP_BYTE_COUNTS))
    if not offsets or len(offsets) != len(counts) or 0 in counts:
        return "no coded data"
    if any(offset + count > file_size for offset, count in zip(offsets, counts, strict=True)):
        return "its coded data runs past the end of the file"
    return None


def _page_problem(tiff: TiffImagePlugin.TiffImageFile) -> str | None:
    tags = tiff.tag_v2
    width = tags.get(tag.IMAGE_WIDTH)
    if width != PAGE_WIDTH:
        return f"{width} pixels wide, a fax page is {PAGE_WIDTH}"
    bits = tag.first_value(tags.get(tag.BITS_PER_SAMPLE), 1)
    samples = tags.get(tag.SAMPLES_PER_PIXEL, 1)
    if bits != 1 or samples != 1:
        return f"{samples} sample(s) of {bits} bit(s) per pixel, a fax page is 1 bit"
    if tags.get(tag.PHOTOMETRIC) != tag.PHOTOMETRIC_MIN_IS_WHITE:
        return "not MinIsWhite"
    compression = tags.get(tag.COMPRESSION)
    if compression not in (tag.COMPRESSION_CCITT_T4, tag.COMPRESSION_CCITT_T6):
        return f"compression {compression}, a fax page is G3 (3) or G4 (4)"
    dpi = tag.page_dpi(tiff)
    if dpi is None or Resolution.from_dpi(*dpi) is None:
        return f"resolution {dpi}, a fax page is 204x98, 204x196 or 204x391 dpi"
    return None
