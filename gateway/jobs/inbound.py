"""Receiving faxes: DID routing, a fax object per call, pages published as each one lands."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from gateway.config import Config
from gateway.documents import render_received
from gateway.engines.base import CallResult, InboundCall, InboundDecision, PageTransferred
from gateway.jobs import status as st
from gateway.jobs.events import EventBus
from gateway.store import FaxRecord, Store, new_id

log = logging.getLogger("gateway.inbound")


class InboundJobs:
    def __init__(self, config: Config, store: Store, events: EventBus) -> None:
        self.config = config
        self.store = store
        self.events = events
        self._faxes: dict[str, str] = {}  # call id -> fax id

    async def offer(self, call: InboundCall) -> InboundDecision:
        """Accept a call for a DID we route (refused at the SIP level otherwise)."""
        route = self.config.route(call.did)
        if route is None or self.store.get_tenant(route.tenant) is None:
            log.info("call %s to unknown DID %r refused", call.call_id, call.did)
            return None
        now = time.time()
        fax = FaxRecord(
            id=new_id("fx"),
            tenant_id=route.tenant,
            direction="inbound",
            from_number=call.caller,
            to_number=call.did,
            status=st.IN_PROGRESS,
            created_at=now,
            updated_at=now,
            webhook_url=route.webhook_url,
            webhook_format=route.webhook_format,
        )
        directory = Path(route.storage or self.config.data_dir / "faxes") / fax.id
        directory.mkdir(parents=True, exist_ok=True)
        fax.document = str(directory / "received.tif")
        self.store.add_fax(fax)
        self._faxes[call.call_id] = fax.id
        self.events.publish(fax, "receiving.started", {"call_id": call.call_id})
        return Path(fax.document), lambda page: self._page(fax, page)

    def _page(self, fax: FaxRecord, page: PageTransferred) -> None:
        # The page is whole in the TIFF now: the API serves it from there at once.
        self.store.update_fax(fax.id, pages_transferred=page.page)
        self.events.publish(
            fax, "page.received", {"page": page.page, "url": f"/v1/faxes/{fax.id}/pages/{page.page}"}
        )

    async def done(self, call: InboundCall, result: CallResult) -> None:
        fax_id = self._faxes.pop(call.call_id, None)
        fax = self.store.get_fax(fax_id) if fax_id else None
        if fax is None:
            return
        status, code, description = st.inbound_status(result)
        if result.pages:
            directory = Path(fax.document or "").parent
            await asyncio.to_thread(
                render_received, Path(fax.document or ""), directory / "received.pdf", directory / "preview"
            )
        self.store.update_fax(
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
        fax = self.store.get_fax(fax.id) or fax
        data = {"status": status, "pages": result.pages}
        if code:
            data["error"] = {"code": code, "description": description}
        self.events.publish(fax, "received" if result.pages else "failed", data)
