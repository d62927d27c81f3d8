"""SIP transports (RFC 3261 section 18): UDP, TCP and TLS over asyncio.

The transport layer frames and parses messages, stamps ``received``/``rport`` on the top Via of
requests (RFC 3261 18.2.1, RFC 3581), sends responses where RFC 3261 18.2.2 says, answers
unparseable requests with 400 and hands everything else to the transaction layer. It knows
nothing of transactions or dialogs.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field

from faxgw.sip.message import (
    SipParseError,
    SipRequest,
    SipResponse,
    StreamFramer,
    Via,
    decimal,
    parse_message,
)
from faxgw.sip.sparse_log import SparseLog

log = logging.getLogger("sip.transport")

#: Largest UDP datagram we accept; a SIP message over UDP larger than the path MTU should use TCP
#: (RFC 3261 18.1.1) but real peers send up to ~4 KB INVITEs, so be generous when receiving.
MAX_DATAGRAM = 65535
#: Receive buffer asked for the UDP socket (the kernel caps it at net.core.rmem_max). Linux's default,
#: about 200 KB, holds some 90 datagrams: a trunk that starts a few hundred calls at once overflows it,
#: and each INVITE dropped there costs its call 0.5 s and more of retransmissions (RFC 3261 17.1.1.2,
#: Timer A), so the calls no longer start together.
UDP_RECEIVE_BUFFER = 4 * 1024 * 1024

# Stream connections cost a descriptor and a buffer each, and anyone who reaches the port can open them, so
# they are bounded: how many strangers may hold at once, and from one address; trusted peers (the trunk)
# are never turned away by strangers' connections.
MAX_STRANGER_CONNECTIONS = 256
MAX_CONNECTIONS_PER_ADDRESS = 16
#: A new connection must bring its first message (or a CRLF keep-alive) within this time ...
FIRST_MESSAGE_TIMEOUT = 30.0
#: ... a message, once begun, must be complete within this time (a byte-by-byte sender is cut off) ...
MESSAGE_TIMEOUT = 10.0
#: ... and a connection silent for this long is closed. Longer than a long fax call (no SIP is sent while
#: the pages go) and than RFC 5626 4.4.1's keep-alive interval (at most 120 s).
IDLE_TIMEOUT = 1800.0


@dataclass(frozen=True)
class Peer:
    """Where a message came from or goes to. ``connection`` pins a TCP/TLS stream."""

    transport: str
    host: str
    port: int
    connection: _StreamConnection | None = field(default=None, compare=False)

    @property
    def reliable(self) -> bool:
        return self.transport != "UDP"


MessageHandler = Callable[[SipRequest | SipResponse, Peer], None]


_refusals = SparseLog(log)


class TransportError(OSError):
    """The message could not be sent (RFC 3261 8.1.3.1: the transaction treats it as 503)."""


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, layer: TransportLayer) -> None:
        self.layer = layer
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        if not data.strip(b"\r\n"):
            return  # CRLF keep-alive (RFC 5626 4.4.1)
        self.layer._received(data, Peer("UDP", addr[0], addr[1]))

    def error_received(self, exc: Exception) -> None:
        log.debug("UDP error: %s", exc)  # ICMP unreachable: the transaction timers will notice


class _StreamConnection(asyncio.Protocol):
    """One TCP or TLS connection; frames messages by Content-Length, closes itself when it idles."""

    def __init__(self, layer: TransportLayer, name: str, *, accepted: bool = False) -> None:
        self.layer = layer
        self.name = name
        self.accepted = accepted  # opened by the peer (counted against the bounds), not by us
        self.stranger = False
        self.framer = StreamFramer()
        self.transport: asyncio.Transport | None = None
        self.peer: Peer | None = None
        self._deadline: asyncio.TimerHandle | None = None
        self._message_begun = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        host, port = transport.get_extra_info("peername")[:2]
        self.peer = Peer(self.name, host, port, self)
        if self.accepted and not self.layer._admit_connection(self, host):
            transport.close()
            return
        self.layer._connections[(self.name, host, port)] = self
        self._expire_in(FIRST_MESSAGE_TIMEOUT, "no message")

    def _expire_in(self, seconds: float, why: str) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = asyncio.get_running_loop().call_later(seconds, self._expire, why)

    def _expire(self, why: str) -> None:
        assert self.peer is not None
        log.info("closing %s connection from %s:%s: %s", self.name, self.peer.host, self.peer.port, why)
        if self.transport:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        assert self.peer is not None
        try:
            messages = self.framer.feed(data)
        except SipParseError as error:
            log.warning(
                "closing %s connection from %s:%s: %s", self.name, self.peer.host, self.peer.port, error
            )
            if self.transport:
                self.transport.close()
            return
        if self.framer.pending:
            if messages or not self._message_begun:  # a new message begins: it has MESSAGE_TIMEOUT
                self._message_begun = True
                self._expire_in(MESSAGE_TIMEOUT, f"message incomplete after {MESSAGE_TIMEOUT:.0f} s")
        else:
            self._message_begun = False
            self._expire_in(IDLE_TIMEOUT, f"idle for {IDLE_TIMEOUT:.0f} s")
        for message in messages:
            self.layer._received(message, self.peer)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        if self.peer is not None and self.layer._connections.get(self._key) is self:
            del self.layer._connections[self._key]

    @property
    def _key(self) -> tuple[str, str, int]:
        assert self.peer is not None
        return (self.name, self.peer.host, self.peer.port)

    def write(self, data: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            raise TransportError("connection closed")
        self.transport.write(data)


class TransportLayer:
    """Listens on UDP (and optionally TCP/TLS) and moves SIP messages in and out."""

    def __init__(self, on_message: MessageHandler, trusts: Callable[[str], bool] | None = None) -> None:
        self.on_message = on_message
        #: Whether a source address is a trusted peer's (exempt from the bounds on strangers' connections).
        self.trusts = trusts
        self._udp: _Datagrams | None = None
        self._servers: list[asyncio.AbstractServer] = []
        self._connections: dict[tuple[str, str, int], _StreamConnection] = {}
        self._tls_client: ssl.SSLContext | None = None
        self.addresses: dict[str, tuple[str, int]] = {}
        #: By Call-ID: told every message of that Call-ID sent (True) or received (False) - a call's SIP
        #: ladder for its diagnostics (``sip.ladder``). A dict look-up per message otherwise.
        self.watchers: dict[str, list[Callable[[SipRequest | SipResponse, bool, Peer], None]]] = {}

    # -- set-up ------------------------------------------------------------------------------
    async def listen_udp(self, host: str, port: int = 0) -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_datagram_endpoint(lambda: _Datagrams(self), local_addr=(host, port))
        self._udp = protocol
        assert protocol.transport is not None
        protocol.transport.get_extra_info("socket").setsockopt(
            socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_RECEIVE_BUFFER
        )
        self.addresses["UDP"] = protocol.transport.get_extra_info("sockname")[:2]
        return self.addresses["UDP"]

    async def listen_tcp(self, host: str, port: int = 0) -> tuple[str, int]:
        return await self._listen_stream("TCP", host, port, None)

    async def listen_tls(
        self,
        host: str,
        port: int,
        server_context: ssl.SSLContext,
        client_context: ssl.SSLContext | None = None,
    ) -> tuple[str, int]:
        """TLS (RFC 3261 26.2): ``client_context`` is used for connections we open."""
        self._tls_client = client_context or ssl.create_default_context()
        return await self._listen_stream("TLS", host, port, server_context)

    async def _listen_stream(self, name: str, host: str, port: int, context: ssl.SSLContext | None):
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: _StreamConnection(self, name, accepted=True), host, port, ssl=context
        )
        self._servers.append(server)
        self.addresses[name] = server.sockets[0].getsockname()[:2]
        return self.addresses[name]

    def close(self) -> None:
        if self._udp and self._udp.transport:
            self._udp.transport.close()
        for server in self._servers:
            server.close()
        for connection in list(self._connections.values()):
            if connection.transport:
                connection.transport.close()

    def _admit_connection(self, connection: _StreamConnection, host: str) -> bool:
        """Bound strangers' connections, in all and per address (see MAX_STRANGER_CONNECTIONS)."""
        if self.trusts is not None and self.trusts(host):
            return True
        strangers = [c for c in self._connections.values() if c.stranger]
        from_host = sum(1 for c in strangers if c.peer is not None and c.peer.host == host)
        if len(strangers) >= MAX_STRANGER_CONNECTIONS or from_host >= MAX_CONNECTIONS_PER_ADDRESS:
            _refusals.warning(f"{connection.name} connection from {host} refused: too many connections")
            return False
        connection.stranger = True
        return True

    # -- receiving -----------------------------------------------------------------------------
    def _received(self, data: bytes, peer: Peer) -> None:
        try:
            message = parse_message(data)
        except SipParseError as error:
            log.info("unparseable message from %s:%s: %s", peer.host, peer.port, error)
            self._reject(data, peer, str(error))
            return
        if isinstance(message, SipRequest):
            _stamp_via(message, peer)
        elif len(message.vias) != 1:
            return  # RFC 3261 18.1.2: a response with other than one Via is not for us
        self._watch(message, peer, sent=False)
        self.on_message(message, peer)

    def _watch(self, message: SipRequest | SipResponse, peer: Peer, *, sent: bool) -> None:
        watchers = self.watchers.get(message.headers.get("Call-ID") or "")
        for watcher in watchers or ():
            watcher(message, sent, peer)

    def _reject(self, data: bytes, peer: Peer, reason: str) -> None:
        """Answer a broken request with 400 when it has enough to route a response."""
        response = bad_request_response(data, reason)
        if response is not None:
            with contextlib.suppress(TransportError):
                self._write(response, peer)

    # -- sending ------------------------------------------------------------------------------
    async def send(self, message: SipRequest | SipResponse, peer: Peer) -> None:
        """Send to ``peer``; responses follow RFC 3261 18.2.2 (connection, received, rport)."""
        if isinstance(message, SipResponse):
            peer = _response_destination(message, peer)
        if not _is_ip(peer.host):
            peer = await self._resolve(peer)
        if peer.reliable and peer.connection is None:
            peer = await self._connect(peer)
        self._write(bytes(message), peer)
        self._watch(message, peer, sent=True)

    def _write(self, data: bytes, peer: Peer) -> None:
        if peer.transport == "UDP":
            if self._udp is None or self._udp.transport is None:
                raise TransportError("no UDP socket")
            self._udp.transport.sendto(data, (peer.host, peer.port))
        else:
            connection = peer.connection or self._connections.get((peer.transport, peer.host, peer.port))
            if connection is None:
                raise TransportError(f"no {peer.transport} connection to {peer.host}:{peer.port}")
            connection.write(data)

    async def _connect(self, peer: Peer) -> Peer:
        existing = self._connections.get((peer.transport, peer.host, peer.port))
        if existing is not None:
            return existing.peer or peer
        loop = asyncio.get_running_loop()
        context = self._tls_client if peer.transport == "TLS" else None
        if peer.transport == "TLS" and context is None:
            context = ssl.create_default_context()
        try:
            _, connection = await loop.create_connection(
                lambda: _StreamConnection(self, peer.transport), peer.host, peer.port, ssl=context
            )
        except OSError as error:
            raise TransportError(f"cannot connect to {peer.host}:{peer.port}: {error}") from error
        assert connection.peer is not None
        return connection.peer

    async def _resolve(self, peer: Peer) -> Peer:
        """A host name to an address, without blocking the loop (RFC 3263 SRV/NAPTR is not done)."""
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(peer.host, peer.port, type=socket.SOCK_DGRAM)
        except OSError as error:
            raise TransportError(f"cannot resolve {peer.host}: {error}") from error
        host = str(infos[0][4][0])  # the host of an INET sockaddr
        return Peer(peer.transport, host, peer.port, peer.connection)

    def via_address(self, transport: str) -> tuple[str, int]:
        """The sent-by host and port to put in our Via and Contact for ``transport``."""
        return self.addresses.get(transport) or self.addresses["UDP"]


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _stamp_via(request: SipRequest, peer: Peer) -> None:
    """RFC 3261 18.2.1 and RFC 3581 4: record where the request really came from."""
    values = request.headers.get_all("Via")
    top = Via.parse(values[0])
    if top.host != peer.host:
        top.params["received"] = peer.host
    if "rport" in top.params:
        top.params["received"] = peer.host
        top.params["rport"] = str(peer.port)
    request.headers.remove("Via")
    for value in [str(top), *values[1:]]:
        request.headers.add("Via", value)


