"""The SIP ladder of one call, as its diagnostics tell it: every request and response of its dialog.

The transport layer shows each watcher every message it sends or receives with the watcher's Call-ID
(``TransportLayer.watchers``); the ladder keeps those of its own call, told apart by its dialog tag -
the two ends of a call to ourselves share the Call-ID and the socket. It describes each message as it
goes by (SIP messages are few: a dozen a call) and keeps at most ``limit``.
"""

from __future__ import annotations

import time

from faxgw.sip.diagnostics import SipStep
from faxgw.sip.message import SipRequest, SipResponse


def _media(body: bytes) -> str:
    """What an SDP body offers or answers: T.38 (an m=image line with a port), audio, or nothing."""
    if b"m=image " in body and b"m=image 0 " not in body:
        return " (T.38)"
    if b"m=audio " in body:
        return " (audio)"
    return ""


def _origin(body: bytes) -> bytes | None:
    """The SDP's o= line: the same line again is a session refresh, not a new offer (RFC 4028, 3264 8)."""
    for line in body.splitlines():
        if line.startswith(b"o="):
            return line
    return None


class SipLadder:
    """The messages of the call whose dialog tag is ``local_tag``; ``remote_tag``: the caller's, for an
    incoming call, whose first INVITE (and CANCEL, and our 100) carry no tag of ours yet."""

    def __init__(self, local_tag: str, remote_tag: str | None = None, limit: int = 200) -> None:
        self.local_tag = local_tag
        self.remote_tag = remote_tag
        self.limit = limit
        self.dropped = 0
        self._steps: list[tuple[float, bool, str]] = []
        self._seen: set[tuple[bool, int, str, int]] = set()  # (sent, CSeq, method, status): retransmissions
        self._origins: dict[bool, bytes] = {}  # the last SDP o= line each side sent

    def record(self, message: SipRequest | SipResponse, sent: bool, peer: object = None) -> None:
        """One message the transport sent (``sent``) or received with this call's Call-ID (to or from
        ``peer``: not needed here)."""
        if not self._ours(message, sent):
            return
        if len(self._steps) >= self.limit:
            self.dropped += 1
            return
        self._steps.append((time.monotonic(), sent, self._describe(message, sent)))

    def _ours(self, message: SipRequest | SipResponse, sent: bool) -> bool:
        # A request carries its sender's tag in From; a response its answerer's in To (RFC 3261 12.1).
        request = isinstance(message, SipRequest)
        ours = message.from_address.tag if request == sent else message.to_address.tag
        if ours:
            return ours == self.local_tag
        return self.remote_tag is not None and message.from_address.tag == self.remote_tag

    def _describe(self, message: SipRequest | SipResponse, sent: bool) -> str:
        number, method = message.cseq
        key = (sent, number, method, message.status if isinstance(message, SipResponse) else 0)
        again = " (again)" if key in self._seen else ""
        self._seen.add(key)
        origin = _origin(message.body)
        refresh = origin is not None and self._origins.get(sent) == origin
        if origin is not None:
            self._origins[sent] = origin  # an offer's or an answer's: that side's session as it stands
        if isinstance(message, SipResponse):
            words = f"{message.status} {message.reason}"
            if method != "INVITE":
                return f"{words} ({method}){again}"
            return f"{words}{_media(message.body) if 200 <= message.status < 300 else ''}{again}"
        if message.method == "UPDATE" and not message.body:
            return f"UPDATE (session refresh){again}"
        if message.method != "INVITE":
            return f"{message.method}{again}"
        if not message.to_address.tag:
            return f"INVITE {_media(message.body).strip() or '(no SDP)'}{again}"
        what = "(session refresh)" if refresh and not again else _media(message.body).strip() or "(no SDP)"
        return f"re-INVITE {what}{again}"

    def steps(self, since: float) -> tuple[SipStep, ...]:
        """The messages as steps, timed in seconds from ``since`` (a ``time.monotonic()`` reading)."""
        return tuple(
            SipStep(at=round(max(at - since, 0.0), 3), sent=sent, message=text)
            for at, sent, text in self._steps
        )

    def notes(self) -> tuple[str, ...]:
        return (f"sip: ... {self.dropped} more messages not kept",) if self.dropped else ()
