"""Page callbacks only enqueue: the job layer's page handlers touch no store from inside an engine's callback,
and one task records the pages afterwards, in order, before the fax's final status.

The engine here is a stand-in at the engine interface (it calls the page handler, then ends the call), so
that the callback's moment is known exactly; the store, the event bus and the queue are the real ones.
tests/gateway/test_outbound_inbound_pages.py checks the same through real calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from faxgw.gateway.config import Config, NumberConfig, RouteConfig
from faxgw.gateway.engines import CallStatus
from faxgw.gateway.engines.base import CallResult, InboundCall, OutboundCall, PageHandler, PageTransferred
from faxgw.gateway.jobs.channels import Channels
from faxgw.gateway.jobs.events import EventBus
from faxgw.gateway.jobs.inbound import InboundJobs
from faxgw.gateway.jobs.leases import Leases
from faxgw.gateway.jobs.outbound import OutboundJobs
from faxgw.gateway.jobs.pages import PageQueue
from faxgw.gateway.store import FaxQuery, FaxRecord, Store

SENDER, DID = "+15550100", "+15550199"


class Guard:
    """Says whether we are inside an engine's page callback."""

    def __init__(self) -> None:
        self.inside = False

    @contextlib.contextmanager
    def callback(self) -> Iterator[None]:
        self.inside = True
        try:
            yield
        finally:
            self.inside = False


class GuardedStore:
    """The real store, which raises if anything touches it from inside a page callback."""

    def __init__(self, store: Store, guard: Guard) -> None:
        self._store, self._guard = store, guard

    def __getattr__(self, name: str) -> Any:
        if self._guard.inside:
            raise AssertionError(f"Store.{name} used inside an engine's page callback")
        return getattr(self._store, name)


def result(pages: int) -> CallResult:
    return CallResult(CallStatus.SUCCESS, 200, None, 0, "OK", pages, pages, True, 14400, True, DID, "call-1")


@pytest.fixture
def guard() -> Guard:
    return Guard()


@pytest.fixture
async def parts(tmp_path: Path, guard: Guard) -> AsyncIterator[tuple[Config, Any, EventBus, PageQueue]]:
    config = Config(
        data_dir=tmp_path,
        numbers=(NumberConfig(SENDER, 1),),
        routes=(RouteConfig(DID, "acme"),),
        trunk="127.0.0.1:5060",
    )
    real = Store(tmp_path / "db.sqlite")
    await real.open()
    await real.create_tenant("acme", "acme")
    store = GuardedStore(real, guard)
    pages = PageQueue()
    pages.start()
    yield config, store, EventBus(store, None), pages  # type: ignore[arg-type]
    await pages.stop()
    await real.close()


async def not_bridged(*_: object) -> None:
    raise AssertionError("no call here is bridged")


async def types_and_pages(store: Any, fax_id: str) -> list[tuple[str, int | None]]:
    return [(e.type, e.payload.get("page")) for e in await store.events(fax_id)]


async def test_a_received_page_is_recorded_after_the_callback_and_before_the_end(
    parts: tuple[Config, Any, EventBus, PageQueue], guard: Guard
) -> None:
    config, store, events, pages = parts
    inbound = InboundJobs(
        config,
        store,
        events,
        Channels(1),
        pages,
        leases=Leases(store, config.node, config.lease),
        on_queued=lambda: None,
        settle_bridged=not_bridged,
    )
    call = InboundCall(DID, SENDER, "call-1")
    decision = await inbound.offer(call)
    assert isinstance(decision, tuple)
    document, on_page = decision
    with guard.callback():  # as an engine calls it: no store inside
        on_page(PageTransferred(1, document, sending=False))
        on_page(PageTransferred(2, document, sending=False))
    (fax,), _ = await store.query_faxes("acme", FaxQuery())
    await inbound.done(call, result(2))  # at once: the pages may still be queued
    assert await types_and_pages(store, fax.id) == [
        ("receiving.started", None),
        ("page.received", 1),
        ("page.received", 2),
        ("received", None),
    ]
    assert (await store.get_fax(fax.id)).pages_transferred == 2


