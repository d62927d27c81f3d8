"""T.38 (ITU-T T.38): a fax terminal speaking IFP packets, an audio <-> T.38 gateway, and a monitor.

The terminal and the gateway hand every IFP packet they produce to ``transmit(packet, repeat)``;
``repeat`` is how many times SpanDSP wants it sent (indicators are repeated for robustness). Sequence
numbers and redundancy belong to the UDPTL layer, which delivers packets back with ``receive_ifp``.
The monitor only reads IFP packets going past, to follow a fax that other machines are sending.
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
from faxgw.sip.fax.t30_progress import FaxProgress

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

    def receive_gap(self, count: int = BLOCK_SAMPLES) -> None:
        """``count`` samples never arrived (a lost RTP packet): the modems account for the time
        without a made-up signal (as ``AudioTerminal.receive_gap``)."""
        with self._native() as state:
            lib.t38_gateway_rx_fillin(state, count)

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


#: The fast modem each IFP data type names, as the bit rate it carries page data at (T.38 Annex A).
_IMAGE_RATES = {
    lib.T38_DATA_V27TER_2400: 2400,
    lib.T38_DATA_V27TER_4800: 4800,
    lib.T38_DATA_V29_7200: 7200,
    lib.T38_DATA_V29_9600: 9600,
    lib.T38_DATA_V17_7200: 7200,
    lib.T38_DATA_V17_9600: 9600,
    lib.T38_DATA_V17_12000: 12000,
    lib.T38_DATA_V17_14400: 14400,
}
_HDLC_DATA = lib.T38_FIELD_HDLC_DATA
#: Fields that end an HDLC frame whose FCS was good (T.38 Annex A: hdlc-fcs-OK, hdlc-fcs-OK-sig-end);
#: every other non-data field (a bad FCS, the signal's end) drops what was gathered.
_FCS_OK = frozenset((lib.T38_FIELD_HDLC_FCS_OK, lib.T38_FIELD_HDLC_FCS_OK_SIG_END))
_NON_ECM_DATA = frozenset((lib.T38_FIELD_T4_NON_ECM_DATA, lib.T38_FIELD_T4_NON_ECM_SIG_END))
#: T.38 carries HDLC octets in the order their bits go down the line, first bit in the top bit; HDLC
#: sends an octet least significant bit first (T.30 5.3.6). Reversing each octet gives the frame as
#: T.30 (and SpanDSP's T30_* constants) spell it.
_BIT_REVERSED = bytes(int(f"{octet:08b}"[::-1], 2) for octet in range(256))


class T38Monitor(NativeState):
    """Reads one direction of a T.38 exchange between two other fax machines into ``progress``.

    SpanDSP's T.38 core decodes the IFP packets (every T.38 version's encoding); T.30 frames carried
    on V.21 go to ``FaxProgress.frame`` once their FCS is reported good, and page data on a fast modem
    to ``FaxProgress.image_data`` (HDLC fields there are ECM frames, T.4 fields plain page data). The
    monitor never sends. Feed it each packet once, in order; a frame cut by a lost packet is dropped.
    """

    def __init__(self, progress: FaxProgress, *, name: str = "monitor") -> None:
        super().__init__()
        self.progress = progress
        state = lib.t38_core_init(
            ffi.NULL,
            lib._on_t38_indicator,
            lib._on_t38_data,
            lib._on_t38_missing,
            self._handle,
            lib._on_t38_packet,  # never called: the core only sends when told to
            self._handle,
        )
        if state == ffi.NULL:
            raise MemoryError("t38_core_init failed")
        self._state = state
        self._keepalive.append(attach_log(lib.t38_core_get_logging_state(state), name))
        self._frame = bytearray()
        #: Told every T.30 frame read, as ``progress`` is (a relayed call's diagnostics).
        self.on_frame: Callable[[bytes], None] | None = None

    def observe(self, packet: bytes, sequence: int) -> None:
        """One IFP packet going past, with its sequence number (a gap in them is packets lost)."""
        with self._native() as state:
            lib.t38_core_rx_ifp_packet(state, packet, len(packet), sequence % _SEQUENCE_MODULO)

    def _indicator(self, indicator: int) -> None:
        self._frame.clear()  # a new signal: whatever frame was being gathered was cut off

    def _data(self, data_type: int, field_type: int, data, length: int) -> None:
        rate = _IMAGE_RATES.get(data_type)
        if rate is not None:
            if field_type == _HDLC_DATA or field_type in _NON_ECM_DATA:
                self.progress.image_data(rate, ecm=field_type == _HDLC_DATA)
            return
        if data_type != lib.T38_DATA_V21:
            return
        if field_type == _HDLC_DATA:
            self._frame += ffi.buffer(data, length)[:]
            return
        if field_type in _FCS_OK and self._frame:
            frame = bytes(self._frame).translate(_BIT_REVERSED)
            self.progress.frame(frame)
            if self.on_frame is not None:
                self.on_frame(frame)
        self._frame.clear()

    def _missing(self, rx_sequence: int, expected_sequence: int) -> None:
        self._frame.clear()

    def _free(self, state) -> None:
        lib.t38_core_free(state)


define_callback("_on_t38_packet", "_packet", returns=0)
define_callback("_on_t38_indicator", "_indicator", returns=0)
define_callback("_on_t38_data", "_data", returns=0)
define_callback("_on_t38_missing", "_missing", returns=0)
