"""page_differences: 0 for an identical page, a pixel count for a changed one, None for missing or resized."""

from __future__ import annotations

from pathlib import Path

from faxgw.gateway.documents import page_differences
from faxgw.sip.fax import Resolution, write_tiff_f
from PIL import ImageDraw

from tests.helpers.documents import drawn_pages, raises_code


def test_identical_file(tmp_path: Path) -> None:
    path = tmp_path / "fax.tif"
    write_tiff_f(path, drawn_pages(3, Resolution.FINE), Resolution.FINE)
    assert page_differences(path, path) == [0, 0, 0]


def test_changed_missing_and_resized_pages(tmp_path: Path) -> None:
    sent, received = tmp_path / "tx.tif", tmp_path / "rx.tif"
    pages = drawn_pages(4, Resolution.FINE)
    write_tiff_f(sent, pages, Resolution.FINE)
    changed = pages[1].copy()
    ImageDraw.Draw(changed).rectangle((10, 10, 19, 19), fill=0)  # 100 pixels of noise on a blank corner
    shorter = pages[2].crop((0, 0, pages[2].width, 2000))
    write_tiff_f(received, [pages[0], changed, shorter], Resolution.FINE)

    assert page_differences(sent, received) == [0, 100, None, None]


def test_unreadable_file(tmp_path: Path) -> None:
    good, bad = tmp_path / "tx.tif", tmp_path / "rx.tif"
    write_tiff_f(good, drawn_pages(1, Resolution.FINE), Resolution.FINE)
    bad.write_bytes(b"not a tiff")
    with raises_code("failed_image_preparation"):
        page_differences(good, bad)
