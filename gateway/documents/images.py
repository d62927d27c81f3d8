"""Image files (PNG, JPEG, GIF, BMP, TIFF) as fax pages, one page per frame."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from faxgw.gateway.documents.detect import Kind
from faxgw.gateway.documents.errors import ConversionError
from faxgw.gateway.documents.pages import spool
from faxgw.gateway.documents.raster import looks_like_photo, place_on_page, to_bilevel
from faxgw.gateway.domain import FaxStatus
from faxgw.sip.fax import Resolution
from PIL import Image, ImageOps

#: Pillow's plugin for each kind: only the plugin for what detection found ever sees the bytes.
PILLOW_FORMATS = {Kind.PNG: "PNG", Kind.JPEG: "JPEG", Kind.GIF: "GIF", Kind.BMP: "BMP", Kind.TIFF: "TIFF"}
#: A4 scanned at 600 dpi is 35 million pixels. Far larger is a mistake or a decompression bomb, and
#: decoding costs 3 bytes a pixel. (Pillow itself refuses above 2 x MAX_IMAGE_PIXELS, ~179 million.)
MAX_SOURCE_PIXELS = 64_000_000
#: A resolution outside this range is a placeholder (0, 1) or nonsense, not a printed size.
_PLAUSIBLE_DPI = (20.0, 4800.0)
#: What Pillow raises on broken or hostile image data.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error)


def render_image(path: Path, kind: Kind, resolution: Resolution, workdir: Path) -> list[Path]:
    """Every frame of the image as a fax page file in ``workdir``."""
    with _decode_errors():
        image = Image.open(path, formats=[PILLOW_FORMATS[kind]])
    with image:
        with _decode_errors():
            frames = getattr(image, "n_frames", 1)
        return spool(_frame_pages(image, frames, resolution), workdir, resolution)


def read_picture(path: Path, kind: Kind) -> Image.Image:
    """The first frame as an upright grayscale picture on white (for the cover page logo)."""
    with _decode_errors(), Image.open(path, formats=[PILLOW_FORMATS[kind]]) as image:
        return _gray(image)


@contextmanager
def _decode_errors() -> Iterator[None]:
    """Pillow failing to decode is the file's fault: say so with the seed's code, not a traceback."""
    try:
        yield
    except Image.DecompressionBombError:
        raise ConversionError(FaxStatus.FAILED_IMAGE_PREPARATION, "the image is too large to fax") from None
    except _DECODE_ERRORS as exc:
        raise ConversionError(
            FaxStatus.FAILED_IMAGE_PREPARATION, f"the image cannot be decoded: {exc}"
        ) from None


def _frame_pages(image: Image.Image, frames: int, resolution: Resolution) -> Iterator[Image.Image]:
    for frame in range(frames):
        with _decode_errors():
            image.seek(frame)
            picture = _gray(image)
        page = place_on_page(picture, _printed_dpi(image), resolution)
        yield to_bilevel(page, dither=looks_like_photo(picture))


def _gray(image: Image.Image) -> Image.Image:
    """The current frame upright (EXIF orientation), transparent parts on white paper, as "L"."""
    width, height = image.size
    if width * height > MAX_SOURCE_PIXELS:
        raise ConversionError(
            FaxStatus.FAILED_IMAGE_PREPARATION,
            f"the image is too large to fax: {width} x {height} pixels (at most {MAX_SOURCE_PIXELS:,})",
        )
    frame = ImageOps.exif_transpose(image)
    if frame.mode.startswith("I"):
        # 16- and 32-bit gray: convert("L") would clip everything above 255 to white.
        frame = frame.convert("I").point(lambda value: value / 256)
    if frame.has_transparency_data:
        with_alpha = frame.convert("RGBA")
        paper = Image.new("RGBA", frame.size, (255, 255, 255, 255))
        frame = Image.alpha_composite(paper, with_alpha)
    return frame.convert("L")


def _printed_dpi(image: Image.Image) -> tuple[float, float] | None:
    dpi = image.info.get("dpi")
    if not dpi or len(dpi) != 2:
        return None
    low, high = _PLAUSIBLE_DPI
    x_dpi, y_dpi = float(dpi[0]), float(dpi[1])
    return (x_dpi, y_dpi) if low <= x_dpi <= high and low <= y_dpi <= high else None
