"""Fax events: stored (for SSE replay and the record), sent as webhooks, pushed to live listeners."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import Any

from gateway.store import EventRecord, FaxRecord, Store
from gateway.webhooks import WebhookDispatcher

log = logging.getLogger("gateway.events")


class EventBus:
    def __init__(self, store: Store, webhooks: WebhookDispatcher | None) -> None:
        self.store = store
        self.webhooks = webhooks
        self._listeners: dict[str, set[asyncio.Queue[EventRecord]]] = defaultdict(set)
        self._tasks: set[asyncio.Task] = set()

    def publish(self, fax: FaxRecord, event_type: str, data: dict[str, Any] | None = None) -> EventRecord:
        """Record the event, wake SSE listeners at once, and hand it to the webhook sender."""
        payload = {
            "fax_id": fax.id,
            "direction": fax.direction,
            "from": fax.from_number,
            "to": fax.to_number,
            **(data or {}),
        }
        event = self.store.add_event(fax, event_type, payload)
        log.info("fax %s: %s %s", fax.id, event_type, data or "")
        for queue in self._listeners.get(fax.id, ()):
            queue.put_nowait(event)
        if fax.webhook_url and self.webhooks is not None:
            task = asyncio.ensure_future(
                self.webhooks.submit(
                    event.id,
                    fax.id,
                    fax.tenant_id,
                    fax.webhook_url,
                    payload,
                    event_type=event_type,
                    created_at=event.created_at,
                )
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return event

    def listen(self, fax_id: str) -> asyncio.Queue[EventRecord]:
        queue: asyncio.Queue[EventRecord] = asyncio.Queue()
        self._listeners[fax_id].add(queue)
        return queue

    def unlisten(self, fax_id: str, queue: asyncio.Queue[EventRecord]) -> None:
        self._listeners[fax_id].discard(queue)
        if not self._listeners[fax_id]:
            del self._listeners[fax_id]
