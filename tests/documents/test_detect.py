"""File types are told from content, whatever the file is called; what we cannot fax gets a seed code."""

from __future__ import annotations

import io
import random
import struct
import zipfile
from pathlib import Path

import pytest
from faxgw.gateway.documents import convert
from faxgw.gateway.documents.detect import Kind, detect
from PIL import Image

from tests.helpers.documents import make_pdf, raises_code, write_docx, write_xlsx

MIMETYPE = "failed_mimetype_not_supported"


def image_bytes(format: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (20, 10), "white").save(buffer, format, **params)
    return buffer.getvalue()


def compound_file(*stream_names: str) -> bytes:
    """The start of an OLE2 compound file: header, then directory entries naming the streams (MS-CFB 2.6)."""
    header = bytes.fromhex("d0cf11e0a1b11ae1").ljust(512, b"\0")
    entries = b""
    for name in ("Root Entry", *stream_names):
        encoded = name.encode("utf-16-le") + b"\0\0"
        entry_type = 5 if name == "Root Entry" else 2
        entries += (encoded.ljust(64, b"\0") + struct.pack("<HB", len(encoded), entry_type)).ljust(128, b"\0")
    return header + entries.ljust(512, b"\0")


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        (image_bytes("PNG"), Kind.PNG),
        (image_bytes("JPEG"), Kind.JPEG),
        (image_bytes("GIF"), Kind.GIF),
        (image_bytes("BMP"), Kind.BMP),
        (image_bytes("TIFF"), Kind.TIFF),
        (b"MM\0*" + bytes(100), Kind.TIFF),
        (b"{\\rtf1\\ansi Hello}", Kind.RTF),
        (compound_file("WordDocument", "1Table"), Kind.DOC),
        (compound_file("Workbook"), Kind.XLS),
        (compound_file("Book"), Kind.XLS),
        ("Grüße, naïve café\n".encode(), Kind.TXT),
        ("\ufeffUTF-8 with a byte order mark\n".encode(), Kind.TXT),
        ("UTF-16 from Notepad\r\n".encode("utf-16"), Kind.TXT),
        ("Latin-1 only: Grüße\n".encode("latin-1"), Kind.TXT),
        ("Windows quotes: \u201cquoted\u201d \u2013 dash\n".encode("cp1252"), Kind.TXT),
        # "BM" starts many words; only a real BMP header makes it a bitmap.
        (b"BMW service report\nall fine\n", Kind.TXT),
    ],
    ids=lambda value: value.name if isinstance(value, Kind) else None,
)
def test_kind_comes_from_content_not_name(tmp_path: Path, content: bytes, kind: Kind) -> None:
    path = tmp_path / "upload.pdf"  # a misleading name on purpose
    path.write_bytes(content)
    assert detect(path) is kind


def test_pdf_with_junk_before_header(tmp_path: Path) -> None:
    pdf = make_pdf(tmp_path / "a.pdf", [(595, 842)])
    path = tmp_path / "junk-first"
    path.write_bytes(b"\r\n\r\n" + pdf.read_bytes())
    assert detect(path) is Kind.PDF


def test_office_zip_packages(tmp_path: Path) -> None:
    assert detect(write_docx(tmp_path / "a.bin", ["Hello"])) is Kind.DOCX
    assert detect(write_xlsx(tmp_path / "b.bin", [["Hello"]])) is Kind.XLSX
    for mimetype, kind in (("text", Kind.ODT), ("spreadsheet", Kind.ODS)):
        path = tmp_path / f"{mimetype}.zip"
        with zipfile.ZipFile(path, "w") as package:
            package.writestr("mimetype", f"application/vnd.oasis.opendocument.{mimetype}")
            package.writestr("content.xml", "<office:document-content/>")
        assert detect(path) is kind


def _unsupported_samples() -> dict[str, bytes]:
    plain_zip = io.BytesIO()
    with zipfile.ZipFile(plain_zip, "w") as package:
        package.writestr("photos/readme.txt", "not an office document")
    presentation = io.BytesIO()
    with zipfile.ZipFile(presentation, "w") as package:
        package.writestr("mimetype", "application/vnd.oasis.opendocument.presentation")
    generator = random.Random(1234)
    return {
        "random bytes": generator.randbytes(4000),
        "random bytes without NUL": bytes(generator.choice(range(1, 256)) for _ in range(4000)),
        "ELF binary": Path("/bin/true").read_bytes(),
        "MP3": b"ID3\x04\x00\x00\x00\x00\x00\x00" + generator.randbytes(2000),
        "plain ZIP": plain_zip.getvalue(),
        "OpenDocument presentation": presentation.getvalue(),
        "damaged ZIP": plain_zip.getvalue()[:40],
        "PowerPoint 97 (OLE2)": compound_file("PowerPoint Document"),
    }


UNSUPPORTED = _unsupported_samples()


@pytest.mark.parametrize("name", list(UNSUPPORTED))
def test_unsupported_content(tmp_path: Path, name: str) -> None:
    path = tmp_path / "document.pdf"
    path.write_bytes(UNSUPPORTED[name])
    with raises_code(MIMETYPE) as caught:
        convert([path], tmp_path / "out.tif")
    assert caught.value.filename == "document.pdf"
    assert "PDF" in caught.value.message  # says what would have worked
    assert not (tmp_path / "out.tif").exists()


def test_empty_file_is_an_empty_document(tmp_path: Path) -> None:
    path = tmp_path / "empty.txt"
    path.touch()
    with raises_code("failed_separate_file_pages_issue") as caught:
        convert([path], tmp_path / "out.tif")
    assert caught.value.message == "the file is empty"


def test_missing_file(tmp_path: Path) -> None:
    with raises_code("failed_separate_file_pages_issue") as caught:
        convert([tmp_path / "nowhere.pdf"], tmp_path / "out.tif")
    assert (caught.value.message, caught.value.filename) == ("file not found", "nowhere.pdf")


def test_directory_is_not_a_document(tmp_path: Path) -> None:
    with raises_code("failed_separate_file_pages_issue"):
        convert([tmp_path], tmp_path / "out.tif")


def test_password_protected_office_file(tmp_path: Path) -> None:
    """An encrypted DOCX/XLSX is an OLE2 container with an EncryptedPackage stream."""
    path = tmp_path / "secret.docx"
    path.write_bytes(compound_file("EncryptionInfo", "EncryptedPackage"))
    with raises_code("failed_unknown_converter_issue") as caught:
        convert([path], tmp_path / "out.tif")
    assert "password" in caught.value.message


def test_unreadable_file(tmp_path: Path) -> None:
    # A directory where a file should be: unreadable even for root (CI runs as root, so chmod 0 would not do).
    path = tmp_path / "not-a-file.txt"
    path.mkdir()
    with raises_code("failed_separate_file_pages_issue"):
        convert([path], tmp_path / "out.tif")
