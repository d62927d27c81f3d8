"""A fax's document as a download, one way for every dialect that serves it.

A received fax has its TIFF and the PDF made when it arrived (``received.pdf``). A sent fax keeps only the
TIFF-F it was sent as: its PDF is made from that on the first request (``sent.pdf`` beside it, removed
with the fax), by the received-fax renderer (lossless G4 pages, each its own size).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

from fastapi.responses import FileResponse
from faxgw.gateway.api.errors import ApiError, ApiErrorCode
from faxgw.gateway.documents import ConversionError, render_received
from faxgw.gateway.service import FaxRecord

T = TypeVar("T")
MEDIA_TYPES = {"pdf": "application/pdf", "tiff": "image/tiff"}


async def fax_document(fax: FaxRecord, format: Literal["pdf", "tiff"], *, name: str = "") -> FileResponse:
    """The fax's PDF or TIFF, as ``<name or fax id>.<format>``; 404 if there is none (yet)."""
    tiff = Path(fax.document) if fax.document else None
    path = tiff
    if format == "pdf" and tiff is not None:
        path = tiff.with_name("received.pdf" if fax.direction == "inbound" else "sent.pdf")
        if fax.direction == "outbound" and tiff.exists() and not path.exists():
            await readable(fax, render_pdf, tiff, path)
    if path is None or not path.exists():
        raise ApiError.not_found(f"{format} file of fax", fax.id)
    return FileResponse(path, media_type=MEDIA_TYPES[format], filename=f"{name or fax.id}.{format}")


async def readable(fax: FaxRecord, make: Callable[..., T], *args: Any) -> T:
    """``make(*args)`` off the event loop; a fax image it cannot read is a 404 that says so, not a 500."""
    try:
        return await asyncio.to_thread(make, *args)
    except (ConversionError, OSError, EOFError, ValueError) as error:
        description = f"the pages of fax {fax.id} cannot be read: {error}"
        raise ApiError.of(ApiErrorCode.NOT_FOUND, description) from None


def render_pdf(tiff: Path, pdf: Path, pages: int | None = None) -> None:
    """``pdf`` made from the first ``pages`` pages of ``tiff`` (all: None). Made in a directory of its own
    beside it, then moved into place: two first requests at once each make a whole PDF, either's is kept."""
    with tempfile.TemporaryDirectory(dir=pdf.parent) as scratch:
        made = Path(scratch) / pdf.name
        render_received(tiff, made, Path(scratch), pages)  # its page previews go with the scratch directory
        os.replace(made, pdf)
