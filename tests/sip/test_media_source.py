"""Media only from the peer the SDP names: third parties that send RTP and UDPTL at our media ports
neither disturb a fax nor get any of its media, and latching (a peer behind NAT) happens once.

The injectors are real sockets on 127.0.0.2 and on 127.0.0.1 (another port); they learn our media
ports the way an attacker on the path would, from the SDP in the SIP messages (here: read as each
user agent receives them), and start sending at once, before the real media.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import itertools
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from faxgw.gateway.cli.common import add_call_options, call_options
from faxgw.gateway.config import Config
from faxgw.gateway.documents import page_differences
from faxgw.gateway.engines.native import NativeEngine
from faxgw.sip import media as media_module
from faxgw.sip.call import IncomingCall
from faxgw.sip.fax_call import FaxCallOptions, T38Policy
from faxgw.sip.media import RtpEndpoint, UdptlEndpoint, media_address
from faxgw.sip.message import SipRequest, SipResponse
from faxgw.sip.rtp import RtpStream
from faxgw.sip.sdp import SessionDescription
from faxgw.sip.transport import Peer
from faxgw.sip.ua import UserAgent
from faxgw.sip.udptl import UdptlPacket, UdptlSender

from tests.helpers.pages import make_document
from tests.helpers.sip import LOCALHOST, Pair

OTHER_LOOPBACK = "127.0.0.2"
#: T.38 IFP indicators (T.38 7.3, encoded as SpanDSP does: the value shifted left by one): no-signal
#: and V.21 preamble, what a sender in phase B would say.
INDICATORS = (b"\x00", b"\x06")


class Counter(asyncio.DatagramProtocol):
    """A UDP socket that counts (and keeps the source of) every datagram it receives."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.sources: list[tuple[str, int]] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        self.sources.append(addr[:2])

    @property
    def address(self) -> tuple[str, int]:
        assert self.transport is not None
        return self.transport.get_extra_info("sockname")[:2]

    def sendto(self, data: bytes, target: tuple[str, int]) -> None:
        assert self.transport is not None
        self.transport.sendto(data, target)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def open_counter(host: str, cls: type[Counter] = Counter) -> Counter:
    _, protocol = await asyncio.get_running_loop().create_datagram_endpoint(cls, local_addr=(host, 0))
    return protocol


class Injector(Counter):
    """A third party: 50 well-formed RTP packets (PCMU, one SSRC, in sequence) or UDPTL datagrams (T.38
    indicators with redundancy) a second to every target it is given, from the first moment it knows
    it. ``sources`` is what it got back: it must stay empty."""

    def __init__(self) -> None:
        super().__init__()
        self.targets: dict[tuple[str, int], str] = {}
        self.sent = 0
        self._rtp = RtpStream(0)
        self._udptl = UdptlSender(redundancy=3)
        self._indicators = itertools.cycle(INDICATORS)
        self._task: asyncio.Task | None = None

    def aim(self, host: str, port: int, kind: str) -> None:
        if (host, port) not in self.targets:
            self.targets[(host, port)] = kind
            self._send((host, port), kind)  # at once: ahead of the real media
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    def _send(self, target: tuple[str, int], kind: str) -> None:
        if kind == "audio":
            noise = bytes((i * 37) & 0xFF for i in range(160))
            self.sendto(bytes(self._rtp.packet(noise)), target)
        else:
            self.sendto(self._udptl.packet(next(self._indicators)), target)
        self.sent += 1

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(0.020)
            for target, kind in list(self.targets.items()):
                self._send(target, kind)

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        super().close()


def media_ports(message: SipRequest | SipResponse) -> list[tuple[str, int, str]]:
    """The (host, port, kind) of every stream the SDP in ``message`` offers or answers."""
    if not message.body:
        return []
    sdp = SessionDescription.parse(message.body)
    return [(m.connection or sdp.connection or LOCALHOST, m.port, m.media) for m in sdp.media if m.port != 0]


def sniff(ua: UserAgent, on_media: Callable[[str, int, str], None]) -> None:
    """Call ``on_media(host, port, kind)`` for each stream in the SDP of every message ``ua`` receives,
    before ``ua`` itself handles it."""
    deliver = ua.transport.on_message

    def on_message(message: SipRequest | SipResponse, peer: Peer) -> None:
        for host, port, kind in media_ports(message):
            on_media(host, port, kind)
        deliver(message, peer)

    ua.transport.on_message = on_message


@pytest.fixture
async def injectors() -> AsyncIterator[list[Injector]]:
    opened = [await open_counter(host, Injector) for host in (OTHER_LOOPBACK, LOCALHOST)]
    yield opened
    for injector in opened:
        injector.close()


