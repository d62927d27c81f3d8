"""Why a document could not become a fax: the fax status it ends with (``gateway.domain.FaxStatus``, the
conversion failures Fax.Plus names, seeds "Fax Error Statuses") and a reason for the human."""

from __future__ import annotations

from faxgw.gateway.domain import FaxStatus


class ConversionError(Exception):
    """A document could not be turned into fax pages. Carries the fax's failed status and a human reason."""

    def __init__(self, code: FaxStatus, message: str, filename: str | None = None) -> None:
        super().__init__(code, message, filename)
        self.code = code
        self.message = message
        self.filename = filename

    def __str__(self) -> str:
        where = f"{self.filename}: " if self.filename else ""
        return f"{where}{self.message} ({self.code})"
