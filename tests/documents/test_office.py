"""Office documents through real LibreOffice. Without it these tests skip and say so; CI installs it."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from faxgw.gateway.documents import convert
from faxgw.gateway.documents.detect import Kind, detect
from faxgw.sip.fax import Resolution

from tests.helpers.documents import A4_POINTS, A4_ROWS, fax_pages, ink, make_pdf, raises_code, write_docx

#: Pages each sample has: the DOCX (and what LibreOffice made of it) has a page break.
EXPECTED_PAGES = {"docx": 2, "odt": 2, "doc": 2, "xlsx": 1, "ods": 1, "xls": 1, "rtf": 1}


@pytest.mark.parametrize("name", list(EXPECTED_PAGES))
def test_office_document(tmp_path: Path, office_samples: dict[str, Path], name: str) -> None:
    source = office_samples[name]
    assert detect(source).value == name  # told apart by content, LibreOffice's own output included

    document = convert([source], tmp_path / "out.tif")

    pages = fax_pages(document.path)
    assert document.pages == len(pages) == EXPECTED_PAGES[name]
    for page in pages:
        assert page.size[0] == 1728 and page.height in (A4_ROWS[Resolution.FINE], 2156)
        assert 0 < ink(page) < 0.05  # some text on white paper


def test_office_document_with_misleading_name_and_other_inputs(
    tmp_path: Path, office_samples: dict[str, Path]
) -> None:
    renamed = tmp_path / "-not really a pdf.pdf"  # a leading dash must not reach soffice as an option
    renamed.write_bytes(office_samples["xlsx"].read_bytes())
    pdf = make_pdf(tmp_path / "a.pdf", [A4_POINTS])
    assert convert([pdf, renamed], tmp_path / "out.tif").pages == 2


def test_damaged_word_document(tmp_path: Path, soffice: str) -> None:
    path = tmp_path / "broken.docx"
    with zipfile.ZipFile(path, "w") as package:
        package.writestr("[Content_Types].xml", "<Types")
        package.writestr("word/document.xml", "\0\1\2 not xml at all")
    assert detect(path) is Kind.DOCX
    with raises_code("failed_office_converter_issue") as caught:
        convert([path], tmp_path / "out.tif")
    assert caught.value.filename == "broken.docx"


def test_without_libreoffice_the_error_names_the_packages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Runs everywhere: a PATH without LibreOffice is what a host without it looks like."""
    monkeypatch.setenv("PATH", str(tmp_path))
    docx = write_docx(tmp_path / "letter.docx", ["Hello"])
    with raises_code("failed_office_converter_issue") as caught:
        convert([docx], tmp_path / "out.tif")
    assert "libreoffice-writer-nogui" in caught.value.message
    assert "libreoffice-calc-nogui" in caught.value.message
