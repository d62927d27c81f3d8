"""PDF files as fax pages, rendered by Ghostscript straight to G4 at the fax grid.

pypdfium2 looks at the file first: it tells a password-protected PDF from a damaged one (Ghostscript says
neither clearly and exits 0 either way) and gives each page's size, from which A4 or Letter is chosen.
Ghostscript then renders each run of same-paper pages in one call (~200 pages/s, see DESIGN.md).

Error codes: a password -> failed_unknown_converter_issue (the seed's hint for it is "check if the file is
password-protected"); a file pdfium cannot open, no pages, or a page Ghostscript does not render ->
failed_separate_file_pages_issue ("check if all pages in the source file(s) are valid").
"""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import pypdfium2
import pypdfium2.raw
from faxgw.gateway.documents.errors import ConversionError
from faxgw.gateway.documents.raster import Paper, closest_paper
from faxgw.gateway.documents.tools import run_tool, summarize
from faxgw.gateway.domain import FaxStatus
from faxgw.sip.fax import PAGE_WIDTH, Resolution

#: Ghostscript renders a page in milliseconds; the allowance covers huge scanned pages on a busy host.
GS_TIMEOUT_S = 30.0
GS_TIMEOUT_PER_PAGE_S = 2.0


def render_pdf(path: Path, resolution: Resolution, workdir: Path) -> list[Path]:
    """Every page of the PDF as a fax page file in ``workdir``, in order."""
    gs = shutil.which("gs")
    if gs is None:
        raise ConversionError(
            FaxStatus.FAILED_CONVERT_TO_TIFF_ISSUE,
            "Ghostscript is not installed (Debian package ghostscript)",
        )
    workdir.mkdir(parents=True, exist_ok=True)
    papers = [closest_paper(width, height) for width, height in _page_sizes(path)]
    files: list[Path] = []
    for paper, run in itertools.groupby(enumerate(papers, start=1), key=lambda numbered: numbered[1]):
        numbers = [number for number, _ in run]
        files += _ghostscript(gs, path, numbers[0], numbers[-1], paper, resolution, workdir)
    return files


def _page_sizes(path: Path) -> list[tuple[float, float]]:
    """Width and height of every page in points, or the reason the PDF cannot be faxed."""
    try:
        document = pypdfium2.PdfDocument(path)
    except pypdfium2.PdfiumError as exc:
        if getattr(exc, "err_code", None) == pypdfium2.raw.FPDF_ERR_PASSWORD:
            raise ConversionError(
                FaxStatus.FAILED_UNKNOWN_CONVERTER_ISSUE, "the PDF is password-protected"
            ) from None
        raise ConversionError(
            FaxStatus.FAILED_SEPARATE_FILE_PAGES_ISSUE, f"the PDF cannot be read: {exc}"
        ) from None
    try:
        sizes = [document.get_page_size(index) for index in range(len(document))]
    finally:
        document.close()
    if not sizes:
        raise ConversionError(FaxStatus.FAILED_SEPARATE_FILE_PAGES_ISSUE, "the PDF has no pages")
    return sizes


def _ghostscript(
    gs: str, path: Path, first: int, last: int, paper: Paper, resolution: Resolution, workdir: Path
) -> list[Path]:
    x_dpi, y_dpi = resolution.dpi
    pattern = f"pages-{first:05d}-%05d.tif"
    output = run_tool(
        [
            gs,
            "-q",
            "-dNOPAUSE",
            "-dBATCH",
            "-dSAFER",
            "-sDEVICE=tiffg4",
            f"-r{x_dpi}x{y_dpi}",
            # The device size is set in pixels: at 204 dpi an A4 page is only 1687 wide, a fax line is 1728.
            f"-g{PAGE_WIDTH}x{paper.rows(resolution)}",
            "-dFIXEDMEDIA",
            "-dPDFFitPage",
            # What PDF viewers show (and what pdfium measured) is the crop box, not the media box.
            "-dUseCropBox",
            f"-dFirstPage={first}",
            f"-dLastPage={last}",
            # Ghostscript expands % in the output name: a literal one must be doubled.
            f"-sOutputFile={str(workdir).replace('%', '%%')}/{pattern}",
            # Never let a PDF name be read as an option.
            "--",
            str(path),
        ],
        timeout=GS_TIMEOUT_S + GS_TIMEOUT_PER_PAGE_S * (last - first + 1),
        error_code=FaxStatus.FAILED_SEPARATE_FILE_PAGES_ISSUE,
    )
    files = sorted(workdir.glob(f"pages-{first:05d}-*.tif"))
    expected = last - first + 1
    if len(files) != expected:
        raise ConversionError(
            FaxStatus.FAILED_SEPARATE_FILE_PAGES_ISSUE,
            f"Ghostscript rendered {len(files)} of pages {first}-{last}: {summarize(output)}",
        )
    return files
