"""Receiving faxes: DID routing, a fax object per call, pages published as each one lands."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from pathlib import Path

from faxgw.gateway.config import Config, RouteConfig
from faxgw.gateway.documents import render_received
from faxgw.gateway.domain import EventType, FaxStatus
from faxgw.gateway.engines.base import CallResult, InboundCall, InboundDecision, PageTransferred, Refusal
from faxgw.gateway.jobs import status as st
from faxgw.gateway.jobs.channels import BUSY_RETRY_AFTER, Channels
from faxgw.gateway.jobs.events import EventBus
from faxgw.gateway.jobs.pages import PageQueue
from faxgw.gateway.store import FaxRecord, FaxStore, new_id

log = logging.getLogger("gateway.inbound")


class InboundJobs:
    def __init__(
        self, config: Config, store: FaxStore, events: EventBus, channels: Channels, pages: PageQueue
    ) -> None:
        self.config = config
        self.store = store
        self.events = events
        self.channels = channels
        self.pages = pages
        self._faxes: dict[str, str] = {}  # call id -> fax id

    async def offer(self, call: InboundCall) -> InboundDecision:
        """Accept a call for a DID we route while a channel is free (refused at the SIP level otherwise)."""
        route = self.config.route(call.did)
        if route is None or await self.store.get_tenant(route.tenant) is None:
            log.info("call %s to unknown DID %r refused", call.call_id, call.did)
            return Refusal(404)
        if not self.channels.take():
            log.warning(
                "call %s to %s refused: all %d channels busy", call.call_id, call.did, self.channels.limit
            )
            return Refusal(503, BUSY_RETRY_AFTER)
        try:
            fax = await self._new_fax(call, route)
        except BaseException:
            self.channels.release()
            raise
        # From here on the engine reports the call's end (done), however it ends: the channel comes back
        # and the fax is settled there.
        self._faxes[call.call_id] = fax.id
        await self.events.publish(fax, EventType.RECEIVING_STARTED, {"call_id": call.call_id})
        return Path(fax.document or ""), self.pages.handler(fax.id, functools.partial(self._page, fax))

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
        )
        directory = Path(route.storage or self.config.data_dir / "faxes") / fax.id
        directory.mkdir(parents=True, exist_ok=True)
        fax.document = str(directory / "received.tif")
        return await self.store.add_fax(fax)

    async def _page(self, fax: FaxRecord, page: PageTransferred) -> None:
        """Record a received page (from the page queue's task). It is whole in the TIFF: the API serves it."""
        await self.store.update_fax(fax.id, pages_transferred=page.page)
        await self.events.publish(
            fax, EventType.PAGE_RECEIVED, {"page": page.page, "url": f"/v1/faxes/{fax.id}/pages/{page.page}"}
        )

    async def done(self, call: InboundCall, result: CallResult) -> None:
        """Settle the fax of an accepted call (a call never accepted is not ours to settle)."""
        fax_id = self._faxes.pop(call.call_id, None)
        if fax_id is None:
            return
        self.channels.release()
        await self.pages.drained()  # its pages are recorded before how it ended
        fax = await self.store.get_fax(fax_id)
        if fax is None:
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
        )
        fax = await self.store.get_fax(fax.id) or fax
        data = {"status": status, "pages": result.pages}
        if code:
            data["error"] = {"code": code, "description": description}
        await self.events.publish(fax, EventType.RECEIVED if result.pages else EventType.FAILED, data)
