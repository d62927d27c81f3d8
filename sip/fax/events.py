"""What a fax session reports while it runs: negotiated, page done, completed."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from faxgw.sip.fax.options import Resolution

if TYPE_CHECKING:
    from PIL import Image


class Transport(enum.Enum):
    AUDIO = "audio"
    T38 = "t38"


@dataclass(frozen=True)
class Negotiated:
    """Training succeeded (CFR): the parameters the pages will be sent with."""

    remote_ident: str
    bit_rate: int
    ecm: bool
    resolution: Resolution | None
    encoding: str
    transport: Transport


@dataclass(frozen=True)
class PageDone:
    """One page went across and was confirmed. ``page`` counts from 1 within ``path``."""

    page: int
    bad_rows: int
    path: Path
    sending: bool
    resolution: Resolution | None
    width: int
    length: int

    def image(self) -> Image.Image:
        """The page as Pillow decodes it from the TIFF right now (readable before the call ends)."""
        from PIL import Image

        with Image.open(self.path) as tiff:
            tiff.seek(self.page - 1)
            tiff.load()
            return tiff.copy()


@dataclass(frozen=True)
class Completed:
    """Phase E: the T.30 completion code and how many pages made it."""

    code: int
    text: str
    sending: bool
    pages_transferred: int
    #: pages the sender was asked to send (None when receiving: the sender decides).
    pages_expected: int | None
    remote_ident: str

    @property
    def success(self) -> bool:
        """True only if T.30 ended cleanly *and* every page went across.

        SpanDSP can end phase E with "OK" although the receiver rejected pages, so the page
        count is the real test for a sender.
        """
        if self.code != 0 or self.pages_transferred == 0:
            return False
        return self.pages_expected is None or self.pages_transferred >= self.pages_expected


FaxEvent = Negotiated | PageDone | Completed
