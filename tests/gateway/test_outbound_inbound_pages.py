"""Page events through real calls: a whole gateway (its engine as configured, SpanDSP, SQLite) faxes two pages
to its own number over 127.0.0.1. The engine's page callbacks run no SQL (they only enqueue), and each fax's
events still come out in order: its pages, then how it ended.

The engine and the stores are watched at their interfaces, nothing replaced: every page handler the job
layer gives the engine is wrapped to say "inside a page callback", and any use of the store or the webhook
outbox meanwhile is noted (a store method called there would start database work from the media path).
"""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path
from typing import Any

from faxgw.gateway.engines.base import (
    CallResult,
    Engine,
    InboundCall,
    InboundDecision,
    InboundDone,
    InboundHandler,
    OutboundCall,
    PageHandler,
    PageTransferred,
)
from faxgw.gateway.service import Gateway, NewFax
from faxgw.gateway.store import FaxQuery, FaxRecord, FileRecord, new_id

from tests.helpers.gateway import RECEIVER, SENDER, gateway_config

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "samples" / "sample.pdf"  # two pages


class Sentry:
    """Notes every use of a store made while an engine's page callback runs."""

    def __init__(self) -> None:
        self.inside = False
        self.uses: list[str] = []
        self.pages = 0

    def wrap(self, handler: PageHandler) -> PageHandler:
        def on_page(page: PageTransferred) -> None:
            self.pages += 1
            self.inside = True
            try:
                handler(page)
            finally:
                self.inside = False

        return on_page


class WatchedStore:
    """The gateway's store or its webhook outbox, noting each method taken from it inside a page callback."""

    def __init__(self, store: Any, sentry: Sentry) -> None:
        self._store, self._sentry = store, sentry

    def __getattr__(self, name: str) -> Any:
        if self._sentry.inside:
            self._sentry.uses.append(name)
        return getattr(self._store, name)


class WatchedEngine:
    """The gateway's own engine, its page handlers wrapped by the sentry."""

    def __init__(self, engine: Engine, sentry: Sentry) -> None:
        self._engine, self._sentry = engine, sentry

    async def start(self, on_inbound: InboundHandler, on_inbound_done: InboundDone) -> None:
        async def offer(call: InboundCall) -> InboundDecision:
            decision = await on_inbound(call)
            if isinstance(decision, tuple):
                document, handler = decision
                return document, self._sentry.wrap(handler)
            return decision

        await self._engine.start(offer, on_inbound_done)

    async def send(self, call: OutboundCall, on_page: PageHandler) -> CallResult:
        return await self._engine.send(call, self._sentry.wrap(on_page))

    async def close(self) -> None:
        await self._engine.close()


async def settled(gateway: Gateway, fax_id: str) -> FaxRecord:
    async with asyncio.timeout(60):
        while (fax := await gateway.store.get_fax(fax_id)) is None or fax.completed_at is None:
            await asyncio.sleep(0.05)
    return fax


async def timeline(gateway: Gateway, fax_id: str) -> list[tuple[str, int | None]]:
    return [(event.type, event.payload.get("page")) for event in await gateway.store.events(fax_id)]


async def test_page_callbacks_run_no_sql_and_events_keep_their_order(tmp_path: Path) -> None:
    sentry = Sentry()
    gateway = Gateway(gateway_config(tmp_path / "var"))
    gateway.engine = gateway.outbound.engine = WatchedEngine(gateway.engine, sentry)
    store = WatchedStore(gateway.store, sentry)
    gateway.store = gateway.outbound.store = gateway.inbound.store = gateway.events.store = store  # type: ignore[assignment]
    gateway.webhooks._store = WatchedStore(gateway.webhooks._store, sentry)  # type: ignore[assignment]
    await gateway.start()
    try:
        document = tmp_path / "sample.pdf"
        shutil.copy(SAMPLE, document)
        upload = FileRecord(
            new_id("fl"), "acme", "sample.pdf", "application/pdf", 1, str(document), time.time()
        )
        await gateway.store.add_file(upload)
        (outbound,) = await gateway.submit("acme", NewFax([SENDER], [RECEIVER], [upload.id]))
        sent = await settled(gateway, outbound.id)
        async with asyncio.timeout(60):
            while not (
                received := (await gateway.store.query_faxes("acme", FaxQuery(direction="inbound")))[0]
            ):
                await asyncio.sleep(0.05)
        received_fax = await settled(gateway, received[0].id)
        sent_events, received_events = (
            await timeline(gateway, sent.id),
            await timeline(gateway, received_fax.id),
        )
    finally:
        await gateway.stop()

    assert sentry.pages == 4  # two pages sent, two received: the callbacks did run
    assert sentry.uses == [], f"store used inside a page callback: {sentry.uses}"
    assert (sent.status, sent.pages_transferred) == ("success", 2)
    assert (received_fax.status, received_fax.pages_transferred) == ("success", 2)
    assert sent_events == [
        ("queued", None),
        ("media.processed", None),
        ("sending.started", None),
        ("page.sent", 1),
        ("page.sent", 2),
        ("delivered", None),
    ]
    assert received_events == [
        ("receiving.started", None),
        ("page.received", 1),
        ("page.received", 2),
        ("received", None),
    ]
