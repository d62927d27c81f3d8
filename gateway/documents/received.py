"""A received fax (the TIFF SpanDSP writes) as one PDF and a PNG preview per page."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from faxgw.gateway.documents.errors import ConversionError
from faxgw.gateway.documents.tifftags import page_dpi
from faxgw.gateway.domain import FaxStatus
from faxgw.sip.fax import open_tiff
from PIL import Image, TiffImagePlugin

#: Previews are for people on screens: 100 dpi with square pixels reads well and stays small.
PREVIEW_DPI = 100
#: A page without resolution tags is taken to be fine resolution, the most common.
_DEFAULT_DPI = (204.0, 196.0)


@dataclass(frozen=True)
class ReceivedDocument:
    pdf: Path
    previews: list[Path]
    pages: int


def render_received(tiff: Path, pdf: Path, preview_dir: Path, pages: int | None = None) -> ReceivedDocument:
    """Write ``pdf`` (lossless: bilevel pages go in as CCITT G4) and ``preview_dir``/page-N.png.

    Each PDF page gets its own size from its own resolution, so a 204x98 standard page is not stretched.
    The PDF appears under its name only when complete. ``pages``: only the first ones (a fax still arriving,
    whose TIFF ends in a page being written).
    """
    preview_dir.mkdir(parents=True, exist_ok=True)
    partial = pdf.with_name(f".{pdf.name}.part")
    previews = []
    try:
        with open_tiff(tiff) as fax:
            for index in range(fax.n_frames if pages is None else pages):
                fax.seek(index)
                page, dpi = _page(fax)
                # One page at a time, appended: memory stays at one page whatever the fax's length.
                page.save(partial, "PDF", dpi=dpi, append=index > 0)
                preview = preview_dir / f"page-{index + 1}.png"
                _preview(page, dpi).save(preview, "PNG", optimize=True)
                previews.append(preview)
        os.replace(partial, pdf)
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ConversionError(
            FaxStatus.FAILED_IMAGE_PREPARATION, f"cannot read the received fax: {exc}", tiff.name
        ) from None
    finally:
        partial.unlink(missing_ok=True)
    return ReceivedDocument(pdf=pdf, previews=previews, pages=len(previews))


def _page(fax: TiffImagePlugin.TiffImageFile) -> tuple[Image.Image, tuple[float, float]]:
    # Fax pages are bilevel; anything else (a colour fax) keeps its gray levels rather than being crushed.
    page = fax.copy() if fax.mode == "1" else fax.convert("L")
    return page, page_dpi(fax) or _DEFAULT_DPI


def _preview(page: Image.Image, dpi: tuple[float, float]) -> Image.Image:
    """Gray, square pixels: averaging the bilevel pixels down keeps thin strokes visible."""
    size = (
        max(1, round(page.width * PREVIEW_DPI / dpi[0])),
        max(1, round(page.height * PREVIEW_DPI / dpi[1])),
    )
    return page.convert("L").resize(size, Image.Resampling.BOX)
