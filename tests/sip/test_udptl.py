"""UDPTL (T.38 clause 9.1 / Annex A): octets built by hand from the ASN.1 PER rules, round trips, the
sender's datagram bound, and recovery from redundancy and parity FEC under loss."""

from __future__ import annotations

import contextlib
import random

import pytest
from faxgw.sip.udptl import FecInfo, UdptlError, UdptlPacket, UdptlReceiver, UdptlSender
from hypothesis import given, settings
from hypothesis import strategies as st

# --- octets ---------------------------------------------------------------------------------------------


def test_hand_built_secondaries():
    # seq 0x1234 | primary: length 3 + octets | CHOICE 0 (secondary-ifp-packets), padded | count 2 |
    # secondary 1 (seq 0x1233): length 1 + octet | secondary 2 (seq 0x1232): length 2 + octets
    data = bytes.fromhex("1234 03 010203 00 02 01aa 02bbcc")
    packet = UdptlPacket(0x1234, b"\x01\x02\x03", [b"\xaa", b"\xbb\xcc"])
    assert bytes(packet) == data
    assert UdptlPacket.parse(data) == packet


def test_no_error_recovery_is_an_empty_secondary_list():
    assert bytes(UdptlPacket(0, b"\x02")) == bytes.fromhex("0000 0102 00 00")


def test_two_octet_length_determinant():
    primary = bytes(range(200))
    data = bytes(UdptlPacket(1, primary, [b"\x07" * 130]))
    # 200 = 0x00C8 -> 80 C8; 130 = 0x0082 -> 80 82
    assert data == bytes.fromhex("0001 80c8") + primary + bytes.fromhex("00 01 8082") + b"\x07" * 130
    assert UdptlPacket.parse(data).primary == primary
    assert bytes(UdptlPacket(0, bytes(0x3FFF)))[2:4] == b"\xbf\xff"  # the largest two-octet length


def test_non_minimal_lengths_are_accepted():
    assert UdptlPacket.parse(bytes.fromhex("0007 8001 2a 00 8000")) == UdptlPacket(7, b"\x2a")


def test_fec_info_octets():
    # CHOICE 1 (fec-info) = 0x80 | fec-npackets: INTEGER length 1, value 3 | 2 entries: (2 octets), (1 octet)
    data = bytes.fromhex("0005 0106 80 0103 02 020102 0103")
    packet = UdptlPacket(5, b"\x06", fec=FecInfo(3, [b"\x01\x02", b"\x03"]))
    assert bytes(packet) == data
    assert UdptlPacket.parse(data) == packet


def test_fec_npackets_is_an_unconstrained_integer():
    assert bytes(UdptlPacket(0, b"\x01", fec=FecInfo(200, [])))[4:] == bytes.fromhex("80 0200c8 00")
    assert bytes(UdptlPacket(0, b"\x01", fec=FecInfo(0, [])))[4:] == bytes.fromhex("80 0100 00")
    assert UdptlPacket.parse(bytes.fromhex("0000 0101 80 03000001 00")).fec == FecInfo(1, [])


def test_choice_padding_bits_are_ignored():
    assert UdptlPacket.parse(bytes.fromhex("0000 0102 7f 00")) == UdptlPacket(0, b"\x02")


def test_sipp_capture_packets():
    """The UDP payloads of prototypes/sip/sipp/udptl_ifp.pcap (CNG x3, V.21 preamble x2, no signal)."""
    payloads = [
        "0000 0102 0000",
        "0001 0102 0001 0102",
        "0002 0102 0001 0102",
        "0003 0106 0001 0102",
        "0004 0106 0001 0106",
        "0005 0100 0001 0106",
    ]
    receiver = UdptlReceiver()
    out = []
    for payload in payloads:
        out += receiver.receive(bytes.fromhex(payload))
    assert out == [(0, b"\x02"), (1, b"\x02"), (2, b"\x02"), (3, b"\x06"), (4, b"\x06"), (5, b"\x00")]
    assert UdptlPacket.parse(bytes.fromhex(payloads[3])) == UdptlPacket(3, b"\x06", [b"\x02"])


