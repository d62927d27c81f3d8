"""Plain text: encodings, tabs, long lines, form feeds, pagination."""

from __future__ import annotations

from pathlib import Path

import pytest
from faxgw.gateway.documents import convert
from faxgw.gateway.documents.text import TextSheet
from faxgw.sip.fax import Resolution
from PIL import Image

from tests.helpers.documents import A4_ROWS, fax_pages, raises_code


def line_boxes(page: Image.Image) -> list[tuple[int, int, int, int]]:
    """The bounding box of each printed line: runs of rows with ink on them."""
    inverted = Image.eval(page.convert("L"), lambda value: 255 - value)
    profile = inverted.reduce((page.width, 1))
    inked = [row for row in range(profile.height) if profile.getpixel((0, row)) > 0]
    runs: list[list[int]] = []
    for row in inked:
        if runs and row == runs[-1][-1] + 1:
            runs[-1].append(row)
        else:
            runs.append([row])
    boxes = []
    for run in runs:
        left, _, right, _ = inverted.crop((0, run[0], page.width, run[-1] + 1)).getbbox()
        boxes.append((left, run[0], right, run[-1] + 1))
    return boxes


def test_utf8_text_with_accents_cjk_tabs_long_lines_and_form_feed(tmp_path: Path) -> None:
    path = tmp_path / "note.txt"
    path.write_text(
        "Grüße aus Zürich — naïve café\n\tindented by a tab\n"
        + "word " * 120  # wraps onto several lines instead of running off the page
        + "\n日本語のテキスト\f"
        + "Second page after a form feed\n\f",  # a trailing form feed adds no blank page
        encoding="utf-8",
    )
    pages = fax_pages(convert([path], tmp_path / "out.tif").path)
    assert len(pages) == 2
    assert all(page.size == (1728, A4_ROWS[Resolution.FINE]) for page in pages)
    first_page = line_boxes(pages[0])
    # The long line wrapped onto several lines instead of running off the page; page 2 has one line.
    assert len(first_page) > 5
    assert len(line_boxes(pages[1])) == 1
    # Everything stays inside the half-inch (102 pixel) margins.
    assert min(box[0] for box in first_page) >= 100
    assert max(box[2] for box in first_page) <= 1728 - 100
    # The tab indents the second line by 8 columns.
    assert first_page[1][0] - first_page[0][0] > 100


def test_long_text_paginates(tmp_path: Path) -> None:
    per_page = TextSheet().lines_per_page
    path = tmp_path / "long.txt"
    path.write_text("".join(f"line {number}\n" for number in range(per_page * 2 + 5)))
    pages = fax_pages(convert([path], tmp_path / "out.tif").path)
    assert [len(line_boxes(page)) for page in pages] == [per_page, per_page, 5]


@pytest.mark.parametrize(
    ("content", "encoding"),
    [("Grüße, déjà vu\n", "latin-1"), ("\ufeffWith a BOM\n", "utf-8"), ("Notepad's Unicode\r\n", "utf-16")],
)
def test_other_encodings(tmp_path: Path, content: str, encoding: str) -> None:
    path = tmp_path / "note.txt"
    path.write_bytes(content.encode(encoding))
    (page,) = fax_pages(convert([path], tmp_path / "out.tif").path)
    assert len(line_boxes(page)) == 1


@pytest.mark.parametrize("content", [b" \n\t\n\r\n", b"\f\f\n"], ids=["whitespace", "form-feeds"])
def test_text_with_nothing_to_print(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "blank.txt"
    path.write_bytes(content)
    with raises_code("failed_separate_file_pages_issue"):
        convert([path], tmp_path / "out.tif")


def test_text_at_standard_resolution_is_readable_size(tmp_path: Path) -> None:
    path = tmp_path / "note.txt"
    path.write_text("Standard resolution\n")
    (page,) = fax_pages(
        convert([path], tmp_path / "out.tif", resolution=Resolution.STANDARD).path, Resolution.STANDARD
    )
    assert page.size == (1728, A4_ROWS[Resolution.STANDARD])
    ((_, top, _, bottom),) = line_boxes(page)
    # 10 pt capitals and descenders at 98 rows per inch: about a dozen rows, not squashed to nothing.
    assert 10 <= bottom - top <= 20
