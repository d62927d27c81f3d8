"""A received fax becomes a lossless PDF with true page sizes and readable PNG previews."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pypdfium2
import pypdfium2.raw
import pytest
from faxgw.gateway.documents import render_received
from faxgw.sip.fax import PAGE_WIDTH, Compression, Resolution, write_tiff_f
from PIL import Image, ImageChops

from tests.helpers.documents import drawn_pages, raises_code

POINTS_PER_INCH = 72


def embedded_images(pdf_path: Path) -> list[tuple[tuple[float, float], Image.Image]]:
    """Each PDF page's size in points and the image it shows, decoded at its own pixels (not re-rendered)."""
    pdf = pypdfium2.PdfDocument(pdf_path)
    try:
        result = []
        for index in range(len(pdf)):
            page = pdf[index]
            (image,) = page.get_objects(filter=(pypdfium2.raw.FPDF_PAGEOBJ_IMAGE,))
            result.append((pdf.get_page_size(index), image.get_bitmap(render=False).to_pil().convert("L")))
        return result
    finally:
        pdf.close()


def points(size: tuple[int, int], dpi: tuple[int, int]) -> tuple[float, float]:
    return size[0] / dpi[0] * POINTS_PER_INCH, size[1] / dpi[1] * POINTS_PER_INCH


@pytest.mark.parametrize("resolution", [Resolution.STANDARD, Resolution.FINE], ids=["standard", "fine"])
def test_pdf_and_previews(tmp_path: Path, resolution: Resolution) -> None:
    fax = tmp_path / "rx.tif"
    pages = drawn_pages(3, resolution)
    write_tiff_f(fax, pages, resolution, Compression.T4_2D)  # what SpanDSP writes when receiving

    received = render_received(fax, tmp_path / "rx.pdf", tmp_path / "previews")

    assert received.pages == 3
    assert received.pdf.read_bytes().startswith(b"%PDF")
    embedded = embedded_images(received.pdf)
    assert len(embedded) == 3
    for (page_points, image), page in zip(embedded, pages, strict=True):
        # A4 in points (595 x 842, give or take the 215 mm fax line), not stretched by 204 x 98 pixels.
        assert page_points == pytest.approx(points(page.size, resolution.dpi), abs=0.5)
        assert ImageChops.difference(image, page.convert("L")).getbbox() is None, "lossless"

    assert [path.name for path in received.previews] == ["page-1.png", "page-2.png", "page-3.png"]
    for preview in received.previews:
        with Image.open(preview) as image:
            assert image.mode == "L"
            # Square pixels at 100 dpi: 1728/204 x 11.69 inches, whatever the fax resolution.
            assert image.size == pytest.approx((847, 1169), abs=2)
            dark, light = image.getextrema()
            assert dark < 40 and light == 255
            # Smoothed, not bilevel: the 3-pixel line turns into gray.
            assert sum(1 for count in image.histogram() if count) > 2


def test_pages_of_different_resolutions_keep_their_own_size(tmp_path: Path) -> None:
    fine, standard, mixed = tmp_path / "fine.tif", tmp_path / "standard.tif", tmp_path / "mixed.tif"
    write_tiff_f(fine, drawn_pages(1, Resolution.FINE), Resolution.FINE)
    write_tiff_f(standard, drawn_pages(1, Resolution.STANDARD), Resolution.STANDARD)
    subprocess.run(["tiffcp", str(fine), str(standard), str(mixed)], check=True)

    received = render_received(mixed, tmp_path / "rx.pdf", tmp_path / "previews")

    sizes = [page_points for page_points, _ in embedded_images(received.pdf)]
    assert sizes[0] == pytest.approx(points((PAGE_WIDTH, 2292), (204, 196)), abs=0.5)
    assert sizes[1] == pytest.approx(points((PAGE_WIDTH, 1146), (204, 98)), abs=0.5)


def test_unreadable_fax_leaves_no_pdf(tmp_path: Path) -> None:
    fax = tmp_path / "rx.tif"
    fax.write_bytes(b"II*\0" + bytes(64))
    with raises_code("failed_image_preparation") as caught:
        render_received(fax, tmp_path / "rx.pdf", tmp_path / "previews")
    assert caught.value.filename == "rx.tif"
    assert not any(tmp_path.glob("*.pdf*")) and not any(tmp_path.glob(".rx.pdf*"))
