"""A packet capture of one call's own packets, written by the gateway itself: what "take a pcap" would
have shown, for a failed fax, without tcpdump.

While the call runs, ``Capture`` only appends each datagram with its time and addresses to a bounded
deque (the last ``limit`` are kept: a failure is usually at the end); ``write`` turns them into a
classic pcap file (LINKTYPE_RAW: IPv4 or IPv6 headers made up around each UDP datagram, as they were on
the wire but for IP options and fragmentation), once the call is over, off the event loop.
"""

from __future__ import annotations

import ipaddress
import struct
import time
from collections import deque
from pathlib import Path

#: Classic pcap (libpcap file format): magic, version 2.4, UTC offset, accuracy, snap length, link type.
_PCAP_HEADER = struct.Struct("<IHHiIII")
_PCAP_MAGIC = 0xA1B2C3D4
_LINKTYPE_RAW = 101  # the packet starts with its IP header, version 4 or 6
_SNAPLEN = 65535
_RECORD = struct.Struct("<IIII")  # seconds, microseconds, length kept, length on the wire
_UDP = struct.Struct("!HHHH")  # source port, destination port, length, checksum (0: none, RFC 768)
_IPV4 = struct.Struct("!BBHHHBBH4s4s")
_IPV6 = struct.Struct("!IHBB16s16s")
_UDP_PROTOCOL = 17
_TTL = 64

Address = tuple[str, int]


class Capture:
    """The datagrams of one call, both ways: SIP, RTP, UDPTL."""

    def __init__(self, limit: int = 100_000) -> None:
        self.packets: deque[tuple[float, Address, Address, bytes]] = deque(maxlen=limit)

    def add(self, source: Address, destination: Address, data: bytes) -> None:
        """One datagram: a tuple appended, nothing more (this runs on the media path)."""
        self.packets.append((time.time(), source, destination, data))

    def write(self, path: Path) -> Path:
        """The capture as a pcap file at ``path`` (its folder made if need be); blocking: run in a thread."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as out:
            out.write(_PCAP_HEADER.pack(_PCAP_MAGIC, 2, 4, 0, 0, _SNAPLEN, _LINKTYPE_RAW))
            for at, source, destination, data in list(self.packets):
                packet = _ip_udp(source, destination, data)
                seconds = int(at)
                out.write(_RECORD.pack(seconds, int((at - seconds) * 1_000_000), len(packet), len(packet)))
                out.write(packet)
        return path


def _ip_udp(source: Address, destination: Address, data: bytes) -> bytes:
    udp = _UDP.pack(source[1], destination[1], _UDP.size + len(data), 0) + data
    src, dst = ipaddress.ip_address(source[0]), ipaddress.ip_address(destination[0])
    if src.version == 6 or dst.version == 6:
        src6 = src if src.version == 6 else ipaddress.IPv6Address(f"::ffff:{src}")
        dst6 = dst if dst.version == 6 else ipaddress.IPv6Address(f"::ffff:{dst}")
        return _IPV6.pack(6 << 28, len(udp), _UDP_PROTOCOL, _TTL, src6.packed, dst6.packed) + udp
    header = _IPV4.pack(0x45, 0, _IPV4.size + len(udp), 0, 0, _TTL, _UDP_PROTOCOL, 0, src.packed, dst.packed)
    checksum = _checksum(header)
    return header[:10] + struct.pack("!H", checksum) + header[12:] + udp


def _checksum(header: bytes) -> int:
    """RFC 791 3.1: the ones' complement of the ones' complement sum of the header's 16-bit words."""
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF
