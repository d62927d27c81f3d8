"""SIP dialogs (RFC 3261 section 12): the state two UAs share for the life of a call."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from faxgw.sip.message import Address, Headers, SipParseError, SipRequest, SipResponse, SipUri, new_branch
from faxgw.sip.transport import Peer

log = logging.getLogger("sip.dialog")

#: RFC 3261 8.1.1.6
MAX_FORWARDS = "70"


def peer_for_uri(uri: SipUri, default_transport: str = "UDP") -> Peer:
    """Where to send a request for ``uri`` (RFC 3263 without DNS SRV: host, port, transport param)."""
    transport = (uri.params.get("transport") or default_transport).upper()
    if uri.scheme == "sips":
        transport = "TLS"
    port = uri.port or (5061 if transport == "TLS" else 5060)
    host = uri.host.strip("[]")
    return Peer(transport, host, port)


def remote_target(message: SipRequest | SipResponse) -> SipUri | None:
    """The remote target a message's Contact names (RFC 3261 12.1, 12.2), None when it has no Contact.

    Raises ``SipParseError`` (answered 400 to a request) when the Contact cannot serve as a target:
    more than one (RFC 3261 12.1.1: exactly one SIP or SIPS URI), '*', another scheme (tel:), a
    malformed address, or port 0.
    """
    values = message.headers.get_all("Contact")
    if not values:
        return None
    if len(values) > 1:
        raise SipParseError("bad Contact: a dialog has one remote target, not a list")
    try:
        uri = Address.parse(values[0]).uri
    except SipParseError as error:
        raise SipParseError(f"bad Contact: {error}") from None
    if uri.port == 0:
        raise SipParseError("bad Contact: port 0")
    return uri


def route_set(values: list[str]) -> list[str]:
    """Record-Route values as a route set, each checked to be a SIP URI we can route to (RFC 3261 12.1).

    Raises ``SipParseError`` for one that is not: in-dialog requests could not be sent.
    """
    for value in values:
        try:
            uri = Address.parse(value).uri
        except SipParseError as error:
            raise SipParseError(f"bad Record-Route: {error}") from None
        if uri.port == 0:
            raise SipParseError("bad Record-Route: port 0")
    return list(values)


@dataclass
class Dialog:
    """One side's view of a dialog. ``local_seq`` is the CSeq of the last request we sent."""

    call_id: str
    local_tag: str
    remote_tag: str
    local_address: Address
    remote_address: Address
    remote_target: SipUri
    route_set: list[str] = field(default_factory=list)
    local_seq: int = 0
    remote_seq: int | None = None
    transport: str = "UDP"
    #: Where in-dialog requests go whatever the target and routes say: set for a device behind NAT, whose
    #: Contact names a private address; it is reached only where its requests come from (RFC 3581's
    #: symmetric signalling, as the registrar reaches it). None: by the route set or the remote target.
    flow: Peer | None = None

    @property
    def id(self) -> tuple[str, str, str]:
        return (self.call_id, self.local_tag, self.remote_tag)

    @classmethod
    def from_uac(cls, request: SipRequest, response: SipResponse, transport: str = "UDP") -> Dialog:
        """RFC 3261 12.1.2: the caller's dialog, from its INVITE and the 2xx (or 1xx with a tag).

        The 2xx has to be taken (and ACKed) even when its Contact or Record-Route is unusable: we
        then send in-dialog requests straight to the Request-URI, and say so in the log.
        """
        remote = response.to_address
        try:
            target = remote_target(response) or request.uri
            routes = route_set(list(reversed(response.headers.get_all("Record-Route"))))
        except SipParseError as error:
            log.warning(
                "call %s: %s in the %d; using the Request-URI", request.call_id, error, response.status
            )
            target, routes = request.uri, []
        return cls(
            call_id=request.call_id,
            local_tag=request.from_address.tag or "",
            remote_tag=remote.tag or "",
            local_address=request.from_address,
            remote_address=remote,
            remote_target=target,
            route_set=routes,
            local_seq=request.cseq[0],
            transport=transport,
        )

    @classmethod
    def from_uas(cls, request: SipRequest, local_tag: str, transport: str = "UDP") -> Dialog:
        """RFC 3261 12.1.1: the callee's dialog, from the INVITE it answers. Raises ``SipParseError``
        (answer 400) for a Contact or Record-Route we could not send requests to."""
        return cls(
            call_id=request.call_id,
            local_tag=local_tag,
            remote_tag=request.from_address.tag or "",
            local_address=request.to_address.with_tag(local_tag),
            remote_address=request.from_address,
            remote_target=remote_target(request) or request.uri,
            route_set=route_set(request.headers.get_all("Record-Route")),
            remote_seq=request.cseq[0],
            transport=transport,
        )

    def request(
        self,
        method: str,
        *,
        via_host: str,
        via_port: int,
        contact: str | None = None,
        body: bytes = b"",
        content_type: str | None = None,
        cseq: int | None = None,
    ) -> SipRequest:
        """RFC 3261 12.2.1.1: a request inside the dialog. ACK and CANCEL pass their INVITE's CSeq."""
        if cseq is None:
            self.local_seq += 1
            cseq = self.local_seq
        headers = Headers()
        headers.add("Via", f"SIP/2.0/{self.transport} {via_host}:{via_port};branch={new_branch()};rport")
        headers.add("Max-Forwards", MAX_FORWARDS)
        headers.add("From", str(self.local_address))
        headers.add("To", str(self.remote_address))
        headers.add("Call-ID", self.call_id)
        headers.add("CSeq", f"{cseq} {method}")
        uri = self.remote_target
        routes = list(self.route_set)
        if routes and ";lr" not in routes[0]:
            # Strict routing (RFC 3261 12.2.1.1): the first route becomes the Request-URI.
            uri = Address.parse(routes[0]).uri
            routes = [*routes[1:], f"<{self.remote_target}>"]
        for route in routes:
            headers.add("Route", route)
        if contact is not None:
            headers.add("Contact", contact)
        if content_type is not None:
            headers.add("Content-Type", content_type)
        return SipRequest(method, uri, headers, body)

    def next_hop(self) -> Peer:
        """Where in-dialog requests go: the flow, else the first route, else the remote target."""
        if self.flow is not None:
            return self.flow
        uri = Address.parse(self.route_set[0]).uri if self.route_set else self.remote_target
        return peer_for_uri(uri, self.transport)

    def accept_remote_cseq(self, request: SipRequest) -> bool:
        """RFC 3261 12.2.2: a request with a lower CSeq than the last one is out of order (500)."""
        number = request.cseq[0]
        if request.method in ("ACK", "CANCEL"):
            return True
        if self.remote_seq is not None and number <= self.remote_seq:
            return False
        self.remote_seq = number
        return True

    def refresh_target(self, target: SipUri | None) -> None:
        """Target refresh (RFC 3261 12.2): a re-INVITE or its 2xx may carry a new Contact, read
        (and checked) with ``remote_target``; None (no Contact) keeps the target."""
        if target is not None:
            self.remote_target = target
