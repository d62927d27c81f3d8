"""RTP packets (RFC 3550) against hand-built octets, the sending stream, and the fax-safe jitter buffer."""

from __future__ import annotations

import contextlib
import random
import struct

import pytest
from faxgw.sip.rtp import (
    PT_PCMA,
    PT_PCMU,
    Gap,
    JitterBuffer,
    RtpError,
    RtpPacket,
    RtpStream,
    plain_fields,
    seq_delta,
)
from hypothesis import given, settings
from hypothesis import strategies as st

# --- packet format -------------------------------------------------------------------------------------


def test_minimal_packet_octets():
    packet = RtpPacket(payload_type=0, sequence_number=0x1234, timestamp=0xDEADBEEF, ssrc=0x01020304)
    assert bytes(packet) == bytes.fromhex("80 00 1234 deadbeef 01020304")
    assert RtpPacket.parse(bytes(packet)) == packet


def test_marker_payload_type_and_payload():
    packet = RtpPacket(8, 65535, 160, 7, payload=b"\xd5" * 4, marker=True)
    assert bytes(packet) == bytes.fromhex("80 88 ffff 000000a0 00000007 d5d5d5d5")


def test_every_header_field():
    # V=2 P=1 X=1 CC=2 | M=1 PT=101 | seq | ts | ssrc | 2 CSRC | ext profile 0xBEDE, 1 word | payload | pad 3
    data = bytes.fromhex(
        "b2 e5 0001 00000002 00000003 0000000a 0000000b bede0001 11223344 aabb 0000 03".replace(" ", "")
    )
    packet = RtpPacket.parse(data)
    assert packet == RtpPacket(
        payload_type=101,
        sequence_number=1,
        timestamp=2,
        ssrc=3,
        payload=b"\xaa\xbb",
        marker=True,
        csrc=[10, 11],
        extension=(0xBEDE, bytes.fromhex("11223344")),
        padding_size=3,
    )
    assert bytes(packet) == data


def test_parse_accepts_memoryview_and_bytearray():
    data = bytes(RtpPacket(0, 1, 2, 3, b"x"))
    assert RtpPacket.parse(memoryview(data)) == RtpPacket.parse(bytearray(data)) == RtpPacket.parse(data)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "shorter"),
        (bytes.fromhex("80 00 0001 00000002"), "shorter"),
        (bytes.fromhex("40 00 0001 00000002 00000003"), "version 1"),
        (bytes.fromhex("00 00 0001 00000002 00000003"), "version 0"),
        (bytes.fromhex("81 00 0001 00000002 00000003"), "CSRC"),
        (bytes.fromhex("90 00 0001 00000002 00000003 bede"), "extension"),
        (bytes.fromhex("90 00 0001 00000002 00000003 bede0002 00000000"), "extension"),
        (bytes.fromhex("a0 00 0001 00000002 00000003"), "padding"),  # P set, nothing after the header
        (bytes.fromhex("a0 00 0001 00000002 00000003 aa00"), "padding"),  # padding count 0
        (bytes.fromhex("a0 00 0001 00000002 00000003 aa03"), "padding"),  # more padding than octets
    ],
)
def test_malformed_packets_raise_rtp_error(data, reason):
    with pytest.raises(RtpError, match=reason):
        RtpPacket.parse(data)


def test_padding_may_fill_the_whole_payload():
    packet = RtpPacket.parse(bytes.fromhex("a0 00 0001 00000002 00000003 0002"))
    assert packet.payload == b"" and packet.padding_size == 2


@pytest.mark.parametrize(
    "packet",
    [
        RtpPacket(128, 0, 0, 0),
        RtpPacket(0, 65536, 0, 0),
        RtpPacket(0, 0, 1 << 32, 0),
        RtpPacket(0, 0, 0, -1),
        RtpPacket(0, 0, 0, 0, csrc=list(range(16))),
        RtpPacket(0, 0, 0, 0, extension=(1, b"abc")),
        RtpPacket(0, 0, 0, 0, padding_size=256),
    ],
)
def test_unencodable_packets_raise_rtp_error(packet):
    with pytest.raises(RtpError):
        bytes(packet)


