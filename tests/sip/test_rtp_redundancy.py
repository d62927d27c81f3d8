"""RFC 2198 redundant audio: the payload format against hand-built octets, and lost packets made good."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from faxgw.sip.media import RtpEndpoint
from faxgw.sip.rtp import Gap, JitterBuffer, RtpPacket, RtpStream
from faxgw.sip.rtp_redundancy import (
    Block,
    RedundancyError,
    RedundantReceiver,
    RedundantSender,
    decode,
    encode,
)
from hypothesis import given
from hypothesis import strategies as st

from tests.helpers.sip import LOCALHOST


def test_payload_octets():
    # RFC 2198 3: F=1 | PT 0, then 14 bits of timestamp offset (160) and 10 of length (3); F=0 | PT 0.
    payload = encode([Block(0, b"abc", 160)], Block(0, b"XY"))
    assert payload == bytes.fromhex("80 028003 00") + b"abcXY"
    assert decode(payload) == ([Block(0, b"abc", 160)], Block(0, b"XY"))
    assert decode(b"\x08pcma") == ([], Block(8, b"pcma"))


blocks = st.builds(
    Block,
    st.integers(0, 127),
    st.binary(max_size=1023),
    st.integers(0, (1 << 14) - 1),
)


@given(st.lists(blocks, max_size=4), st.integers(0, 127), st.binary(max_size=400))
def test_round_trip(redundant: list[Block], pt: int, data: bytes):
    assert decode(encode(redundant, Block(pt, data))) == (redundant, Block(pt, data))


@given(st.binary(max_size=64))
def test_random_bytes_raise_only_redundancy_error(data: bytes):
    with contextlib.suppress(RedundancyError):
        decode(data)


@pytest.mark.parametrize(
    ("data", "message"),
    [(b"", "primary"), (b"\x80\x02\x80", "header"), (b"\x80\x02\x80\x05\x00ab", "runs past")],
)
def test_malformed(data: bytes, message: str):
    with pytest.raises(RedundancyError, match=message):
        decode(data)


def test_unencodable():
    with pytest.raises(RedundancyError):
        encode([Block(0, bytes(1024), 160)], Block(0, b""))
    with pytest.raises(RedundancyError):
        encode([Block(0, b"", 1 << 14)], Block(0, b""))


def _red_stream(payloads: list[bytes], depth: int = 1) -> list[RtpPacket]:
    """The packets a sender with redundancy puts on the wire for these 20 ms payloads."""
    sender, stream = RedundantSender(0, depth), RtpStream(96, ssrc=7)
    return [stream.packet(sender.payload(p), samples=160) for p in payloads]


def test_sender_carries_the_previous_payloads():
    packets = _red_stream([b"a" * 160, b"b" * 160, b"c" * 160], depth=2)
    assert decode(packets[0].payload) == ([], Block(0, b"a" * 160))
    assert decode(packets[2].payload) == (
        [Block(0, b"a" * 160, 320), Block(0, b"b" * 160, 160)],
        Block(0, b"c" * 160),
    )


def _played(arrivals: list[list[RtpPacket]], jitter: JitterBuffer, count: int) -> list[bytes | Gap]:
    """What the jitter buffer plays, one tick per arrival, until ``count`` frames have been played."""
    played: list[bytes | Gap] = []
    for packets in arrivals:
        for packet in packets:
            jitter.push(packet)
        played.append(jitter.pop())
    while len([p for p in played if p is not None]) < count:
        played.append(jitter.pop())
    return [p for p in played if p is not None]


def _packets(pairs: list[tuple[int, bytes]]) -> list[RtpPacket]:
    return [RtpPacket(0, sequence, 0, 7, payload) for sequence, payload in pairs]


PAYLOADS = [bytes([n]) * 160 for n in range(8)]


def test_a_lost_packet_comes_back_from_the_next_one():
    """Packet 3 of 8 is lost on the way: the jitter buffer still plays all eight payloads in order."""
    receiver = RedundantReceiver(0)
    arrivals = [
        [] if n == 3 else _packets(receiver.unpack(packet.ssrc, packet.sequence_number, packet.payload))
        for n, packet in enumerate(_red_stream(PAYLOADS))
    ]
    jitter = JitterBuffer(depth=3)
    assert _played(arrivals, jitter, 8) == PAYLOADS
    assert receiver.recovered == 1 and jitter.stats.duplicates == 0


def test_two_lost_in_a_row_come_back_from_the_third_in_time():
    """Packets 3 and 4 lost: the sender's default depth carries both in packet 5, which comes in time for
    the media endpoint's jitter buffer to play them."""
    receiver = RedundantReceiver(0)
    stream, sender = RtpStream(96, ssrc=7), RedundantSender(0)
    arrivals = []
    for n, payload in enumerate(PAYLOADS):
        packet = stream.packet(sender.payload(payload), samples=160)
        lost = n in (3, 4)
        arrivals.append([] if lost else _packets(receiver.unpack(7, packet.sequence_number, packet.payload)))
    assert _played(arrivals, RtpEndpoint().jitter, 8) == PAYLOADS
    assert receiver.recovered == 2


