"""Fax events: stored (for SSE replay and the record), sent as webhooks, pushed to live listeners.

Live listeners (SSE) on any node hear every event of their fax, whichever node records it: an event
recorded here is pushed at once; one recorded by another node is announced by PostgreSQL (``FAX_EVENT``,
on commit) and read from the store. Each listener gets every event once, in the order of ``seq``.

Webhooks go to the fax's own URL (in its own envelope: ``native`` or a dialect's, e.g. Telnyx's
``webhook_url``) and to the tenant's standing subscriptions (Fax.Plus hooks, Dropbox's callback URL),
whichever API sent the fax. What a provider's webhook says is the API dialect's business: each registers
a ``Renderer`` for its envelope, so this layer knows no provider's vocabulary.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from faxgw.gateway.database import FAX_EVENT
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
#: Another consumer of every event recorded here (the mails of ``gateway.mail``): awaited after the
#: webhooks are handed over, so what it stores is stored before ``publish`` returns.
Consumer = Callable[[FaxRecord, EventRecord], Awaitable[None]]


@dataclass(eq=False)
class _Listener:
    """One live listener of a fax: its queue, and the seq of the last event put in it."""

    queue: asyncio.Queue[EventRecord]
    seen: int

    def give(self, event: EventRecord) -> None:
        self.queue.put_nowait(event)
        self.seen = event.seq


def _payload(fax: FaxRecord, data: dict[str, Any] | None) -> dict[str, Any]:
    """What every event says of its fax, and ``data``."""
    return {
        "fax_id": fax.id,
        "direction": fax.direction,
        "from": fax.from_number,
        "to": fax.to_number,
        **(data or {}),
    }


class EventBus:
    """Built before the store opens (it listens for other nodes' events)."""

    def __init__(self, store: FaxStore, webhooks: WebhookDispatcher | None) -> None:
        self.store = store
        self.webhooks = webhooks
        self._listeners: dict[str, list[_Listener]] = {}
        self._tasks = Tasks(log, "webhook of an event")
        self._renderers: dict[str, Renderer] = {}
        self._consumers: list[Consumer] = []
        self._reads = Tasks(log, "reading a fax's events for its live listeners")
        self._reading: set[str] = set()  # faxes whose events are being read
        self._again: set[str] = set()  # ... and heard of again meanwhile: read once more
        self._closed = False
        store.listen(FAX_EVENT, self._heard)

    async def close(self) -> None:
        """End the webhook work under way (before the store closes). A delivery already in the outbox is
        sent by the next process; one still being rendered is lost, as in a crash."""
        self._closed = True
        await self._reads.cancel()
        await self._tasks.cancel()

    def add_consumer(self, consumer: Consumer) -> None:
        self._consumers.append(consumer)

    def add_renderer(self, format: str, renderer: Renderer) -> None:
        """Webhooks in envelope ``format`` are built by ``renderer`` (an API dialect's)."""
        self._renderers[format] = renderer

    async def publish(
        self, fax: FaxRecord, event_type: EventType, data: dict[str, Any] | None = None
    ) -> EventRecord:
        """Record the event, wake SSE listeners at once, and hand it to the webhook sender."""
        event = await self.store.add_event(fax, event_type, _payload(fax, data))
        await self._announce(fax, event, data)
        return event

    async def add_faxes(
        self, faxes: Sequence[FaxRecord], event_type: EventType, data: dict[str, Any] | None = None
    ) -> None:
        """Store new faxes, each with its first event, in one call to the store (a request's faxes: one
        transaction, not two per fax); then each event goes where ``publish`` sends it."""
        events = await self.store.add_faxes(faxes, event_type, [_payload(fax, data) for fax in faxes])
        for fax, event in zip(faxes, events, strict=True):
            await self._announce(fax, event, data)

    async def _announce(self, fax: FaxRecord, event: EventRecord, data: dict[str, Any] | None) -> None:
        """A recorded event to the log, live listeners, webhooks and consumers."""
        log.info("fax %s: %s %s", fax.id, event.type, data or "")
        self._push(event)
        if self.webhooks is not None:
            await self._send_webhooks(self.webhooks, fax, event)
        for consumer in self._consumers:
            try:
                await consumer(fax, event)
            except Exception:  # the event is recorded; a consumer's failure is its own, logged
                log.exception("fax %s: %s not handled by %r", fax.id, event.type, consumer)

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

    def listen(self, fax_id: str, after_seq: int = 0) -> asyncio.Queue[EventRecord]:
        """A queue of the fax's events after ``after_seq`` (every one by default), those stored first, then
        each as it is recorded on any node; until ``unlisten``."""
        listener = _Listener(asyncio.Queue(), after_seq)
        self._listeners.setdefault(fax_id, []).append(listener)
        self._catch_up(fax_id)  # what is stored already
        return listener.queue

    def unlisten(self, fax_id: str, queue: asyncio.Queue[EventRecord]) -> None:
        listeners = [listener for listener in self._listeners.get(fax_id, ()) if listener.queue is not queue]
        if listeners:
            self._listeners[fax_id] = listeners
        else:
            self._listeners.pop(fax_id, None)

    def _push(self, event: EventRecord) -> None:
        """An event recorded here: to each listener at once, unless it lacks the event before (recorded by
        another node, not read yet): then the store is read, this one with it, in order."""
        missed = False
        for listener in self._listeners.get(event.fax_id, ()):
            if listener.seen >= event.seq:
                continue  # a read got it first
            if listener.seen >= event.previous:
                listener.give(event)
            else:
                missed = True
        if missed:
            self._catch_up(event.fax_id)

    def _heard(self, fax_id: str) -> None:
        """A node recorded an event of ``fax_id`` (ours are heard too); "": the database connection came
        back, and any event may have been missed meanwhile. Only listened faxes are read."""
        for listened in list(self._listeners) if fax_id == "" else [fax_id]:
            if listened in self._listeners:
                self._catch_up(listened)

    def _catch_up(self, fax_id: str) -> None:
        if self._closed:
            return
        if fax_id in self._reading:
            self._again.add(fax_id)  # what the read under way may not see yet
            return
        self._reading.add(fax_id)
        self._reads.spawn(self._read(fax_id))

    async def _read(self, fax_id: str) -> None:
        """Give each listener of ``fax_id`` the stored events it has not had, in order. A failed read is
        logged (``Tasks``); the fax's next event, or the database connection coming back, reads again."""
        try:
            while fax_id in self._listeners:
                self._again.discard(fax_id)
                after = min(listener.seen for listener in self._listeners[fax_id])
                for event in await self.store.events(fax_id, after):
                    for listener in self._listeners.get(fax_id, ()):
                        # One that came during the read with an older seq waits for the next round.
                        if after <= listener.seen < event.seq:
                            listener.give(event)
                if fax_id not in self._again:
                    return
        finally:
            self._reading.discard(fax_id)