@pytest.mark.parametrize(
    ("hexdata", "reason"),
    [
        ("", "too short"),
        ("12", "too short"),
        ("1234", "length determinant"),
        ("1234 05 0102", "truncated"),
        ("1234 01 02", "error-recovery"),
        ("1234 01 02 00", "length determinant"),
        ("1234 01 02 00 02 0102", "length determinant"),
        ("1234 01 02 00 01 8f", "two-octet"),
        ("1234 c1 00", "fragmented"),
        ("1234 01 02 00 c1", "fragmented"),
        ("1234 01 02 80 00 00", "fec-npackets"),
        ("1234 01 02 80 05 01", "fec-npackets"),
        ("1234 01 02 80 01 ff 00", "negative"),
        ("1234 01 02 00 00 00", "after the end"),
    ],
)
def test_malformed_datagrams(hexdata, reason):
    with pytest.raises(UdptlError, match=reason):
        UdptlPacket.parse(bytes.fromhex(hexdata.replace(" ", "")))


@pytest.mark.parametrize(
    "packet",
    [
        UdptlPacket(65536, b"\x01"),
        UdptlPacket(-1, b"\x01"),
        UdptlPacket(0, bytes(0x4000)),
        UdptlPacket(0, b"\x01", [b"\x02"], FecInfo(1, [b"\x03"])),
        UdptlPacket(0, b"\x01", fec=FecInfo(-1, [])),
    ],
)
def test_unencodable_packets(packet):
    with pytest.raises(UdptlError):
        bytes(packet)


ifps = st.binary(min_size=1, max_size=300)
packets = st.builds(
    UdptlPacket,
    sequence=st.integers(0, 65535),
    primary=ifps,
    redundancy=st.lists(ifps, max_size=5),
) | st.builds(
    UdptlPacket,
    sequence=st.integers(0, 65535),
    primary=ifps,
    fec=st.builds(FecInfo, count=st.integers(0, 2**40), entries=st.lists(ifps, max_size=5)),
)


@given(packets)
def test_round_trip(packet):
    assert UdptlPacket.parse(bytes(packet)) == packet


@given(st.binary(max_size=80))
def test_random_bytes_raise_only_udptl_error(data):
    try:
        packet = UdptlPacket.parse(data)
    except UdptlError:
        return
    assert UdptlPacket.parse(bytes(packet)) == packet


@given(st.lists(st.binary(max_size=40), max_size=30))
def test_receiver_raises_only_udptl_error(datagrams):
    receiver = UdptlReceiver()
    delivered = []
    for data in datagrams:
        with contextlib.suppress(UdptlError):
            delivered += receiver.receive(data)
    assert len(delivered) == receiver.stats.delivered


# --- sender ---------------------------------------------------------------------------------------------


def test_sender_numbers_from_zero_and_adds_previous_packets_most_recent_first():
    sender = UdptlSender(redundancy=2)
    datagrams = [UdptlPacket.parse(sender.packet(bytes([i + 1]))) for i in range(4)]
    assert datagrams == [
        UdptlPacket(0, b"\x01", []),
        UdptlPacket(1, b"\x02", [b"\x01"]),
        UdptlPacket(2, b"\x03", [b"\x02", b"\x01"]),
        UdptlPacket(3, b"\x04", [b"\x03", b"\x02"]),
    ]
    assert sender.sequence == 4


def test_sender_sequence_wraps():
    sender = UdptlSender(redundancy=1)
    sender.sequence = 65535
    assert UdptlPacket.parse(sender.packet(b"a")).sequence == 65535
    assert UdptlPacket.parse(sender.packet(b"b")) == UdptlPacket(0, b"b", [b"a"])


def test_sender_drops_the_oldest_secondaries_to_fit_max_datagram():
    sender = UdptlSender(redundancy=3, max_datagram=100)
    for size in (40, 30, 20):
        sender.packet(bytes(size))
    data = sender.packet(bytes(10))
    # primary 10 -> 2+11+1 = 14; + count 1; + 21 + 31 = 67; + 41 would be 108 > 100
    packet = UdptlPacket.parse(data)
    assert [len(s) for s in packet.redundancy] == [20, 30]
    assert len(data) == 67


def test_sender_max_datagram_is_never_exceeded():
    rng = random.Random(7)
    sender = UdptlSender(redundancy=4, max_datagram=180)
    for _ in range(500):
        data = sender.packet(rng.randbytes(rng.randint(1, 150)))
        assert len(data) <= 180


