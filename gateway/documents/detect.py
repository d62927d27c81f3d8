"""What a file is, judged from its content. File names are chosen by clients and prove nothing."""

from __future__ import annotations

import enum
import mmap
import struct
import zipfile
from pathlib import Path

from faxgw.gateway.documents.errors import ConversionError
from faxgw.gateway.documents.textcodec import decode_text
from faxgw.gateway.domain import FaxStatus


class Kind(enum.Enum):
    """A document type we can fax. The value is the usual file extension."""

    PDF = "pdf"
    PNG = "png"
    JPEG = "jpg"
    GIF = "gif"
    BMP = "bmp"
    TIFF = "tif"
    TXT = "txt"
    RTF = "rtf"
    DOC = "doc"
    XLS = "xls"
    DOCX = "docx"
    XLSX = "xlsx"
    ODT = "odt"
    ODS = "ods"


IMAGE_KINDS = frozenset({Kind.PNG, Kind.JPEG, Kind.GIF, Kind.BMP, Kind.TIFF})
#: What LibreOffice turns into PDF for us.
OFFICE_KINDS = frozenset({Kind.RTF, Kind.DOC, Kind.XLS, Kind.DOCX, Kind.XLSX, Kind.ODT, Kind.ODS})

SUPPORTED_TYPES = "PDF, Word (DOC, DOCX), Excel (XLS, XLSX), RTF, ODT, ODS, text, PNG, JPEG, GIF, BMP or TIFF"

#: Enough of the file to recognise any signature and to judge whether it is text.
_SNIFF_BYTES = 64 * 1024
#: PDF readers accept junk before the header within the first kilobyte; so do we.
_PDF_HEADER_WINDOW = 1024
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", Kind.PNG),
    (b"\xff\xd8\xff", Kind.JPEG),
    (b"GIF87a", Kind.GIF),
    (b"GIF89a", Kind.GIF),
    (b"II*\0", Kind.TIFF),
    (b"MM\0*", Kind.TIFF),
    (b"{\\rtf", Kind.RTF),
)
#: "BM" alone starts too many text files; a real BMP also has a known DIB header size at offset 14.
_BMP_DIB_HEADER_SIZES = frozenset({12, 40, 52, 56, 64, 108, 124})
_OLE2_SIGNATURE = bytes.fromhex("d0cf11e0a1b11ae1")
_ZIP_SIGNATURE = b"PK\x03\x04"
#: The OpenDocument "mimetype" entry is one short line; never read more than this of it.
_MIMETYPE_MAX_BYTES = 100
_OPENDOCUMENT_TYPES = {
    b"application/vnd.oasis.opendocument.text": Kind.ODT,
    b"application/vnd.oasis.opendocument.spreadsheet": Kind.ODS,
}


def detect(path: Path) -> Kind:
    """The kind of document in ``path``, or a ConversionError saying why it cannot be faxed."""
    try:
        with path.open("rb") as file:
            head = file.read(_SNIFF_BYTES)
    except FileNotFoundError:
        raise ConversionError(FaxStatus.FAILED_SEPARATE_FILE_PAGES_ISSUE, "file not found") from None
    except OSError as exc:
        raise ConversionError(
            FaxStatus.FAILED_SEPARATE_FILE_PAGES_ISSUE, f"cannot read the file: {exc.strerror}"
        ) from None
    if not head:
        raise ConversionError(FaxStatus.FAILED_SEPARATE_FILE_PAGES_ISSUE, "the file is empty")

    if b"%PDF-" in head[:_PDF_HEADER_WINDOW]:
        return Kind.PDF
    for signature, kind in _SIGNATURES:
        if head.startswith(signature):
            return kind
    if (
        head.startswith(b"BM")
        and len(head) >= 18
        and struct.unpack_from("<I", head, 14)[0] in _BMP_DIB_HEADER_SIZES
    ):
        return Kind.BMP
    if head.startswith(_OLE2_SIGNATURE):
        return _compound_file_kind(path)
    if head.startswith(_ZIP_SIGNATURE):
        return _zip_kind(path)
    if decode_text(head, complete=len(head) < _SNIFF_BYTES) is not None:
        return Kind.TXT
    raise unsupported("unsupported file type")


def unsupported(what: str) -> ConversionError:
    return ConversionError(FaxStatus.FAILED_MIMETYPE_NOT_SUPPORTED, f"{what}: send {SUPPORTED_TYPES}")


def _directory_entry(name: str) -> bytes:
    """A stream's entry in an OLE2 compound file directory (MS-CFB 2.6.1), up to its object type byte.

    The name is UTF-16LE, NUL-terminated and zero-padded to 64 bytes, then its length in bytes and type 2
    (stream). Searching for the whole 67 bytes cannot match ordinary document text by accident.
    """
    encoded = name.encode("utf-16-le") + b"\0\0"
    return encoded.ljust(64, b"\0") + struct.pack("<HB", len(encoded), 2)


_ENCRYPTED_PACKAGE = _directory_entry("EncryptedPackage")
_WORD_STREAM = _directory_entry("WordDocument")
_EXCEL_STREAMS = (_directory_entry("Workbook"), _directory_entry("Book"))


def _compound_file_kind(path: Path) -> Kind:
    """Word 97-2003, Excel 97-2003, or an OLE2 file we do not fax (PowerPoint, MSI, Outlook message...)."""
    with path.open("rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as content:
        # Password-protected DOCX/XLSX files are OLE2 containers holding the encrypted ZIP.
        if content.find(_ENCRYPTED_PACKAGE) != -1:
            raise ConversionError(
                FaxStatus.FAILED_UNKNOWN_CONVERTER_ISSUE, "the Office document is password-protected"
            )
        if content.find(_WORD_STREAM) != -1:
            return Kind.DOC
        if any(content.find(stream) != -1 for stream in _EXCEL_STREAMS):
            return Kind.XLS
    raise unsupported("unsupported Office/OLE2 file (only Word and Excel)")


def _zip_kind(path: Path) -> Kind:
    """DOCX, XLSX, ODT or ODS: ZIP packages told apart by the parts inside."""
    try:
        with zipfile.ZipFile(path) as package:
            names = set(package.namelist())
            if "mimetype" in names:
                with package.open("mimetype") as mimetype:
                    kind = _OPENDOCUMENT_TYPES.get(mimetype.read(_MIMETYPE_MAX_BYTES).strip())
                if kind is not None:
                    return kind
            elif "[Content_Types].xml" in names:
                if any(name.startswith("word/") for name in names):
                    return Kind.DOCX
                if any(name.startswith("xl/") for name in names):
                    return Kind.XLSX
    # RuntimeError: an encrypted entry; NotImplementedError: a compression method zipfile lacks.
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError):
        raise unsupported("damaged or incomplete ZIP archive") from None
    raise unsupported("ZIP archive that is not a Word, Excel or OpenDocument file")
