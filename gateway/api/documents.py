"""A fax's document as a download, one way for every dialect that serves it."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from fastapi.responses import FileResponse
from faxgw.gateway.api.errors import ApiError
from faxgw.gateway.service import FaxRecord


def fax_document(fax: FaxRecord, format: Literal["pdf", "tiff"]) -> FileResponse:
    """The received PDF or TIFF, or the TIFF-F that was sent (a sent fax has no PDF); 404 if there is none."""
    tiff = Path(fax.document) if fax.document else None
    path = tiff.with_name("received.pdf") if format == "pdf" and tiff else tiff
    if fax.direction == "outbound" and format == "pdf":
        path = None  # the sent document is kept as TIFF-F
    if path is None or not path.exists():
        raise ApiError.not_found(f"{format} file of fax", fax.id)
    media = "application/pdf" if format == "pdf" else "image/tiff"
    return FileResponse(path, media_type=media, filename=f"{fax.id}.{format}")