@pytest.mark.slow  # real-time faxes, 16-21 s
@pytest.mark.parametrize(
    ("policy", "pages"), [(T38Policy.AUTO, 2), (T38Policy.AUDIO, 1)], ids=["t38-paced", "g711"]
)
async def test_injected_media_neither_breaks_a_fax_nor_receives_any(
    tmp_path: Path, injectors: list[Injector], policy: T38Policy, pages: int
) -> None:
    make_document(tmp_path / "tx.tif", pages)

    def attack(host: str, port: int, kind: str) -> None:
        for injector in injectors:
            injector.aim(host, port, kind)

    async with Pair(tmp_path, FaxCallOptions(t38=policy)) as pair:
        for ua in (pair.caller, pair.callee):
            sniff(ua, attack)
        sent = await pair.send(tmp_path / "tx.tif")
        received = await pair.received
    kinds = {"audio", "image"} if policy is T38Policy.AUTO else {"audio"}
    for injector in injectors:
        # Both parties' ports of every stream were hit (the same port appears in offer and answer).
        assert len(injector.targets) == 2 * len(kinds) and set(injector.targets.values()) == kinds
        assert injector.sent > 100
        assert injector.sources == [], "our media went to a third party"
    assert (sent.status, sent.pages, sent.pages_expected) == ("success", pages, pages), sent
    assert (received.status, received.pages) == ("success", pages), received
    assert sent.t38 is received.t38 is (policy is T38Policy.AUTO)
    assert page_differences(tmp_path / "tx.tif", tmp_path / "rx.tif") == [0] * pages


class NatRelay(Counter):
    """The callee behind a NAT, as the caller sees it: the callee's SDP names its own media port, but its
    media reaches the caller from this relay's port (and only what is sent to that port reaches it).
    The callee is told (its view of the caller's SDP is rewritten) that the caller is here."""

    def __init__(self) -> None:
        super().__init__()
        self.caller: tuple[str, int] | None = None  # the caller's real RTP address
        self.callee: tuple[str, int] | None = None  # the callee's real RTP address (learned from it)
        self.to_caller = 0
        self.to_callee = 0

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        assert self.caller is not None
        if addr[:2] == self.caller:
            if self.callee is not None:
                self.sendto(data, self.callee)
                self.to_callee += 1
        else:
            self.callee = addr[:2]
            self.sendto(data, self.caller)
            self.to_caller += 1


@pytest.mark.slow  # a real-time G.711 fax, ~16 s
async def test_latching_follows_a_peer_behind_nat_once(tmp_path: Path, injectors: list[Injector]) -> None:
    make_document(tmp_path / "tx.tif", 1)
    nat = await open_counter(LOCALHOST, NatRelay)
    options = FaxCallOptions(t38=T38Policy.AUDIO, media_latch=True)
    try:
        async with Pair(tmp_path, options) as pair:

            def behind_nat(call: IncomingCall) -> None:
                assert call.remote_sdp is not None
                audio = call.remote_sdp.media[0]
                audio_port = audio.port
                nat.caller = (LOCALHOST, audio_port)
                audio.port = nat.address[1]
                # Only the caller latches: the callee sends to the NAT and hears from it alone. (It
                # sends only once the caller's ACK came, and the caller's packets to the callee's own
                # port, which a real NAT would not let through, reach it here first.)
                pair.options = dataclasses.replace(options, media_latch=False)
                # Once the caller has latched, a third party tries to take its media (inside the
                # latching window: only the first accepted packet may latch).
                for injector in injectors:
                    asyncio.get_running_loop().call_later(1.0, injector.aim, LOCALHOST, audio_port, "audio")

            pair.on_receiver_call = behind_nat
            sent = await pair.send(tmp_path / "tx.tif")
            received = await pair.received
    finally:
        nat.close()
    assert (sent.status, sent.pages, received.status, received.pages) == ("success", 1, "success", 1)
    # The caller's media went back where the callee's came from, through the NAT, all call long.
    assert nat.to_callee > 0.9 * nat.to_caller > 200
    # Every packet the caller took came through the NAT, none from the injectors ...
    assert sent.audio_packets_in <= nat.to_caller
    for injector in injectors:
        assert injector.sent > 50
        assert injector.sources == [], "a later source moved the latched media"


# -- one endpoint on real sockets ---------------------------------------------------------------------


def rtp(stream: RtpStream) -> bytes:
    return bytes(stream.packet(b"\xff" * 160))


async def settle() -> None:
    await asyncio.sleep(0.05)


async def test_media_before_the_peer_is_known_is_dropped_and_nothing_is_sent() -> None:
    endpoint = await RtpEndpoint.open(LOCALHOST)
    peer = await open_counter(LOCALHOST)
    try:
        peer.sendto(rtp(RtpStream(0)), (LOCALHOST, endpoint.port))
        await settle()
        endpoint.send(b"\xff" * 160)
        await settle()
        assert endpoint.packets_in == 0 and endpoint.jitter.stats.received == 0
        assert peer.sources == []
    finally:
        endpoint.close()
        peer.close()


