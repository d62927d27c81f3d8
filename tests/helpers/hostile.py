"""The harness of the hostile-peer tests: a user agent that answers every call with ``receive_fax`` (as
``faxgw receive`` does), and hand-written requests that a test can spoil in any way it likes.

Timers are short (64*T1 = 1.28 s) so that transactions, unanswered calls and their media end within a
test; everything a test starts is stopped when the ``answering`` context ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from faxgw.sip.call import IncomingCall
from faxgw.sip.fax_call import FaxCallOptions, FaxOutcome, receive_fax
from faxgw.sip.media import Ticker
from faxgw.sip.message import SipRequest, new_branch, new_call_id, new_tag, parse_message, response_to
from faxgw.sip.transaction import Timers
from faxgw.sip.ua import UaConfig, UserAgent

from tests.helpers.rawsip import RawSip
from tests.helpers.sip import LOCALHOST

FAST = Timers(t1=0.02, t2=0.16, t4=0.2, d=0.5)


@dataclass
class Answering:
    """A running user agent that receives a fax on every call it is offered."""

    ua: UserAgent
    directory: Path
    options: FaxCallOptions
    ticker: Ticker = field(default_factory=Ticker)
    outcomes: list[FaxOutcome] = field(default_factory=list)
    calls: list[IncomingCall] = field(default_factory=list)
    tasks: set[asyncio.Task] = field(default_factory=set)

    def on_invite(self, call: IncomingCall) -> None:
        self.calls.append(call)
        task = asyncio.ensure_future(self._receive(call))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _receive(self, call: IncomingCall) -> None:
        path = self.directory / f"rx-{len(self.calls)}.tif"
        self.outcomes.append(await receive_fax(call, path, options=self.options, ticker=self.ticker))

    @property
    def address(self) -> tuple[str, int]:
        return self.ua.address

    def leftovers(self) -> dict[str, int]:
        """What is still alive: transactions, dialogs, calls waiting for CANCEL, fax tasks."""
        return {
            "transactions": len(self.ua.transactions),
            "dialogs": len(self.ua._dialogs),
            "early": len(self.ua._early),
            "fax tasks": len(self.tasks),
        }

    async def drained(self, timeout: float) -> dict[str, int]:
        """Wait up to ``timeout`` s for everything to end; returns what is left (all zero when drained)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while any(self.leftovers().values()) and loop.time() < deadline:
            await asyncio.sleep(0.05)
        return self.leftovers()


@contextlib.asynccontextmanager
async def answering(directory: Path, options: FaxCallOptions | None = None) -> AsyncIterator[Answering]:
    answering = Answering(
        ua=UserAgent(UaConfig(host=LOCALHOST, timers=FAST)),
        directory=directory,
        options=options or FaxCallOptions(paced=False, t38_offer_delay=0.05),
    )
    answering.ua.on_invite = answering.on_invite
    await answering.ua.start()
    try:
        yield answering
    finally:
        for task in list(answering.tasks):
            task.cancel()
        await asyncio.gather(*answering.tasks, return_exceptions=True)
        answering.ua.close()
        answering.ticker.close()


def audio_sdp(port: int, host: str = LOCALHOST, version: int = 1) -> bytes:
    """A G.711 offer naming ``host``:``port`` as where the media should go."""
    return (
        f"v=0\r\no=- 4242 {version} IN IP4 {host}\r\ns=-\r\nc=IN IP4 {host}\r\nt=0 0\r\n"
        f"m=audio {port} RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=sendrecv\r\n"
    ).encode()


def t38_sdp(port: int, version: int = 1, datagram: str = "400", host: str = LOCALHOST) -> bytes:
    """A T.38 offer or answer (m=image udptl t38) naming ``host``:``port``."""
    return (
        f"v=0\r\no=- 4242 {version} IN IP4 {host}\r\ns=-\r\nc=IN IP4 {host}\r\nt=0 0\r\n"
        f"m=image {port} udptl t38\r\na=T38FaxVersion:0\r\na=T38MaxBitRate:14400\r\n"
        "a=T38FaxRateManagement:transferredTCF\r\na=T38FaxMaxBuffer:2000\r\n"
        f"a=T38FaxMaxDatagram:{datagram}\r\na=T38FaxUdpEC:t38UDPRedundancy\r\n"
    ).encode()


async def next_request(raw: RawSip, method: str, wait: float = 5.0) -> SipRequest:
    """The next request of ``method`` that the user agent sends to ``raw`` (responses are skipped)."""
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(wait):
        while True:
            message = parse_message(await loop.sock_recv(raw.socket, 65535))
            if isinstance(message, SipRequest) and message.method == method:
                return message


def reply(raw: RawSip, request: SipRequest, status: int, body: bytes = b"") -> None:
    """Answer a request of the user agent's from ``raw`` (with our Contact, and ``body`` as SDP)."""
    response = response_to(request, status)
    response.headers.add("Contact", f"<sip:+15557777@{raw.host}:{raw.port}>")
    if body:
        response.headers.add("Content-Type", "application/sdp")
        response.body = body
    top = request.vias[0]  # the user agent's own sent-by: where it listens
    raw.socket.sendto(bytes(response), (top.host, top.port or 5060))


@dataclass
class Leg:
    """One side of a call as a hand-written peer keeps it: Call-ID, tags, CSeq, and where it is."""

    host: str
    port: int
    target: tuple[str, int]
    user: str = "+15550199"
    call_id: str = field(default_factory=lambda: new_call_id(LOCALHOST))
    from_tag: str = field(default_factory=new_tag)
    to_tag: str | None = None
    cseq: int = 0

    @property
    def uri(self) -> str:
        return f"sip:{self.user}@{self.target[0]}:{self.target[1]}"

    def request(
        self,
        method: str,
        *,
        body: bytes = b"",
        contact: str | None = None,
        content_type: str = "application/sdp",
        headers: tuple[tuple[str, str], ...] = (),
        branch: str | None = None,
        cseq: int | None = None,
    ) -> bytes:
        """A request in this leg (the next CSeq unless given; ACK and CANCEL pass their INVITE's)."""
        if cseq is None:
            self.cseq += 1
            cseq = self.cseq
        to = f"<{self.uri}>" + (f";tag={self.to_tag}" if self.to_tag else "")
        lines = [
            f"{method} {self.uri} SIP/2.0",
            f"Via: SIP/2.0/UDP {self.host}:{self.port};branch={branch or new_branch()};rport",
            "Max-Forwards: 70",
            f"From: <sip:+15557777@{self.host}>;tag={self.from_tag}",
            f"To: {to}",
            f"Call-ID: {self.call_id}",
            f"CSeq: {cseq} {method}",
            f"Contact: {contact or f'<sip:+15557777@{self.host}:{self.port}>'}",
            *(f"{name}: {value}" for name, value in headers),
        ]
        if body:
            lines.append(f"Content-Type: {content_type}")
        lines += [f"Content-Length: {len(body)}", "", ""]
        return "\r\n".join(lines).encode() + body


class Sink:
    """A UDP socket that a hostile SDP names as its media address: it counts what arrives."""

    def __init__(self, host: str = LOCALHOST) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind((host, 0))
        self.socket.setblocking(False)
        self.port: int = self.socket.getsockname()[1]

    def drain(self) -> tuple[int, int]:
        """(datagrams, bytes) received since the last call."""
        datagrams = octets = 0
        while True:
            try:
                octets += len(self.socket.recv(65535))
            except BlockingIOError:
                return datagrams, octets
            datagrams += 1

    def close(self) -> None:
        self.socket.close()
