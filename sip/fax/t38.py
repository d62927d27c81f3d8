"""T.38 (ITU-T T.38): a fax terminal speaking IFP packets, and an audio <-> T.38 gateway.

Both hand every IFP packet they produce to ``transmit(packet, repeat)``; ``repeat`` is how many
times SpanDSP wants it sent (indicators are repeated for robustness). Sequence numbers and
redundancy belong to the UDPTL layer, which delivers packets back with ``receive_ifp``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from faxgw.sip.fax.audio import BLOCK_SAMPLES
from faxgw.sip.fax.binding import attach_log, ffi, lib
from faxgw.sip.fax.events import Transport
from faxgw.sip.fax.native import NativeState, define_callback
from faxgw.sip.fax.options import FaxOptions
from faxgw.sip.fax.t30 import EventHandler, T30Session

PacketSink = Callable[[bytes, int], None]

_SEQUENCE_MODULO = 0x10000


class IfpEndpoint(NativeState):
    """What the terminal and the gateway share: the T.38 core and the packet path."""

    _core = None

    def _set_core(self, core, version: int, tag: str) -> None:
        self._core = core
        lib.t38_set_t38_version(core, version)
        self._keepalive.append(attach_log(lib.t38_core_get_logging_state(core), tag))

    def receive_ifp(self, packet: bytes, sequence: int) -> None:
        """One IFP packet from the far end, with its UDPTL sequence number (mod 65536)."""
        with self._native():
            lib.t38_core_rx_ifp_packet(self._core, packet, len(packet), sequence % _SEQUENCE_MODULO)

    def _packet(self, buffer, length: int, repeat: int) -> None:
        # Copy now: the buffer is only valid during the callback.
        self._transmit(ffi.buffer(buffer, length)[:], repeat)

    _transmit: PacketSink


class T38Terminal(T30Session, IfpEndpoint):
    """A fax machine that speaks T.38 directly (no modem).

    Call ``advance(samples)`` every 20 ms (160 samples of time): T.38 timing is driven from
    outside. ``paced=False`` sends as fast as the peer takes it - only between our own endpoints.
    """

    transport = Transport.T38

    def __init__(
        self,
        *,
        calling: bool,
        transmit: PacketSink,
        send: str | os.PathLike[str] | None = None,
        receive: str | os.PathLike[str] | None = None,
        options: FaxOptions | None = None,
        on_event: EventHandler | None = None,
        first_page: int = 1,
        paced: bool = True,
        version: int = 0,
        name: str = "t38",
    ) -> None:
        options = options or FaxOptions()
        super().__init__(
            calling=calling,
            send=send,
            receive=receive,
            options=options,
            on_event=on_event,
            first_page=first_page,
        )
        self._transmit = transmit
        state = lib.t38_terminal_init(ffi.NULL, int(calling), lib._on_t38_packet, self._handle)
        if state == ffi.NULL:
            raise MemoryError("t38_terminal_init failed")
        self._state = state
        lib.t38_terminal_set_config(state, 0 if paced else lib.T38_TERMINAL_OPTION_NO_PACING)
        self._keepalive.append(attach_log(lib.t38_terminal_get_logging_state(state), name))
        core = lib.t38_terminal_get_t38_core_state(state)
        self._set_core(core, version, name)
        lib.t38_set_fastest_image_data_rate(core, options.max_bit_rate)
        self._setup_t30(lib.t38_terminal_get_t30_state(state), name)

    def advance(self, samples: int = BLOCK_SAMPLES) -> bool:
        """Let ``samples`` (at 8 kHz) of time pass. True once T.30 has finished."""
        with self._native() as state:
            return bool(lib.t38_terminal_send_timeout(state, samples))

    def _free(self, state) -> None:
        lib.t38_terminal_free(state)


@dataclass(frozen=True)
class GatewayStats:
    bit_rate: int
    ecm: bool
    pages: int


class T38Gateway(IfpEndpoint):
    """Joins an audio fax call to a T.38 call: modems on one side, IFP packets on the other."""

    def __init__(
        self,
        *,
        transmit: PacketSink,
        ecm: bool = True,
        max_bit_rate: int = 14400,
        version: int = 0,
        name: str = "gateway",
    ) -> None:
        super().__init__()
        self._transmit = transmit
        state = lib.t38_gateway_init(ffi.NULL, lib._on_t38_packet, self._handle)
        if state == ffi.NULL:
            raise MemoryError("t38_gateway_init failed")
        self._state = state
        lib.t38_gateway_set_transmit_on_idle(state, 1)
        lib.t38_gateway_set_ecm_capability(state, int(ecm))
        lib.t38_gateway_set_supported_modems(state, FaxOptions(max_bit_rate=max_bit_rate).modem_bits)
        self._keepalive.append(attach_log(lib.t38_gateway_get_logging_state(state), name))
        self._set_core(lib.t38_gateway_get_t38_core_state(state), version, name)
        self._tx_buffer = ffi.new("int16_t[]", BLOCK_SAMPLES)

    def receive_audio(self, samples: bytes | bytearray | memoryview) -> None:
        with self._native() as state:
            lib.t38_gateway_rx(state, ffi.from_buffer("int16_t[]", samples), len(samples) // 2)

    def transmit_audio(self, count: int = BLOCK_SAMPLES) -> bytes:
        if count > len(self._tx_buffer):
            self._tx_buffer = ffi.new("int16_t[]", count)
        with self._native() as state:
            produced = lib.t38_gateway_tx(state, self._tx_buffer, count)
        return ffi.buffer(self._tx_buffer, produced * 2)[:]

    def stats(self) -> GatewayStats:
        stats = ffi.new("t38_stats_t *")
        with self._native() as state:
            lib.t38_gateway_get_transfer_statistics(state, stats)
        return GatewayStats(stats.bit_rate, bool(stats.error_correcting_mode), stats.pages_transferred)

    def _free(self, state) -> None:
        lib.t38_gateway_free(state)


define_callback("_on_t38_packet", "_packet", returns=0)
