"""convert() as a whole: inputs in order, codings, and nothing half-written when an input is bad."""

from __future__ import annotations

from pathlib import Path

import pytest
from faxgw.gateway.documents import ConversionError, convert
from faxgw.sip.fax import Compression, Resolution
from PIL import Image

from tests.helpers.documents import (
    A4_POINTS,
    LETTER_POINTS,
    LETTER_ROWS,
    fax_pages,
    ink,
    line_art,
    make_pdf,
    raises_code,
)

T4_OPTIONS = 292


def test_inputs_become_pages_in_order(tmp_path: Path) -> None:
    pdf = make_pdf(tmp_path / "a.pdf", [A4_POINTS, LETTER_POINTS])
    image = tmp_path / "drawing.png"
    Image.new("L", (800, 600), 255).save(image)  # blank and landscape-shaped: Letter, turned
    text = tmp_path / "note.txt"
    text.write_text("The last page.\n")

    document = convert([pdf, image, text], tmp_path / "out.tif")

    pages = fax_pages(document.path)
    assert document.pages == len(pages) == 4
    assert [page.height for page in pages] == [2292, LETTER_ROWS[Resolution.FINE], 2156, 2292]
    assert ink(pages[0], (0.13, 0.12, 0.27, 0.18)) > 0.95  # the PDF's pages first
    assert ink(pages[1], (0.13, 0.12, 0.27, 0.18)) > 0.95
    assert ink(pages[2]) == 0  # the blank image
    assert 0 < ink(pages[3]) < 0.01  # one line of text


@pytest.mark.parametrize(
    ("compression", "tiff_compression", "two_dimensional"),
    [(Compression.T6, 4, None), (Compression.T4_2D, 3, 1), (Compression.T4_1D, 3, 0)],
    ids=lambda value: value.value if isinstance(value, Compression) else None,
)
def test_compression(
    tmp_path: Path, compression: Compression, tiff_compression: int, two_dimensional: int | None
) -> None:
    image = tmp_path / "drawing.png"
    line_art().save(image)
    document = convert([image, image], tmp_path / "out.tif", compression=compression)
    with Image.open(document.path) as tiff:
        for index in range(2):
            tiff.seek(index)
            assert tiff.tag_v2[259] == tiff_compression
            if two_dimensional is not None:
                assert tiff.tag_v2[T4_OPTIONS] & 1 == two_dimensional


def test_a_bad_input_leaves_no_file_behind(tmp_path: Path) -> None:
    good = make_pdf(tmp_path / "good.pdf", [A4_POINTS])
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    out = tmp_path / "out" / "fax.tif"
    out.parent.mkdir()
    workdir = tmp_path / "work"
    workdir.mkdir()

    with raises_code("failed_image_preparation") as caught:
        convert([good, bad], out, workdir=workdir)

    assert caught.value.filename == "bad.png"
    assert str(caught.value).startswith("bad.png: ") and "failed_image_preparation" in str(caught.value)
    assert list(out.parent.iterdir()) == []
    assert list(workdir.iterdir()) == []  # scratch files removed too


def test_a_failed_conversion_keeps_the_previous_output(tmp_path: Path) -> None:
    out = tmp_path / "fax.tif"
    first = convert([make_pdf(tmp_path / "a.pdf", [A4_POINTS] * 2)], out)
    before = out.read_bytes()
    with pytest.raises(ConversionError):
        convert([tmp_path / "missing.pdf"], out)
    assert out.read_bytes() == before and first.pages == 2


def test_scratch_files_are_removed(tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    convert([make_pdf(tmp_path / "a.pdf", [A4_POINTS])], tmp_path / "out.tif", workdir=workdir)
    assert list(workdir.iterdir()) == []


def test_unwritable_output_is_our_problem_not_the_documents(tmp_path: Path) -> None:
    with raises_code("failed_convert_to_tiff_issue") as caught:
        convert([make_pdf(tmp_path / "a.pdf", [A4_POINTS])], tmp_path / "no-such-dir" / "out.tif")
    assert caught.value.filename is None  # no client file is at fault
    assert "no-such-dir" not in caught.value.message  # server paths stay in the log
