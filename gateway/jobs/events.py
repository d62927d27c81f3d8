"""Fax events: stored (for SSE replay and the record), sent as webhooks, pushed to live listeners.

Webhooks go to the fax's own URL (in its own envelope: ``native`` or a dialect's, e.g. Telnyx's
``webhook_url``) and to the tenant's standing subscriptions (Fax.Plus hooks, Dropbox's callback URL),
whichever API sent the fax. What a provider's webhook says is the API dialect's business: each registers
a ``Renderer`` for its envelope, so this layer knows no provider's vocabulary.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from faxgw.gateway.domain import EventType
from faxgw.gateway.store import EventRecord, FaxRecord, FaxStore, Subscription
from faxgw.gateway.webhooks import WebhookDispatcher
from faxgw.sip.tasks import Tasks

log = logging.getLogger("gateway.events")


@dataclass(frozen=True)
class Rendered:
    """One event in a provider's envelope."""

    event_type: str  # the provider's name for it (fax.delivered, fax_sent, ...), shown in the delivery log
    body: bytes


#: A dialect's view of an event: its webhook body, or None when the provider has no such event (or the
#: subscription did not ask for it). The fax is as stored at the moment of the event. A coroutine: a view
#: may read more of the fax (its attempts) through the gateway, and reads are awaited.
Renderer = Callable[[FaxRecord, EventRecord, Subscription | None], Awaitable[Rendered | None]]


class EventBus:
    def __init__(self, store: FaxStore, webhooks: WebhookDispatcher | None) -> None:
        self.store = store
        self.webhooks = webhooks
        self._listeners: dict[str, set[asyncio.Queue[EventRecord]]] = defaultdict(set)
        self._tasks = Tasks(log, "webhook of an event")
        self._renderers: dict[str, Renderer] = {}

    async def close(self) -> None:
        """End the webhook work under way (before the store closes). A delivery already in the outbox is
        sent by the next process; one still being rendered is lost, as in a crash."""
        await self._tasks.cancel()

    def add_renderer(self, format: str, renderer: Renderer) -> None:
        """Webhooks in envelope ``format`` are built by ``renderer`` (an API dialect's)."""
        self._renderers[format] = renderer

    async def publish(
        self, fax: FaxRecord, event_type: EventType, data: dict[str, Any] | None = None
    ) -> EventRecord:
        """Record the event, wake SSE listeners at once, and hand it to the webhook sender."""
        payload = {
            "fax_id": fax.id,
            "direction": fax.direction,
            "from": fax.from_number,
            "to": fax.to_number,
            **(data or {}),
        }
        event = await self.store.add_event(fax, event_type, payload)
        log.info("fax %s: %s %s", fax.id, event_type, data or "")
        for queue in self._listeners.get(fax.id, ()):
            queue.put_nowait(event)
        if self.webhooks is not None:
            await self._send_webhooks(self.webhooks, fax, event)
        return event

    async def _send_webhooks(self, webhooks: WebhookDispatcher, fax: FaxRecord, event: EventRecord) -> None:
        if fax.webhook_url and fax.webhook_format == "native":
            self._tasks.spawn(
                webhooks.submit(
                    event.id,
                    fax.id,
                    fax.tenant_id,
                    fax.webhook_url,
                    event.payload,
                    event_type=event.type,
                    created_at=event.created_at,
                )
            )
        targets: list[tuple[str, str, Subscription | None]] = []
        if fax.webhook_url and fax.webhook_format != "native":
            targets.append((fax.webhook_format, fax.webhook_url, None))
        targets += [(s.format, s.url, s) for s in await self.store.subscriptions(fax.tenant_id)]
        if not targets:
            return
        current = await self.store.get_fax(fax.id) or fax  # the caller's copy may predate its last update
        for format, url, subscription in targets:
            renderer = self._renderers.get(format)
            if renderer is None:
                log.warning("fax %s: no %s webhook renderer (no API dialect registered one)", fax.id, format)
                continue
            self._tasks.spawn(self._render(webhooks, renderer, current, event, format, url, subscription))

    async def _render(
        self,
        webhooks: WebhookDispatcher,
        renderer: Renderer,
        fax: FaxRecord,
        event: EventRecord,
        format: str,
        url: str,
        subscription: Subscription | None,
    ) -> None:
        """Send one event in a dialect's envelope, once rendered (if the dialect has such an event)."""
        rendered = await renderer(fax, event, subscription)
        if rendered is None:
            return
        # One delivery per event and target: a subscription's id keeps two at one URL apart.
        event_id = event.id if subscription is None else f"{event.id}.{subscription.id}"
        await webhooks.submit_body(
            event_id, fax.id, fax.tenant_id, url, rendered.body, event_type=rendered.event_type, format=format
        )

    def listen(self, fax_id: str) -> asyncio.Queue[EventRecord]:
        queue: asyncio.Queue[EventRecord] = asyncio.Queue()
        self._listeners[fax_id].add(queue)
        return queue

    def unlisten(self, fax_id: str, queue: asyncio.Queue[EventRecord]) -> None:
        self._listeners[fax_id].discard(queue)
        if not self._listeners[fax_id]:
            del self._listeners[fax_id]