def test_a_lone_primary_too_large_is_an_error_and_consumes_no_number():
    sender = UdptlSender(max_datagram=50)
    with pytest.raises(UdptlError, match="does not fit"):
        sender.packet(bytes(47))  # 2 + 1 + 47 + 1 + 1 = 52
    assert sender.sequence == 0
    assert len(sender.packet(bytes(45))) == 50


def test_unstated_max_datagram_means_400():
    sender = UdptlSender(max_datagram=None)
    assert sender.max_datagram == 400
    with pytest.raises(UdptlError):
        sender.packet(bytes(396))


def test_empty_ifp_is_refused():
    with pytest.raises(UdptlError):
        UdptlSender().packet(b"")


def test_sender_without_redundancy():
    sender = UdptlSender(redundancy=0)
    sender.packet(b"a")
    assert UdptlPacket.parse(sender.packet(b"b")) == UdptlPacket(1, b"b")


# --- receiver -------------------------------------------------------------------------------------------


def datagram(seq, ifp, *secondaries):
    return bytes(UdptlPacket(seq, ifp, list(secondaries)))


def test_in_order_and_duplicates():
    receiver = UdptlReceiver()
    assert receiver.receive(datagram(0, b"a")) == [(0, b"a")]
    assert receiver.receive(datagram(1, b"b", b"a")) == [(1, b"b")]
    assert receiver.receive(datagram(1, b"b", b"a")) == []
    assert receiver.stats.duplicates == 1 and receiver.stats.delivered == 2


def test_recovers_from_secondaries():
    receiver = UdptlReceiver()
    receiver.receive(datagram(10, b"j"))
    assert receiver.receive(datagram(13, b"m", b"l", b"k")) == [(11, b"k"), (12, b"l"), (13, b"m")]
    assert receiver.stats.recovered == 2 and receiver.stats.lost == 0
    assert receiver.receive(datagram(12, b"l", b"k")) == []  # the original, after its recovery
    assert receiver.stats.duplicates == 1


def test_unrecoverable_hole_is_lost_at_once_and_a_late_arrival_dropped():
    receiver = UdptlReceiver()
    receiver.receive(datagram(0, b"a"))
    assert receiver.receive(datagram(3, b"d", b"c")) == [(2, b"c"), (3, b"d")]
    assert receiver.stats.lost == 1
    assert receiver.receive(datagram(1, b"b", b"a")) == []
    assert receiver.stats.late == 1


def test_first_packet_delivers_its_secondaries():
    receiver = UdptlReceiver()
    assert receiver.receive(datagram(2, b"c", b"b", b"a")) == [(0, b"a"), (1, b"b"), (2, b"c")]


def test_empty_secondaries_are_ignored():
    receiver = UdptlReceiver()
    receiver.receive(datagram(0, b"a"))
    assert receiver.receive(datagram(3, b"d", b"", b"b")) == [(1, b"b"), (3, b"d")]
    assert receiver.stats.lost == 1


def test_wrap_around():
    receiver = UdptlReceiver()
    receiver.receive(datagram(65534, b"y"))
    assert receiver.receive(datagram(1, b"b", b"a", b"z")) == [(65535, b"z"), (0, b"a"), (1, b"b")]


def test_jump_far_ahead_resynchronises_without_counting_loss():
    receiver = UdptlReceiver()
    receiver.receive(datagram(5, b"f"))
    assert receiver.receive(datagram(1000, b"x", b"w")) == [(999, b"w"), (1000, b"x")]
    assert receiver.receive(datagram(1001, b"y", b"x")) == [(1001, b"y")]
    assert receiver.stats.resyncs == 1 and receiver.stats.lost == 0


def test_a_stray_old_packet_does_not_resynchronise():
    receiver = UdptlReceiver()
    for seq in range(100, 110):
        receiver.receive(datagram(seq, b"%d" % seq))
    assert receiver.receive(datagram(20, b"old")) == []
    assert receiver.receive(datagram(110, b"110")) == [(110, b"110")]
    assert receiver.stats.resyncs == 0 and receiver.stats.late == 1


