"""What the job layer needs from a call engine, and what engines tell it back.

An engine places and answers fax calls. It reports pages as they go across (``PageTransferred``,
with the page readable in the TIFF at that moment) and ends every call with one ``CallResult``.
Engines never call the API or the store: the job layer listens and decides.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from faxgw.sip.diagnostics import CallDiagnostics
from faxgw.sip.fax_terms import CallStatus, T38Policy

if TYPE_CHECKING:
    from faxgw.gateway.peers import DeviceConfig, TrunkConfig


@dataclass(frozen=True)
class Route:
    """One way to reach a fax's destination, and how to fax over it. An attempt tries its routes in order
    (failover) until one reaches the callee; the job layer orders them and sets how to fax (the trunk's
    settings, stepped down by what it learned about the destination)."""

    via: str  # a trunk's name, or a device's username when ``device``
    device: bool = False  # call the device's registered contacts, not a trunk
    t38: T38Policy = T38Policy.AUTO
    ecm: bool = True
    max_rate: int = 14400  # bit/s cap: 4800, 9600 or 14400

    @classmethod
    def of_trunk(cls, trunk: TrunkConfig) -> Route:
        """Through ``trunk``, as its settings say."""
        return cls(trunk.name, t38=trunk.t38, ecm=trunk.ecm, max_rate=trunk.max_rate)

    @classmethod
    def of_device(cls, device: DeviceConfig) -> Route:
        """To ``device``'s registered contacts, as its settings say."""
        return cls(device.username, device=True, t38=device.t38, ecm=device.ecm)


@dataclass(frozen=True)
class OutboundCall:
    fax_id: str
    from_number: str
    to_number: str
    document: Path  # validated TIFF-F
    first_page: int = 1
    #: Tried in order within the attempt; empty: ``to_number`` is a SIP URI, called directly.
    routes: tuple[Route, ...] = ()


#: Hang-up causes of an attempt whose routes placed no call at all: the device it was to call has no
#: registered contact; every trunk was down, at its max_calls or over its calls_per_second.
DEVICE_NOT_REGISTERED = "device_not_registered"
NO_TRUNK_AVAILABLE = "no_trunk_available"


@dataclass(frozen=True)
class LegResult:
    """What one route of an attempt came to: the call it placed, or why it placed none."""

    via: str  # the route's trunk name or device username
    sip_code: int | None  # the final response to its INVITE (None: no response, or no INVITE sent)
    reason: str  # in words: "503 Service Unavailable", "trunk down", "at max_calls", "answered"
    failed_over: bool  # this route failed as a route and the next one was tried


@dataclass(frozen=True)
class PageTransferred:
    page: int  # 1-based within the document
    document: Path
    sending: bool


@dataclass(frozen=True)
class CallResult:
    """One truth about a call, mapped once into each dialect's statuses by the job layer."""

    status: CallStatus
    sip_code: int | None
    hangup_cause: str | None
    t30_code: int | None
    t30_text: str
    pages: int
    pages_expected: int | None
    t38: bool
    bit_rate: int | None
    ecm: bool | None
    remote_ident: str
    call_id: str
    #: Each route the attempt tried, in order; the last one carried the call (if any did).
    legs: tuple[LegResult, ...] = ()
    #: The SIP status that refused our T.38 re-INVITE (488, 415 ...); None: not refused, or not offered.
    t38_refused: int | None = None
    #: What the call did, step by step (T.30, SIP, media), for an operator to read (``sip.diagnostics``).
    diagnostics: CallDiagnostics = field(default_factory=CallDiagnostics)
    #: What T.30 had to do, in the engine's words, for the attempt's summary: "training failed twice at
    #: 14400, then 9600"; "" when nothing. Told here, not read from ``diagnostics`` by the job layer: that
    #: would be T.30 knowledge (FTT, DCS rates) above the engines.
    t30_story: str = ""

    @classmethod
    def failed(
        cls, cause: str, text: str, *, call_id: str = "", sip_code: int | None = None, pages: int = 0
    ) -> CallResult:
        """A call ended by the gateway's own trouble (``cause``, said in ``text``), not by the peer or T.30;
        ``pages`` went across before it."""
        return cls(
            status=CallStatus.FAILED,
            sip_code=sip_code,
            hangup_cause=cause,
            t30_code=None,
            t30_text=text,
            pages=pages,
            pages_expected=None,
            t38=False,
            bit_rate=None,
            ecm=None,
            remote_ident="",
            call_id=call_id,
        )

    @classmethod
    def unrouted(cls, call: OutboundCall, legs: tuple[LegResult, ...]) -> CallResult:
        """The attempt whose routes placed no call (a device not registered; every trunk down, at its
        max_calls or over its calls_per_second): why, route by route. Every engine words it so."""
        if all(route.device for route in call.routes):
            devices = ", ".join(route.via for route in call.routes)
            text = f"Device {devices} (number {call.to_number}) is not registered: nowhere to call it."
            return replace(cls.failed(DEVICE_NOT_REGISTERED, text), legs=legs)
        why = "; ".join(f"{leg.via}: {leg.reason}" for leg in legs)
        text = f"No trunk could take the call to {call.to_number} ({why})."
        return replace(cls.failed(NO_TRUNK_AVAILABLE, text), legs=legs)


