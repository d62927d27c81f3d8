"""RFC 2198 redundant audio for G.711 fax passthrough, as ITU-T V.152 voiceband data uses it.

Fax over G.711 does not survive lost packets well: SpanDSP can account for the missing time
(``fax_rx_fillin``) but not for the missing signal, so one lost packet inside a V.21 control frame
(300 bit/s: a lost 20 ms is six bits) spoils the frame, and T.30 gives up after three tries. With
redundancy every packet also carries the previous ``depth`` payloads, so a packet lost comes back from
one of the next ``depth``, inside the jitter buffer's delay.

Pure code. ``encode``/``decode`` are the payload format (RFC 2198 3); ``RedundantSender`` wraps
each outgoing G.711 payload with its predecessors; ``RedundantReceiver`` turns a received ``red``
packet back into the plain RTP packets it carries: its primary, and those earlier ones that never
arrived, with their sequence numbers worked out from the timestamp offsets (one packet is
``samples_per_packet`` of time: RFC 2198 carries no sequence numbers).
"""

from __future__ import annotations

import struct
from collections import deque
from typing import NamedTuple

from faxgw.sip.rtp import RtpError

#: RFC 2198 3: the block header's timestamp offset is 14 bits, the block length 10 bits.
MAX_TIMESTAMP_OFFSET = (1 << 14) - 1
MAX_BLOCK_LENGTH = (1 << 10) - 1
#: RFC 2198 3: F bit, set in every header but the last (the primary's).
_FOLLOWS = 0x80
#: Sequence numbers remembered as delivered, to tell a block that makes good a loss from one whose
#: packet came (a window wider than any redundancy depth or reordering we meet).
_SEEN = 64
#: Previous payloads each packet carries. Measured (bench/lossy_networks.py, 1 % random loss, G.711 with
#: ECM): with 1, about one call in ten still met two packets lost in a row, and a few of those lost the
#: training check or a final response, which SpanDSP's T.30 does not survive; 2 leaves one in a million
#: packets lost, for three times the bandwidth of plain G.711 (still under 200 kbit/s).
DEPTH = 2
#: A redundant block's header as one 32-bit word: F, payload type, timestamp offset, length.
_HEADER = struct.Struct("!I")


class RedundancyError(RtpError):
    """A ``red`` payload that does not parse, or blocks that cannot be encoded."""


class Block(NamedTuple):
    """One encoding in a ``red`` payload: ``timestamp_offset`` is how far before the packet's own
    timestamp this block's data lies (0 for the primary). A named tuple, not a dataclass: every packet
    of a call makes two, and a frozen dataclass costs several times as much to make."""

    payload_type: int
    data: bytes
    timestamp_offset: int = 0


def encode(redundant: list[Block], primary: Block) -> bytes:
    """RFC 2198 3: a 4-octet header per redundant block (F=1, payload type, 14-bit timestamp offset,
    10-bit length), a 1-octet header for the primary (F=0, payload type), then the data, in that order.
    ``redundant`` is oldest first, as the RFC's example sends it."""
    parts = []
    for payload_type, data, offset in redundant:
        if not 0 <= payload_type <= 0x7F:
            raise RedundancyError(f"payload type {payload_type}: 0..127")
        if not 0 <= offset <= MAX_TIMESTAMP_OFFSET:
            raise RedundancyError(f"timestamp offset {offset}: 14 bits")
        if len(data) > MAX_BLOCK_LENGTH:
            raise RedundancyError(f"a redundant block of {len(data)} octets: 10 bits of length")
        parts.append(_HEADER.pack((_FOLLOWS | payload_type) << 24 | offset << 10 | len(data)))
    if not 0 <= primary.payload_type <= 0x7F:
        raise RedundancyError(f"payload type {primary.payload_type}: 0..127")
    parts.append(bytes((primary.payload_type,)))
    parts.extend(block.data for block in redundant)
    parts.append(primary.data)
    return b"".join(parts)


