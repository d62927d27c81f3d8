"""Media sockets for fax calls: RTP (G.711) and UDPTL (T.38), and the one 20 ms ticker they share.

Fax-safe choices: no VAD, no comfort noise, no packet-loss concealment; a fixed small jitter
buffer that reorders. Media goes to, and is taken only from, the address the peer's SDP names;
latching onto where a peer behind NAT really sends from is an option, once, early in the call.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import time
from collections.abc import Callable

from faxgw.sip.capture import Capture
from faxgw.sip.diagnostics import MediaFigures
from faxgw.sip.rtp import Gap, JitterBuffer, ReceptionStats, RtpError, RtpPacket, RtpStream, plain_fields
from faxgw.sip.rtp_redundancy import RedundancyError, RedundantReceiver, RedundantSender
from faxgw.sip.tasks import Tasks
from faxgw.sip.udptl import UdptlError, UdptlReceiver, UdptlSender

log = logging.getLogger("sip.media")

#: 20 ms: one G.711 packet, one SpanDSP block, one T.38 timer step.
TICK = 0.020
#: With latching: how long after learning the peer's address its first datagram may still move our
#: media to another source. A peer sends as soon as the call is answered; later, latching would only
#: serve whoever injects packets.
LATCH_WINDOW = 5.0
#: The most datagrams ``_Endpoint.drain`` takes from one socket per tick: a call's media is one or two.
MAX_DRAIN = 16
#: Large enough for any UDP datagram.
MAX_DATAGRAM = 65535

#: An IP address and port as media sources are compared (see ``media_address``).
MediaAddress = tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]


def media_address(host: str, port: int) -> MediaAddress:
    """An IP literal and a port in the form sources are compared in: an IPv4-mapped IPv6 address (how a
    dual-stack socket sees an IPv4 peer) becomes that IPv4 address. ValueError if ``host`` is no IP literal.
    """
    ip = ipaddress.ip_address(host)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped, port
    return ip, port


class Ticker:
    """Calls every registered callback each 20 ms, all calls from one task.

    The schedule is kept against the loop clock, so a late tick is followed by a short one and
    the long-run rate stays exact (a fax modem cannot tolerate drift).

    A callback may come with the media sockets of its call (``reads``): the ticker reads what they
    received right before calling it (``_Endpoint.drain``), instead of the event loop handing over
    each datagram as it comes. A packet then waits at most one tick, well within the jitter buffer's
    delay, and costs one system call and a few lines of Python; through the event loop it costs a
    wake-up, a handle and a callback each, which measured three times as much (a third of the whole
    G.711 media path at 64 calls).
    """

    def __init__(self, interval: float = TICK) -> None:
        self.interval = interval
        self._callbacks: dict[int, tuple[Callable[[], None], tuple[_Endpoint, ...]]] = {}
        self._next_id = 0
        self._tasks = Tasks(log, "media ticker")
        self._task: asyncio.Task | None = None
        self.late_ticks = 0

    def add(self, callback: Callable[[], None], reads: tuple[_Endpoint, ...] = ()) -> int:
        self._next_id += 1
        for endpoint in reads:
            endpoint.poll()
        self._callbacks[self._next_id] = (callback, reads)
        if self._task is None or self._task.done():
            self._task = self._tasks.spawn(self._run())
        return self._next_id

    def remove(self, handle: int) -> None:
        _, reads = self._callbacks.pop(handle, (None, ()))
        for endpoint in reads:
            endpoint.unpoll()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time()
        while self._callbacks:
            for handle, (callback, reads) in list(self._callbacks.items()):
                if handle in self._callbacks:
                    try:
                        for endpoint in reads:
                            endpoint.drain()
                        callback()
                    except Exception:  # one broken call must not stop the others' media
                        log.exception("media tick failed; removing that call's callback")
                        self.remove(handle)
            deadline += self.interval
            delay = deadline - loop.time()
            if delay < -self.interval:
                self.late_ticks += 1
                deadline = loop.time()  # far behind (process stalled): restart the schedule
                delay = 0
            await asyncio.sleep(max(delay, 0))

    def close(self) -> None:
        for handle in list(self._callbacks):
            self.remove(handle)
        self._tasks.cancel_all()


class _Endpoint(asyncio.DatagramProtocol):
    """A UDP media socket that exchanges media with the one peer the SDP names, and no one else.

    RFC 3264 5: the c= address and m= port of the remote SDP are where the peer wants media; they are
    also the only source we take media from. Anyone who can reach the port could otherwise feed the
    fax modem (and, with latching, steal the call's media). Datagrams that come before the SDP named
    the peer, or from elsewhere, are dropped and counted in ``foreign_in``.

    ``latch`` is for a peer behind NAT, whose media comes from an address its SDP does not know
    (RFC 7362 "latching"): the first valid datagram within ``LATCH_WINDOW`` of learning the peer moves
    our media to its source, from the SDP address as well as from anywhere else. After that first
    accepted datagram the source is established and nothing moves it again (RFC 7362's security
    considerations: whoever sends first wins a latch, so the window is short and latching happens once).
    """

    kind: str = "media"

    def __init__(self, *, latch: bool = False) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.latch = latch
        #: Where we send, and the one source we accept; None until the SDP's address is known.
        self.remote: MediaAddress | None = None
        #: A datagram from ``remote`` has been accepted: the source is fixed for the rest of the call.
        self.established = False
        self.foreign_in = 0
        self._sdp: tuple[str, int] | None = None  # the address as the SDP wrote it
        self._send_to: tuple[str, int] | None = None  # ``remote`` as this socket's family spells it
        self._latch_until = 0.0  # loop time until which a datagram from elsewhere may latch
        self._tasks = Tasks(log, f"{self.kind} address lookup")
        self._resolving: asyncio.Task | None = None
        #: Given every datagram in and out when the call's packets are captured (``sip.capture``).
        self.capture: Capture | None = None
        self._local: tuple[str, int] = ("0.0.0.0", 0)
        self._socket: socket.socket | None = None
        #: Read by a ``Ticker`` (``drain``) rather than by the event loop.
        self.polled = False

    @classmethod
    async def open(cls, host: str, *args, **kwargs):
        """Bind a socket on ``host`` (any free port) and serve it with the event loop. The socket is made
        here, not by ``create_datagram_endpoint``, so that ``drain`` can read it."""
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(host, 0, type=socket.SOCK_DGRAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
        try:
            sock.setblocking(False)
            sock.bind(address)
            _, endpoint = await loop.create_datagram_endpoint(lambda: cls(*args, **kwargs), sock=sock)
        except BaseException:
            sock.close()
            raise
        endpoint._socket = sock
        return endpoint

    def poll(self) -> None:
        """Leave reading to ``drain`` (a ``Ticker`` calls it each tick): the event loop stops watching."""
        if self.transport is not None and self._socket is not None and not self.transport.is_closing():
            self.transport.pause_reading()  # type: ignore[attr-defined]  # selector loops have it
            self.polled = True

    def unpoll(self) -> None:
        """The event loop reads the socket again."""
        if self.polled and self.transport is not None:
            self.polled = False
            self.transport.resume_reading()  # type: ignore[attr-defined]

    def drain(self) -> None:
        """Take what arrived since the last tick, as the event loop would have, datagram by datagram.
        At most ``MAX_DRAIN`` a tick: a flood waits in (and overflows) the socket's buffer, and costs us
        no more than that."""
        if not self.polled or self._socket is None or self.transport is None or self.transport.is_closing():
            return
        receive = self._socket.recvfrom
        for _ in range(MAX_DRAIN):
            try:
                data, addr = receive(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:  # ICMP unreachable and the like, as the event loop reports them
                self.error_received(error)
                return
            self.datagram_received(data, addr)

    @property
    def port(self) -> int:
        assert self.transport is not None
        return self.transport.get_extra_info("sockname")[1]

    @property
    def _family(self) -> int:
        assert self.transport is not None
        return self.transport.get_extra_info("socket").family

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._local = transport.get_extra_info("sockname")[:2]

    def set_remote(self, host: str, port: int) -> None:
        """The peer's media address from an SDP offer or answer (a host name is resolved once).

        The same address again (a session refresh, a switch back from T.38) changes nothing: an
        established source stays, and latching does not start over.
        """
        if (host, port) == self._sdp:
            return
        self._sdp = (host, port)
        self._use(None)
        if self._resolving is not None:
            self._resolving.cancel()
            self._resolving = None
        if port == 0:
            return  # RFC 3264 6: a port of zero rejects (or removes) the stream
        try:
            address = media_address(host, port)
        except ValueError:
            self._resolving = self._tasks.spawn(self._resolve(host, port))
            return
        self._use(address)

    async def _resolve(self, host: str, port: int) -> None:
        # A dual-stack (IPv6) socket reaches IPv4 peers too; an IPv4 socket only them.
        family = socket.AF_INET if self._family == socket.AF_INET else socket.AF_UNSPEC
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, family=family, type=socket.SOCK_DGRAM
            )
        except OSError as error:
            log.warning("%s peer %s does not resolve (%s): no media", self.kind, host, error)
            return
        self._use(media_address(str(infos[0][4][0]), port))  # the host of an INET sockaddr

    def _use(self, address: MediaAddress | None) -> None:
        self.remote = address
        self.established = False
        self._send_to = None
        if address is None:
            return
        ip, port = address
        if ip.is_unspecified:
            self.remote = None  # c=0.0.0.0: the old way of putting a stream on hold (RFC 3264 8.4)
            return
        self._latch_until = asyncio.get_running_loop().time() + LATCH_WINDOW if self.latch else 0.0
        if self._family == socket.AF_INET6 and ip.version == 4:
            self._send_to = (f"::ffff:{ip}", port)
        elif self._family == socket.AF_INET and ip.version == 6:
            log.warning("%s peer %s is IPv6 but our media socket is IPv4: no media", self.kind, ip)
        else:
            self._send_to = (str(ip), port)

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        if self.capture is not None:
            self.capture.add(addr[:2], self._local, data)
        if self.remote is None:
            return  # before the SDP named the peer: from no one we know
        # The 20 ms path: the peer's datagrams come from where we send, spelt as the socket spells it, so
        # the address is parsed only for datagrams from elsewhere.
        source = self.remote if addr[:2] == self._send_to else media_address(addr[0], addr[1])
        if source == self.remote:
            if self._handle(data):
                self.established = True
            return
        may_latch = not self.established and asyncio.get_running_loop().time() < self._latch_until
        if may_latch and self._handle(data):
            log.info("%s latched to %s:%s (the SDP said %s:%s)", self.kind, *source, *self.remote)
            self._use(source)
            self.established = True
            return
        if not self.foreign_in:
            log.info(
                "%s from %s:%s dropped: only %s:%s may send it%s",
                self.kind,
                *source,
                *self.remote,
                "" if self.latch else " (a peer behind NAT needs latching)",
            )
        self.foreign_in += 1

    def _handle(self, data: bytes) -> bool:
        """Take one datagram from the peer; False when it is not valid media of this stream."""
        raise NotImplementedError

    def _sendto(self, data: bytes) -> None:
        if self.transport is not None and self._send_to is not None and not self.transport.is_closing():
            self.transport.sendto(data, self._send_to)
            if self.capture is not None:
                self.capture.add(self._local, self._send_to, data)

    def error_received(self, exc: Exception) -> None:
        log.debug("media socket error: %s", exc)

    def close(self) -> None:
        self._tasks.cancel_all()
        if self.transport is not None:
            self.transport.close()


class RtpEndpoint(_Endpoint):
    """G.711 in and out: packets go into a jitter buffer, the ticker takes one frame per tick."""

    kind = "RTP"

    # A jitter buffer of 4 packets (80 ms): two packets lost in a row still come back in time from the
    # RFC 2198 redundancy of the next one (sip.rtp_redundancy.DEPTH), and a sender's stall of up to
    # 60 ms costs nothing.
    def __init__(self, payload_type: int = 0, jitter_depth: int = 4, *, latch: bool = False) -> None:
        super().__init__(latch=latch)
        self.stream = RtpStream(payload_type)
        self.jitter = JitterBuffer(jitter_depth)
        self.payload_type = payload_type
        self.accepted_types: set[int] = {payload_type}
        self.packets_in = 0
        self.packets_out = 0
        self.reception = ReceptionStats()
        #: RFC 2198 redundancy (sip.rtp_redundancy), once both sides agreed on it: its payload type.
        self.red_type: int | None = None
        self._red_sender: RedundantSender | None = None
        self._red_receiver: RedundantReceiver | None = None

    def set_payload_type(self, payload_type: int) -> None:
        self.payload_type = payload_type
        self.accepted_types = {payload_type}
        self.stream = RtpStream(payload_type)

    def use_redundancy(self, red_type: int | None) -> None:
        """Send and take RFC 2198 redundant G.711 on payload type ``red_type`` (after ``set_payload_type``):
        each packet also carries the one before, so a packet lost alone is made good by the next one.
        None: plain G.711."""
        self.red_type = red_type
        self.accepted_types = {self.payload_type} if red_type is None else {self.payload_type, red_type}
        self._red_sender = None if red_type is None else RedundantSender(self.payload_type)
        self._red_receiver = None if red_type is None else RedundantReceiver(self.payload_type)

    def _handle(self, data: bytes) -> bool:
        fields = plain_fields(data)
        if fields is None:  # CSRCs, an extension, padding: the full parser
            try:
                p = RtpPacket.parse(data)
            except RtpError:
                return False
            fields = p.payload_type, p.sequence_number, p.timestamp, p.ssrc, p.payload
        payload_type, sequence_number, timestamp, ssrc, payload = fields
        if payload_type not in self.accepted_types:
            return False  # telephone-event, comfort noise...: nothing a fax modem should hear
        if payload_type == self.red_type:
            return self._handle_redundant(ssrc, sequence_number, timestamp, payload)
        self.packets_in += 1
        self.reception.count(ssrc, sequence_number, timestamp, time.monotonic())
        self.jitter.add(ssrc, sequence_number, payload)
        return True

    def _handle_redundant(self, ssrc: int, sequence_number: int, timestamp: int, payload: bytes) -> bool:
        assert self._red_receiver is not None
        try:
            carried = self._red_receiver.unpack(ssrc, sequence_number, payload)
        except RedundancyError:
            return False
        self.packets_in += 1
        self.reception.count(ssrc, sequence_number, timestamp, time.monotonic())
        for sequence, data in carried:
            self.jitter.add(ssrc, sequence, data)
        return True

    def next_frame(self) -> bytes | Gap | None:
        return self.jitter.pop()

    def send(self, payload: bytes) -> None:
        if self._red_sender is not None:
            red = self._red_sender.payload(payload)
            self._sendto(self.stream.datagram(red, len(payload), self.red_type))
        else:
            self._sendto(self.stream.datagram(payload))
        self.packets_out += 1

    def figures(self) -> MediaFigures:
        """The stream's counters for the call's diagnostics: lost by sequence number, late as the jitter
        buffer dropped them."""
        return MediaFigures(
            kind="rtp",
            packets_sent=self.packets_out,
            packets_received=self.packets_in,
            lost=self.reception.lost,
            late=self.jitter.stats.late,
            recovered=self._red_receiver.recovered if self._red_receiver is not None else 0,
            jitter_ms=round(self.reception.jitter_ms, 2) if self.packets_in else None,
        )


class UdptlEndpoint(_Endpoint):
    """T.38 IFP packets in and out over UDPTL with redundancy."""

    kind = "UDPTL"

    def __init__(
        self,
        on_ifp: Callable[[int, bytes], None],
        redundancy: int = 3,
        max_datagram: int = 400,
        *,
        latch: bool = False,
    ) -> None:
        super().__init__(latch=latch)
        self.on_ifp = on_ifp
        self.sender = UdptlSender(redundancy=redundancy, max_datagram=max_datagram)
        self.receiver = UdptlReceiver()
        self.datagrams_in = 0
        self.datagrams_out = 0

    def limit_datagram(self, max_datagram: int | None) -> None:
        """The far end's T38FaxMaxDatagram: the largest datagram it accepts (redundancy is cut to fit)."""
        if max_datagram:
            self.sender.max_datagram = max_datagram

    def _handle(self, data: bytes) -> bool:
        try:
            delivered = self.receiver.receive(data)
        except UdptlError:
            return False
        self.datagrams_in += 1
        for sequence, ifp in delivered:
            self.on_ifp(sequence, ifp)
        return True

    def send(self, ifp: bytes, repeat: int = 1) -> None:
        datagram = self.sender.packet(ifp)
        # SpanDSP asks for indicators to be sent more than once; the same datagram again is
        # harmless (the receiver drops duplicates) and survives a lost packet at call start.
        for _ in range(max(repeat, 1)):
            self._sendto(datagram)
            self.datagrams_out += 1

    def figures(self) -> MediaFigures:
        """The stream's counters for the call's diagnostics: IFP packets lost, late, and made good from
        redundancy or FEC (T.38 9.1.1), by the receiver's count."""
        stats = self.receiver.stats
        return MediaFigures(
            kind="udptl",
            packets_sent=self.datagrams_out,
            packets_received=self.datagrams_in,
            lost=stats.lost,
            late=stats.late,
            recovered=stats.recovered,
        )
