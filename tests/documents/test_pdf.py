"""PDF files through Ghostscript: page count, the fax grid, A4 or Letter, and what damaged PDFs become."""

from __future__ import annotations

from pathlib import Path

import pytest
from faxgw.gateway.documents import convert
from faxgw.sip.fax import Resolution

from tests.helpers.documents import (
    A4_POINTS,
    A4_ROWS,
    LETTER_POINTS,
    LETTER_ROWS,
    fax_pages,
    ink,
    make_pdf,
    raises_code,
)


@pytest.mark.parametrize("resolution", list(Resolution), ids=lambda r: r.name.lower())
def test_a4_pages_fill_the_fax_grid(tmp_path: Path, resolution: Resolution) -> None:
    pdf = make_pdf(tmp_path / "three.pdf", [A4_POINTS] * 3)

    document = convert([pdf], tmp_path / "out.tif", resolution=resolution)

    assert (document.pages, document.resolution, document.path) == (3, resolution, tmp_path / "out.tif")
    pages = fax_pages(document.path, resolution)
    assert [page.size for page in pages] == [(1728, A4_ROWS[resolution])] * 3
    for page in pages:
        # The black square drawn at 10-30% across, 10-20% down is there, and the middle of the page is empty.
        assert ink(page, (0.13, 0.12, 0.27, 0.18)) > 0.95
        assert ink(page, (0.4, 0.6, 0.9, 0.9)) == 0


def test_letter_pdf_gets_letter_length(tmp_path: Path) -> None:
    pdf = make_pdf(tmp_path / "letter.pdf", [LETTER_POINTS] * 2)
    pages = fax_pages(convert([pdf], tmp_path / "out.tif").path)
    assert [page.size for page in pages] == [(1728, LETTER_ROWS[Resolution.FINE])] * 2


def test_each_page_gets_its_own_paper(tmp_path: Path) -> None:
    pdf = make_pdf(tmp_path / "mixed.pdf", [A4_POINTS, LETTER_POINTS, LETTER_POINTS, A4_POINTS])
    pages = fax_pages(convert([pdf], tmp_path / "out.tif").path)
    assert [page.height for page in pages] == [2292, 2156, 2156, 2292]


def test_landscape_page_is_turned_to_portrait(tmp_path: Path) -> None:
    pdf = make_pdf(tmp_path / "landscape.pdf", [(842, 595)])
    (page,) = fax_pages(convert([pdf], tmp_path / "out.tif").path)
    assert page.size == (1728, 2292)
    # Turned a quarter counter-clockwise, the square from the landscape's top left lands bottom left.
    assert ink(page, (0.12, 0.72, 0.18, 0.88)) > 0.95
    assert ink(page, (0.12, 0.12, 0.18, 0.28)) < 0.05


def test_owner_password_only_still_converts(tmp_path: Path) -> None:
    """A PDF that opens without a password (only editing is restricted) is faxable."""
    pdf = make_pdf(tmp_path / "restricted.pdf", [A4_POINTS], ["-sOwnerPassword=owner"])
    assert convert([pdf], tmp_path / "out.tif").pages == 1


def test_password_protected_pdf(tmp_path: Path) -> None:
    pdf = make_pdf(tmp_path / "secret.pdf", [A4_POINTS], ["-sOwnerPassword=owner", "-sUserPassword=user"])
    with raises_code("failed_unknown_converter_issue") as caught:
        convert([pdf], tmp_path / "out.tif")
    assert (caught.value.filename, caught.value.message) == ("secret.pdf", "the PDF is password-protected")


@pytest.mark.parametrize("keep", [0.3, 0.7], ids=["cut-early", "cut-late"])
def test_truncated_pdf(tmp_path: Path, keep: float) -> None:
    whole = make_pdf(tmp_path / "whole.pdf", [A4_POINTS] * 3).read_bytes()
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(whole[: int(len(whole) * keep)])
    with raises_code("failed_separate_file_pages_issue") as caught:
        convert([broken], tmp_path / "out.tif")
    assert "PDF cannot be read" in caught.value.message
    assert "Traceback" not in caught.value.message


def test_garbage_after_pdf_header(tmp_path: Path) -> None:
    path = tmp_path / "junk.pdf"
    path.write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 20)
    with raises_code("failed_separate_file_pages_issue"):
        convert([path], tmp_path / "out.tif")