class PagesThenEnd:
    """At the engine interface: reports the document's pages from its callback, then ends the call."""

    def __init__(self, guard: Guard, pages: int) -> None:
        self.guard, self.pages = guard, pages

    async def send(self, call: OutboundCall, on_page: PageHandler) -> CallResult:
        for page in range(call.first_page, self.pages + 1):
            with self.guard.callback():
                on_page(PageTransferred(page, call.document, sending=True))
        return result(self.pages)


async def test_a_sent_page_is_recorded_after_the_callback_and_before_the_final_status(
    parts: tuple[Config, Any, EventBus, PageQueue], guard: Guard, tmp_path: Path
) -> None:
    config, store, events, pages = parts
    leases = Leases(store, config.node, config.lease)
    outbound = OutboundJobs(config, store, PagesThenEnd(guard, 3), events, Channels(1), pages, leases)  # type: ignore[arg-type]
    now = time.time()
    fax = await store.add_fax(
        FaxRecord(
            "fx_1", "acme", "outbound", SENDER, DID, "queued", now, now, document=str(tmp_path / "d.tif")
        )
    )
    fax.pages_total = 3
    leases.hold(fax.id)  # claimed
    await outbound._attempt(fax)
    assert await types_and_pages(store, fax.id) == [
        ("sending.started", None),
        ("page.sent", 1),
        ("page.sent", 2),
        ("page.sent", 3),
        ("delivered", None),
    ]
    assert (await store.get_fax(fax.id)).status == "success"


async def test_the_queue_records_in_order_and_survives_a_page_it_cannot_record(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pages = PageQueue()
    pages.start()
    recorded: list[tuple[str, int]] = []

    async def record(fax_id: str, page: PageTransferred) -> None:
        if page.page == 2:
            raise OSError("disk full")
        recorded.append((fax_id, page.page))

    first = pages.handler("fx_a", lambda page: record("fx_a", page))
    second = pages.handler("fx_b", lambda page: record("fx_b", page))
    for number in (1, 2, 3):
        first(PageTransferred(number, Path("a.tif"), sending=True))
        second(PageTransferred(number, Path("b.tif"), sending=True))
    assert recorded == []  # nothing is recorded inside a callback
    with caplog.at_level(logging.ERROR, "gateway.pages"):
        await pages.drained()
    assert recorded == [("fx_a", 1), ("fx_b", 1), ("fx_a", 3), ("fx_b", 3)]
    assert [r.getMessage() for r in caplog.records] == [
        "fax fx_a: page 2 not recorded",
        "fax fx_b: page 2 not recorded",
    ]
    # What is queued when it stops is recorded before it ends.
    first(PageTransferred(4, Path("a.tif"), sending=True))
    await pages.stop()
    assert recorded[-1] == ("fx_a", 4)


async def test_a_waiter_cancelled_while_draining_does_not_stop_the_queue() -> None:
    pages = PageQueue()
    pages.start()
    waiter = asyncio.ensure_future(pages.drained())
    await asyncio.sleep(0)
    waiter.cancel()
    recorded: list[int] = []

    async def record(page: PageTransferred) -> None:
        recorded.append(page.page)

    pages.handler("fx_a", record)(PageTransferred(1, Path("a"), True))
    await pages.drained()
    assert recorded == [1]
    await pages.stop()


async def nothing(page: PageTransferred) -> None:
    pass


async def test_waiting_on_a_queue_nobody_drains_is_an_error_not_a_hang() -> None:
    pages = PageQueue()
    pages.handler("fx_a", nothing)(PageTransferred(1, Path("a"), True))
    with pytest.raises(RuntimeError, match="not running"):
        await pages.drained()
    pages.start()
    await pages.stop()
    with pytest.raises(RuntimeError, match="not running"):
        await pages.drained()
