"""``GET /v1/faxes/{id}/attempts/{n}/diagnostics``: what one call of a fax did, for an operator to read.

The engine measured it (the T.30 exchange, the SIP ladder, media figures: ``sip.diagnostics`` below the
engine interface); the store keeps it with the attempt as the engine gave it. This module only shapes it
for the API: the same fields, typed, plus the attempt's one-sentence summary at the top.
"""

from __future__ import annotations

from typing import Any, Literal

from faxgw.gateway.api.models import ResponseModel
from faxgw.gateway.service import AttemptRecord
from pydantic import Field


class T30Step(ResponseModel):
    """One T.30 frame or modem event (ITU-T T.30 5.3.6), as one end sent it."""

    #: Seconds since the call began (our INVITE sent, or the caller's received).
    at: float = Field(ge=0)
    #: True: the gateway sent it; False: the far end did.
    sent: bool
    #: The frame's T.30 name: DIS, DCS, TCF, CFR, FTT, MCF, RTN, PPR, DCN, ...
    name: str
    #: In words: "V.17 14400 bit/s, ECM, fine", "3 frames to send again".
    detail: str = ""


class SipStep(ResponseModel):
    """One SIP request or response of the call."""

    at: float = Field(ge=0)
    sent: bool
    #: "INVITE (audio)", "180 Ringing", "re-INVITE (T.38)", "488 Not Acceptable Here", "BYE", ...
    message: str


class MediaFigures(ResponseModel):
    """One media stream's counters over the call."""

    kind: Literal["rtp", "udptl"]
    packets_sent: int = Field(default=0, ge=0)
    packets_received: int = Field(default=0, ge=0)
    #: Sequence numbers never received.
    lost: int = Field(default=0, ge=0)
    #: Arrived after their successors had been passed on.
    late: int = Field(default=0, ge=0)
    #: Lost packets made good from a later packet's redundancy or FEC (UDPTL, T.38 9.1.1).
    recovered: int = Field(default=0, ge=0)
    #: RFC 3550 6.4.1 interarrival jitter, RTP only.
    jitter_ms: float | None = None
    #: Of a relayed call, which leg: "device" or "trunk"; "" for a call the gateway faxed itself.
    leg: str = ""


class AttemptDiagnostics(ResponseModel):
    """What one call of a fax did: why it failed, or what it had to do to succeed."""

    fax_id: str
    attempt: int = Field(ge=1)
    #: The attempt in one sentence ("T.38 refused with 488 on trunk b; G.711 at 9600 succeeded"); None while
    #: the call is on.
    summary: str | None = None
    call_id: str | None = None
    sip_code: int | None = None
    hangup_cause: str | None = None
    #: Which end hung up: "us", "peer"; None for a call never set up, or not known.
    hung_up_by: Literal["us", "peer"] | None = None
    t30_code: int | None = None
    t30_text: str | None = None
    t30: list[T30Step] = Field(default_factory=list)
    sip: list[SipStep] = Field(default_factory=list)
    media: list[MediaFigures] = Field(default_factory=list)
    #: Anything else the engine measured, as short "name: value" lines.
    notes: list[str] = Field(default_factory=list)
    #: Whether a capture of the call's own packets was kept (failed calls, when the operator enabled it).
    pcap: bool = False


def attempt_diagnostics(attempt: AttemptRecord) -> AttemptDiagnostics:
    stored: dict[str, Any] = attempt.diagnostics
    return AttemptDiagnostics(
        fax_id=attempt.fax_id,
        attempt=attempt.number,
        summary=attempt.summary,
        call_id=attempt.call_id,
        sip_code=attempt.sip_code,
        hangup_cause=attempt.hangup_cause,
        hung_up_by=stored.get("hung_up_by"),
        t30_code=attempt.t30_code,
        t30_text=attempt.t30_text,
        t30=[T30Step.model_validate(step) for step in stored.get("t30", ())],
        sip=[SipStep.model_validate(step) for step in stored.get("sip", ())],
        media=[MediaFigures.model_validate(media) for media in stored.get("media", ())],
        notes=list(stored.get("notes", ())),
        pcap=bool(stored.get("pcap")),
    )
