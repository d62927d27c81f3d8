"""SIP dialogs (RFC 3261 section 12): the state two UAs share for the life of a call."""

from __future__ import annotations

from dataclasses import dataclass, field

from sip.message import Address, Headers, SipRequest, SipResponse, SipUri, new_branch
from sip.transport import Peer

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

    @property
    def id(self) -> tuple[str, str, str]:
        return (self.call_id, self.local_tag, self.remote_tag)

    @classmethod
    def from_uac(cls, request: SipRequest, response: SipResponse, transport: str = "UDP") -> Dialog:
        """RFC 3261 12.1.2: the caller's dialog, from its INVITE and the 2xx (or 1xx with a tag)."""
        contact = response.headers.get_all("Contact")
        remote = response.to_address
        return cls(
            call_id=request.call_id,
            local_tag=request.from_address.tag or "",
            remote_tag=remote.tag or "",
            local_address=request.from_address,
            remote_address=remote,
            remote_target=Address.parse(contact[0]).uri if contact else request.uri,
            route_set=list(reversed(response.headers.get_all("Record-Route"))),
            local_seq=request.cseq[0],
            transport=transport,
        )

    @classmethod
    def from_uas(cls, request: SipRequest, local_tag: str, transport: str = "UDP") -> Dialog:
        """RFC 3261 12.1.1: the callee's dialog, from the INVITE it answers."""
        contact = request.headers.get_all("Contact")
        return cls(
            call_id=request.call_id,
            local_tag=local_tag,
            remote_tag=request.from_address.tag or "",
            local_address=request.to_address.with_tag(local_tag),
            remote_address=request.from_address,
            remote_target=Address.parse(contact[0]).uri if contact else request.uri,
            route_set=list(request.headers.get_all("Record-Route")),
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
        """Where in-dialog requests go: the first route, or the remote target."""
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

    def refresh_target(self, message: SipRequest | SipResponse) -> None:
        """Target refresh (RFC 3261 12.2): a re-INVITE or its 2xx may carry a new Contact."""
        contact = message.headers.get_all("Contact")
        if contact:
            self.remote_target = Address.parse(contact[0]).uri
