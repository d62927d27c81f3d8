"""What one fax call did, kept so that a failed fax explains itself without a packet capture.

A call's diagnostics are three timelines and a few figures, each measured where it happens:

- ``t30``: the T.30 exchange (ITU-T T.30 5.3.6) as SpanDSP saw it: DIS/DCS, training (TCF) and its
  CFR/FTT, post-page commands and their MCF/RTN/PPR, ECM blocks sent again, DCN;
- ``sip``: the SIP ladder of the call: INVITE, provisional and final responses, re-INVITEs (T.38),
  session refreshes, BYE, and which end hung up;
- ``media``: per stream (RTP audio, UDPTL for T.38), packets each way, losses, late packets, losses
  made good by UDPTL redundancy (T.38 9.1.1) or by ECM, and jitter.

Times are seconds since the call began (our INVITE sent, or the peer's received), so that the three
timelines line up. Plain frozen dataclasses of plain values: they cross the media process's pipe and go
into the store as JSON (``to_dict``) unchanged.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class T30Step:
    """One T.30 frame or modem event, as one end sent it."""

    at: float  # seconds since the call began
    sent: bool  # True: this gateway sent it; False: the far end did
    name: str  # the frame's T.30 name ("DIS", "DCS", "CFR", "FTT", "MCF", "RTN", "PPR", "DCN") or "TCF"
    detail: str = ""  # in words: "V.17 14400 bit/s, ECM, fine", "3 frames to send again"


@dataclass(frozen=True)
class SipStep:
    """One SIP request or response of the call's dialog."""

    at: float  # seconds since the call began
    sent: bool  # True: this gateway sent it
    message: str  # "INVITE (audio)", "180 Ringing", "re-INVITE (T.38)", "488 Not Acceptable Here", "BYE"


@dataclass(frozen=True)
class MediaFigures:
    """One media stream's counters over the call."""

    kind: str  # "rtp" (G.711 audio) or "udptl" (T.38)
    packets_sent: int = 0
    packets_received: int = 0
    lost: int = 0  # sequence numbers never received
    late: int = 0  # arrived after their successors had been played or passed on
    recovered: int = 0  # lost packets made good from a later packet's redundancy (UDPTL)
    jitter_ms: float | None = None  # RFC 3550 6.4.1 interarrival jitter (RTP only)
    leg: str = ""  # of a relayed call: "device" or "trunk"; "" for a call of our own


@dataclass(frozen=True)
class CallDiagnostics:
    """Everything a call's diagnostics hold; empty for an engine or a call that measured nothing."""

    t30: tuple[T30Step, ...] = ()
    sip: tuple[SipStep, ...] = ()
    media: tuple[MediaFigures, ...] = ()
    #: Who ended the call: "us", "peer", or None (never set up, or not known).
    hung_up_by: str | None = None
    #: Where the capture of the call's own packets was written (failed calls, when enabled); None: none.
    pcap: str | None = None
    #: Anything else an engine measured that has no field above, as short "name: value" lines.
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
