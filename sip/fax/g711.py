"""G.711 (ITU-T G.711) u-law and A-law: 16-bit linear samples <-> RTP PCMU/PCMA payloads."""

from __future__ import annotations

import enum

from faxgw.sip.fax.binding import ffi, lib


class Law(enum.Enum):
    ULAW = "ulaw"  # RTP payload type 0, PCMU
    ALAW = "alaw"  # RTP payload type 8, PCMA


class G711Codec:
    """Stateless per sample, so one codec can serve both directions of a call."""

    def __init__(self, law: Law) -> None:
        self.law = law
        mode = lib.G711_ULAW if law is Law.ULAW else lib.G711_ALAW
        #: The SpanDSP coder, also for C that codes inside one call (``AudioTerminal.g711_step``).
        self.state = ffi.gc(lib.g711_init(ffi.NULL, mode), lib.g711_free)

    def encode(self, samples: bytes | bytearray | memoryview) -> bytes:
        """Native-endian 16-bit samples -> one byte per sample."""
        count = len(samples) // 2
        out = ffi.new("uint8_t[]", count)
        lib.g711_encode(self.state, out, ffi.from_buffer("int16_t[]", samples), count)
        return ffi.buffer(out, count)[:]

    def decode(self, payload: bytes | bytearray | memoryview) -> bytes:
        """One byte per sample -> native-endian 16-bit samples."""
        count = len(payload)
        out = ffi.new("int16_t[]", count)
        lib.g711_decode(self.state, out, ffi.from_buffer("uint8_t[]", payload), count)
        return ffi.buffer(out, count * 2)[:]
