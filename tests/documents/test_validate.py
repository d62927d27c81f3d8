"""validate_fax_tiff accepts what SpanDSP can send and names the first thing wrong with anything else."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import pytest
from faxgw.gateway.documents import validate_fax_tiff
from faxgw.sip.fax import PAGE_WIDTH, Compression, Resolution, write_tiff_f
from PIL import Image

from tests.helpers.documents import raises_code

IMAGE_PREPARATION = "failed_image_preparation"


def blank_pages(count: int, rows: int = 2292) -> list[Image.Image]:
    return [Image.new("1", (PAGE_WIDTH, rows), 255) for _ in range(count)]


@pytest.mark.parametrize("compression", list(Compression), ids=lambda c: c.value)
@pytest.mark.parametrize("resolution", list(Resolution), ids=lambda r: r.name.lower())
def test_every_fax_coding_and_resolution_is_valid(
    tmp_path: Path, compression: Compression, resolution: Resolution
) -> None:
    path = tmp_path / "fax.tif"
    write_tiff_f(path, blank_pages(2, rows=300), resolution, compression)
    assert validate_fax_tiff(path) == 2


def tiff_tool(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True)


def test_wrong_page_width(tmp_path: Path) -> None:
    path = tmp_path / "narrow.tif"
    Image.new("1", (1700, 200), 255).save(path, compression="group4", dpi=(204, 196))
    with raises_code(IMAGE_PREPARATION) as caught:
        validate_fax_tiff(path)
    assert "1700 pixels wide" in caught.value.message


def test_min_is_black_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "black-is-zero.tif"
    Image.new("1", (PAGE_WIDTH, 200), 255).save(path, compression="group4", dpi=(204, 196))
    with raises_code(IMAGE_PREPARATION) as caught:
        validate_fax_tiff(path)
    assert "MinIsWhite" in caught.value.message


def test_gray_page_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "gray.tif"
    Image.new("L", (PAGE_WIDTH, 200), 255).save(path, dpi=(204, 196))
    with raises_code(IMAGE_PREPARATION) as caught:
        validate_fax_tiff(path)
    assert "bit" in caught.value.message


def test_uncompressed_page_is_refused(tmp_path: Path) -> None:
    fax, raw = tmp_path / "fax.tif", tmp_path / "raw.tif"
    write_tiff_f(fax, blank_pages(1), Resolution.FINE)
    tiff_tool("tiffcp", "-c", "none", str(fax), str(raw))
    with raises_code(IMAGE_PREPARATION) as caught:
        validate_fax_tiff(raw)
    assert "compression 1" in caught.value.message


def test_wrong_resolution_on_a_later_page(tmp_path: Path) -> None:
    first, second, both = tmp_path / "first.tif", tmp_path / "second.tif", tmp_path / "both.tif"
    write_tiff_f(first, blank_pages(1), Resolution.FINE)
    write_tiff_f(second, blank_pages(1), Resolution.FINE)
    tiff_tool("tiffset", "-s", "283", "300", str(second))  # YResolution 300: not a fax resolution
    tiff_tool("tiffcp", str(first), str(second), str(both))
    with raises_code(IMAGE_PREPARATION) as caught:
        validate_fax_tiff(both)
    assert caught.value.message.startswith("page 2: resolution")


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")  # Pillow's remark on the cut-off directory
def test_truncated_file(tmp_path: Path) -> None:
    whole, cut = tmp_path / "whole.tif", tmp_path / "cut.tif"
    page = Image.effect_noise((PAGE_WIDTH, 400), 100).convert("1")  # noise does not compress away
    write_tiff_f(whole, [page, page], Resolution.FINE)
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 3])
    with raises_code(IMAGE_PREPARATION):
        validate_fax_tiff(cut)


@pytest.mark.parametrize("content", [b"", b"%PDF-1.4 not a tiff"], ids=["empty", "pdf"])
def test_not_a_tiff(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "fax.tif"
    path.write_bytes(content)
    with raises_code(IMAGE_PREPARATION) as caught:
        validate_fax_tiff(path)
    assert caught.value.filename == "fax.tif"


def test_missing_file(tmp_path: Path) -> None:
    with raises_code(IMAGE_PREPARATION) as caught:
        validate_fax_tiff(tmp_path / "gone.tif")
    assert caught.value.message == "file not found"


def set_last_page_tag(path: Path, tag: int, value: int) -> None:
    """Overwrite a one-value LONG tag of a little-endian TIFF's last page in place (libtiff refuses to)."""
    data = bytearray(path.read_bytes())
    assert data[:2] == b"II"
    directory = last = struct.unpack_from("<I", data, 4)[0]
    while directory:
        last = directory
        entries = struct.unpack_from("<H", data, directory)[0]
        directory = struct.unpack_from("<I", data, directory + 2 + 12 * entries)[0]
    entries = struct.unpack_from("<H", data, last)[0]
    for entry in range(last + 2, last + 2 + 12 * entries, 12):
        if struct.unpack_from("<HHI", data, entry) == (tag, 4, 1):
            struct.pack_into("<I", data, entry + 8, value)
            path.write_bytes(bytes(data))
            return
    raise AssertionError(f"no one-value LONG tag {tag} on the last page")


def test_page_data_cut_off_with_the_directories_intact(tmp_path: Path) -> None:
    """The pages are not decoded: a strip running past the end of the file is found from the tags."""
    path = tmp_path / "fax.tif"
    write_tiff_f(path, blank_pages(2), Resolution.FINE)
    set_last_page_tag(path, 279, path.stat().st_size)  # StripByteCounts: more bytes than the file has
    with raises_code(IMAGE_PREPARATION) as caught:
        validate_fax_tiff(path)
    assert caught.value.message == "page 2: its coded data runs past the end of the file"