async def test_sdp_host_name_is_resolved_once_and_names_the_peer() -> None:
    endpoint = await RtpEndpoint.open(LOCALHOST)
    peer = await open_counter(LOCALHOST)
    other = await open_counter(OTHER_LOOPBACK)
    try:
        endpoint.set_remote("localhost", peer.address[1])
        await settle()
        assert endpoint.remote == media_address(LOCALHOST, peer.address[1])
        stream = RtpStream(0)
        peer.sendto(rtp(stream), (LOCALHOST, endpoint.port))
        other.sendto(rtp(RtpStream(0)), (LOCALHOST, endpoint.port))
        endpoint.send(b"\xff" * 160)
        await settle()
        assert (endpoint.packets_in, endpoint.foreign_in) == (1, 1)
        assert peer.sources == [(LOCALHOST, endpoint.port)] and other.sources == []
    finally:
        for closing in (endpoint, peer, other):
            closing.close()


async def test_ipv4_peer_on_a_dual_stack_socket() -> None:
    """An IPv6 socket sees an IPv4 peer as ::ffff:a.b.c.d; the SDP names it a.b.c.d: the same peer."""
    assert media_address("::ffff:127.0.0.1", 9) == media_address(LOCALHOST, 9)
    try:
        endpoint = await UdptlEndpoint.open("::ffff:127.0.0.1", lambda seq, ifp: None)
    except OSError as error:
        pytest.skip(f"no IPv4-mapped IPv6 sockets here: {error}")
    peer = await open_counter(LOCALHOST)
    try:
        assert endpoint.transport is not None
        assert endpoint.transport.get_extra_info("socket").family == socket.AF_INET6
        endpoint.set_remote(LOCALHOST, peer.address[1])
        peer.sendto(bytes(UdptlPacket(0, b"\x06")), (LOCALHOST, endpoint.port))
        endpoint.send(b"\x00")
        await settle()
        assert (endpoint.datagrams_in, endpoint.foreign_in) == (1, 0)
        assert peer.sources == [(LOCALHOST, endpoint.port)]
    finally:
        endpoint.close()
        peer.close()


async def test_latch_moves_once_and_a_repeated_sdp_does_not_reopen_it() -> None:
    endpoint = await RtpEndpoint.open(LOCALHOST, latch=True)
    sdp_port, nat, injector = [await open_counter(LOCALHOST) for _ in range(3)]
    try:
        endpoint.set_remote(LOCALHOST, sdp_port.address[1])
        nat.sendto(rtp(RtpStream(0)), (LOCALHOST, endpoint.port))
        await settle()
        # A session refresh (or a switch back from T.38) repeats the SDP: the latch stays.
        endpoint.set_remote(LOCALHOST, sdp_port.address[1])
        injector.sendto(rtp(RtpStream(0)), (LOCALHOST, endpoint.port))
        sdp_port.sendto(rtp(RtpStream(0)), (LOCALHOST, endpoint.port))
        await settle()
        endpoint.send(b"\xff" * 160)
        await settle()
        assert endpoint.remote == media_address(*nat.address) and endpoint.established
        assert (endpoint.packets_in, endpoint.foreign_in) == (1, 2)
        assert nat.sources == [(LOCALHOST, endpoint.port)]
        assert injector.sources == sdp_port.sources == []
    finally:
        for closing in (endpoint, sdp_port, nat, injector):
            closing.close()


async def test_latching_window_closes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(media_module, "LATCH_WINDOW", 0.05)
    endpoint = await UdptlEndpoint.open(LOCALHOST, lambda seq, ifp: None, latch=True)
    sdp_port, late = await open_counter(LOCALHOST), await open_counter(LOCALHOST)
    try:
        endpoint.set_remote(LOCALHOST, sdp_port.address[1])
        await asyncio.sleep(0.1)
        late.sendto(bytes(UdptlPacket(0, b"\x06")), (LOCALHOST, endpoint.port))
        await settle()
        endpoint.send(b"\x00")
        await settle()
        assert (endpoint.datagrams_in, endpoint.foreign_in) == (0, 1)
        assert late.sources == [] and sdp_port.sources == [(LOCALHOST, endpoint.port)]
    finally:
        for closing in (endpoint, sdp_port, late):
            closing.close()


def test_latching_is_off_unless_configured() -> None:
    """``media_latch`` (faxgw serve) and ``--latch`` (faxgw send and receive) reach the fax calls."""
    assert not NativeEngine(Config())._options("+15550100").media_latch
    assert NativeEngine(Config(media_latch=True))._options("+15550100").media_latch
    parser = argparse.ArgumentParser()
    add_call_options(parser)
    assert not call_options(parser.parse_args([])).media_latch
    assert call_options(parser.parse_args(["--latch"])).media_latch
