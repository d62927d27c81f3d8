"""T.30 options, partial sends and the binding's safety rules, on a real T.38 terminal pair."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from faxgw.sip.fax import (
    AudioTerminal,
    Compression,
    FaxEvent,
    FaxOptions,
    PageDone,
    ReentrantCallError,
    SessionClosedError,
    T38Terminal,
)
from faxgw.sip.fax.loopback import IfpLink
from PIL import ImageChops

from tests.helpers.pages import make_document, read_pages

MAX_TICKS = 20_000  # 400 s of simulated time: far beyond any T.30 timer


class Pair:
    """A sending and a receiving T.38 terminal joined in memory, driven tick by tick."""

    def __init__(
        self,
        tmp_path: Path,
        *,
        sender: dict | None = None,
        receiver: dict | None = None,
        on_sender: Callable[[FaxEvent], None] | None = None,
        on_receiver: Callable[[FaxEvent], None] | None = None,
    ) -> None:
        self.to_receiver, self.to_sender = IfpLink(), IfpLink()
        self.sender = T38Terminal(
            calling=True,
            send=tmp_path / "tx.tif",
            transmit=self.to_receiver.transmit,
            paced=False,
            on_event=on_sender,
            **(sender or {}),
        )
        self.receiver = T38Terminal(
            calling=False,
            receive=tmp_path / "rx.tif",
            transmit=self.to_sender.transmit,
            paced=False,
            on_event=on_receiver,
            **(receiver or {}),
        )

    def tick(self) -> None:
        self.sender.advance()
        self.receiver.advance()
        self.to_receiver.deliver(self.receiver)
        self.to_sender.deliver(self.sender)

    def run(self, stop: Callable[[], bool] | None = None) -> None:
        for _ in range(MAX_TICKS):
            if self.sender.completed and self.receiver.completed:
                return
            if stop and stop():
                return
            self.tick()
        raise AssertionError("fax did not finish")


@pytest.mark.parametrize("rate", [14400, 9600, 4800])
def test_max_bit_rate_caps_the_negotiated_rate(tmp_path: Path, rate: int) -> None:
    make_document(tmp_path / "tx.tif", 1)
    pair = Pair(tmp_path, sender={"options": FaxOptions(max_bit_rate=rate)})
    pair.run()
    assert pair.sender.completed and pair.sender.completed.success
    assert pair.receiver.negotiated and pair.receiver.negotiated.bit_rate == rate


@pytest.mark.parametrize(
    ("compressions", "ecm", "expected"),
    [
        ({Compression.T4_1D}, False, "T.4 1-D"),
        ({Compression.T4_1D, Compression.T4_2D}, False, "T.4 2-D"),
        ({Compression.T4_1D, Compression.T4_2D, Compression.T6}, True, "T.6"),
        # T.6 needs ECM: without it the best T.4 coding is used.
        ({Compression.T4_1D, Compression.T4_2D, Compression.T6}, False, "T.4 2-D"),
    ],
)
def test_compression_choice(tmp_path: Path, compressions: set, ecm: bool, expected: str) -> None:
    sent = make_document(tmp_path / "tx.tif", 1)
    options = FaxOptions(ecm=ecm, compressions=frozenset(compressions))
    pair = Pair(tmp_path, sender={"options": options}, receiver={"options": options})
    pair.run()
    assert pair.receiver.negotiated and pair.receiver.negotiated.encoding == expected
    assert ImageChops.difference(read_pages(tmp_path / "rx.tif")[0], sent[0]).getbbox() is None


def test_header_line_is_added_above_each_page(tmp_path: Path) -> None:
    sent = make_document(tmp_path / "tx.tif", 2)
    pair = Pair(tmp_path, sender={"options": FaxOptions(ident="+1 555 0100", header="ACME Corp")})
    pair.run()
    assert pair.sender.completed and pair.sender.completed.success
    for got, want in zip(read_pages(tmp_path / "rx.tif"), sent, strict=True):
        header_rows = got.height - want.height
        assert 0 < header_rows < 100, "SpanDSP adds the header as extra rows above the page"
        header = got.crop((0, 0, got.width, header_rows))
        assert header.getextrema()[0] == 0, "the header rows carry text"
        body = got.crop((0, header_rows, got.width, got.height))
        assert ImageChops.difference(body, want).getbbox() is None


def test_hangup_mid_document_is_partial_never_success(tmp_path: Path) -> None:
    make_document(tmp_path / "tx.tif", 3)
    pages: list[int] = []
    pair = Pair(tmp_path, on_sender=lambda e: pages.append(e.page) if isinstance(e, PageDone) else None)
    pair.run(stop=lambda: len(pages) == 1)
    pair.sender.hangup()
    pair.receiver.hangup()
    sent = pair.sender.completed
    assert sent is not None
    assert not sent.success
    assert (sent.pages_transferred, sent.pages_expected) == (1, 3)
    assert sent.code != 0


def test_first_page_resumes_a_document(tmp_path: Path) -> None:
    pages = make_document(tmp_path / "tx.tif", 3)
    pair = Pair(tmp_path, sender={"first_page": 2})
    pair.run()
    completed = pair.sender.completed
    assert completed and completed.success
    assert (completed.pages_transferred, completed.pages_expected) == (2, 2)
    received = read_pages(tmp_path / "rx.tif")
    assert len(received) == 2
    for got, want in zip(received, pages[1:], strict=True):
        assert ImageChops.difference(got, want).getbbox() is None


# -- safety: no sequence of calls crashes the process ------------------------------------------


def test_double_close_and_use_after_close(tmp_path: Path) -> None:
    terminal = AudioTerminal(calling=False, receive=tmp_path / "rx.tif")
    terminal.close()
    terminal.close()
    assert terminal.closed
    with pytest.raises(SessionClosedError):
        terminal.transmit_audio()
    with pytest.raises(SessionClosedError):
        terminal.receive_audio(bytes(320))
    with pytest.raises(SessionClosedError):
        terminal.hangup()


def test_exception_in_event_handler_is_raised_by_the_driving_call(tmp_path: Path) -> None:
    make_document(tmp_path / "tx.tif", 1)

    def explode(event: FaxEvent) -> None:
        raise RuntimeError("handler bug")

    pair = Pair(tmp_path, on_receiver=explode)
    with pytest.raises(RuntimeError, match="handler bug"):
        pair.run()
    # The session is still usable and can be shut down cleanly.
    pair.receiver.on_event = None
    pair.receiver.hangup()
    assert pair.receiver.completed and not pair.receiver.completed.success
    pair.receiver.close()
    pair.sender.close()


def test_close_from_inside_a_callback_is_deferred(tmp_path: Path) -> None:
    make_document(tmp_path / "tx.tif", 2)
    holder: dict[str, T38Terminal] = {}

    def close_on_first_page(event: FaxEvent) -> None:
        if isinstance(event, PageDone):
            holder["receiver"].close()

    pair = Pair(tmp_path, on_receiver=close_on_first_page)
    holder["receiver"] = pair.receiver
    with pytest.raises(SessionClosedError):
        pair.run()
    assert pair.receiver.closed
    pair.sender.close()


def test_reentrant_call_from_a_callback_is_refused(tmp_path: Path) -> None:
    make_document(tmp_path / "tx.tif", 1)
    holder: dict[str, T38Terminal] = {}

    def drive_again(event: FaxEvent) -> None:
        holder["receiver"].advance()

    pair = Pair(tmp_path, on_receiver=drive_again)
    holder["receiver"] = pair.receiver
    with pytest.raises(ReentrantCallError):
        pair.run()


def test_packet_sink_errors_surface(tmp_path: Path) -> None:
    def broken_network(packet: bytes, repeat: int) -> None:
        raise OSError("network unreachable")

    terminal = T38Terminal(calling=False, receive=tmp_path / "rx.tif", transmit=broken_network, paced=False)
    with pytest.raises(OSError, match="network unreachable"):
        for _ in range(500):
            terminal.advance()
    terminal.close()


def test_bad_arguments_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        AudioTerminal(calling=True, send=tmp_path / "missing.tif")
    with pytest.raises(ValueError, match="exactly one"):
        AudioTerminal(calling=True)
    with pytest.raises(ValueError, match="exactly one"):
        AudioTerminal(calling=True, send=tmp_path / "a.tif", receive=tmp_path / "b.tif")
    with pytest.raises(ValueError, match="station ident"):
        FaxOptions(ident="x" * 21)
    with pytest.raises(ValueError, match="max_bit_rate"):
        FaxOptions(max_bit_rate=7200)
    with pytest.raises(ValueError, match="first_page"):
        AudioTerminal(calling=False, receive=tmp_path / "rx.tif", first_page=0)
