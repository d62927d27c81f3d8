"""T.30 over audio: the fax modem (V.21, V.27ter, V.29, V.17) fed with 8 kHz 16-bit linear samples."""

from __future__ import annotations

import os

from faxgw.sip.fax.binding import attach_log, ffi, lib
from faxgw.sip.fax.events import Transport
from faxgw.sip.fax.g711 import G711Codec
from faxgw.sip.fax.options import FaxOptions
from faxgw.sip.fax.t30 import EventHandler, T30Session

SAMPLE_RATE = 8000
#: 20 ms at 8 kHz: the usual RTP packet, and the block SpanDSP is happiest with.
BLOCK_SAMPLES = 160
_SAMPLE_BYTES = 2


class AudioTerminal(T30Session):
    """A fax machine on an audio line (for G.711 passthrough).

    Feed what the line brings with ``receive_audio`` and send what ``transmit_audio`` returns,
    20 ms at a time. Samples are native-endian signed 16-bit; ``G711Codec`` converts to RTP payloads.
    """

    transport = Transport.AUDIO

    def __init__(
        self,
        *,
        calling: bool,
        send: str | os.PathLike[str] | None = None,
        receive: str | os.PathLike[str] | None = None,
        options: FaxOptions | None = None,
        on_event: EventHandler | None = None,
        first_page: int = 1,
        name: str = "audio",
    ) -> None:
        super().__init__(
            calling=calling,
            send=send,
            receive=receive,
            options=options or FaxOptions(),
            on_event=on_event,
            first_page=first_page,
        )
        state = lib.fax_init(ffi.NULL, int(calling))
        if state == ffi.NULL:
            raise MemoryError("fax_init failed")
        self._state = state
        # Always produce samples, silence included: RTP must keep flowing at a steady pace.
        lib.fax_set_transmit_on_idle(state, 1)
        self._keepalive.append(attach_log(lib.fax_get_logging_state(state), name))
        self._setup_t30(lib.fax_get_t30_state(state), name)
        self._tx_buffer = ffi.new("int16_t[]", BLOCK_SAMPLES)
        self._line = ffi.new("uint8_t[]", BLOCK_SAMPLES)

    def receive_audio(self, samples: bytes | bytearray | memoryview) -> None:
        """Samples heard from the line (any length; 160 = 20 ms is typical)."""
        count = len(samples) // _SAMPLE_BYTES
        with self._native() as state:
            lib.fax_rx(state, ffi.from_buffer("int16_t[]", samples), count)

    def receive_gap(self, count: int = BLOCK_SAMPLES) -> None:
        """``count`` samples never arrived (a lost RTP packet): let the modems account for the time
        without inventing a signal, which would be worse for a fax than the gap itself."""
        with self._native() as state:
            lib.fax_rx_fillin(state, count)

    def transmit_audio(self, count: int = BLOCK_SAMPLES) -> bytes:
        """The next ``count`` samples to put on the line."""
        if count > len(self._tx_buffer):
            self._tx_buffer = ffi.new("int16_t[]", count)
        with self._native() as state:
            produced = lib.fax_tx(state, self._tx_buffer, count)
        return ffi.buffer(self._tx_buffer, produced * _SAMPLE_BYTES)[:]

    def g711_step(self, codec: G711Codec, heard: bytes | None, missing: int = BLOCK_SAMPLES) -> bytes:
        """One media tick on a G.711 line in a single call into C: the payload ``heard`` (or, when None,
        ``missing`` samples that never arrived, as ``receive_gap``) in, then the next 20 ms to send,
        encoded with ``codec``. The same as ``receive_audio``/``receive_gap`` and ``transmit_audio``
        around ``codec.decode``/``encode``, at a fraction of the Python work per packet."""
        heard_len = 0 if heard is None else len(heard)
        with self._native() as state:
            written = lib.faxgw_g711_step(
                state, codec.state, heard or ffi.NULL, heard_len, missing, self._line, BLOCK_SAMPLES
            )
        return ffi.buffer(self._line, written)[:]

    def _free(self, state) -> None:
        lib.fax_free(state)
