"""The TIFF tags a fax page is judged by, read through Pillow."""

from __future__ import annotations

from PIL import TiffImagePlugin

IMAGE_WIDTH = 256
BITS_PER_SAMPLE = 258
COMPRESSION = 259
PHOTOMETRIC = 262
STRIP_OFFSETS = 273
SAMPLES_PER_PIXEL = 277
STRIP_BYTE_COUNTS = 279
X_RESOLUTION = 282
Y_RESOLUTION = 283
RESOLUTION_UNIT = 296

COMPRESSION_CCITT_T4 = 3
COMPRESSION_CCITT_T6 = 4
PHOTOMETRIC_MIN_IS_WHITE = 0
RESOLUTION_UNIT_INCH = 2
RESOLUTION_UNIT_CENTIMETER = 3


def page_dpi(tiff: TiffImagePlugin.TiffImageFile) -> tuple[float, float] | None:
    """The current page's resolution in dots per inch, or None when it is missing or unitless."""
    tags = tiff.tag_v2
    unit = tags.get(RESOLUTION_UNIT, RESOLUTION_UNIT_INCH)
    x_dpi, y_dpi = tags.get(X_RESOLUTION), tags.get(Y_RESOLUTION)
    if x_dpi is None or y_dpi is None or unit not in (RESOLUTION_UNIT_INCH, RESOLUTION_UNIT_CENTIMETER):
        return None
    per_inch = 2.54 if unit == RESOLUTION_UNIT_CENTIMETER else 1.0
    return float(x_dpi) * per_inch, float(y_dpi) * per_inch


def first_value(value: int | tuple[int, ...] | None, default: int) -> int:
    """Pillow gives per-sample tags (BitsPerSample) as a tuple; a fax page has one sample."""
    if value is None:
        return default
    return value[0] if isinstance(value, tuple) else value


def values(value: int | tuple[int, ...] | None) -> tuple[int, ...]:
    """A tag that holds one value per strip (StripOffsets), as a tuple however many strips there are."""
    if value is None:
        return ()
    return value if isinstance(value, tuple) else (value,)
