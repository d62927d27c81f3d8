"""Fax engine: SpanDSP's T.30, modems and T.38 through a cffi binding, with a small typed API.

- ``AudioTerminal``: T.30 over 8 kHz audio (G.711 passthrough), with ``G711Codec`` for RTP payloads
- ``T38Terminal``: T.30 over T.38 IFP packets
- ``T38Gateway``: an audio call on one side, T.38 on the other
- ``T38Monitor``, ``FaxProgress``: follow a fax other machines exchange (pages, idents, rate, ECM)
- events: ``Negotiated``, ``PageDone`` (page readable at once), ``Completed``
- ``write_tiff_f``: fax-ready TIFF-F files through libtiff
"""

from faxgw.sip.fax.audio import BLOCK_SAMPLES, SAMPLE_RATE, AudioTerminal
from faxgw.sip.fax.events import Completed, FaxEvent, Negotiated, PageDone, Transport
from faxgw.sip.fax.g711 import G711Codec, Law
from faxgw.sip.fax.native import FaxError, ReentrantCallError, SessionClosedError
from faxgw.sip.fax.options import BIT_RATES, Compression, FaxOptions, Resolution
from faxgw.sip.fax.t30_progress import FaxProgress
from faxgw.sip.fax.t38 import GatewayStats, T38Gateway, T38Monitor, T38Terminal
from faxgw.sip.fax.tiff import PAGE_WIDTH, TiffWriteError, open_tiff, write_tiff_f

__all__ = [
    "BIT_RATES",
    "BLOCK_SAMPLES",
    "PAGE_WIDTH",
    "SAMPLE_RATE",
    "AudioTerminal",
    "Completed",
    "Compression",
    "FaxError",
    "FaxEvent",
    "FaxOptions",
    "FaxProgress",
    "G711Codec",
    "GatewayStats",
    "Law",
    "Negotiated",
    "PageDone",
    "ReentrantCallError",
    "Resolution",
    "SessionClosedError",
    "T38Gateway",
    "T38Monitor",
    "T38Terminal",
    "TiffWriteError",
    "Transport",
    "open_tiff",
    "write_tiff_f",
]
