"""Faxes a device sends to a number that is not its tenant's own: store and forward, or real time.

A fax machine behind an ATA dials an external number. The gateway answers as a fax machine would,
receives every page, then sends them on as an outbound fax of the device's tenant, from the device's
number, through the trunks, with the tenant's retry policy. The outbound fax exists from the moment the
call is answered (status ``processing`` while the device is still sending), so the API shows it with
its origin (``request.origin``: the device, the relay mode, the call) from the start.

Only a whole fax is sent on: a device call that ends early fails its fax, saying after how many pages.
The fax machine has seen the failure itself and sends again; half a fax sent to a stranger would be
worse than none.

A device with ``relay = "real_time"`` is instead bridged to the trunk while its fax machine is on the line
(the engine's ``Bridge``). The call is recorded as an outbound fax with one attempt, settled like any
attempt when the call ends and never retried: the fax machine on the line saw how it went.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from faxgw.gateway.config import Config
from faxgw.gateway.domain import EventType, FaxStatus
from faxgw.gateway.engines import CallResult, CallStatus, InboundCall
from faxgw.gateway.engines.base import Bridge, Route
from faxgw.gateway.jobs import status as st
from faxgw.gateway.jobs.events import EventBus
from faxgw.gateway.peers import DeviceConfig, Relay
from faxgw.gateway.store import AttemptRecord, FaxRecord, FaxStore, new_id

log = logging.getLogger("gateway.relay")

#: How a relayed fax whose device call did not bring it whole is left.
INCOMPLETE = FaxStatus.FAILED


def origin(fax: FaxRecord) -> dict[str, Any] | None:
    """The device call a fax came from, or None for a fax submitted through the API."""
    found = fax.request.get("origin")
    return found if isinstance(found, dict) else None


def _relayed_fax(
    config: Config, call: InboundCall, device: DeviceConfig, tenant_id: str, relay: Relay, status: FaxStatus
) -> FaxRecord:
    """The outbound fax of ``tenant_id`` that a device's call to ``call.did`` becomes (not yet stored),
    leased by this node while the call lasts (``jobs.leases``; settled by another node if this one dies)."""
    now = time.time()
    tenant = next((entry for entry in config.tenants if entry.id == tenant_id), None)
    retry = {"count": tenant.retries, "delay": tenant.retry_delay} if tenant else {}
    return FaxRecord(
        id=new_id("fx"),
        tenant_id=tenant_id,
        direction="outbound",
        from_number=device.numbers[0],
        to_number=call.did,
        status=status,
        created_at=now,
        updated_at=now,
        lease_owner=config.node,
        lease_until=now + config.lease,
        request={
            "from_pool": [device.numbers[0]],
            "options": {"retry": retry if relay is Relay.STORE_AND_FORWARD else {}},
            "origin": {
                "device": device.username,
                "relay": relay.value,
                "caller": call.caller,
                "call_id": call.call_id,
            },
        },
    )


async def start_real_time(
    config: Config,
    store: FaxStore,
    events: EventBus,
    call: InboundCall,
    device: DeviceConfig,
    tenant_id: str,
    destination: str,
    routes: tuple[Route, ...],
) -> tuple[FaxRecord, Bridge]:
    """The fax a bridged call is recorded as (sending, its one attempt started), and the engine's Bridge
    to ``destination`` (the dialled number, or its SIP URI as ``jobs.destinations`` checked it)."""
    fax = _relayed_fax(config, call, device, tenant_id, Relay.REAL_TIME, FaxStatus.SENDING)
    fax.attempts_made = 1
    fax = await store.add_fax(fax)
    await store.add_attempt(AttemptRecord(fax.id, 1, fax.created_at, from_number=fax.from_number))
    await events.publish(fax, EventType.SENDING_STARTED, {"attempt": 1, "first_page": 1})
    return fax, Bridge(routes, destination, fax.from_number)


def received_document(fax: FaxRecord) -> Path:
    """Where a store-and-forward fax's pages are received from the device (``request.origin.document``)."""
    found = origin(fax)
    if found is None or not isinstance(found.get("document"), str):
        raise ValueError(f"fax {fax.id} is not a fax a device is sending through the gateway")
    return Path(found["document"])


class StoreAndForward:
    """Receives a device's fax into an outbound fax of its tenant, then queues that fax."""

    def __init__(self, config: Config, store: FaxStore, events: EventBus) -> None:
        self.config = config
        self.store = store
        self.events = events

    async def start(self, call: InboundCall, device: DeviceConfig, tenant_id: str) -> FaxRecord:
        """The outbound fax a device's call is being received into (``document``: where its pages go)."""
        fax = _relayed_fax(
            self.config, call, device, tenant_id, Relay.STORE_AND_FORWARD, FaxStatus.PROCESSING
        )
        directory = self.config.data_dir / "faxes" / fax.id
        directory.mkdir(parents=True, exist_ok=True)
        fax.request["origin"]["document"] = str(directory / "received.tif")
        return await self.store.add_fax(fax)

    async def page(self, fax: FaxRecord, page: int) -> None:
        """A page of the device's fax arrived (it is kept, not yet sent anywhere)."""
        await self.store.update_fax(fax.id, pages_transferred=page)

    async def done(self, fax: FaxRecord, result: CallResult) -> bool:
        """The device's call ended: queue the fax when it came whole (True), else fail it."""
        document = received_document(fax)
        if result.status is CallStatus.SUCCESS and result.pages:
            await self.store.update_fax(
                fax.id,
                status=FaxStatus.QUEUED,
                document=str(document),
                pages_total=result.pages,
                pages_transferred=0,
                next_attempt_at=time.time(),
                lease_owner=None,
                lease_until=None,
            )
            fax = await self.store.get_fax(fax.id) or fax
            await self.events.publish(fax, EventType.QUEUED, {"origin": origin(fax)})
            log.info("fax %s: %d pages from a device queued for %s", fax.id, result.pages, fax.to_number)
            return True
        received, _, why = st.inbound_status(result)
        description = (
            f"The device's call ended after {result.pages} page(s) ({why or received}): nothing was sent on."
        )
        await self.store.update_fax(
            fax.id,
            status=INCOMPLETE,
            error_code=INCOMPLETE,
            error_description=description,
            pages_transferred=0,
            completed_at=time.time(),
            lease_owner=None,
            lease_until=None,
        )
        fax = await self.store.get_fax(fax.id) or fax
        data = {"status": INCOMPLETE, "pages": 0, "error": {"code": INCOMPLETE, "description": description}}
        await self.events.publish(fax, EventType.FAILED, data)
        return False
