"""What a fax endpoint is allowed to negotiate: ident, header line, ECM, codings, resolutions, speed."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field

from faxgw.sip.fax.binding import lib

#: T.30 ident (TSI/CSI) is at most 20 characters (T.30 5.3.6.2.4). The standard asks for digits,
#: '+' and space; real machines send letters too, so any printable ASCII is accepted.
MAX_IDENT_LEN = 20
_IDENT_RE = re.compile(r"^[\x20-\x7e]*$")


class Compression(enum.Enum):
    """Image codings T.30 may negotiate. T.6 only takes effect with ECM (T.30 requires it)."""

    T4_1D = "t4_1d"
    T4_2D = "t4_2d"
    T6 = "t6"


class Resolution(enum.Enum):
    """Fax resolutions as (horizontal, vertical) dots per inch, the way TIFF-F tags them."""

    STANDARD = (204, 98)
    FINE = (204, 196)
    SUPERFINE = (204, 391)

    @property
    def dpi(self) -> tuple[int, int]:
        return self.value

    @classmethod
    def from_dpi(cls, x: float, y: float) -> Resolution | None:
        """The fax resolution a TIFF's tags describe (within rounding), or None."""
        for resolution in cls:
            rx, ry = resolution.value
            if abs(x - rx) <= 2 and abs(y - ry) <= 3:
                return resolution
        return None

    @classmethod
    def from_name(cls, name: str) -> Resolution:
        try:
            return cls[name.upper()]
        except KeyError:
            raise ValueError(f"unknown resolution {name!r}: use standard, fine or superfine") from None


#: The caps SpanDSP can honour: it always trains at the fastest rate of the modems it is allowed
#: (falling back on a bad line), so the cap is the top rate of V.27ter, V.29 or V.17.
BIT_RATES = (4800, 9600, 14400)

_COMPRESSION_BITS = {
    Compression.T4_1D: lib.T30_SUPPORT_T4_1D_COMPRESSION,
    Compression.T4_2D: lib.T30_SUPPORT_T4_2D_COMPRESSION,
    Compression.T6: lib.T30_SUPPORT_T6_COMPRESSION,
}
_RESOLUTION_BITS = {
    Resolution.STANDARD: lib.T30_SUPPORT_STANDARD_RESOLUTION,
    Resolution.FINE: lib.T30_SUPPORT_FINE_RESOLUTION,
    Resolution.SUPERFINE: lib.T30_SUPPORT_SUPERFINE_RESOLUTION,
}


@dataclass(frozen=True)
class FaxOptions:
    """Per-endpoint T.30 settings. The defaults suit a fax gateway facing unknown machines."""

    ident: str = ""
    header: str = ""
    ecm: bool = True
    compressions: frozenset[Compression] = field(default_factory=lambda: frozenset(Compression))
    resolutions: frozenset[Resolution] = field(default_factory=lambda: frozenset(Resolution))
    max_bit_rate: int = 14400

    def __post_init__(self) -> None:
        if len(self.ident) > MAX_IDENT_LEN or not _IDENT_RE.match(self.ident):
            raise ValueError(
                f"station ident {self.ident!r}: at most {MAX_IDENT_LEN} printable ASCII characters"
            )
        if self.max_bit_rate not in BIT_RATES:
            raise ValueError(f"max_bit_rate {self.max_bit_rate}: one of {', '.join(map(str, BIT_RATES))}")
        if not self.compressions or not self.resolutions:
            raise ValueError("at least one compression and one resolution must be allowed")
        if not self.header.isascii():
            raise ValueError("the page header line must be ASCII")

    @property
    def modem_bits(self) -> int:
        """SpanDSP chooses the fastest allowed modem; capping the modems caps the bit rate."""
        modems = lib.T30_SUPPORT_V27TER
        if self.max_bit_rate >= 9600:
            modems |= lib.T30_SUPPORT_V29
        if self.max_bit_rate >= 14400:
            modems |= lib.T30_SUPPORT_V17
        return modems

    @property
    def compression_bits(self) -> int:
        bits = 0
        for compression in self.compressions:
            bits |= _COMPRESSION_BITS[compression]
        return bits

    @property
    def resolution_bits(self) -> int:
        # R8 (the 8 lines/mm ISO variant of fine) and R16 (of superfine) ride along with their inch twins.
        bits = 0
        for resolution in self.resolutions:
            bits |= _RESOLUTION_BITS[resolution]
        if Resolution.FINE in self.resolutions:
            bits |= lib.T30_SUPPORT_R8_RESOLUTION
        if Resolution.SUPERFINE in self.resolutions:
            bits |= lib.T30_SUPPORT_R16_RESOLUTION
        return bits
