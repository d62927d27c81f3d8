"""Office documents (Word, Excel, RTF, OpenDocument) to PDF with LibreOffice, headless."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from faxgw.gateway.documents.detect import Kind
from faxgw.gateway.documents.errors import ConversionError
from faxgw.gateway.documents.tools import run_tool, summarize
from faxgw.gateway.domain import FaxStatus

#: A cold start with a fresh profile takes 1-2 s; long spreadsheets take a while to lay out.
SOFFICE_TIMEOUT_S = 180.0
DEBIAN_PACKAGES = "libreoffice-writer-nogui libreoffice-calc-nogui"


def office_to_pdf(path: Path, kind: Kind, workdir: Path) -> Path:
    """Convert the document to a PDF inside ``workdir`` and return its path."""
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        raise ConversionError(
            FaxStatus.FAILED_OFFICE_CONVERTER_ISSUE,
            f"LibreOffice is not installed (Debian packages: {DEBIAN_PACKAGES})",
        )
    workdir.mkdir(parents=True, exist_ok=True)
    # A neutral name with the detected type's extension: LibreOffice picks its import filter partly by
    # extension, and a client's file name (spaces, a leading dash, no extension) stays off the command line.
    source = workdir / f"document.{kind.value}"
    shutil.copyfile(path, source)
    outdir = workdir / "pdf"
    # Each conversion gets a throwaway profile: two soffice processes sharing one block each other.
    profile = workdir / "libreoffice-profile"
    output = run_tool(
        [
            soffice,
            f"-env:UserInstallation={profile.as_uri()}",
            "--headless",
            "--norestore",
            "--nolockcheck",
            "--convert-to",
            "pdf",
            "--outdir",
            str(outdir),
            str(source),
        ],
        timeout=SOFFICE_TIMEOUT_S,
        error_code=FaxStatus.FAILED_OFFICE_CONVERTER_ISSUE,
        env={**os.environ, "HOME": str(workdir)},
    )
    pdf = outdir / "document.pdf"
    if not pdf.is_file():
        # soffice exits 0 when it cannot load a document; the missing PDF is the only sign.
        raise ConversionError(
            FaxStatus.FAILED_OFFICE_CONVERTER_ISSUE,
            f"LibreOffice could not convert the document: {summarize(output)}",
        )
    return pdf