def test_without_redundancy_the_same_loss_is_a_gap():
    """The control for the test above: a lost plain packet is a gap the fax engine must fill in."""
    stream = RtpStream(0, ssrc=7)
    arrivals = [[] if n == 3 else [packet] for n, packet in enumerate(stream.packet(p) for p in PAYLOADS)]
    assert _played(arrivals, JitterBuffer(depth=3), 8) == [*PAYLOADS[:3], Gap(160), *PAYLOADS[4:]]


def test_receiver_places_blocks_by_timestamp_and_skips_what_came():
    receiver = RedundantReceiver(0)
    assert receiver.unpack(1, 100, encode([], Block(0, b"p100"))) == [(100, b"p100")]
    # 101 lost; 102 carries 100 (came) and 101 (recovered); an offset of half a packet cannot be placed,
    # nor can another payload type (telephone-event).
    blocks = [Block(0, b"p100", 320), Block(0, b"p101", 160), Block(0, b"?", 80), Block(101, b"event", 160)]
    assert receiver.unpack(1, 102, encode(blocks, Block(0, b"p102"))) == [(101, b"p101"), (102, b"p102")]
    assert receiver.recovered == 1
    # 101 itself comes late: already delivered from 102's redundancy.
    assert receiver.unpack(1, 101, encode([], Block(0, b"p101"))) == []
    # A new SSRC is a new stream, whatever numbers it uses.
    assert receiver.unpack(2, 101, encode([], Block(0, b"new"))) == [(101, b"new")]


# --- through real sockets: two media endpoints and a relay that loses one datagram ---------------------


class _LossyRelay(asyncio.DatagramProtocol):
    """Forwards each datagram to ``target`` except the ``lose``-th (counting from 0)."""

    def __init__(self, target: tuple[str, int], lose: int) -> None:
        self.target, self.lose, self.count = target, lose, 0
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        if self.count != self.lose:
            assert self.transport is not None
            self.transport.sendto(data, self.target)
        self.count += 1


@pytest.mark.parametrize("redundancy", [True, False])
async def test_endpoints_make_good_a_lost_datagram(redundancy: bool) -> None:
    """A sends eight 20 ms G.711 payloads to B through a relay that loses the fourth datagram. With RFC
    2198 redundancy agreed (``use_redundancy``) B plays all eight, no gap; without it, a gap."""
    a = await RtpEndpoint.open(LOCALHOST)
    b = await RtpEndpoint.open(LOCALHOST)
    loop = asyncio.get_running_loop()
    transport, _relay = await loop.create_datagram_endpoint(
        lambda: _LossyRelay((LOCALHOST, b.port), lose=3), local_addr=(LOCALHOST, 0)
    )
    try:
        relay_port = transport.get_extra_info("sockname")[1]
        for endpoint in (a, b):
            endpoint.set_payload_type(0)
            endpoint.use_redundancy(96 if redundancy else None)
            endpoint.set_remote(LOCALHOST, relay_port)
        for payload in PAYLOADS:
            a.send(payload)
        await asyncio.sleep(0.1)
        played = [b.next_frame() for _ in range(12)]
        played = [frame for frame in played if frame is not None][:8]
        if redundancy:
            assert played == PAYLOADS and b.figures().recovered == 1
        else:
            assert played == [*PAYLOADS[:3], Gap(160), *PAYLOADS[4:]] and b.figures().recovered == 0
        assert b.figures().lost == 1  # by sequence number: the network did lose it
    finally:
        for closing in (a, b, transport):
            closing.close()
