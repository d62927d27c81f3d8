"""Media sockets for fax calls: RTP (G.711) and UDPTL (T.38), and the one 20 ms ticker they share.

Fax-safe choices: no VAD, no comfort noise, no packet-loss concealment; a fixed small jitter
buffer that reorders; symmetric RTP/UDPTL (we answer to where packets really come from, which is
what gets a call through a NAT).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from sip.rtp import Gap, JitterBuffer, RtpError, RtpPacket, RtpStream
from sip.udptl import UdptlError, UdptlReceiver, UdptlSender

log = logging.getLogger("sip.media")

#: 20 ms: one G.711 packet, one SpanDSP block, one T.38 timer step.
TICK = 0.020


class Ticker:
    """Calls every registered callback each 20 ms, all calls from one task.

    The schedule is kept against the loop clock, so a late tick is followed by a short one and
    the long-run rate stays exact (a fax modem cannot tolerate drift).
    """

    def __init__(self, interval: float = TICK) -> None:
        self.interval = interval
        self._callbacks: dict[int, Callable[[], None]] = {}
        self._next_id = 0
        self._task: asyncio.Task | None = None
        self.late_ticks = 0

    def add(self, callback: Callable[[], None]) -> int:
        self._next_id += 1
        self._callbacks[self._next_id] = callback
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())
        return self._next_id

    def remove(self, handle: int) -> None:
        self._callbacks.pop(handle, None)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time()
        while self._callbacks:
            for handle, callback in list(self._callbacks.items()):
                if handle in self._callbacks:
                    try:
                        callback()
                    except Exception:  # one broken call must not stop the others' media
                        log.exception("media tick failed; removing that call's callback")
                        self._callbacks.pop(handle, None)
            deadline += self.interval
            delay = deadline - loop.time()
            if delay < -self.interval:
                self.late_ticks += 1
                deadline = loop.time()  # far behind (process stalled): restart the schedule
                delay = 0
            await asyncio.sleep(max(delay, 0))

    def close(self) -> None:
        self._callbacks.clear()
        if self._task is not None:
            self._task.cancel()


class _Endpoint(asyncio.DatagramProtocol):
    """A UDP media socket that latches onto the address the peer really sends from."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.remote: tuple[str, int] | None = None
        self.latched = False

    @classmethod
    async def open(cls, host: str, *args, **kwargs):
        loop = asyncio.get_running_loop()
        _, endpoint = await loop.create_datagram_endpoint(lambda: cls(*args, **kwargs), local_addr=(host, 0))
        return endpoint

    @property
    def port(self) -> int:
        assert self.transport is not None
        return self.transport.get_extra_info("sockname")[1]

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def _latch(self, addr: tuple) -> None:
        # Symmetric media: the first packet tells where the peer (or its NAT) really is.
        if not self.latched:
            if self.remote != addr[:2]:
                log.debug("media latched to %s:%s (SDP said %s)", addr[0], addr[1], self.remote)
            self.remote = addr[:2]
            self.latched = True

    def set_remote(self, host: str, port: int) -> None:
        self.remote = (host, port)
        self.latched = False

    def _sendto(self, data: bytes) -> None:
        if self.transport is not None and self.remote is not None and not self.transport.is_closing():
            self.transport.sendto(data, self.remote)

    def error_received(self, exc: Exception) -> None:
        log.debug("media socket error: %s", exc)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class RtpEndpoint(_Endpoint):
    """G.711 in and out: packets go into a jitter buffer, the ticker takes one frame per tick."""

    def __init__(self, payload_type: int = 0, jitter_depth: int = 3) -> None:
        super().__init__()
        self.stream = RtpStream(payload_type)
        self.jitter = JitterBuffer(jitter_depth)
        self.payload_type = payload_type
        self.accepted_types: set[int] = {payload_type}
        self.packets_in = 0
        self.packets_out = 0

    def set_payload_type(self, payload_type: int) -> None:
        self.payload_type = payload_type
        self.accepted_types = {payload_type}
        self.stream = RtpStream(payload_type)

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        try:
            packet = RtpPacket.parse(data)
        except RtpError:
            return
        if packet.payload_type not in self.accepted_types:
            return  # telephone-event, comfort noise...: nothing a fax modem should hear
        self._latch(addr)
        self.packets_in += 1
        self.jitter.push(packet)

    def next_frame(self) -> bytes | Gap | None:
        return self.jitter.pop()

    def send(self, payload: bytes) -> None:
        self._sendto(bytes(self.stream.packet(payload)))
        self.packets_out += 1


class UdptlEndpoint(_Endpoint):
    """T.38 IFP packets in and out over UDPTL with redundancy."""

    def __init__(
        self, on_ifp: Callable[[int, bytes], None], redundancy: int = 3, max_datagram: int = 400
    ) -> None:
        super().__init__()
        self.on_ifp = on_ifp
        self.sender = UdptlSender(redundancy=redundancy, max_datagram=max_datagram)
        self.receiver = UdptlReceiver()
        self.datagrams_in = 0
        self.datagrams_out = 0

    def limit_datagram(self, max_datagram: int | None) -> None:
        """The far end's T38FaxMaxDatagram: the largest datagram it accepts (redundancy is cut to fit)."""
        if max_datagram:
            self.sender.max_datagram = max_datagram

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        try:
            delivered = self.receiver.receive(data)
        except UdptlError:
            return
        self._latch(addr)
        self.datagrams_in += 1
        for sequence, ifp in delivered:
            self.on_ifp(sequence, ifp)

    def send(self, ifp: bytes, repeat: int = 1) -> None:
        datagram = self.sender.packet(ifp)
        # SpanDSP asks for indicators to be sent more than once; the same datagram again is
        # harmless (the receiver drops duplicates) and survives a lost packet at call start.
        for _ in range(max(repeat, 1)):
            self._sendto(datagram)
            self.datagrams_out += 1
