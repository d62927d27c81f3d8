"""Fax.Plus's files of a fax (``FilesApi``): its document, as PDF or TIFF, and its confirmation report.

* ``get_file``: a received fax's PDF or TIFF; a sent fax's TIFF-F, or a PDF made from it on first request
  (``sent.pdf`` beside it, removed with the fax); a fax still arriving (``in_progress``): its pages so far,
  made on each request (the seed: "you can retrieve some pages via the API, or wait for the final status").
* ``get_fax_thumbnail``: the first page as a PNG (gray, 100 dpi: ``documents.received``'s preview), once
  there is one.
* ``get_fax_report``: a one-page PDF stating the fax's numbers, time, pages, status and the remote station's
  id, drawn on request.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path
from typing import Any, Literal

from fastapi import Response
from faxgw.gateway.api.documents import MEDIA_TYPES, fax_document, readable, render_pdf
from faxgw.gateway.api.errors import ApiError, ApiErrorCode
from faxgw.gateway.documents import render_received
from faxgw.gateway.documents.fonts import dejavu
from faxgw.gateway.domain import FaxStatus
from faxgw.gateway.service import FaxRecord
from PIL import Image, ImageDraw

#: The report's page: A4 at 100 dpi, for people to read or print.
_REPORT_SIZE, _REPORT_DPI = (827, 1169), 100
_MARGIN, _LINE = 80, 34


async def fax_file(fax: FaxRecord, format: Literal["pdf", "tiff"]) -> Response:
    """The document of ``fax`` in ``format`` (see the module docstring); 404 when it has none (yet)."""
    tiff = Path(fax.document) if fax.document else None
    if fax.status is FaxStatus.IN_PROGRESS:
        if tiff is None or fax.pages_transferred < 1:
            description = f"fax {fax.id} is being received and none of its pages has arrived yet"
            raise ApiError.of(ApiErrorCode.NOT_FOUND, description)
        data = await readable(fax, _pages_so_far, tiff, fax.pages_transferred, format)
        return Response(data, media_type=MEDIA_TYPES[format], headers=_attachment(fax, format))
    return await fax_document(fax, format)


async def thumbnail(fax: FaxRecord) -> Response:
    """The first page of ``fax`` as a PNG; 404 while it has none (not converted yet, nothing arrived)."""
    tiff = Path(fax.document) if fax.document else None
    arrived = fax.pages_transferred if fax.direction == "inbound" else 1
    if tiff is None or not tiff.exists() or arrived < 1:
        raise ApiError.of(ApiErrorCode.NOT_FOUND, f"fax {fax.id} has no page to show (yet)")
    return Response(await readable(fax, _first_page_png, tiff), media_type="image/png")


def _first_page_png(tiff: Path) -> bytes:
    with tempfile.TemporaryDirectory() as scratch:
        [preview] = render_received(tiff, Path(scratch) / "first.pdf", Path(scratch), 1).previews
        return preview.read_bytes()


def _attachment(fax: FaxRecord, format: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{fax.id}.{format}"'}


def _pages_so_far(tiff: Path, pages: int, format: Literal["pdf", "tiff"]) -> bytes:
    """The first ``pages`` pages of a TIFF still being written (its last page may be half there)."""
    with tempfile.TemporaryDirectory() as scratch:
        if format == "pdf":
            out = Path(scratch) / "so-far.pdf"
            render_pdf(tiff, out, pages)
            return out.read_bytes()
        buffer = io.BytesIO()
        with Image.open(tiff) as image:
            frames = []
            for index in range(pages):
                image.seek(index)
                frames.append(image.copy())
        compression = "group4" if all(frame.mode == "1" for frame in frames) else "tiff_lzw"
        frames[0].save(buffer, "TIFF", save_all=True, append_images=frames[1:], compression=compression)
        return buffer.getvalue()


def report_pdf(view: dict[str, Any], fax: FaxRecord) -> bytes:
    """The confirmation report of ``fax``: what its Fax.Plus view (``faxplus.fax_object``) says, one page."""
    page = Image.new("L", _REPORT_SIZE, 255)
    draw = ImageDraw.Draw(page)
    title, body = dejavu("Sans-Bold", 30), dejavu("Sans", 20)
    draw.text((_MARGIN, _MARGIN), "Fax confirmation report", font=title, fill=0)
    pages = f"{fax.pages_transferred}" + (f" of {fax.pages_total}" if fax.pages_total else "")
    status = str(view["status"]) + (f" ({view['description']})" if view.get("description") else "")
    rows = [
        ("Fax ID", fax.id),
        ("Direction", "sent" if fax.direction == "outbound" else "received"),
        ("From", fax.from_number),
        ("To", fax.to_number),
        ("Submitted (UTC)", view["submit_time"] or ""),
        ("Started (UTC)", view["start_time"] or ""),
        ("Last update (UTC)", view["last_update"] or ""),
        ("Duration", f"{view['duration']} s"),
        ("Pages", pages),
        ("Status", status),
        ("Remote station id", fax.remote_station_id or "(none given)"),
    ]
    y = _MARGIN + 2 * _LINE
    for name, value in rows:
        draw.text((_MARGIN, y), f"{name}:", font=body, fill=0)
        draw.text((_MARGIN + 240, y), value[:60], font=body, fill=0)
        y += _LINE
    out = io.BytesIO()
    page.save(out, "PDF", resolution=_REPORT_DPI)
    return out.getvalue()
