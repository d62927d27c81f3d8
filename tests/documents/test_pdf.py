"""PDF files through Ghostscript: page count, the fax grid, A4 or Letter, and what damaged PDFs become."""

from __future__ import annotations

from pathlib import Path

import pytest
from faxgw.gateway.documents import convert
from faxgw.gateway.documents.pdf import MIN_PAGES_PER_RUN
from faxgw.sip.fax import Resolution
from PIL import Image, ImageChops

from tests.helpers.documents import (
    A4_POINTS,
    A4_ROWS,
    LETTER_POINTS,
    LETTER_ROWS,
    fax_pages,
    ink,
    make_pdf,
    plain_ghostscript,
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


def plain_ghostscript_pages(pdf: Path, rows: int, directory: Path) -> list[Image.Image]:
    """Every page of the PDF from one plain Ghostscript pass at the fax grid, on paper ``rows`` long."""
    directory.mkdir()
    plain_ghostscript(pdf, rows, directory / "%05d.tif")
    pages = []
    for file in sorted(directory.glob("*.tif")):
        with Image.open(file) as page:
            pages.append(page.copy())
    return pages


def same_image(one: Image.Image, other: Image.Image) -> bool:
    return one.size == other.size and ImageChops.difference(one, other).getbbox() is None


def test_pages_rendered_in_parallel_are_those_of_one_ghostscript_pass_in_order(tmp_path: Path) -> None:
    count = 3 * MIN_PAGES_PER_RUN + 1  # three runs at once, of unequal length
    pdf = make_pdf(tmp_path / "long.pdf", [A4_POINTS] * count)  # each page says its number

    pages = fax_pages(convert([pdf], tmp_path / "out.tif", processes=3).path)

    reference = plain_ghostscript_pages(pdf, A4_ROWS[Resolution.FINE], tmp_path / "plain")
    assert len(pages) == len(reference) == count
    assert [same_image(ours, plain) for ours, plain in zip(pages, reference, strict=True)] == [True] * count
    assert not same_image(reference[0], reference[1])  # so a page out of place would show


def test_pages_alternating_a4_and_letter_keep_their_paper_and_order_in_parallel(tmp_path: Path) -> None:
    sizes = [A4_POINTS, LETTER_POINTS] * (2 * MIN_PAGES_PER_RUN)  # two runs of each paper, interleaved
    pdf = make_pdf(tmp_path / "mixed.pdf", sizes)

    pages = fax_pages(convert([pdf], tmp_path / "out.tif", processes=4).path)

    fine = Resolution.FINE
    on_a4 = plain_ghostscript_pages(pdf, A4_ROWS[fine], tmp_path / "a4")
    on_letter = plain_ghostscript_pages(pdf, LETTER_ROWS[fine], tmp_path / "letter")
    expected = [(on_a4 if size == A4_POINTS else on_letter)[index] for index, size in enumerate(sizes)]
    assert [page.height for page in pages] == [A4_ROWS[fine], LETTER_ROWS[fine]] * (2 * MIN_PAGES_PER_RUN)
    assert [same_image(ours, plain) for ours, plain in zip(pages, expected, strict=True)] == [True] * len(
        sizes
    )


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