def _response_destination(response: SipResponse, peer: Peer) -> Peer:
    """RFC 3261 18.2.2 with RFC 3581: reuse the connection; over UDP use received and rport."""
    if peer.reliable:
        return peer
    top = response.vias[0]
    port = decimal(top.params.get("rport"), 65535) or top.port or 5060
    return Peer("UDP", top.received or top.host, port)


def bad_request_response(data: bytes, reason: str) -> bytes | None:
    """A 400 for a request we could not parse, built from its raw lines (RFC 3261 21.4.1).

    Only possible when the request line looks like a request and Via, From, To, Call-ID and
    CSeq can be found; otherwise there is no way to address a response and it is dropped.
    """
    head = data.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    lines = head.decode("utf-8", "replace").replace("\r\n", "\n").split("\n")
    if not lines or lines[0].startswith("SIP/") or not lines[0].rstrip().endswith("SIP/2.0"):
        return None
    wanted = {
        "via": "Via",
        "v": "Via",
        "from": "From",
        "f": "From",
        "to": "To",
        "t": "To",
        "call-id": "Call-ID",
        "i": "Call-ID",
        "cseq": "CSeq",
    }
    found: list[tuple[str, str]] = []
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        canonical = wanted.get(name.strip().lower())
        if colon and canonical:
            found.append((canonical, value.strip()))
    if {name for name, _ in found} != {"Via", "From", "To", "Call-ID", "CSeq"}:
        return None
    reason_text = " ".join(reason.split())[:100].replace('"', "'")
    out = ["SIP/2.0 400 Bad Request"]
    out += [f"{name}: {value}" for name, value in found]
    out += [f'Warning: 399 faxgw "{reason_text}"', "Content-Length: 0", "", ""]
    return "\r\n".join(out).encode()
