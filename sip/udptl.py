"""UDPTL (ITU-T T.38 clause 9.1, ASN.1 in T.38 Annex A): T.38 IFP packets over UDP, with redundancy or FEC.

Pure code: no sockets. ``UdptlPacket`` is the wire format; ``UdptlSender`` numbers outgoing IFP packets
and adds error recovery; ``UdptlReceiver`` turns datagrams back into IFP packets in order, recovering
lost ones from redundancy or parity FEC.

The ASN.1 (T.38 Annex A), encoded with ALIGNED PER (X.691) like every implementation does::

    UDPTLPacket ::= SEQUENCE {
        seq-number          INTEGER (0..65535),                      -- 2 octets
        primary-ifp-packet  TYPE-IDENTIFIER.&Type(IFPPacket),        -- open type: length + octets
        error-recovery      CHOICE {                                 -- 1 bit, padded to an octet
            secondary-ifp-packets  SEQUENCE OF TYPE-IDENTIFIER.&Type(IFPPacket),   -- count + open types
            fec-info               SEQUENCE {
                fec-npackets  INTEGER,                               -- length + two's complement
                fec-data      SEQUENCE OF OCTET STRING } } }         -- count + (length + octets)

Length determinants (X.691 10.9): one octet below 128, two octets (``10`` + 14 bits) below 16384;
the fragmented form (16K and more) never occurs in UDPTL and is rejected.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

#: X.691 10.9.3.6/10.9.3.7: the largest length a one-octet / two-octet length determinant carries.
PER_SHORT_LENGTH_MAX = 0x7F
PER_LONG_LENGTH_MAX = 0x3FFF
#: T.38 clause 9.1: seq-number INTEGER (0..65535).
UDPTL_SEQ_MODULUS = 1 << 16
#: error-recovery CHOICE index, as the top bit of its (padded) octet.
_CHOICE_FEC = 0x80
#: A gap larger than this is a restart of the far end's numbering, not loss (never wait, never count it).
MAX_GAP = 32
#: The datagram bound when the far end states no T38FaxMaxDatagram (Asterisk's DEFAULT_FAX_MAX_DATAGRAM).
DEFAULT_MAX_DATAGRAM = 400
#: How many delivered IFP packets the receiver keeps for duplicate detection and FEC recovery.
HISTORY = 64


class UdptlError(ValueError):
    """A datagram that is not a valid UDPTL packet, or a packet that cannot be encoded."""


def _seq_delta(a: int, b: int) -> int:
    return ((a - b + 0x8000) & 0xFFFF) - 0x8000


def _encode_length(n: int) -> bytes:
    if n <= PER_SHORT_LENGTH_MAX:
        return bytes([n])
    if n <= PER_LONG_LENGTH_MAX:
        return bytes([0x80 | n >> 8, n & 0xFF])
    raise UdptlError(f"{n} octets would need a fragmented PER length (16K or more)")


def _decode_length(data: bytes, pos: int) -> tuple[int, int]:
    if pos >= len(data):
        raise UdptlError("truncated: a length determinant is missing")
    first = data[pos]
    if not first & 0x80:
        return first, pos + 1
    if not first & 0x40:
        if pos + 1 >= len(data):
            raise UdptlError("truncated two-octet length determinant")
        return (first & 0x3F) << 8 | data[pos + 1], pos + 2
    raise UdptlError("fragmented PER length (16K or more) is not used by UDPTL")


def _encode_octets(value: bytes) -> bytes:
    """An open type or an unconstrained OCTET STRING: length determinant, then the octets.

    An empty value is encoded with length 0 (X.691 10.1.3 would put a single zero octet in an empty open
    type; an IFP packet is never empty, and ``UdptlSender`` refuses to send one)."""
    return _encode_length(len(value)) + value


def _decode_octets(data: bytes, pos: int) -> tuple[bytes, int]:
    length, pos = _decode_length(data, pos)
    end = pos + length
    if end > len(data):
        raise UdptlError(f"truncated: {length} octets announced, {len(data) - pos} present")
    return data[pos:end], end


@dataclass
class FecInfo:
    """Parity FEC (fec-info): ``count`` is fec-npackets, the number of packets each parity entry spans;
    ``entries`` is fec-data.

    The layout is the one SpanDSP and Asterisk send (the de facto T.38 parity scheme): in the packet
    with sequence number s and E entries, entry m is the XOR of the ``count`` packets
    ``s + m - count*E + k*E`` for k = 0 .. count-1 (every E-th packet before s, interleaved), each
    zero-extended to the longest of them. A lost packet comes back from an entry where it is the only
    one missing, as long as that longest packet: a shorter one gains trailing zero octets, since parity
    carries no lengths."""

    count: int
    entries: list[bytes] = field(default_factory=list)

    def covered(self, sequence: int) -> list[list[int]]:
        """For the packet ``sequence``: the sequence numbers each entry protects."""
        e = len(self.entries)
        return [
            [(sequence + m - self.count * e + k * e) % UDPTL_SEQ_MODULUS for k in range(self.count)]
            for m in range(e)
        ]


@dataclass
class UdptlPacket:
    """One UDPTL packet. ``redundancy`` holds secondary IFP packets, most recent first (the packets
    ``sequence - 1``, ``sequence - 2``, ...). The error recovery is a CHOICE: redundancy or ``fec``,
    never both (with neither, an empty secondary list is sent)."""

    sequence: int
    primary: bytes
    redundancy: list[bytes] = field(default_factory=list)
    fec: FecInfo | None = None

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview) -> UdptlPacket:
        data = bytes(data)
        if len(data) < 2:
            raise UdptlError(f"{len(data)} octets: too short for a sequence number")
        sequence = data[0] << 8 | data[1]
        primary, pos = _decode_octets(data, 2)
        if pos >= len(data):
            raise UdptlError("truncated: error-recovery is missing")
        choice = data[pos]  # the low 7 bits are PER padding
        pos += 1
        redundancy: list[bytes] = []
        fec = None
        if choice & _CHOICE_FEC:
            size, pos = _decode_length(data, pos)  # fec-npackets: unconstrained INTEGER (X.691 12.2.6)
            if size == 0 or pos + size > len(data):
                raise UdptlError("fec-npackets: bad integer length")
            count = int.from_bytes(data[pos : pos + size], "big", signed=True)
            pos += size
            if count < 0:
                raise UdptlError(f"fec-npackets {count} is negative")
            entries, pos = cls._decode_list(data, pos)
            fec = FecInfo(count, entries)
        else:
            redundancy, pos = cls._decode_list(data, pos)
        if pos != len(data):
            raise UdptlError(f"{len(data) - pos} octets after the end of the packet")
        return cls(sequence, primary, redundancy, fec)

    @staticmethod
    def _decode_list(data: bytes, pos: int) -> tuple[list[bytes], int]:
        count, pos = _decode_length(data, pos)
        items = []
        for _ in range(count):
            item, pos = _decode_octets(data, pos)
            items.append(item)
        return items, pos

    def __bytes__(self) -> bytes:
        if not 0 <= self.sequence < UDPTL_SEQ_MODULUS:
            raise UdptlError(f"sequence number {self.sequence}: 0..65535")
        parts = [self.sequence.to_bytes(2, "big"), _encode_octets(bytes(self.primary))]
        if self.fec is not None:
            if self.redundancy:
                raise UdptlError("error-recovery is a CHOICE: secondary IFP packets or FEC, not both")
            if self.fec.count < 0:
                raise UdptlError(f"fec-npackets {self.fec.count} is negative")
            count = self.fec.count.to_bytes(self.fec.count.bit_length() // 8 + 1, "big", signed=True)
            parts += [bytes([_CHOICE_FEC]), _encode_length(len(count)), count]
            items = self.fec.entries
        else:
            parts.append(b"\x00")
            items = self.redundancy
        parts.append(_encode_length(len(items)))
        parts += [_encode_octets(bytes(item)) for item in items]
        return b"".join(parts)


def _xor(packets: list[bytes]) -> bytes:
    """XOR of packets, each zero-extended to the longest."""
    out = bytearray(max(map(len, packets), default=0))
    for packet in packets:
        for i, octet in enumerate(packet):
            out[i] ^= octet
    return bytes(out)


class UdptlSender:
    """Numbers outgoing IFP packets (from 0) and adds error recovery.

    Redundancy (the default): up to ``redundancy`` previous IFP packets ride along as secondaries;
    the oldest are left out when the datagram would exceed ``max_datagram`` (the far end's
    T38FaxMaxDatagram, read as the whole UDPTL packet, the stricter of the two readings in use;
    None, when the far end did not say, means ``DEFAULT_MAX_DATAGRAM`` as in Asterisk).

    With ``fec_span`` > 0: parity FEC instead, ``redundancy`` entries each spanning ``fec_span``
    packets (Asterisk's udptlfecentries / udptlfecspan), wound up gradually at the start of the stream
    as Asterisk and SpanDSP do, and with fewer entries when the datagram would be too large.
    """

    def __init__(self, redundancy: int = 3, max_datagram: int | None = 400, *, fec_span: int = 0) -> None:
        if redundancy < 0 or fec_span < 0:
            raise ValueError("redundancy and fec_span must not be negative")
        self.redundancy = redundancy
        self.max_datagram = DEFAULT_MAX_DATAGRAM if max_datagram is None else max_datagram
        self.fec_span = fec_span
        #: The sequence number of the next packet.
        self.sequence = 0
        self._sent = 0
        self._history: deque[bytes] = deque(maxlen=max(redundancy, fec_span * redundancy, 1))

    def packet(self, ifp: bytes) -> bytes:
        ifp = bytes(ifp)
        if not ifp:
            raise UdptlError("an IFP packet is never empty")
        data = self._fec_datagram(ifp) if self.fec_span else self._redundant_datagram(ifp)
        if len(data) > self.max_datagram:
            raise UdptlError(f"an IFP packet of {len(ifp)} octets does not fit {self.max_datagram}")
        self._history.append(ifp)
        self.sequence = (self.sequence + 1) % UDPTL_SEQ_MODULUS
        self._sent += 1
        return data

    def _redundant_datagram(self, ifp: bytes) -> bytes:
        secondaries = list(reversed(self._history))[: self.redundancy]
        while True:
            data = bytes(UdptlPacket(self.sequence, ifp, secondaries))
            if len(data) <= self.max_datagram or not secondaries:
                return data
            secondaries.pop()

    def _fec_datagram(self, ifp: bytes) -> bytes:
        span, entries = self.fec_span, self.redundancy
        if self._sent < span * entries:  # wind up: protect only packets that were sent
            entries = self._sent // span
        history = list(self._history)
        while True:
            # entry m covers the packets s + m - span*entries + k*entries (see FecInfo)
            fec = FecInfo(span, [])
            for m in range(entries):
                fec.entries.append(_xor([history[m - span * entries + k * entries] for k in range(span)]))
            data = bytes(UdptlPacket(self.sequence, ifp, fec=fec))
            if len(data) <= self.max_datagram or not entries:
                return data
            entries -= 1


@dataclass
class UdptlStats:
    received: int = 0  # valid datagrams
    delivered: int = 0  # IFP packets handed on (primaries and recovered ones)
    recovered: int = 0  # missing packets rebuilt from redundancy or FEC
    lost: int = 0  # missing packets nothing could rebuild
    duplicates: int = 0  # packets delivered before (a retransmission, or recovered before it came)
    late: int = 0  # packets that came after they had been given up as lost
    resyncs: int = 0  # jumps of more than MAX_GAP: the far end restarted its numbering


class UdptlReceiver:
    """In-order delivery of IFP packets from UDPTL datagrams.

    When a packet arrives beyond the next expected one, the packets in between are rebuilt from its
    redundancy or FEC at once; those that cannot be are counted lost right away and never waited for
    (T.38 is real time: the far end's modem timing matters more than a missing packet, which the T.38
    engine handles by its sequence number). So ``receive`` never holds a packet back, delivery is
    strictly increasing in sequence number (mod 2^16), and a lost packet that arrives late is dropped.

    A jump of more than ``max_gap`` ahead is a restart of the far end's numbering: delivery
    resynchronises on the new packet (with its secondaries) and nothing is counted lost. A packet more
    than ``max_gap`` behind may be a stray old one: it is held until the next datagram, and is the
    start of a restart (both delivered) only if that one follows it within ``max_gap``.
    Both redundancy and FEC are understood, even mixed, whatever the SDP said (SpanDSP's advice).
    Malformed datagrams raise ``UdptlError`` and change nothing.
    """

    def __init__(self, max_gap: int = MAX_GAP) -> None:
        self.max_gap = max_gap
        self.stats = UdptlStats()
        self._expected: int | None = None
        self._history: dict[int, bytes] = {}  # delivered packets by sequence number, oldest first
        self._candidate: UdptlPacket | None = None  # far behind: a restart, if the next one follows it

    def receive(self, datagram: bytes) -> list[tuple[int, bytes]]:
        """The (sequence, IFP packet) pairs this datagram makes deliverable, in order."""
        packet = UdptlPacket.parse(datagram)
        self.stats.received += 1
        expected = self._expected if self._expected is not None else self._resync(packet)
        delta = _seq_delta(packet.sequence, expected)
        if delta > self.max_gap:
            self.stats.resyncs += 1
            self._resync(packet)
        elif delta < -self.max_gap:
            # Far behind: a restart of the numbering, or one stray old packet. Only a second packet
            # that follows this one says which.
            candidate, self._candidate = self._candidate, packet
            if candidate is None or not 0 <= _seq_delta(packet.sequence, candidate.sequence) <= self.max_gap:
                if candidate is not None:
                    self.stats.late += 1
                return []
            self._candidate = None
            self.stats.resyncs += 1
            self._resync(candidate)
            return self._deliver(candidate) + self._deliver(packet)
        if self._candidate is not None:
            self._candidate = None
            self.stats.late += 1
        return self._deliver(packet)

    def _deliver(self, packet: UdptlPacket) -> list[tuple[int, bytes]]:
        assert self._expected is not None
        seq = packet.sequence
        delta = _seq_delta(seq, self._expected)
        if delta < 0:
            if seq in self._history:
                self.stats.duplicates += 1
            else:
                self.stats.late += 1
            return []
        holes = [(self._expected + i) % UDPTL_SEQ_MODULUS for i in range(delta)]
        recovered: dict[int, bytes] = {}
        if holes:
            for back, ifp in enumerate(packet.redundancy, start=1):
                hole = (seq - back) % UDPTL_SEQ_MODULUS
                if ifp and hole in holes:
                    recovered[hole] = ifp
            if packet.fec is not None:
                self._recover_fec(packet, set(holes), recovered)
        out = []
        for hole in holes:
            if hole in recovered:
                self.stats.recovered += 1
                out.append((hole, recovered[hole]))
            else:
                self.stats.lost += 1
        out.append((seq, packet.primary))
        for sequence, ifp in out:
            self._remember(sequence, ifp)
        self.stats.delivered += len(out)
        self._expected = (seq + 1) % UDPTL_SEQ_MODULUS
        return out

    def _resync(self, packet: UdptlPacket) -> int:
        """Start afresh: everything this packet's secondaries can give counts as expected (returned)."""
        self._history.clear()
        back = 0
        while back < len(packet.redundancy) and back < self.max_gap and packet.redundancy[back]:
            back += 1
        self._expected = (packet.sequence - back) % UDPTL_SEQ_MODULUS
        return self._expected

    def _recover_fec(self, packet: UdptlPacket, holes: set[int], recovered: dict[int, bytes]) -> None:
        fec = packet.fec
        assert fec is not None
        if fec.count * len(fec.entries) > HISTORY:
            return  # protects packets older than anything we keep: nothing to gain

        def known(seq: int) -> bytes | None:
            if seq == packet.sequence:
                return packet.primary
            return recovered.get(seq, self._history.get(seq))

        groups = list(zip(fec.covered(packet.sequence), fec.entries, strict=True))
        progress = True
        while progress:  # one recovery may complete another group
            progress = False
            for covered, parity in groups:
                missing = [seq for seq in covered if known(seq) is None]
                if len(missing) == 1 and missing[0] in holes:
                    others = [known(seq) or b"" for seq in covered if seq != missing[0]]
                    recovered[missing[0]] = _xor([parity, *(o[: len(parity)] for o in others)])
                    progress = True

    def _remember(self, seq: int, ifp: bytes) -> None:
        self._history.pop(seq, None)
        self._history[seq] = ifp
        while len(self._history) > HISTORY:
            del self._history[next(iter(self._history))]