PageHandler = Callable[[PageTransferred], None]


@dataclass(frozen=True)
class InboundCall:
    """A fax call arriving for ``did``; the job layer decides whether and where it is received."""

    did: str
    caller: str
    call_id: str
    #: The device (username) that placed the call, authenticated by digest; None: a trunk or other caller.
    device: str | None = None


@dataclass(frozen=True)
class Refusal:
    """An arriving call the job layer turns away, with the SIP status the engine answers (RFC 3261 21):
    404 for a number nobody serves, 503 with Retry-After (seconds) when every channel is busy."""

    status: int
    retry_after: int | None = None


@dataclass(frozen=True)
class Bridge:
    """An arriving call the job layer relays in real time (a device's fax to an external number, relay =
    "real_time"): the engine places a leg to ``to_number`` from ``from_number`` through ``routes`` (in
    order, as an outbound call's), answers the arriving call once that leg answers (or refuses it with a
    matching status when no route reaches the callee), and joins the two calls: T.38 passed through when
    both do T.38, SpanDSP's T.38 gateway between a G.711 leg and a T.38 leg. Nothing is written, so no
    page is reported; the call's end is (InboundDone), with the pages the receiving machine confirmed,
    ``t38`` for the routed leg and its ``legs``."""

    routes: tuple[Route, ...]
    to_number: str
    from_number: str


#: Decides about an arriving call: where to write the fax and who hears about its pages, a Bridge to
#: relay it onward, or a Refusal. Once it has said where or whither, the engine always reports the call's
#: end (InboundDone), however it ends.
InboundDecision = tuple[Path, PageHandler] | Refusal | Bridge
InboundHandler = Callable[[InboundCall], Awaitable[InboundDecision]]
InboundDone = Callable[[InboundCall, CallResult], Awaitable[None]]


@dataclass(frozen=True)
class HostStatus:
    """One host of a trunk: did it answer its last OPTIONS, and how fast."""

    address: str
    up: bool
    rtt_ms: float | None = None  # the last qualify's round trip; None: none answered yet, or not measured


@dataclass(frozen=True)
class TrunkStatus:
    name: str
    up: bool
    hosts: tuple[HostStatus, ...] = ()


@dataclass(frozen=True)
class DeviceStatus:
    """A configured device and where it is registered now (no contacts: not registered)."""

    username: str
    contacts: tuple[str, ...] = ()
    expires: int | None = None  # seconds until its soonest binding expires; None: not registered


@dataclass(frozen=True)
class ActiveCall:
    """A call in progress: ``direction`` "outbound" or "inbound"; ``mode`` "t38" or "g711" as trained last
    ("g711" until T.30 negotiates on T.38, a second or two after the switch), "relay" for a device's call
    relayed in real time (``Bridge``), "unknown" where the engine cannot tell; ``via`` the trunk's name or
    the device's username ("" when neither: a SIP URI dialled directly, an unknown caller)."""

    direction: str
    mode: str
    via: str = ""


@dataclass(frozen=True)
class EngineStatus:
    """What an engine knows of its trunks, devices and calls now (the console and /metrics show it)."""

    trunks: tuple[TrunkStatus, ...] = ()
    devices: tuple[DeviceStatus, ...] = ()
    calls: tuple[ActiveCall, ...] = ()
    #: What this engine cannot tell (e.g. the Asterisk engine's call modes), in words; "" when complete.
    note: str = ""


class Engine(Protocol):
    async def start(self, on_inbound: InboundHandler, on_inbound_done: InboundDone) -> None: ...

    async def send(self, call: OutboundCall, on_page: PageHandler) -> CallResult: ...

    async def drain(self) -> None:
        """Take no new arriving call from now on (and say so to whoever probes the engine, so that the edge
        sends calls to other nodes); the calls under way go on. Returns once every call offered before has
        been decided (on_inbound answered), so that from then on the job layer knows every call in flight."""
        ...

    async def status(self) -> EngineStatus:
        """Its trunks, devices and calls in progress now; never waits on a call's media."""
        ...

    async def close(self) -> None: ...