u32 = st.integers(0, 2**32 - 1)
packets = st.builds(
    RtpPacket,
    payload_type=st.integers(0, 127),
    sequence_number=st.integers(0, 65535),
    timestamp=u32,
    ssrc=u32,
    payload=st.binary(max_size=200),
    marker=st.booleans(),
    csrc=st.lists(u32, max_size=15),
    extension=st.none() | st.tuples(st.integers(0, 65535), st.binary(max_size=40).map(lambda b: b * 4)),
    padding_size=st.integers(0, 255),
)


@given(packets)
def test_round_trip(packet):
    assert RtpPacket.parse(bytes(packet)) == packet


@given(st.binary(max_size=100))
def test_random_bytes_raise_only_rtp_error(data):
    try:
        packet = RtpPacket.parse(data)
    except RtpError:
        return
    assert RtpPacket.parse(bytes(packet)) == packet


@given(st.binary(max_size=60))
def test_random_bytes_behind_a_valid_first_octet(tail):
    for first in (0x80, 0x90, 0xA0, 0xB5, 0x8F):
        with contextlib.suppress(RtpError):
            RtpPacket.parse(bytes([first]) + tail)


# --- sending stream --------------------------------------------------------------------------------------


def test_stream_numbering_and_marker():
    stream = RtpStream(PT_PCMU, ssrc=0xCAFE)
    stream.sequence_number, stream.timestamp = 100, 1000
    first, second = stream.packet(b"\xff" * 160), stream.packet(b"\xff" * 160)
    assert (first.sequence_number, first.timestamp, first.marker) == (100, 1000, True)
    assert (second.sequence_number, second.timestamp, second.marker) == (101, 1160, False)
    assert first.ssrc == second.ssrc == 0xCAFE and first.payload_type == PT_PCMU
    assert (stream.packets_sent, stream.octets_sent) == (2, 320)


def test_stream_wraps_sequence_and_timestamp():
    stream = RtpStream(PT_PCMA)
    stream.sequence_number, stream.timestamp = 65535, 2**32 - 100
    a, b = stream.packet(bytes(160)), stream.packet(bytes(160))
    assert (a.sequence_number, b.sequence_number) == (65535, 0)
    assert (a.timestamp, b.timestamp) == (2**32 - 100, 60)
    assert stream.sequence_number == 1 and stream.timestamp == 220


def test_stream_explicit_samples_marker_and_payload_type():
    stream = RtpStream(PT_PCMU)
    ts = stream.timestamp
    event = stream.packet(b"\x01\x80\x00\xa0", samples=0, payload_type=101, marker=True)
    assert event.payload_type == 101 and event.marker and event.timestamp == ts
    audio = stream.packet(bytes(160), samples=160, marker=False)
    assert audio.timestamp == ts and audio.payload_type == PT_PCMU and not audio.marker
    assert stream.timestamp == (ts + 160) % 2**32


def test_stream_datagram_is_the_packet_encoded():
    # The media path's way (no RtpPacket) and the checked way give the same octets and numbering,
    # across the wrap of both counters, with and without another payload type and sample count.
    fast, checked = RtpStream(PT_PCMA, ssrc=0xCAFE), RtpStream(PT_PCMA, ssrc=0xCAFE)
    for stream in (fast, checked):
        stream.sequence_number, stream.timestamp = 65534, 2**32 - 200
    for n, (samples, payload_type) in enumerate([(None, None), (160, 96), (None, None), (0, 101)]):
        payload = bytes([n]) * 160
        datagram = fast.datagram(payload, samples, payload_type)
        assert datagram == bytes(checked.packet(payload, samples, payload_type=payload_type))
        assert RtpPacket.parse(datagram).marker is (n == 0)
    assert (fast.sequence_number, fast.timestamp) == (checked.sequence_number, checked.timestamp)
    assert (fast.packets_sent, fast.octets_sent) == (checked.packets_sent, checked.octets_sent)


@given(packets)
def test_plain_fields_read_what_parse_reads_or_leave_it_to_parse(packet):
    data = bytes(packet)
    fields = plain_fields(data)
    if packet.csrc or packet.extension is not None or packet.padding_size:
        assert fields is None
    else:
        header = packet.payload_type, packet.sequence_number, packet.timestamp, packet.ssrc
        assert fields == (*header, packet.payload)


