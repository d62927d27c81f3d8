"""Documents in, one checked TIFF-F out: detection, a converter per kind, the cover page, validation."""

from __future__ import annotations

import logging
import os
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from faxgw.gateway.documents.cover import CoverPage, render_cover
from faxgw.gateway.documents.detect import IMAGE_KINDS, OFFICE_KINDS, Kind, detect
from faxgw.gateway.documents.errors import ConversionError
from faxgw.gateway.documents.images import render_image
from faxgw.gateway.documents.office import office_to_pdf
from faxgw.gateway.documents.pages import spool
from faxgw.gateway.documents.pdf import render_pdf
from faxgw.gateway.documents.text import render_text
from faxgw.gateway.documents.validate import validate_fax_tiff
from faxgw.gateway.domain import FaxStatus
from faxgw.sip.fax import Compression, Resolution, write_tiff_f

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FaxDocument:
    path: Path
    pages: int
    resolution: Resolution


def convert(
    inputs: Sequence[Path],
    out: Path,
    *,
    resolution: Resolution = Resolution.FINE,
    cover: CoverPage | None = None,
    compression: Compression = Compression.T6,
    workdir: Path | None = None,
    on_converted: Callable[[str], None] | None = None,
    processes: int | None = None,
) -> FaxDocument:
    """Turn the documents, in order and after an optional cover page, into one fax-ready TIFF-F at ``out``.

    Every page is checked before this returns. A failure raises ConversionError naming the file at fault and
    leaves nothing at ``out``. Scratch files go in a temporary directory under ``workdir`` (default: the
    system's) and are removed. ``on_converted`` hears each input's name once its pages are rendered.
    A PDF's pages are rendered by up to ``processes`` converters at once (default: one per core this
    process may run on).
    """
    if not inputs and cover is None:
        raise ValueError("nothing to convert: no documents and no cover page")
    processes = processes or len(os.sched_getaffinity(0))
    out = Path(out)
    with tempfile.TemporaryDirectory(prefix="faxgw-convert-", dir=workdir) as scratch:
        pages: list[Path] = []
        for number, source in enumerate(map(Path, inputs), start=1):
            with _failures_named(source.name):
                pages += _convert_one(source, resolution, Path(scratch) / f"input-{number}", processes)
            if on_converted is not None:
                on_converted(source.name)
        if cover is not None:
            with _failures_named(cover.logo.name if cover.logo else None):
                cover_pages = render_cover(cover, len(pages), resolution)
                pages = spool(cover_pages, Path(scratch) / "cover", resolution) + pages
        with _failures_named(None):
            count = _write_checked(pages, out, resolution, compression)
    return FaxDocument(path=out, pages=count, resolution=resolution)


@contextmanager
def _failures_named(filename: str | None) -> Iterator[None]:
    """Every failure inside becomes a ConversionError naming ``filename``, unless it names a file already.

    Bad input raises ConversionError with its own code where it is found. Anything else is a bug or a broken
    host (disk full); the client still gets a fax status rather than a traceback, and the log gets the
    traceback.
    """
    try:
        yield
    except ConversionError as exc:
        exc.filename = exc.filename or filename
        raise
    except Exception as exc:
        log.exception("converting %s failed unexpectedly", filename or "the fax")
        raise ConversionError(
            FaxStatus.FAILED_CONVERT_TO_TIFF_ISSUE,
            f"internal conversion failure ({type(exc).__name__})",
            filename,
        ) from exc


def _convert_one(source: Path, resolution: Resolution, workdir: Path, processes: int) -> list[Path]:
    kind = detect(source)
    if kind is Kind.PDF:
        return render_pdf(source, resolution, workdir, processes)
    if kind in OFFICE_KINDS:
        return render_pdf(office_to_pdf(source, kind, workdir), resolution, workdir / "pages", processes)
    if kind in IMAGE_KINDS:
        return render_image(source, kind, resolution, workdir)
    return render_text(source, resolution, workdir)  # Kind.TXT, the only kind left


def _write_checked(pages: list[Path], out: Path, resolution: Resolution, compression: Compression) -> int:
    """Write the final file next to ``out`` under a temporary name, check it, then rename it into place."""
    partial = out.with_name(f".{out.name}.{uuid.uuid4().hex}.part")
    try:
        write_tiff_f(partial, pages, resolution, compression)
        count = validate_fax_tiff(partial)
        os.replace(partial, out)
        return count
    finally:
        partial.unlink(missing_ok=True)