def test_numbering_restart_behind_is_confirmed_by_the_next_packet():
    receiver = UdptlReceiver()
    for seq in range(5000, 5005):
        receiver.receive(datagram(seq, b"old"))
    assert receiver.receive(datagram(0, b"a")) == []
    assert receiver.receive(datagram(1, b"b", b"a")) == [(0, b"a"), (1, b"b")]
    assert receiver.stats.resyncs == 1 and receiver.stats.lost == 0
    # an indicator repeated with the same number also confirms
    receiver2 = UdptlReceiver()
    receiver2.receive(datagram(5000, b"old"))
    assert receiver2.receive(datagram(0, b"a")) == []
    assert receiver2.receive(datagram(0, b"a")) == [(0, b"a")]


def test_malformed_datagram_raises_and_changes_nothing():
    receiver = UdptlReceiver()
    receiver.receive(datagram(0, b"a"))
    with pytest.raises(UdptlError):
        receiver.receive(b"\x00\x01\x05")
    assert receiver.receive(datagram(1, b"b")) == [(1, b"b")]
    assert receiver.stats.received == 2


def _lossy(datagrams, rng, rate=0.02, burst=0.3):
    """Drop about `rate` of the datagrams, a `burst` share of the drops as two in a row; never the last."""
    out, i = [], 0
    dropped = 0
    while i < len(datagrams):
        if i < len(datagrams) - 3 and rng.random() < rate:
            n = 2 if rng.random() < burst else 1
            dropped += n
            i += n
            continue
        out.append(datagrams[i])
        i += 1
    return out, dropped


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_loss_simulation_redundancy_delivers_everything(seed):
    rng = random.Random(seed)
    ifp_list = [rng.randbytes(rng.randint(1, 60)) for _ in range(1000)]
    sender = UdptlSender(redundancy=3)
    sent = [sender.packet(ifp) for ifp in ifp_list]
    received, dropped = _lossy(sent, rng)
    assert dropped > 10
    # a little reordering too: swap a few neighbours
    for _ in range(10):
        j = rng.randrange(len(received) - 1)
        received[j], received[j + 1] = received[j + 1], received[j]
    receiver = UdptlReceiver()
    delivered = []
    for data in received:
        delivered += receiver.receive(data)
    assert delivered == list(enumerate(ifp_list))
    assert receiver.stats.lost == 0 and receiver.stats.recovered >= dropped


def test_loss_simulation_bursts_of_two_are_covered_by_redundancy_three():
    sender = UdptlSender(redundancy=3)
    ifp_list = [b"ifp %d" % i for i in range(1000)]
    sent = [sender.packet(ifp) for ifp in ifp_list]
    received = [d for i, d in enumerate(sent) if i % 50 not in (10, 11)]  # 40 bursts of 2
    receiver = UdptlReceiver()
    delivered = [d for data in received for d in receiver.receive(data)]
    assert delivered == list(enumerate(ifp_list))
    assert receiver.stats.recovered == 40 and receiver.stats.lost == 0


def test_loss_beyond_redundancy_is_counted_and_delivery_continues():
    sender = UdptlSender(redundancy=1)
    sent = [sender.packet(b"%d" % i) for i in range(20)]
    receiver = UdptlReceiver()
    delivered = [d for i, data in enumerate(sent) if i not in (5, 6, 7) for d in receiver.receive(data)]
    assert [seq for seq, _ in delivered] == [s for s in range(20) if s not in (5, 6)]
    assert receiver.stats.lost == 2 and receiver.stats.recovered == 1


# --- parity FEC -----------------------------------------------------------------------------------------


def test_fec_layout_matches_the_spandsp_asterisk_interleave():
    sender = UdptlSender(redundancy=2, fec_span=3)
    ifp_list = [bytes([0x10 + i]) * (1 + i % 3) for i in range(10)]
    packets = [UdptlPacket.parse(sender.packet(ifp)) for ifp in ifp_list]
    # wind up: fewer entries until span * entries packets exist
    assert [len(p.fec.entries) for p in packets] == [0, 0, 0, 1, 1, 1, 2, 2, 2, 2]
    p9 = packets[9]
    assert p9.fec.count == 3
    assert p9.fec.covered(9) == [[3, 5, 7], [4, 6, 8]]

    def xor(*seqs):
        out = bytearray(max(len(ifp_list[s]) for s in seqs))
        for s in seqs:
            for i, b in enumerate(ifp_list[s]):
                out[i] ^= b
        return bytes(out)

    assert p9.fec.entries == [xor(3, 5, 7), xor(4, 6, 8)]