def test_stream_initial_values_are_random():
    streams = [RtpStream(0) for _ in range(8)]
    assert len({s.ssrc for s in streams}) > 1
    assert len({s.sequence_number for s in streams}) > 1
    assert len({s.timestamp for s in streams}) > 1
    assert all(0 <= s.sequence_number < 65536 and 0 <= s.timestamp < 2**32 for s in streams)


def test_stream_rejects_bad_payload_type():
    with pytest.raises(RtpError):
        RtpStream(200)


def test_seq_delta_wraps():
    assert seq_delta(0, 65535) == 1
    assert seq_delta(65535, 0) == -1
    assert seq_delta(5, 3) == 2
    assert seq_delta(0x8000, 0) == -0x8000


# --- jitter buffer ---------------------------------------------------------------------------------------

SSRC = 0x1234


def pkt(seq: int, ssrc: int = SSRC) -> RtpPacket:
    return RtpPacket(PT_PCMU, seq & 0xFFFF, (seq * 160) & 0xFFFFFFFF, ssrc, payload=b"%d" % (seq & 0xFFFF))


def pay(seq: int) -> bytes:
    return b"%d" % (seq & 0xFFFF)


def test_fills_to_depth_then_plays_in_order():
    jb = JitterBuffer(depth=3)
    out = []
    for seq in range(10):
        jb.push(pkt(seq))
        out.append(jb.pop())
    assert out[:2] == [None, None]
    assert out[2:] == [pay(s) for s in range(8)]
    assert jb.stats.played == 8 and jb.stats.gaps == 0 and len(jb) == 2


def test_reorders_within_depth():
    jb = JitterBuffer(depth=3)
    for seq in (0, 2, 1, 3, 5, 4):
        jb.push(pkt(seq))
    assert [jb.pop() for _ in range(6)] == [pay(s) for s in range(6)]
    assert jb.stats.reordered == 2 and jb.stats.gaps == 0


def test_a_sparse_start_waits_depth_ticks_not_forever():
    jb = JitterBuffer(depth=3)
    assert jb.pop() is None  # nothing yet: not counted as waiting
    jb.push(pkt(7))
    assert [jb.pop(), jb.pop(), jb.pop(), jb.pop()] == [None, None, pay(7), Gap(160)]


def test_start_from_the_lowest_even_if_it_came_last():
    jb = JitterBuffer(depth=3)
    for seq in (11, 12, 10):
        jb.push(pkt(seq))
    assert [jb.pop() for _ in range(3)] == [pay(10), pay(11), pay(12)]


def test_missing_packet_is_a_gap_never_concealed():
    jb = JitterBuffer(depth=2)
    for seq in (0, 1, 3, 4):
        jb.push(pkt(seq))
    assert [jb.pop() for _ in range(5)] == [pay(0), pay(1), Gap(160), pay(3), pay(4)]
    assert jb.stats.gaps == 1
    jb.push(pkt(2))  # its turn has passed
    assert jb.stats.late == 1
    assert jb.pop() == Gap(160)  # nothing held: time still flows, and nothing is invented


def test_duplicates_dropped_whether_held_or_played():
    jb = JitterBuffer(depth=2)
    jb.push(pkt(0))
    jb.push(pkt(0))
    jb.push(pkt(1))
    assert jb.pop() == pay(0)
    jb.push(pkt(0))
    assert [jb.pop(), jb.pop()] == [pay(1), Gap(160)]
    assert jb.stats.duplicates == 2 and jb.stats.late == 0


def test_sequence_wrap_around():
    jb = JitterBuffer(depth=3)
    order = [65533, 65535, 65534, 0, 2, 1, 3]
    for seq in order:
        jb.push(pkt(seq))
    assert [jb.pop() for _ in range(7)] == [pay(s) for s in (65533, 65534, 65535, 0, 1, 2, 3)]
    assert jb.stats.gaps == 0 and jb.stats.reordered == 2


def test_fill_across_wrap_starts_at_the_lowest():
    jb = JitterBuffer(depth=3)
    for seq in (0, 65535, 1):
        jb.push(pkt(seq))
    assert [jb.pop() for _ in range(3)] == [pay(65535), pay(0), pay(1)]


