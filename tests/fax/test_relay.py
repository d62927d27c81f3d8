"""The fax relay in memory: real SpanDSP fax machines at both ends, every mix of audio and T.38 sides,
the relay's own reading of the fax (pages, idents, rate, ECM) checked against what the machines say."""

from __future__ import annotations

from collections import deque
from pathlib import Path

import pytest
from faxgw.sip.fax import (
    AudioTerminal,
    FaxEvent,
    FaxOptions,
    FaxProgress,
    G711Codec,
    Law,
    PageDone,
    T38Terminal,
)
from faxgw.sip.fax.binding import lib
from faxgw.sip.fax.relay import FaxRelay
from faxgw.sip.fax.t30 import T30Session
from PIL import ImageChops

from tests.helpers.pages import make_document, read_pages

SENDER, RECEIVER = 0, 1
MAX_TICKS = 15_000  # 300 s of simulated time: far beyond a three-page fax
CODEC = G711Codec(Law.ULAW)


class End:
    """A fax machine on one side of the relay, on audio or on T.38. A T.38 machine facing a gateway keeps
    T.38 timing (paced): unpaced, it sends faster than the gateway's modems play out, and T.30 fails
    (code 20, measured). Facing another T.38 machine (passthrough) it may run flat out."""

    def __init__(
        self,
        relay: FaxRelay,
        side: int,
        kind: str,
        path: Path,
        *,
        ecm: bool,
        paced: bool = True,
        on_event=None,
    ) -> None:
        self.relay, self.side, self.kind = relay, side, kind
        self.inbox: deque[bytes] = deque()  # IFP from the relay, delivered after each step
        self.sequence = 0  # of what we send the relay
        self.received = 0  # of what the relay sent us
        sending = side == SENDER
        files = {"send": path} if sending else {"receive": path}
        options = FaxOptions(ident="SENDER 100" if sending else "RECEIVER 200", ecm=ecm)
        self.session: T30Session
        if kind == "t38":
            self.session = T38Terminal(
                calling=sending,
                transmit=self._to_relay,
                paced=paced,
                options=options,
                on_event=on_event,
                **files,
            )
            relay.use_t38(side)
        else:
            self.session = AudioTerminal(calling=sending, options=options, on_event=on_event, **files)
            relay.use_audio(side)

    def _to_relay(self, packet: bytes, repeat: int) -> None:
        self.relay.receive_ifp(self.side, packet, self.sequence)
        self.sequence += 1

    def step(self) -> None:
        session = self.session
        if isinstance(session, T38Terminal):
            session.advance()
            while self.inbox:
                session.receive_ifp(self.inbox.popleft(), self.received)
                self.received += 1
            return
        assert isinstance(session, AudioTerminal)
        self.relay.receive_audio(self.side, CODEC.decode(CODEC.encode(session.transmit_audio())))
        session.receive_audio(CODEC.decode(CODEC.encode(self.relay.transmit_audio(self.side))))


def relay_between(ends: list[End | None]) -> FaxRelay:
    return FaxRelay(
        [lambda packet, repeat, side=side: ends[side].inbox.append(packet) for side in (0, 1)],  # type: ignore[union-attr]
        name="test",
    )


def run(ends: list[End], until) -> int:
    ticks = 0
    while not until() and ticks < MAX_TICKS:
        for end in ends:
            end.step()
        ticks += 1
    return ticks


def assert_identical(received: Path, sent: list) -> None:
    pages = read_pages(received)
    assert len(pages) == len(sent)
    for got, want in zip(pages, sent, strict=True):
        assert ImageChops.difference(got, want).getbbox() is None


