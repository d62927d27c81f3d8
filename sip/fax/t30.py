"""A T.30 fax session over any transport: configuration, phase B/D/E callbacks, events.

The transports (``AudioTerminal`` in ``audio.py``, ``T38Terminal`` in ``t38.py``) create the
SpanDSP state and hand its ``t30_state_t`` to ``T30Session._setup_t30``; from then on the T.30
part behaves the same whatever carries it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from faxgw.sip.fax.binding import attach_log, c_string, ffi, lib
from faxgw.sip.fax.events import Completed, FaxEvent, Negotiated, PageDone, Transport
from faxgw.sip.fax.native import NativeState, define_callback
from faxgw.sip.fax.options import FaxOptions, Resolution

log = logging.getLogger("sip.fax")

EventHandler = Callable[[FaxEvent], None]

_METRES_PER_INCH = 0.0254
# T.30 frame layout as the real-time frame handler gives it: address, control, FCF (T.30 5.3.6).
_FCF_OFFSET = 2
_FCF_MASK = 0xFE  # the low bit says which side sent it, not what it is


def _resolution(stats) -> Resolution | None:
    return Resolution.from_dpi(stats.x_resolution * _METRES_PER_INCH, stats.y_resolution * _METRES_PER_INCH)


class T30Session(NativeState):
    """One end of a fax call that sends or receives one TIFF-F file.

    ``send`` and ``receive`` are paths: exactly one must be given. ``first_page`` (1-based) lets a
    retry resume a document where an earlier attempt stopped. Events go to ``on_event`` as they
    happen, and the latest of each kind stays readable as ``negotiated`` and ``completed``.
    """

    transport: ClassVar[Transport]

    def __init__(
        self,
        *,
        calling: bool,
        send: str | os.PathLike[str] | None,
        receive: str | os.PathLike[str] | None,
        options: FaxOptions,
        on_event: EventHandler | None,
        first_page: int,
    ) -> None:
        super().__init__()
        if (send is None) == (receive is None):
            raise ValueError("give exactly one of send= (a TIFF-F to transmit) or receive= (where to write)")
        if first_page < 1:
            raise ValueError("first_page counts from 1")
        self.calling = calling
        self.sending = send is not None
        self.path = Path(send if send is not None else receive)  # type: ignore[arg-type]
        if self.sending and not self.path.is_file():
            # SpanDSP would only notice this seconds into the call (completion code 41).
            raise FileNotFoundError(f"no such TIFF-F file to send: {self.path}")
        self.options = options
        self.on_event = on_event
        self.first_page = first_page
        self.remote_ident = ""
        self.negotiated: Negotiated | None = None
        self.completed: Completed | None = None
        self.pages_done = 0
        #: Told every T.30 frame as it goes by: (sent by us, the frame's bytes) - the call's diagnostics.
        self.on_frame: Callable[[bool, bytes], None] | None = None

    # -- set-up ------------------------------------------------------------------------------
    def _setup_t30(self, t30, tag: str) -> None:
        self._t30 = t30
        opts = self.options
        self._keepalive.append(attach_log(lib.t30_get_logging_state(t30), tag))
        lib.t30_set_tx_ident(t30, opts.ident.encode("ascii"))
        if opts.header:
            lib.t30_set_tx_page_header_info(t30, opts.header.encode("ascii"))
        lib.t30_set_ecm_capability(t30, int(opts.ecm))
        lib.t30_set_supported_modems(t30, opts.modem_bits)
        lib.t30_set_supported_compressions(t30, opts.compression_bits)
        lib.t30_set_supported_resolutions(t30, opts.resolution_bits)
        lib.t30_set_supported_image_sizes(
            t30,
            lib.T30_SUPPORT_215MM_WIDTH
            | lib.T30_SUPPORT_UNLIMITED_LENGTH
            | lib.T30_SUPPORT_A4_LENGTH
            | lib.T30_SUPPORT_US_LETTER_LENGTH
            | lib.T30_SUPPORT_US_LEGAL_LENGTH
            | lib.T30_SUPPORT_B4_LENGTH,
        )
        path = os.fsencode(self.path)
        if self.sending:
            lib.t30_set_tx_file(t30, path, self.first_page - 1, -1)
        else:
            lib.t30_set_rx_file(t30, path, -1)
        lib.t30_set_phase_b_handler(t30, lib._on_phase_b, self._handle)
        lib.t30_set_phase_d_handler(t30, lib._on_phase_d, self._handle)
        lib.t30_set_phase_e_handler(t30, lib._on_phase_e, self._handle)
        lib.t30_set_real_time_frame_handler(t30, lib._on_frame, self._handle)

    # -- control -----------------------------------------------------------------------------
    def hangup(self) -> None:
        """The call is gone (BYE, lost media): end T.30 now. Phase E reports what was transferred."""
        with self._native():
            lib.t30_terminate(self._t30)

    # -- callbacks (run inside SpanDSP) --------------------------------------------------------
    def _stats(self):
        stats = ffi.new("t30_stats_t *")
        lib.t30_get_transfer_statistics(self._t30, stats)
        return stats

    def _emit(self, event: FaxEvent) -> None:
        log.debug("%s %s", self.path.name, event)
        if self.on_event is not None:
            self.on_event(event)

    def _phase_b(self, result: int) -> None:
        self.remote_ident = c_string(lib.t30_get_rx_ident(self._t30)).strip()

    def _frame(self, direction: int, msg, length: int) -> None:
        if self.on_frame is not None:
            self.on_frame(not direction, ffi.unpack(msg, length))  # direction: true for a received frame
        if length > _FCF_OFFSET and (msg[_FCF_OFFSET] & _FCF_MASK) == lib.T30_CFR:
            stats = self._stats()
            self.negotiated = Negotiated(
                remote_ident=self.remote_ident,
                bit_rate=stats.bit_rate,
                ecm=bool(stats.error_correcting_mode),
                resolution=_resolution(stats),
                encoding=c_string(lib.t4_encoding_to_str(stats.encoding)),
                transport=self.transport,
            )
            self._emit(self.negotiated)

    def _phase_d(self, result: int) -> None:
        stats = self._stats()
        done = stats.pages_tx if self.sending else stats.pages_rx
        if done <= self.pages_done:
            return  # the receiver asked for a retrain (RTN/RTP) - no new page yet
        self.pages_done = done
        self._emit(
            PageDone(
                page=(self.first_page - 1 + done) if self.sending else done,
                bad_rows=stats.bad_rows,
                path=self.path,
                sending=self.sending,
                resolution=_resolution(stats),
                width=stats.width,
                length=stats.length,
            )
        )

    def _phase_e(self, code: int) -> None:
        stats = self._stats()
        expected = None
        if self.sending:
            expected = max(stats.pages_in_file - (self.first_page - 1), 0)
        self.completed = Completed(
            code=code,
            text=c_string(lib.t30_completion_code_to_str(code)),
            sending=self.sending,
            pages_transferred=self.pages_done,
            pages_expected=expected,
            remote_ident=self.remote_ident,
        )
        self._emit(self.completed)


# Every SpanDSP callback lands here first: find the session, run its method, keep any error.
define_callback("_on_phase_b", "_phase_b", returns=lib.T30_ERR_OK)
define_callback("_on_phase_d", "_phase_d", returns=lib.T30_ERR_OK)
define_callback("_on_phase_e", "_phase_e")
define_callback("_on_frame", "_frame")
