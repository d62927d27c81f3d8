"""RTP (RFC 3550) for fax-safe G.711: the packet format, the sending side of a stream, a fixed jitter buffer.

Pure code: no sockets, no clocks. The caller owns the socket and the 20 ms tick.

- ``RtpPacket``: the fixed header, CSRC list, header extension and padding (RFC 3550 5.1, 5.3.1)
- ``RtpStream``: numbering and timing of one outgoing stream (random initial values, RFC 3550 5.1)
- ``JitterBuffer``: a fixed-depth reordering buffer that never conceals: a packet that never came is
  reported as a ``Gap`` for the fax engine to fill in (SpanDSP's ``fillin``), never replaced by guessed audio
"""

from __future__ import annotations

import secrets
import struct
from collections import deque
from dataclasses import dataclass, field

#: RFC 3550 5.1: the version field is 2.
RTP_VERSION = 2
#: RFC 3550 5.1: the fixed header is 12 octets.
RTP_HEADER_SIZE = 12
#: RFC 3550 5.1: the CC field is 4 bits.
MAX_CSRC_COUNT = 15
#: RFC 3551 6 (table 4): static payload types and clock rates of the codecs we carry.
PT_PCMU = 0
PT_PCMA = 8
G711_CLOCK_RATE = 8000
#: RFC 3550 A.1 ``MAX_MISORDER``: a sequence number this far behind is taken as a restart, not a late packet.
MAX_MISORDER = 100

_FIXED_HEADER = struct.Struct("!BBHII")
_SEQ_MOD = 1 << 16
_TS_MOD = 1 << 32


class RtpError(ValueError):
    """A datagram that is not a valid RTP packet, or a packet that cannot be encoded."""


def seq_delta(a: int, b: int) -> int:
    """``a - b`` for 16-bit sequence numbers, in -32768..32767 (wrap-around aware, RFC 3550 A.1)."""
    return ((a - b + 0x8000) & 0xFFFF) - 0x8000


#: The first octet of a packet with nothing but the fixed header: V=2, no padding, extension or CSRC.
_PLAIN_FIRST = RTP_VERSION << 6


def plain_fields(data: bytes) -> tuple[int, int, int, int, bytes] | None:
    """Payload type, sequence number, timestamp, SSRC and payload of a packet with nothing but the
    fixed header (what every fax peer sends), read without making an ``RtpPacket``: the media path
    does this 50 times a second per call. None for any other datagram: ``RtpPacket.parse`` it."""
    if len(data) < RTP_HEADER_SIZE or data[0] != _PLAIN_FIRST:
        return None
    _, second, sequence_number, timestamp, ssrc = _FIXED_HEADER.unpack_from(data)
    return second & 0x7F, sequence_number, timestamp, ssrc, data[RTP_HEADER_SIZE:]