@pytest.mark.parametrize(
    ("sender_kind", "receiver_kind"),
    [("audio", "t38"), ("t38", "audio"), ("t38", "t38"), ("audio", "audio")],
)
@pytest.mark.parametrize("ecm", [True, False], ids=["ecm", "no-ecm"])
def test_a_fax_crosses_the_relay_and_the_relay_reads_it(
    tmp_path: Path, sender_kind: str, receiver_kind: str, ecm: bool
) -> None:
    sent = make_document(tmp_path / "tx.tif", 3)
    ends: list[End | None] = [None, None]
    relay = relay_between(ends)
    paced = "audio" in (sender_kind, receiver_kind)
    ends[0] = End(relay, SENDER, sender_kind, tmp_path / "tx.tif", ecm=ecm, paced=paced)
    ends[1] = End(relay, RECEIVER, receiver_kind, tmp_path / "rx.tif", ecm=ecm, paced=paced)
    sender, receiver = ends[0], ends[1]

    run([sender, receiver], lambda: sender.session.completed and receiver.session.completed)

    assert sender.session.completed is not None and sender.session.completed.success
    assert_identical(tmp_path / "rx.tif", sent)
    progress = relay.progress
    assert progress.pages == 3 and progress.document_done and progress.disconnected
    assert (progress.calling_ident, progress.called_ident) == ("SENDER 100", "RECEIVER 200")
    assert progress.bit_rate == 14400
    assert progress.ecm is ecm
    assert relay.gateway_carried is ("audio" in (sender_kind, receiver_kind))
    relay.close()


def test_a_fax_cut_after_its_first_page_reads_one_page_and_not_done(tmp_path: Path) -> None:
    make_document(tmp_path / "tx.tif", 3)
    confirmed: list[int] = []

    def sender_events(event: FaxEvent) -> None:
        if isinstance(event, PageDone):
            confirmed.append(event.page)

    ends: list[End | None] = [None, None]
    relay = relay_between(ends)
    ends[0] = End(relay, SENDER, "audio", tmp_path / "tx.tif", ecm=False, on_event=sender_events)
    ends[1] = End(relay, RECEIVER, "t38", tmp_path / "rx.tif", ecm=False)

    run([ends[0], ends[1]], lambda: bool(confirmed))  # the MCF for page 1 went through the relay

    assert confirmed == [1]
    assert relay.progress.pages == 1
    assert not relay.progress.document_done
    relay.close()


def test_a_side_that_moves_from_audio_to_t38_before_the_pages_keeps_the_fax_going(tmp_path: Path) -> None:
    """What a re-INVITE to T.38 does: the receiving side's machine now speaks T.38, the relay drops that
    side's gateway, and the sender's gateway talks to the T.38 side from then on."""
    sent = make_document(tmp_path / "tx.tif", 2)
    ends: list[End | None] = [None, None]
    relay = relay_between(ends)
    ends[0] = End(relay, SENDER, "audio", tmp_path / "tx.tif", ecm=True)
    ends[1] = End(relay, RECEIVER, "audio", tmp_path / "rx-audio.tif", ecm=True)
    run([ends[0], ends[1]], lambda: relay.progress.called_ident != "")  # DIS and CSI went by
    assert relay.kind(RECEIVER) == "audio"

    ends[1].session.close()
    ends[1] = End(relay, RECEIVER, "t38", tmp_path / "rx.tif", ecm=True)
    assert relay.kind(RECEIVER) == "t38"
    sender, receiver = ends[0], ends[1]
    run([sender, receiver], lambda: sender.session.completed and receiver.session.completed)

    assert sender.session.completed is not None and sender.session.completed.success
    assert_identical(tmp_path / "rx.tif", sent)
    assert relay.progress.pages == 2 and relay.progress.document_done
    relay.close()


def test_ifp_lost_on_a_t38_side_reaches_the_gateway_as_a_gap() -> None:
    """UDPTL numbers that jump (packets nothing recovered) leave the same gap in the middle's numbering,
    so the gateway's T.38 core knows data went missing; a far bigger jump is a stream starting afresh."""
    out: list[bytes] = []
    relay = FaxRelay([out.append, out.append], name="gap")  # type: ignore[list-item]
    relay.use_t38(0)
    seen: list[int] = []
    original = relay._monitors[0].observe
    relay._monitors[0].observe = lambda packet, sequence: (seen.append(sequence), original(packet, sequence))  # type: ignore[method-assign]
    no_signal = bytes([0x00])  # IFP t30-indicator no-signal
    for sequence in (10, 11, 14, 15, 2000):
        relay.receive_ifp(0, no_signal, sequence)
    assert seen == [0, 1, 4, 5, 6]
    relay.close()


