"""Receiving faxes: DID routing, a fax object per call, pages published as each one lands.

A call from a device (an ATA's fax machine, authenticated by the engine) to a number its tenant routes is
received like any other; to any other number it is relayed (``gateway.jobs.relay``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from faxgw.gateway.config import Config, RouteConfig
from faxgw.gateway.documents import render_received
from faxgw.gateway.domain import EventType, FaxStatus
from faxgw.gateway.engines.base import (
    CallResult,
    InboundCall,
    InboundDecision,
    PageTransferred,
    Refusal,
    Route,
)
from faxgw.gateway.jobs import status as st
from faxgw.gateway.jobs.channels import BUSY_RETRY_AFTER, Channels
from faxgw.gateway.jobs.delivery import Learned, summary
from faxgw.gateway.jobs.destinations import DestinationRefused, dialable
from faxgw.gateway.jobs.events import EventBus
from faxgw.gateway.jobs.leases import Leases
from faxgw.gateway.jobs.pages import PageQueue
from faxgw.gateway.jobs.relay import StoreAndForward, received_document, start_real_time
from faxgw.gateway.jobs.routing import routes_for
from faxgw.gateway.metrics import Metrics
from faxgw.gateway.peers import DeviceConfig, Relay
from faxgw.gateway.store import AttemptRecord, FaxRecord, FaxStore, new_id

log = logging.getLogger("gateway.inbound")


class InboundJobs:
    def __init__(
        self,
        config: Config,
        store: FaxStore,
        events: EventBus,
        channels: Channels,
        pages: PageQueue,
        *,
        leases: Leases,
        on_queued: Callable[[], None],
        settle_bridged: Callable[[FaxRecord, CallResult, str], Awaitable[None]],
        metrics: Metrics | None = None,
    ) -> None:
        """``leases`` keeps the faxes of the calls in progress this node's (shared with OutboundJobs);
        ``on_queued`` tells the outbound loop a relayed fax is due (OutboundJobs.wake); ``settle_bridged``
        settles a bridged call's fax as an outbound attempt (OutboundJobs.settle_bridged)."""
        self.config = config
        self.store = store
        self.events = events
        self.channels = channels
        self.pages = pages
        self.leases = leases
        self.on_queued = on_queued
        self.settle_bridged = settle_bridged
        self.metrics = metrics or Metrics()
        self.relay = StoreAndForward(config, store, events)
        self._faxes: dict[str, str] = {}  # call id -> fax id
        self._relayed: dict[str, str] = {}  # call id -> the outbound fax a device's call is received into
        #: call id -> the outbound fax a bridged call is recorded as, and what it may teach
        self._bridged: dict[str, tuple[str, Learned]] = {}

    async def offer(self, call: InboundCall) -> InboundDecision:
        """Accept a call for a DID we route while a channel is free (refused at the SIP level otherwise)."""
        if call.device is not None:
            return await self._from_device(call, call.device)
        route = self.config.route(call.did)
        if route is None or await self.store.get_tenant(route.tenant) is None:
            log.info("call %s to unknown DID %r refused", call.call_id, call.did)
            return Refusal(404)
        return await self._receive(call, route)

    async def _receive(self, call: InboundCall, route: RouteConfig) -> InboundDecision:
        if not self._take_channel(call):
            return Refusal(503, BUSY_RETRY_AFTER)
        try:
            fax = await self._new_fax(call, route)
        except BaseException:
            self.channels.release()
            raise
        # The call cannot be cut from here if another node takes the fax (this node taken for dead): its
        # pages and its end are then no longer recorded here.
        self.leases.hold(fax.id)
        # From here on the engine reports the call's end (done), however it ends: the channel comes back
        # and the fax is settled there.
        self._faxes[call.call_id] = fax.id
        await self.events.publish(fax, EventType.RECEIVING_STARTED, {"call_id": call.call_id})
        return Path(fax.document or ""), self.pages.handler(fax.id, functools.partial(self._page, fax))

    def _take_channel(self, call: InboundCall, count: int = 1) -> bool:
        if self.channels.take(count):
            return True
        busy = self.channels.limit
        log.warning("call %s to %s refused: all %d channels busy", call.call_id, call.did, busy)
        return False

    async def _from_device(self, call: InboundCall, username: str) -> InboundDecision:
        """A device's call: a number its tenant routes is received for the tenant; any other is relayed."""
        device = self.config.device(username)
        tenant = self.config.device_tenant(device) if device is not None else None
        if device is None or tenant is None or await self.store.get_tenant(tenant) is None:
            log.error("call %s from device %r refused: no such device, or no tenant", call.call_id, username)
            return Refusal(403)
        route = self.config.route(call.did)
        if route is not None and route.tenant == tenant:
            return await self._receive(call, route)
        try:
            destination = await dialable(self.config, tenant, call.did)
            routes = routes_for(self.config, destination)  # refused now if no trunk carries it
        except DestinationRefused as error:
            log.info("call %s from device %s to %r refused: %s", call.call_id, username, call.did, error)
            return Refusal(403 if error.forbidden else 404)
        if device.relay is Relay.REAL_TIME:
            return await self._bridge(call, device, tenant, destination, routes)
        if not self._take_channel(call):
            return Refusal(503, BUSY_RETRY_AFTER)
        try:
            fax = await self.relay.start(call, device, tenant)
        except BaseException:
            self.channels.release()
            raise
        self.leases.hold(fax.id)
        self._relayed[call.call_id] = fax.id
        return received_document(fax), self.pages.handler(fax.id, functools.partial(self._relay_page, fax))

    async def _bridge(
        self,
        call: InboundCall,
        device: DeviceConfig,
        tenant: str,
        destination: str,
        routes: tuple[Route, ...],
    ) -> InboundDecision:
        """Relay a device's call in real time: the engine bridges it to a leg through ``routes`` (as learned
        for the destination). Two calls' media, so two channels."""
        if not self._take_channel(call, 2):
            return Refusal(503, BUSY_RETRY_AFTER)
        try:
            memory = self.config.learned_delivery_days
            learned = await Learned.load(self.store, destination, routes, memory_days=memory)
            fax, bridge = await start_real_time(
                self.config, self.store, self.events, call, device, tenant, destination, learned.routes
            )
        except BaseException:
            self.channels.release(2)
            raise
        self.leases.hold(fax.id)
        self._bridged[call.call_id] = (fax.id, learned)
        return bridge

    async def _relay_page(self, fax: FaxRecord, page: PageTransferred) -> None:
        if self.leases.holds(fax.id):  # else another node settled the fax: what it recorded stands
            await self.relay.page(fax, page.page)

    async def _new_fax(self, call: InboundCall, route: RouteConfig) -> FaxRecord:
        now = time.time()
        fax = FaxRecord(
            id=new_id("fx"),
            tenant_id=route.tenant,
            direction="inbound",
            from_number=call.caller,
            to_number=call.did,
            status=FaxStatus.IN_PROGRESS,
            created_at=now,
            updated_at=now,
            webhook_url=route.webhook_url,
            webhook_format=route.webhook_format,
            lease_owner=self.config.node,
            lease_until=self.leases.until(),
        )
        directory = Path(route.storage or self.config.data_dir / "faxes") / fax.id
        directory.mkdir(parents=True, exist_ok=True)
        fax.document = str(directory / "received.tif")
        return await self.store.add_fax(fax)

    async def _page(self, fax: FaxRecord, page: PageTransferred) -> None:
        """Record a received page (from the page queue's task). It is whole in the TIFF: the API serves it."""
        if not self.leases.holds(fax.id):  # another node settled the fax: what it recorded stands
            return
        await self.store.update_fax(fax.id, pages_transferred=page.page)
        await self.events.publish(
            fax, EventType.PAGE_RECEIVED, {"page": page.page, "url": f"/v1/faxes/{fax.id}/pages/{page.page}"}
        )

    async def done(self, call: InboundCall, result: CallResult) -> None:
        """Settle the fax of an accepted call (a call never accepted is not ours to settle)."""
        bridged = self._bridged.pop(call.call_id, None)
        if bridged is not None:
            self.channels.release(2)
            bridged_id, learned = bridged
            fax = await self.store.get_fax(bridged_id) if self.leases.holds(bridged_id) else None
            if fax is not None:
                await self.settle_bridged(fax, result, await learned.learn(result))
            return
        relayed = self._relayed.pop(call.call_id, None)
        if relayed is not None:
            self.channels.release()
            await self.pages.drained()
            fax = await self.store.get_fax(relayed) if self.leases.holds(relayed) else None
            self.leases.drop(relayed)  # before relay.done gives its lease back
            if fax is not None and await self.relay.done(fax, result):
                self.on_queued()
            return
        fax_id = self._faxes.pop(call.call_id, None)
        if fax_id is None:
            return
        self.channels.release()
        await self.pages.drained()  # its pages are recorded before how it ended
        fax = await self.store.get_fax(fax_id) if self.leases.holds(fax_id) else None
        if fax is None:  # deleted, or settled by another node that took this node for dead
            self.leases.drop(fax_id)
            return
        status, code, description = st.inbound_status(result)
        if result.pages:
            directory = Path(fax.document or "").parent
            try:
                await asyncio.to_thread(
                    render_received,
                    Path(fax.document or ""),
                    directory / "received.pdf",
                    directory / "preview",
                )
            except Exception as error:  # e.g. no file descriptor for gs: the pages are in the TIFF anyway
                log.error("fax %s: received pages not rendered: %s", fax.id, error)
        self.leases.drop(fax.id)  # before its lease is given back below
        await self.store.update_fax(
            fax.id,
            status=status,
            error_code=code,
            error_description=description,
            pages_total=result.pages,
            pages_transferred=result.pages,
            remote_station_id=result.remote_ident or None,
            t38=result.t38,
            bit_rate=result.bit_rate,
            ecm=result.ecm,
            completed_at=time.time(),
            lease_owner=None,
            lease_until=None,
        )
        media = result.diagnostics.media
        self.metrics.call_ended("inbound", status, t38=result.t38, pages=result.pages, media=media)
        self.metrics.faxes.labels("inbound", status).inc()
        # The call is the received fax's one attempt: kept like a sent fax's, with its diagnostics.
        ended = st.ended_attempt(result, status, summary(result, ()))
        await self.store.add_attempt(AttemptRecord(fax.id, 1, fax.created_at, fax.from_number, **ended))
        fax = await self.store.get_fax(fax.id) or fax
        data = {"status": status, "pages": result.pages}
        if code:
            data["error"] = {"code": code, "description": description}
        await self.events.publish(fax, EventType.RECEIVED if result.pages else EventType.FAILED, data)
