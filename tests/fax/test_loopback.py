"""Real faxes between two SpanDSP endpoints in memory: every transport, with and without ECM."""

from __future__ import annotations

from pathlib import Path

import pytest
from faxgw.sip.fax import Completed, Negotiated, PageDone, Resolution, Transport
from faxgw.sip.fax.loopback import RECEIVER_IDENT, SENDER_IDENT, LoopbackMode, run_loopback
from PIL import ImageChops

from tests.helpers.pages import make_document, read_pages


def assert_identical(received: Path, sent: list) -> None:
    pages = read_pages(received)
    assert len(pages) == len(sent)
    for number, (got, want) in enumerate(zip(pages, sent, strict=True), start=1):
        assert got.size == want.size, f"page {number} size"
        assert ImageChops.difference(got, want).getbbox() is None, f"page {number} differs"


@pytest.mark.parametrize("mode", list(LoopbackMode))
@pytest.mark.parametrize("ecm", [True, False], ids=["ecm", "no-ecm"])
def test_round_trip_pages_identical(tmp_path: Path, mode: LoopbackMode, ecm: bool) -> None:
    sent = make_document(tmp_path / "tx.tif", 3)
    events: list[tuple[str, object]] = []
    result = run_loopback(
        tmp_path / "tx.tif",
        tmp_path / "rx.tif",
        mode=mode,
        ecm=ecm,
        on_event=lambda side, event: events.append((side, event)),
    )

    assert result.sender.success and result.receiver.success
    assert (result.sender.code, result.sender.text) == (0, "OK")
    assert result.sender.pages_transferred == result.sender.pages_expected == 3
    assert result.receiver.pages_transferred == 3
    assert result.sender.remote_ident == RECEIVER_IDENT
    assert result.receiver.remote_ident == SENDER_IDENT
    negotiated = result.negotiated
    assert negotiated is not None
    assert negotiated.ecm is ecm
    assert negotiated.bit_rate == 14400
    assert negotiated.resolution is Resolution.FINE
    assert negotiated.encoding == ("T.6" if ecm else "T.4 2-D")
    assert negotiated.transport is (Transport.AUDIO if mode is LoopbackMode.AUDIO else Transport.T38)
    assert_identical(tmp_path / "rx.tif", sent)

    kinds = [(side, type(event).__name__) for side, event in events]
    assert kinds.count(("receiver", "PageDone")) == 3
    assert kinds.count(("sender", "PageDone")) == 3
    # Negotiated comes before the first page, Completed last.
    receiver_kinds = [kind for side, kind in kinds if side == "receiver"]
    assert receiver_kinds[0] == "Negotiated" and receiver_kinds[-1] == "Completed"


def test_received_page_is_readable_when_page_done_fires(tmp_path: Path) -> None:
    sent = make_document(tmp_path / "tx.tif", 3)
    seen: list[int] = []

    def on_event(side: str, event: object) -> None:
        if side == "receiver" and isinstance(event, PageDone):
            # Read the page from the TIFF SpanDSP is still writing: it must already be whole.
            image = event.image().convert("1")
            assert ImageChops.difference(image, sent[event.page - 1]).getbbox() is None
            seen.append(event.page)

    result = run_loopback(tmp_path / "tx.tif", tmp_path / "rx.tif", mode=LoopbackMode.T38, on_event=on_event)
    assert result.receiver.success
    assert seen == [1, 2, 3]


@pytest.mark.parametrize("resolution", list(Resolution))
def test_every_resolution(tmp_path: Path, resolution: Resolution) -> None:
    sent = make_document(tmp_path / "tx.tif", 1, resolution)
    result = run_loopback(tmp_path / "tx.tif", tmp_path / "rx.tif", mode=LoopbackMode.T38)
    assert result.sender.success
    assert result.negotiated is not None and result.negotiated.resolution is resolution
    assert_identical(tmp_path / "rx.tif", sent)


def test_sender_and_receiver_see_matching_events(tmp_path: Path) -> None:
    make_document(tmp_path / "tx.tif", 2)
    by_side: dict[str, list[object]] = {"sender": [], "receiver": []}
    run_loopback(
        tmp_path / "tx.tif",
        tmp_path / "rx.tif",
        mode=LoopbackMode.AUDIO,
        on_event=lambda side, event: by_side[side].append(event),
    )
    for side, events in by_side.items():
        assert isinstance(events[0], Negotiated), side
        assert isinstance(events[-1], Completed), side
        pages = [event.page for event in events if isinstance(event, PageDone)]
        assert pages == [1, 2], side