def test_new_ssrc_plays_out_the_old_stream_then_refills():
    jb = JitterBuffer(depth=3)
    for seq in range(4):
        jb.push(pkt(seq))
    assert jb.pop() == pay(0)
    jb.push(pkt(500, ssrc=99))
    jb.push(pkt(1, ssrc=SSRC))  # a straggler of the old stream does not switch back
    assert jb.stats.resyncs == 1 and jb.stats.late == 1
    assert [jb.pop(), jb.pop(), jb.pop()] == [pay(1), pay(2), pay(3)]
    assert jb.pop() is None  # the new stream is still filling
    jb.push(pkt(501, ssrc=99))
    jb.push(pkt(502, ssrc=99))
    assert [jb.pop(), jb.pop(), jb.pop()] == [pay(500), pay(501), pay(502)]


def test_restart_plays_out_held_packets_with_holes_as_gaps():
    jb = JitterBuffer(depth=3)
    for seq in (0, 1, 2, 4):
        jb.push(pkt(seq))
    assert jb.pop() == pay(0)
    jb.push(pkt(40_000))  # far away: a restart, not 40 000 gaps
    assert jb.stats.resyncs == 1
    assert [jb.pop() for _ in range(4)] == [pay(1), pay(2), Gap(160), pay(4)]
    assert jb.pop() is None


def test_sender_pause_without_advancing_sequence_resynchronises():
    jb = JitterBuffer(depth=3)
    for seq in range(3):
        jb.push(pkt(seq))
    assert [jb.pop() for _ in range(3)] == [pay(0), pay(1), pay(2)]
    for _ in range(20):  # the sender stops for 400 ms; the play position moves on
        assert jb.pop() == Gap(160)
    out = []
    for seq in range(3, 20):  # ... and resumes where it stopped
        jb.push(pkt(seq))
        out.append(jb.pop())
    assert jb.stats.resyncs == 1 and jb.stats.late == 6  # 2 * depth dropped, then the restart
    played = [p for p in out if isinstance(p, bytes)]
    assert played == [pay(s) for s in range(9, 9 + len(played))]
    assert len(played) >= 5


def test_late_single_packets_do_not_resynchronise():
    jb = JitterBuffer(depth=3)
    for seq in range(30):
        if seq % 5 != 4:
            jb.push(pkt(seq))
        if seq % 5 == 1 and seq > 5:
            jb.push(pkt(seq - 7))  # came back long after its turn
        jb.pop()
    assert jb.stats.resyncs == 0 and jb.stats.late > 0


@settings(max_examples=60, deadline=None)
@given(
    depth=st.integers(1, 5),
    count=st.integers(1, 200),
    start=st.integers(0, 65535),
    seed=st.integers(0, 2**32 - 1),
    loss=st.sampled_from([0.0, 0.05, 0.2]),
)
def test_every_packet_that_arrives_in_time_is_played_in_order(depth, count, start, seed, loss):
    """Packet i is sent at tick i and arrives up to depth-1 ticks late (any reordering that implies),
    some are lost, some duplicated: each one that arrives is played exactly once, in order, and each
    lost one is exactly one gap."""
    rng = random.Random(seed)
    arrivals: dict[int, list[int]] = {}
    lost = set()
    for i in range(count):
        if rng.random() < loss and 0 < i < count - 1:
            lost.add(i)
            continue
        arrivals.setdefault(i + rng.randrange(depth), []).append(i)
        if rng.random() < 0.05:
            arrivals.setdefault(i + rng.randrange(3 * depth), []).append(i)
    jb = JitterBuffer(depth=depth)
    played: list[bytes | Gap] = []
    for tick in range(count + 3 * depth + 2):
        for i in arrivals.get(tick, []):
            jb.push(pkt(start + i))
        out = jb.pop()
        if out is not None:
            played.append(out)
    expected = [Gap(160) if i in lost else pay(start + i) for i in range(count)]
    assert played[:count] == expected
    assert all(p == Gap(160) for p in played[count:])
    assert jb.stats.late == 0 and jb.stats.resyncs == 0


def test_depth_must_be_positive():
    with pytest.raises(ValueError):
        JitterBuffer(depth=0)


def test_header_packing_matches_struct_layout():
    data = bytes(RtpPacket(PT_PCMA, 1, 2, 3, csrc=[4]))
    assert struct.unpack("!BBHIII", data) == (0x81, PT_PCMA, 1, 2, 3, 4)
