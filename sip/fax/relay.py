"""A fax relayed in real time between two calls, whatever each side speaks: G.711 audio or T.38.

The relay is a T.38 path with a side at each end. A side on T.38 hands its IFP packets in and gets
the other side's out (passthrough). A side on audio gets a SpanDSP T.38 gateway (``T38Gateway``):
its modems turn the fax machine's audio into IFP packets and back. So audio to T.38 runs through one
gateway, T.38 to T.38 through none, and audio to audio through two, back to back (the signal is
demodulated and modulated again, as across any T.38 network, and the relay can read the fax).

In the middle, every IFP packet goes past a ``T38Monitor`` per direction: ``progress`` tells pages,
idents, rate and ECM of a fax that only the two end machines run T.30 for. Nothing here knows
sockets or SIP (``sip.bridge`` drives it from two calls); T.38 timing comes from the audio sides'
20 ms blocks, so the gateways send IFP packets at the pace the modems produce them.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Sequence
from functools import partial

from faxgw.sip.fax.audio import BLOCK_SAMPLES
from faxgw.sip.fax.t30_frames import FrameLog
from faxgw.sip.fax.t30_progress import FaxProgress
from faxgw.sip.fax.t38 import PacketSink, T38Gateway, T38Monitor
from faxgw.sip.udptl import MAX_GAP, UDPTL_SEQ_MODULUS

log = logging.getLogger("sip.fax.relay")

SIDES = (0, 1)


class FaxRelay:
    """Carries one fax between side 0 and side 1; each side is audio, T.38 or silent (no media yet).

    ``transmit[side](packet, repeat)`` sends an IFP packet to a T.38 side. Drive an audio side every
    20 ms with ``receive_audio`` (or ``receive_gap``) and ``transmit_audio``; hand a T.38 side's packets
    to ``receive_ifp``. A side may switch at any time (a re-INVITE): the other side carries on.
    """

    def __init__(
        self,
        transmit: Sequence[PacketSink],
        *,
        ecm: bool = True,
        max_bit_rate: int = 14400,
        version: int = 0,
        name: str = "relay",
    ) -> None:
        self.progress = FaxProgress()
        self._transmit = tuple(transmit)
        self._ecm = ecm
        self._max_bit_rate = max_bit_rate
        self._version = version
        self._name = name
        self._gateways: list[T38Gateway | None] = [None, None]
        self._t38 = [False, False]
        # Packets from each side, as the middle numbers them: continuous whatever the side speaks, with
        # a gap where UDPTL lost packets it could not recover (the monitor and a gateway then know).
        self._monitors = tuple(T38Monitor(self.progress, name=f"{name} {side}>") for side in SIDES)
        #: Both stations' T.30 frames; "sent" are those from side 0 (the calling side, toward side 1).
        self.frames = FrameLog()
        for side, monitor in zip(SIDES, self._monitors, strict=True):
            monitor.on_frame = partial(self.frames.record, side == SIDES[0])
        self._sequence = [0, 0]
        self._last_udptl: list[int | None] = [None, None]
        self._queue: deque[tuple[int, bytes, int, int]] = deque()  # from side, packet, repeat, sequence
        self._pumping = False
        self._pages = 0
        #: A page went across while a side was on audio: SpanDSP's gateway carried it.
        self.gateway_carried = False

    # -- what each side speaks ---------------------------------------------------------------------
    def kind(self, side: int) -> str | None:
        """What ``side`` speaks: "audio", "t38", or None (no media there)."""
        if self._t38[side]:
            return "t38"
        return "audio" if self._gateways[side] is not None else None

    def limit(self, *, ecm: bool, max_bit_rate: int) -> None:
        """Let no more than this through the gateways started from now on (ECM off, a lower rate)."""
        self._ecm = self._ecm and ecm
        self._max_bit_rate = min(self._max_bit_rate, max_bit_rate)

    def use_audio(self, side: int) -> None:
        if self._gateways[side] is not None:
            return
        self._t38[side] = False
        self._gateways[side] = T38Gateway(
            transmit=lambda packet, repeat: self._enqueue(side, packet, repeat),
            ecm=self._ecm,
            max_bit_rate=self._max_bit_rate,
            version=self._version,
            name=f"{self._name} gateway {side}",
        )
        self._log_mode()

    def use_t38(self, side: int) -> None:
        self._close_gateway(side)
        if not self._t38[side]:
            self._t38[side] = True
            self._last_udptl[side] = None  # a new UDPTL stream numbers from anywhere
            self._log_mode()

    def stop(self, side: int) -> None:
        """No media on ``side`` (streams removed): what comes for it is dropped."""
        self._close_gateway(side)
        self._t38[side] = False

    def _close_gateway(self, side: int) -> None:
        gateway, self._gateways[side] = self._gateways[side], None
        if gateway is not None:
            gateway.close()

    def _log_mode(self) -> None:
        log.info("%s: %s <-> %s", self._name, self.kind(0), self.kind(1))

    # -- audio sides -------------------------------------------------------------------------------
    def receive_audio(self, side: int, samples: bytes) -> None:
        gateway = self._gateways[side]
        if gateway is not None:
            gateway.receive_audio(samples)
            self._pump()

    def receive_gap(self, side: int, count: int = BLOCK_SAMPLES) -> None:
        gateway = self._gateways[side]
        if gateway is not None:
            gateway.receive_gap(count)
            self._pump()

    def transmit_audio(self, side: int, count: int = BLOCK_SAMPLES) -> bytes:
        """The next ``count`` samples for an audio side (nothing for a side that is not on audio)."""
        gateway = self._gateways[side]
        if gateway is None:
            return b""
        samples = gateway.transmit_audio(count)
        self._pump()
        return samples

    # -- T.38 sides --------------------------------------------------------------------------------
    def receive_ifp(self, side: int, packet: bytes, sequence: int) -> None:
        """An IFP packet from a T.38 side, with its UDPTL sequence number (packets come in order)."""
        if not self._t38[side]:
            return
        last, self._last_udptl[side] = self._last_udptl[side], sequence
        if last is not None:
            lost = (sequence - last - 1) % UDPTL_SEQ_MODULUS
            if lost <= MAX_GAP:  # more is the far end numbering afresh, not loss
                self._sequence[side] += lost
        self._enqueue(side, packet, 1)
        self._pump()

    # -- the middle --------------------------------------------------------------------------------
    def _enqueue(self, side: int, packet: bytes, repeat: int) -> None:
        # Called from inside a gateway's SpanDSP call too: nothing is driven from here, only queued.
        self._queue.append((side, packet, repeat, self._sequence[side]))
        self._sequence[side] += 1

    def _pump(self) -> None:
        """Hand every queued packet to the other side (a gateway's output may queue more)."""
        if self._pumping:
            return
        self._pumping = True
        try:
            while self._queue:
                side, packet, repeat, sequence = self._queue.popleft()
                self._monitors[side].observe(packet, sequence)
                if self.progress.pages > self._pages:  # this packet confirmed a page
                    self._pages = self.progress.pages
                    self.gateway_carried |= any(gateway is not None for gateway in self._gateways)
                other = 1 - side
                gateway = self._gateways[other]
                if gateway is not None:
                    gateway.receive_ifp(packet, sequence)
                elif self._t38[other]:
                    self._transmit[other](packet, repeat)
        finally:
            self._pumping = False

    def close(self) -> None:
        for side in SIDES:
            self._close_gateway(side)
        for monitor in self._monitors:
            monitor.close()
        self._queue.clear()