@dataclass
class RtpPacket:
    """One RTP packet (RFC 3550 5.1). ``padding_size`` counts the padding octets including the last one
    (which holds the count); the padding content itself is not kept (it is zeros when encoded)."""

    payload_type: int
    sequence_number: int
    timestamp: int
    ssrc: int
    payload: bytes = b""
    marker: bool = False
    csrc: list[int] = field(default_factory=list)
    extension: tuple[int, bytes] | None = None
    padding_size: int = 0

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview) -> RtpPacket:
        data = bytes(data)
        if len(data) < RTP_HEADER_SIZE:
            raise RtpError(f"{len(data)} octets: shorter than the {RTP_HEADER_SIZE}-octet RTP header")
        first, second, sequence_number, timestamp, ssrc = _FIXED_HEADER.unpack_from(data)
        version = first >> 6
        if version != RTP_VERSION:
            raise RtpError(f"RTP version {version}, expected {RTP_VERSION}")
        pos = RTP_HEADER_SIZE
        csrc_count = first & 0x0F
        end = pos + 4 * csrc_count
        if len(data) < end:
            raise RtpError(f"truncated CSRC list ({csrc_count} entries)")
        csrc = list(struct.unpack_from(f"!{csrc_count}I", data, pos))
        pos = end
        extension = None
        if first & 0x10:  # RFC 3550 5.3.1
            if len(data) < pos + 4:
                raise RtpError("truncated header extension")
            profile, words = struct.unpack_from("!HH", data, pos)
            pos += 4
            end = pos + 4 * words
            if len(data) < end:
                raise RtpError(f"truncated header extension ({words} words)")
            extension = (profile, data[pos:end])
            pos = end
        end = len(data)
        padding_size = 0
        if first & 0x20:  # RFC 3550 5.1: the last octet counts the padding, itself included
            padding_size = data[-1] if end > pos else 0
            if not 1 <= padding_size <= end - pos:
                raise RtpError(f"padding of {padding_size} octets does not fit the packet")
            end -= padding_size
        return cls(
            payload_type=second & 0x7F,
            sequence_number=sequence_number,
            timestamp=timestamp,
            ssrc=ssrc,
            payload=data[pos:end],
            marker=bool(second & 0x80),
            csrc=csrc,
            extension=extension,
            padding_size=padding_size,
        )

    def __bytes__(self) -> bytes:
        if not 0 <= self.payload_type <= 0x7F:
            raise RtpError(f"payload type {self.payload_type}: 0..127")
        if not 0 <= self.sequence_number < _SEQ_MOD:
            raise RtpError(f"sequence number {self.sequence_number}: 16 bits")
        if not 0 <= self.timestamp < _TS_MOD or not 0 <= self.ssrc < _TS_MOD:
            raise RtpError("timestamp and SSRC are 32 bits")
        if len(self.csrc) > MAX_CSRC_COUNT or not all(0 <= c < _TS_MOD for c in self.csrc):
            raise RtpError(f"at most {MAX_CSRC_COUNT} CSRCs of 32 bits")
        if not 0 <= self.padding_size <= 0xFF:
            raise RtpError(f"padding of {self.padding_size} octets: 0..255")
        first = RTP_VERSION << 6 | len(self.csrc)
        if self.padding_size:
            first |= 0x20
        parts = []
        if self.extension is not None:
            first |= 0x10
            profile, data = self.extension
            if not 0 <= profile <= 0xFFFF or len(data) % 4 or len(data) > 4 * 0xFFFF:
                raise RtpError("a header extension is a 16-bit profile and whole 32-bit words of data")
            parts.append(struct.pack("!HH", profile, len(data) // 4) + bytes(data))
        header = _FIXED_HEADER.pack(
            first,
            self.payload_type | (0x80 if self.marker else 0),
            self.sequence_number,
            self.timestamp,
            self.ssrc,
        )
        padding = bytes(self.padding_size - 1) + bytes([self.padding_size]) if self.padding_size else b""
        csrc = struct.pack(f"!{len(self.csrc)}I", *self.csrc)
        return header + csrc + b"".join(parts) + bytes(self.payload) + padding


class RtpStream:
    """The sending side of one RTP stream.

    Sequence number, timestamp and SSRC start random (RFC 3550 5.1); ``sequence_number`` and
    ``timestamp`` are those of the next packet and may be set (tests, or continuing a stream). The
    timestamp advances by the samples in each packet: 160 for 20 ms of G.711 (one octet per sample).
    The first packet has the marker bit (RFC 3551 4.1: first packet after silence, here of the stream).
    """

    def __init__(self, payload_type: int, ssrc: int | None = None, clock_rate: int = G711_CLOCK_RATE) -> None:
        if not 0 <= payload_type <= 0x7F:
            raise RtpError(f"payload type {payload_type}: 0..127")
        self.payload_type = payload_type
        self.clock_rate = clock_rate
        self.ssrc = secrets.randbits(32) if ssrc is None else ssrc
        self.sequence_number = secrets.randbits(16)
        self.timestamp = secrets.randbits(32)
        #: RFC 3550 6.4.1 sender's packet and octet counts (for a sender report).
        self.packets_sent = 0
        self.octets_sent = 0

    def packet(
        self,
        payload: bytes,
        samples: int | None = None,
        *,
        marker: bool | None = None,
        payload_type: int | None = None,
    ) -> RtpPacket:
        """The next packet. ``samples`` defaults to ``len(payload)`` (G.711: one octet per sample).
        ``payload_type`` sends another format on the same stream (RFC 4733 events share SSRC and
        numbering)."""
        if samples is None:
            samples = len(payload)
        if samples < 0:
            raise RtpError("samples must not be negative")
        sequence_number, timestamp, first = self._count(samples, len(payload))
        return RtpPacket(
            payload_type=self.payload_type if payload_type is None else payload_type,
            sequence_number=sequence_number,
            timestamp=timestamp,
            ssrc=self.ssrc,
            payload=bytes(payload),
            marker=first if marker is None else marker,
        )

    def datagram(self, payload: bytes, samples: int | None = None, payload_type: int | None = None) -> bytes:
        """The next packet, encoded: ``bytes(packet(payload, samples, payload_type=payload_type))`` without
        the ``RtpPacket`` and its checks, for the media path (50 packets a second per call)."""
        octets = len(payload)
        sequence_number, timestamp, first = self._count(octets if samples is None else samples, octets)
        second = self.payload_type if payload_type is None else payload_type
        if first:
            second |= 0x80
        return _FIXED_HEADER.pack(_PLAIN_FIRST, second, sequence_number, timestamp, self.ssrc) + payload

    def _count(self, samples: int, octets: int) -> tuple[int, int, bool]:
        """Sequence number and timestamp of the next packet, and whether it is the first; counts it sent."""
        numbers = self.sequence_number, self.timestamp, self.packets_sent == 0
        self.sequence_number = (self.sequence_number + 1) % _SEQ_MOD
        self.timestamp = (self.timestamp + samples) % _TS_MOD
        self.packets_sent += 1
        self.octets_sent += octets
        return numbers


@dataclass(frozen=True)
class Gap:
    """A packet that did not arrive in time: ``samples`` of audio the fax engine must fill in."""

    samples: int


@dataclass
class JitterStats:
    received: int = 0  # packets pushed
    played: int = 0  # payloads returned by pop
    reordered: int = 0  # arrived after a packet with a higher sequence number (and still in time)
    duplicates: int = 0  # already buffered or already played: dropped
    late: int = 0  # arrived after its turn had passed as a gap: dropped
    gaps: int = 0  # Gap returned by pop
    resyncs: int = 0  # new SSRC, or a sequence jump that can only be a restart


class JitterBuffer:
    """A fixed-delay, fax-safe jitter buffer for one incoming stream, driven by a 20 ms tick.

    - ``push`` every packet as it arrives; call ``pop`` once per tick.
    - Playing starts once ``depth`` packets are held or the first one has waited ``depth - 1`` ticks
      (``pop`` returns None until then), from the lowest sequence number held; from then on each
      ``pop`` plays the next sequence number: its payload, or ``Gap`` when it is missing. The delay is
      therefore fixed at about ``depth`` ticks, and a packet that arrives within it is always played,
      in order. There is no concealment and no adaptive resizing: modems want a steady clock more
      than low latency.
    - Duplicates and packets whose turn has passed are dropped and counted.
    - Sequence numbers wrap at 2^16. Timestamps are not used: one packet is one tick (ptime 20).
    - Restarts: a new SSRC (stragglers of the previous one are then dropped as late), a sequence
      number more than ``max_jump`` away from the play position, or more than ``2 * depth`` late
      packets in a row (a sender that paused without advancing its numbering) start filling afresh
      from the new packet. Packets already held are played out first.
    """

    def __init__(self, depth: int = 3, samples_per_packet: int = 160, max_jump: int = MAX_MISORDER) -> None:
        if depth < 1:
            raise ValueError("depth must be at least 1 packet")
        self.depth = depth
        self.samples_per_packet = samples_per_packet
        self.max_jump = max_jump
        self.stats = JitterStats()
        self._ssrc: int | None = None
        self._previous_ssrc: int | None = None
        self._since_switch = 0
        self._packets: dict[int, bytes] = {}
        self._next: int | None = None  # the sequence number pop plays next; None while filling
        self._lowest = 0  # while filling: the lowest sequence number held
        self._highest = 0  # the highest sequence number received (valid when anything was received)
        self._played: deque[int] = deque(maxlen=2 * MAX_MISORDER)
        self._drain: deque[bytes | Gap] = deque()
        self._late_run = 0
        self._waited = 0  # ticks the first packet has waited while filling

    @property
    def playing(self) -> bool:
        return self._next is not None

    def __len__(self) -> int:
        """Packets held (not counting those queued to play out after a restart)."""
        return len(self._packets)

    def push(self, packet: RtpPacket) -> None:
        self.add(packet.ssrc, packet.sequence_number, packet.payload)

    def add(self, ssrc: int, seq: int, payload: bytes) -> None:
        """``push`` of a packet known by its fields (``plain_fields``), without an ``RtpPacket``."""
        self.stats.received += 1
        if self._ssrc is not None and ssrc != self._ssrc:
            if ssrc == self._previous_ssrc and self._since_switch < self.max_jump:
                self.stats.late += 1  # a straggler of the stream we just left: do not switch back
                return
            self._restart()
            self._previous_ssrc, self._since_switch = self._ssrc, 0
        self._ssrc = ssrc
        self._since_switch += 1
        if self._next is None:
            self._push_filling(seq, payload)
            return
        delta = seq_delta(seq, self._next)
        if abs(delta) > self.max_jump:
            self._restart()
            self._push_filling(seq, payload)
            return
        if delta < 0:
            if seq in self._played:
                self.stats.duplicates += 1
                return
            self._late_run += 1
            if self._late_run > 2 * self.depth:
                self._restart()
                self._push_filling(seq, payload)
            else:
                self.stats.late += 1
            return
        self._late_run = 0
        self._store(seq, payload)

    def pop(self) -> bytes | Gap | None:
        if self._drain:
            item = self._drain.popleft()
            if isinstance(item, Gap):
                self.stats.gaps += 1
            else:
                self.stats.played += 1
            return item
        if self._next is None:
            if not self._packets:
                return None
            if len(self._packets) < self.depth and self._waited < self.depth - 1:
                self._waited += 1
                return None
            self._next, self._waited = self._lowest, 0
        seq = self._next
        self._next = (seq + 1) & 0xFFFF
        payload = self._packets.pop(seq, None)
        if payload is None:
            self.stats.gaps += 1
            return Gap(self.samples_per_packet)
        self._played.append(seq)
        self.stats.played += 1
        return payload

    def _push_filling(self, seq: int, payload: bytes) -> None:
        if not self._packets:
            self._lowest = self._highest = seq
        elif abs(seq_delta(seq, self._lowest)) > self.max_jump:
            self._restart()
            self._lowest = self._highest = seq
        elif seq_delta(seq, self._lowest) < 0:
            self._lowest = seq
        self._store(seq, payload)

    def _store(self, seq: int, payload: bytes) -> None:
        if seq in self._packets:
            self.stats.duplicates += 1
            return
        if self._packets or self._next is not None:
            if seq_delta(seq, self._highest) < 0:
                self.stats.reordered += 1
            else:
                self._highest = seq
        self._packets[seq] = bytes(payload)

    def _restart(self) -> None:
        """Queue what is held for playing out (holes as gaps) and start filling afresh."""
        self.stats.resyncs += 1
        if self._packets:
            seq = self._lowest if self._next is None else self._next
            for _ in range(seq_delta(self._highest, seq) + 1):
                payload = self._packets.pop(seq, None)
                self._drain.append(Gap(self.samples_per_packet) if payload is None else payload)
                seq = (seq + 1) & 0xFFFF
        self._packets.clear()
        self._next = None
        self._late_run = self._waited = 0
        self._played.clear()


class ReceptionStats:
    """What a receiver reports of one incoming stream (RFC 3550 6.4.1): packets lost, counted by
    sequence number (A.3: expected less received), and the interarrival jitter (A.8).

    ``update`` once per packet, with its arrival time in seconds: a few arithmetic operations, fit for
    the 20 ms media path. A new SSRC, or a sequence jump beyond ``MAX_MISORDER``, starts a new count
    (the losses so far are kept)."""

    def __init__(self, clock_rate: int = G711_CLOCK_RATE) -> None:
        self.clock_rate = clock_rate
        self.received = 0
        self._lost_before = 0  # of the sources (or numberings) before the current one
        self._ssrc: int | None = None
        self._base = 0  # extended sequence number of the current source's first packet
        self._highest = 0  # extended highest sequence number received (A.1 ``cycles`` + ``max_seq``)
        self._received_here = 0
        self._last: tuple[float, int] | None = None  # arrival time and timestamp of the last packet
        self._jitter = 0.0  # in timestamp units, as A.8 keeps it

    def update(self, packet: RtpPacket, arrival: float) -> None:
        self.count(packet.ssrc, packet.sequence_number, packet.timestamp, arrival)

    def count(self, ssrc: int, sequence_number: int, timestamp: int, arrival: float) -> None:
        """``update`` with a packet known by its fields (``plain_fields``), without an ``RtpPacket``."""
        self.received += 1
        delta = seq_delta(sequence_number, self._highest & 0xFFFF)
        if ssrc != self._ssrc or abs(delta) > MAX_MISORDER:
            self._lost_before = self.lost
            self._ssrc, self._base, self._highest = ssrc, sequence_number, sequence_number
            self._received_here = 0
            self._last = None
        elif delta > 0:
            self._highest += delta
        self._received_here += 1
        if self._last is not None:
            # A.8: D(i-1,i) = (Rj - Ri) - (Sj - Si), both in timestamp units; J += (|D| - J) / 16.
            last_arrival, last_timestamp = self._last
            sent_apart = ((timestamp - last_timestamp + _TS_MOD // 2) % _TS_MOD) - _TS_MOD // 2
            difference = abs((arrival - last_arrival) * self.clock_rate - sent_apart)
            self._jitter += (difference - self._jitter) / 16
        self._last = (arrival, timestamp)

    @property
    def lost(self) -> int:
        expected = self._highest - self._base + 1 if self._ssrc is not None else 0
        return self._lost_before + max(expected - self._received_here, 0)

    @property
    def jitter_ms(self) -> float:
        return self._jitter * 1000 / self.clock_rate