def decode(payload: bytes) -> tuple[list[Block], Block]:
    """The redundant blocks (in payload order) and the primary of a ``red`` payload (RFC 2198 3)."""
    headers: list[tuple[int, int, int]] = []
    pos = 0
    while True:
        if pos >= len(payload):
            raise RedundancyError("truncated: the primary's block header is missing")
        first = payload[pos]
        if not first & _FOLLOWS:
            pos += 1
            break
        if pos + 4 > len(payload):
            raise RedundancyError("truncated redundant block header")
        word = _HEADER.unpack_from(payload, pos)[0] & 0xFFFFFF
        headers.append((first & 0x7F, word >> 10, word & MAX_BLOCK_LENGTH))
        pos += 4
    redundant = []
    for payload_type, offset, length in headers:
        if pos + length > len(payload):
            raise RedundancyError(f"a redundant block of {length} octets runs past the payload")
        redundant.append(Block(payload_type, payload[pos : pos + length], offset))
        pos += length
    return redundant, Block(first & 0x7F, payload[pos:])


class RedundantSender:
    """Makes the ``red`` payload of each outgoing packet: the packet's own payload as primary and the
    payloads of the ``depth`` packets before it as redundant blocks. Every packet is
    ``samples_per_packet`` long, so the block k packets back has timestamp offset k times that."""

    def __init__(self, payload_type: int, depth: int = DEPTH, samples_per_packet: int = 160) -> None:
        if depth < 1:
            raise ValueError("redundancy depth is at least 1 (else do not use red)")
        self.payload_type = payload_type
        self.samples_per_packet = samples_per_packet
        self._history: deque[bytes] = deque(maxlen=depth)

    def payload(self, primary: bytes) -> bytes:
        primary = bytes(primary)
        n, step = len(self._history), self.samples_per_packet
        redundant = [Block(self.payload_type, data, (n - i) * step) for i, data in enumerate(self._history)]
        self._history.append(primary)
        return encode(redundant, Block(self.payload_type, primary))


class RedundantReceiver:
    """Turns ``red`` packets back into the packets of ``payload_type`` they carry, for the jitter buffer.

    A redundant block whose packet was not seen yet (lost, or not yet arrived) becomes that packet
    (its sequence number: this one's less the timestamp offset in packets), counted in ``recovered``;
    a block whose packet was seen is dropped, and so is a primary that comes after its copy did.
    Blocks of another payload type, or whose offset is not a whole number of packets, cannot be
    played and are ignored. A new SSRC is a new stream: what was seen of the old one is forgotten."""

    def __init__(self, payload_type: int, samples_per_packet: int = 160) -> None:
        self.payload_type = payload_type
        self.samples_per_packet = samples_per_packet
        self.recovered = 0
        self._seen: deque[int] = deque(maxlen=_SEEN)  # in arrival order, to forget the oldest ...
        self._seen_set: set[int] = set()  # ... and the same, to ask (a deque is searched end to end)
        self._ssrc: int | None = None

    def unpack(self, ssrc: int, sequence_number: int, payload: bytes) -> list[tuple[int, bytes]]:
        """The (sequence number, G.711 payload) pairs a ``red`` packet makes playable, oldest first."""
        redundant, primary = decode(payload)
        if ssrc != self._ssrc:
            self._ssrc = ssrc
            self._seen.clear()
            self._seen_set.clear()
        out = []
        for block in (*redundant, primary):
            back, rest = divmod(block.timestamp_offset, self.samples_per_packet)
            if rest or block.payload_type != self.payload_type:
                continue
            sequence = (sequence_number - back) & 0xFFFF
            if sequence in self._seen_set:
                continue
            if len(self._seen) == _SEEN:
                self._seen_set.discard(self._seen[0])
            self._seen.append(sequence)
            self._seen_set.add(sequence)
            if back:
                self.recovered += 1
            out.append((sequence, block.data))
        return out
