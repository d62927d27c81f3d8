"""PDF files as fax pages, rendered by Ghostscript straight to G4 at the fax grid.

pypdfium2 looks at the file first: it tells a password-protected PDF from a damaged one (Ghostscript says
neither clearly and exits 0 either way) and gives each page's size, from which A4 or Letter is chosen.
Ghostscript then renders the pages in a few runs at once, one per core by default: a run covers pages of
one paper (its device size is fixed), about an equal share of the document each (see ``_runs``).

Error codes: a password -> failed_unknown_converter_issue (the seed's hint for it is "check if the file is
password-protected"); a file pdfium cannot open, no pages, or a page Ghostscript does not render ->
failed_separate_file_pages_issue ("check if all pages in the source file(s) are valid").
"""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
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
#: Starting Ghostscript and parsing the PDF costs about what rendering a few text pages does (~30 ms):
#: a document is split across processes only in runs at least this long.
MIN_PAGES_PER_RUN = 8


@dataclass(frozen=True)
class _Run:
    """Pages (1-based, ascending) that one Ghostscript process renders onto one paper."""

    paper: Paper
    pages: tuple[int, ...]

    def page_list(self) -> str:
        """The pages as Ghostscript's -sPageList wants them: "1-40,42"."""
        spans: list[list[int]] = []
        for page in self.pages:
            if spans and spans[-1][1] == page - 1:
                spans[-1][1] = page
            else:
                spans.append([page, page])
        return ",".join(str(first) if first == last else f"{first}-{last}" for first, last in spans)


def render_pdf(path: Path, resolution: Resolution, workdir: Path, processes: int = 1) -> list[Path]:
    """Every page of the PDF as a fax page file in ``workdir``, in order, by up to ``processes``
    Ghostscript processes at once."""
    gs = shutil.which("gs")
    if gs is None:
        raise ConversionError(
            FaxStatus.FAILED_CONVERT_TO_TIFF_ISSUE,
            "Ghostscript is not installed (Debian package ghostscript)",
        )
    workdir.mkdir(parents=True, exist_ok=True)
    papers = [closest_paper(width, height) for width, height in _page_sizes(path)]
    runs = _runs(papers, processes)
    pool = ThreadPoolExecutor(max_workers=min(processes, len(runs)), thread_name_prefix="gs")
    try:
        rendered = list(
            pool.map(
                lambda number, run: _ghostscript(gs, path, number, run, resolution, workdir),
                range(len(runs)),
                runs,
            )
        )
    finally:
        pool.shutdown(cancel_futures=True)  # one run failed: the queued ones are not worth starting
    # The runs interleave when papers alternate: page order is restored from each run's page numbers.
    by_page = {
        page: file
        for run, files in zip(runs, rendered, strict=True)
        for page, file in zip(run.pages, files, strict=True)
    }
    return [by_page[page] for page in sorted(by_page)]


def _runs(papers: list[Paper], processes: int) -> list[_Run]:
    """Ghostscript runs covering every page: each paper's pages in shares of about ``1/processes`` of the
    document (not fewer than MIN_PAGES_PER_RUN), so runs finish together whatever the mix of papers.

    A paper's pages need not be next to each other (-sPageList skips the others): a document alternating
    A4 and Letter takes two runs, not one per page.
    """
    share = max(MIN_PAGES_PER_RUN, -(-len(papers) // processes))
    runs = []
    for paper in dict.fromkeys(papers):  # the papers in order of first use
        pages = [number for number, used in enumerate(papers, start=1) if used == paper]
        count = -(-len(pages) // share)
        size, longer = divmod(len(pages), count)
        start = 0
        for index in range(count):
            end = start + size + (index < longer)
            runs.append(_Run(paper, tuple(pages[start:end])))
            start = end
    return runs


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
    gs: str, path: Path, number: int, run: _Run, resolution: Resolution, workdir: Path
) -> list[Path]:
    """Render one run; its page files, in the run's page order."""
    x_dpi, y_dpi = resolution.dpi
    prefix = f"run-{number:04d}-"
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
            f"-g{PAGE_WIDTH}x{run.paper.rows(resolution)}",
            "-dFIXEDMEDIA",
            "-dPDFFitPage",
            # What PDF viewers show (and what pdfium measured) is the crop box, not the media box.
            "-dUseCropBox",
            f"-sPageList={run.page_list()}",
            # Ghostscript expands % in the output name: a literal one must be doubled.
            f"-sOutputFile={str(workdir).replace('%', '%%')}/{prefix}%05d.tif",
            # Never let a PDF name be read as an option.
            "--",
            str(path),
        ],
        timeout=GS_TIMEOUT_S + GS_TIMEOUT_PER_PAGE_S * len(run.pages),
        error_code=FaxStatus.FAILED_SEPARATE_FILE_PAGES_ISSUE,
    )
    files = sorted(workdir.glob(f"{prefix}*.tif"))
    if len(files) != len(run.pages):
        raise ConversionError(
            FaxStatus.FAILED_SEPARATE_FILE_PAGES_ISSUE,
            f"Ghostscript rendered {len(files)} of pages {run.page_list()}: {summarize(output)}",
        )
    return files
