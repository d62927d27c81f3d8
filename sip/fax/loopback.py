"""A whole fax between two SpanDSP endpoints in memory, in simulated time, as fast as the CPU goes.

Used by ``faxgw loopback``, by the tests and by the benchmarks: it exercises the real T.30,
modems and T.38 code with nothing between the two ends but G.711 or an in-memory IFP link.
"""

from __future__ import annotations

import enum
import os
from collections import deque
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass

from faxgw.sip.fax.audio import BLOCK_SAMPLES, SAMPLE_RATE, AudioTerminal
from faxgw.sip.fax.events import Completed, FaxEvent, Negotiated
from faxgw.sip.fax.g711 import G711Codec, Law
from faxgw.sip.fax.options import FaxOptions
from faxgw.sip.fax.t30 import T30Session
from faxgw.sip.fax.t38 import IfpEndpoint, T38Gateway, T38Terminal

SENDER_IDENT = "+1 555 0100"
RECEIVER_IDENT = "+1 555 0199"
#: Give up after this much simulated call time (a real fax machine's T1/T2 timers end far sooner).
DEFAULT_MAX_SECONDS = 3600


class LoopbackMode(enum.Enum):
    AUDIO = "audio"  # modem to modem through G.711
    T38 = "t38"  # T.38 terminal to T.38 terminal, unpaced
    GATEWAY = "gateway"  # modem -> G.711 -> T.38 gateway -> IFP -> T.38 terminal


@dataclass(frozen=True)
class LoopbackResult:
    mode: LoopbackMode
    sender: Completed
    receiver: Completed
    negotiated: Negotiated | None
    simulated_seconds: float


class IfpLink:
    """One direction of an in-memory T.38 link: numbers packets like UDPTL would, loses none."""

    def __init__(self) -> None:
        self._queue: deque[tuple[bytes, int]] = deque()
        self._sequence = 0

    def transmit(self, packet: bytes, repeat: int) -> None:
        # Over UDPTL the repeats are redundancy; in memory nothing is lost, so once is enough.
        self._queue.append((packet, self._sequence))
        self._sequence = (self._sequence + 1) & 0xFFFF

    def deliver(self, endpoint: IfpEndpoint) -> None:
        while self._queue:
            endpoint.receive_ifp(*self._queue.popleft())


def run_loopback(
    send_file: str | os.PathLike[str],
    receive_file: str | os.PathLike[str],
    *,
    mode: LoopbackMode = LoopbackMode.T38,
    ecm: bool = True,
    law: Law = Law.ULAW,
    paced: bool = False,
    on_event: Callable[[str, FaxEvent], None] | None = None,
    max_seconds: float = DEFAULT_MAX_SECONDS,
) -> LoopbackResult:
    """Send ``send_file`` to a receiver writing ``receive_file``; returns both ends' outcomes.

    ``on_event(side, event)`` sees every event as it happens, side being "sender" or "receiver".
    In T.38 mode the terminals send unpaced (a whole fax in well under a second of call time)
    unless ``paced``: then they keep real T.38 timing, as they must toward a real peer.
    """

    def sender_events(event: FaxEvent) -> None:
        if on_event:
            on_event("sender", event)

    def receiver_events(event: FaxEvent) -> None:
        if on_event:
            on_event("receiver", event)

    sender_options = FaxOptions(ident=SENDER_IDENT, ecm=ecm)
    receiver_options = FaxOptions(ident=RECEIVER_IDENT, ecm=ecm)
    codec = G711Codec(law)
    line = codec.decode  # what a G.711 hop does to audio: encode, then decode at the far end

    with ExitStack() as stack:
        # Each mode builds its two ends under names of their own types (the steps use what only
        # that type has), then hands them on as the T30Sessions the rest of the run needs.
        sender: T30Session
        receiver: T30Session
        if mode is LoopbackMode.T38:
            to_receiver, to_sender = IfpLink(), IfpLink()
            t38_sender = T38Terminal(
                calling=True,
                send=send_file,
                transmit=to_receiver.transmit,
                paced=paced,
                options=sender_options,
                on_event=sender_events,
                name="sender",
            )
            t38_receiver = T38Terminal(
                calling=False,
                receive=receive_file,
                transmit=to_sender.transmit,
                paced=paced,
                options=receiver_options,
                on_event=receiver_events,
                name="receiver",
            )
            sender, receiver = t38_sender, t38_receiver

            def step() -> None:
                t38_sender.advance()
                t38_receiver.advance()
                to_receiver.deliver(t38_receiver)
                to_sender.deliver(t38_sender)

        elif mode is LoopbackMode.AUDIO:
            audio_sender = AudioTerminal(
                calling=True, send=send_file, options=sender_options, on_event=sender_events, name="sender"
            )
            audio_receiver = AudioTerminal(
                calling=False,
                receive=receive_file,
                options=receiver_options,
                on_event=receiver_events,
                name="receiver",
            )
            sender, receiver = audio_sender, audio_receiver

            def step() -> None:
                audio_receiver.receive_audio(line(codec.encode(audio_sender.transmit_audio())))
                audio_sender.receive_audio(line(codec.encode(audio_receiver.transmit_audio())))

        else:
            to_terminal, to_gateway = IfpLink(), IfpLink()
            modem_sender = AudioTerminal(
                calling=True, send=send_file, options=sender_options, on_event=sender_events, name="sender"
            )
            gateway = stack.enter_context(T38Gateway(transmit=to_terminal.transmit, ecm=ecm))
            ifp_receiver = T38Terminal(
                calling=False,
                receive=receive_file,
                transmit=to_gateway.transmit,
                options=receiver_options,
                on_event=receiver_events,
                name="receiver",
            )
            sender, receiver = modem_sender, ifp_receiver

            def step() -> None:
                gateway.receive_audio(line(codec.encode(modem_sender.transmit_audio())))
                modem_sender.receive_audio(line(codec.encode(gateway.transmit_audio())))
                ifp_receiver.advance()
                to_terminal.deliver(ifp_receiver)
                to_gateway.deliver(gateway)

        stack.enter_context(sender)
        stack.enter_context(receiver)
        samples = 0
        limit = int(max_seconds * SAMPLE_RATE)
        while (sender.completed is None or receiver.completed is None) and samples < limit:
            step()
            samples += BLOCK_SAMPLES
        for end in (sender, receiver):
            if end.completed is None:
                end.hangup()  # out of time: end T.30 so phase E reports what got through
        assert sender.completed is not None and receiver.completed is not None
        return LoopbackResult(
            mode=mode,
            sender=sender.completed,
            receiver=receiver.completed,
            negotiated=receiver.negotiated or sender.negotiated,
            simulated_seconds=samples / SAMPLE_RATE,
        )