def _fec_run(ifp_list, drop, entries=2, span=2):
    sender = UdptlSender(redundancy=entries, fec_span=span)
    sent = [sender.packet(ifp) for ifp in ifp_list]
    receiver = UdptlReceiver()
    delivered = [d for i, data in enumerate(sent) if i not in drop for d in receiver.receive(data)]
    return delivered, receiver.stats


def test_fec_recovers_a_lost_packet():
    ifp_list = [b"aaaa", b"bb", b"cccc", b"dd", b"ee", b"ffff", b"gg"]
    delivered, stats = _fec_run(ifp_list, drop={5})
    # packet 6's entry 1 covers packets 3 and 5: 5 is the only one missing there
    assert delivered == list(enumerate(ifp_list))
    assert stats.recovered == 1


def test_fec_recovered_packet_is_as_long_as_the_longest_in_its_group():
    ifp_list = [b"aaaa", b"bb", b"cccc", b"dddd", b"ee", b"f", b"gg"]
    delivered, _ = _fec_run(ifp_list, drop={5})
    assert delivered[5] == (5, b"f\x00\x00\x00")  # parity carries no lengths (see FecInfo)


def test_fec_two_losses_in_one_group_cannot_be_rebuilt():
    # one entry spanning 3: packet 11 protects 8, 9 and 10, and 9 and 10 are both gone
    delivered, stats = _fec_run([b"%d" % i for i in range(12)], drop={9, 10}, entries=1, span=3)
    assert [s for s, _ in delivered] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 11]
    assert (stats.lost, stats.recovered) == (2, 0)
    # spaced out, each loss is alone in the group that follows it
    delivered, stats = _fec_run([b"%d" % i for i in range(12)], drop={8, 10}, entries=1, span=3)
    assert [s for s, _ in delivered] == list(range(12))
    assert (stats.lost, stats.recovered) == (0, 2)


@pytest.mark.parametrize("seed", [4, 5])
def test_loss_simulation_fec(seed):
    rng = random.Random(seed)
    ifp_list = [rng.randbytes(24) for _ in range(1000)]  # equal sizes: recovery is then exact
    sender = UdptlSender(redundancy=3, fec_span=3)
    sent = [sender.packet(ifp) for ifp in ifp_list]
    received, dropped = _lossy(sent, rng)
    receiver = UdptlReceiver()
    delivered = [d for data in received for d in receiver.receive(data)]
    assert receiver.stats.recovered + receiver.stats.lost == dropped
    # 3 interleaved entries rebuild any run of up to 3 losses; only longer runs may lose packets
    got = {UdptlPacket.parse(d).sequence for d in received}
    long_runs = {i for i in range(1000) if i not in got and {i - 3, i - 2, i - 1, i} & got == set()}
    long_runs |= {j for i in long_runs for j in range(i - 3, i + 1)}
    assert set(range(1000)) - {s for s, _ in delivered} <= long_runs
    assert receiver.stats.recovered >= 0.8 * dropped
    assert dict(delivered).items() <= dict(enumerate(ifp_list)).items()
    assert [s for s, _ in delivered] == sorted(s for s, _ in delivered)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    redundancy=st.integers(0, 4),
    start=st.integers(0, 65535),
    drops=st.sets(st.integers(0, 199), max_size=40),
)
def test_property_delivery_is_in_order_and_exact(seed, redundancy, start, drops):
    rng = random.Random(seed)
    ifp_list = [rng.randbytes(rng.randint(1, 30)) for _ in range(200)]
    sender = UdptlSender(redundancy=redundancy)
    sender.sequence = start
    sent = [sender.packet(ifp) for ifp in ifp_list]
    receiver = UdptlReceiver()
    delivered = [d for i, data in enumerate(sent) if i not in drops for d in receiver.receive(data)]
    expected = {(start + i) % 65536: ifp for i, ifp in enumerate(ifp_list)}
    for seq, ifp in delivered:
        assert expected[seq] == ifp
    offsets = [(seq - start) % 65536 for seq, _ in delivered]
    assert offsets == sorted(set(offsets))
    # every packet not dropped is delivered; a dropped one exactly when a later packet carried it
    kept = set(range(200)) - drops
    carried = {i for i in drops if any(j in kept for j in range(i + 1, i + redundancy + 1))}
    assert set(offsets) == kept | carried