# -- FaxProgress on frames written by hand (T.30 5.3.6) ------------------------------------------------
def frame(fcf: int, fif: bytes = b"", *, x: bool = False) -> bytes:
    return bytes([0xFF, 0x13, fcf | int(x)]) + fif


def ident(text: str) -> bytes:
    return text.ljust(20).encode()[::-1]


def test_progress_counts_a_page_once_when_its_confirmation_is_repeated() -> None:
    progress = FaxProgress()
    progress.frame(frame(lib.T30_CSI, ident("+1 555 0199")))
    progress.frame(frame(lib.T30_DIS, b"\x00\x00\x00"))
    progress.frame(frame(lib.T30_TSI, ident("+1 555 0100"), x=True))
    progress.frame(frame(lib.T30_DCS, b"\x00\x00\x00", x=True))
    progress.image_data(9600, ecm=False)  # TCF: training, not a page
    progress.frame(frame(lib.T30_CFR))
    progress.frame(frame(lib.T30_MPS, x=True))  # no page data yet: nothing to confirm
    progress.frame(frame(lib.T30_MCF))
    assert progress.pages == 0 and progress.ecm is None and progress.bit_rate == 9600

    progress.image_data(9600, ecm=False)
    progress.frame(frame(lib.T30_MPS, x=True))
    progress.frame(frame(lib.T30_MCF))
    progress.frame(frame(lib.T30_MPS, x=True))  # the MCF was lost on the far side: asked again
    progress.frame(frame(lib.T30_MCF))
    assert progress.pages == 1

    progress.image_data(9600, ecm=False)
    progress.frame(frame(lib.T30_EOP, x=True))
    progress.frame(frame(lib.T30_RTN))  # page 2 refused
    assert progress.pages == 1 and not progress.document_done
    progress.image_data(9600, ecm=False)
    progress.frame(frame(lib.T30_EOP, x=True))
    progress.frame(frame(lib.T30_MCF))
    progress.frame(frame(lib.T30_DCN, x=True))
    assert progress.pages == 2 and progress.document_done and progress.disconnected
    assert (progress.calling_ident, progress.called_ident) == ("+1 555 0100", "+1 555 0199")


def test_progress_with_ecm_counts_pages_not_blocks() -> None:
    progress = FaxProgress()
    progress.image_data(14400, ecm=True)
    progress.frame(frame(lib.T30_PPS, bytes([0x00, 0, 0, 255]), x=True))  # PPS-NULL: a block
    progress.frame(frame(lib.T30_MCF))
    assert progress.pages == 0
    progress.image_data(14400, ecm=True)
    progress.frame(frame(lib.T30_PPS, bytes([lib.T30_EOP | 1, 0, 1, 255]), x=True))  # PPS-EOP
    progress.frame(frame(lib.T30_MCF))
    assert progress.pages == 1 and progress.document_done and progress.ecm is True
    progress.frame(frame(lib.T30_CSI))  # too short a FIF is an empty ident, never an error
    progress.frame(b"\xff\x13")  # no FCF at all: ignored
    assert progress.called_ident == ""


@pytest.mark.parametrize("receiver_kind", ["t38", "audio"])
def test_a_limited_relay_lets_no_ecm_and_no_more_than_its_rate_through_its_gateways(
    tmp_path: Path, receiver_kind: str
) -> None:
    """A route's settings (ECM off, 9600 bit/s) hold though both machines would do ECM at 14,400."""
    sent = make_document(tmp_path / "tx.tif", 1)
    ends: list[End | None] = [None, None]
    relay = relay_between(ends)
    relay.limit(ecm=False, max_bit_rate=9600)
    ends[0] = End(relay, SENDER, "audio", tmp_path / "tx.tif", ecm=True)
    ends[1] = End(relay, RECEIVER, receiver_kind, tmp_path / "rx.tif", ecm=True)
    sender, receiver = ends[0], ends[1]

    run([sender, receiver], lambda: sender.session.completed and receiver.session.completed)

    assert sender.session.completed is not None and sender.session.completed.success
    assert_identical(tmp_path / "rx.tif", sent)
    assert (relay.progress.bit_rate, relay.progress.ecm) == (9600, False)
    relay.close()
