"""Image files: every format and frame becomes a page; photos are dithered, line art thresholded."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest
from faxgw.gateway.documents import convert
from faxgw.sip.fax import Resolution
from PIL import Image, ImageDraw

from tests.helpers.documents import (
    A4_ROWS,
    LETTER_ROWS,
    fax_pages,
    ink,
    line_art,
    photo,
    raises_code,
    speckle,
)

IMAGE_PREPARATION = "failed_image_preparation"


@pytest.mark.parametrize("format", ["PNG", "JPEG", "GIF", "BMP", "TIFF"])
def test_line_art_in_every_format(tmp_path: Path, format: str) -> None:
    path = tmp_path / "drawing.img"
    line_art().save(path, format)

    (page,) = fax_pages(convert([path], tmp_path / "out.tif").path)

    # 800 x 1100 is closest to A4's shape; without a dpi it is scaled to fill the page, centred.
    assert page.size == (1728, A4_ROWS[Resolution.FINE])
    assert ink(page, (0.15, 0.12, 0.25, 0.18)) > 0.95, "the filled block drawn top left"
    assert ink(page, (0.4, 0.6, 0.5, 0.65)) < 0.05, "blank paper"
    # Thresholded, not dithered: solid strokes (JPEG ringing is not enough to trigger dithering).
    assert speckle(page) < 0.2


def test_photo_is_dithered(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    photo().save(path, "JPEG", quality=90)
    (page,) = fax_pages(convert([path], tmp_path / "out.tif").path)
    assert speckle(page) > 0.8
    # The ramps run from black to white: dark corner top left, light corner bottom right.
    assert ink(page, (0.05, 0.05, 0.15, 0.1)) > ink(page, (0.85, 0.9, 0.95, 0.95)) + 0.5


def test_image_with_a_dpi_keeps_its_printed_size(tmp_path: Path) -> None:
    """2 x 1 inch at 100 dpi: 408 fax pixels across, 196 rows down, a quarter inch from the corner."""
    path = tmp_path / "stamp.png"
    Image.new("L", (200, 100), 0).save(path, dpi=(100, 100))
    (page,) = fax_pages(convert([path], tmp_path / "out.tif").path)
    left, top, right, bottom = Image.eval(page, lambda value: 255 - value).getbbox()
    assert (left, top) == (51, 49)
    assert (right - left, bottom - top) == (408, 196)


def test_image_larger_than_the_page_is_fitted(tmp_path: Path) -> None:
    path = tmp_path / "poster.png"
    Image.new("L", (3400, 4400), 0).save(path, dpi=(100, 100))  # 34 x 44 inches, Letter-shaped
    (page,) = fax_pages(convert([path], tmp_path / "out.tif").path)
    assert page.size == (1728, LETTER_ROWS[Resolution.FINE])
    assert ink(page) > 0.98


def test_multi_frame_gif_and_tiff_give_one_page_per_frame(tmp_path: Path) -> None:
    frames = []
    for number in range(3):
        frame = Image.new("L", (400, 560), 255)
        # A bar lower down on each frame, to check the order of the pages.
        ImageDraw.Draw(frame).rectangle((50, 100 + 150 * number, 350, 150 + 150 * number), fill=0)
        frames.append(frame)
    gif, tiff = tmp_path / "anim.gif", tmp_path / "scan.tif"
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=100)
    frames[0].save(tiff, save_all=True, append_images=frames[1:], compression="tiff_lzw")

    for path in (gif, tiff):
        pages = fax_pages(convert([path], tmp_path / "out.tif").path)
        assert len(pages) == 3
        bar_rows = [Image.eval(page, lambda value: 255 - value).getbbox()[1] for page in pages]
        assert bar_rows == sorted(bar_rows) and len(set(bar_rows)) == 3


def test_transparency_is_flattened_on_white(tmp_path: Path) -> None:
    """Transparent pixels are black underneath: they must print as paper, not ink."""
    image = Image.new("RGBA", (800, 1100), (0, 0, 0, 0))
    ImageDraw.Draw(image).rectangle((80, 110, 240, 220), fill=(0, 0, 0, 255))
    path = tmp_path / "logo.png"
    image.save(path)
    (page,) = fax_pages(convert([path], tmp_path / "out.tif").path)
    assert ink(page, (0.15, 0.12, 0.25, 0.18)) > 0.95
    assert ink(page, (0.4, 0.4, 0.9, 0.9)) == 0


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    """A phone photo stored sideways with Orientation = 6 (rotate 90 clockwise to view)."""
    stored = Image.new("L", (1100, 800), 255)
    ImageDraw.Draw(stored).rectangle((0, 0, 100, 100), fill=0)  # top left as stored
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "phone.jpg"
    stored.save(path, exif=exif)
    (page,) = fax_pages(convert([path], tmp_path / "out.tif").path)
    # Upright it is portrait, and the stored top-left corner is now top right.
    assert ink(page, (0.9, 0.0, 1.0, 0.04)) > 0.9
    assert ink(page, (0.0, 0.0, 0.1, 0.04)) < 0.1


def test_sixteen_bit_gray_is_not_washed_out(tmp_path: Path) -> None:
    path = tmp_path / "gray16.png"
    Image.new("I;16", (800, 1100), 2000).save(path)  # dark: 2000 of 65535
    (page,) = fax_pages(convert([path], tmp_path / "out.tif").path)
    assert ink(page) > 0.9


def test_truncated_image(tmp_path: Path) -> None:
    whole = tmp_path / "whole.png"
    photo().save(whole)
    path = tmp_path / "cut.png"
    path.write_bytes(whole.read_bytes()[:5000])
    with raises_code(IMAGE_PREPARATION) as caught:
        convert([path], tmp_path / "out.tif")
    assert caught.value.filename == "cut.png"


def test_undecodable_image(tmp_path: Path) -> None:
    path = tmp_path / "bad.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8)
    with raises_code(IMAGE_PREPARATION):
        convert([path], tmp_path / "out.tif")


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge size: a decompression bomb's calling card."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + header
    data = zlib.compress(b"\0" * 100)
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", len(header))
        + chunk
        + struct.pack(">I", zlib.crc32(chunk))
        + struct.pack(">I", len(data))
        + b"IDAT"
        + data
        + struct.pack(">I", zlib.crc32(b"IDAT" + data))
    )


@pytest.mark.parametrize(
    "size", [(10_000, 8_000), (30_000, 30_000)], ids=["over-our-limit", "over-pillows-bomb-limit"]
)
def test_absurdly_large_image(tmp_path: Path, size: tuple[int, int]) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(png_claiming(*size))
    with raises_code(IMAGE_PREPARATION) as caught:
        convert([path], tmp_path / "out.tif")
    assert "too large" in caught.value.message
