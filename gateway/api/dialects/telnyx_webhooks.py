"""Telnyx-style webhooks: our fax events as Telnyx's ``fax.*`` events, for a fax's ``webhook_url``.

A fax sent through ``POST /v2/faxes`` with a ``webhook_url`` (or received on a route whose
``webhook_format`` is ``telnyx``) gets, at that URL::

    {"data": {"event_type": "fax.delivered", "id": <event id>, "occurred_at": <ISO 8601>,
              "payload": {...}, "record_type": "event"},
     "meta": {"attempt": 1, "delivered_to": <url>}}

signed as Telnyx signs (``gateway.webhooks.formats.TelnyxJson``): the SDK's
``client.webhooks.unwrap(body, headers=..., key=<public key>)`` checks it with the gateway's public key,
from ``GET /v1/webhook-keys``. Events: ``fax.queued``, ``fax.media.processed``, ``fax.sending.started``
(again at each retry), ``fax.delivered``, ``fax.failed``; inbound, ``fax.received`` (or ``fax.failed``).
Its ``fax_id`` is the fax's id as the dialect shows it (a UUID: ``telnyx_ids``) and a received fax's
``media_url`` is a temporary signed link to its PDF under ``public_url``, as the Fax object's
(``telnyx_links``). ``webhook_failover_url`` is kept and echoed but not used: a failing ``webhook_url``
is retried with back-off instead.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from faxgw.gateway.api.dialect import dialect_fields
from faxgw.gateway.api.dialects.telnyx_ids import to_uuid
from faxgw.gateway.domain import EventType
from faxgw.gateway.service import EventRecord, FaxRecord, Gateway, Rendered, Renderer, Subscription

#: Our name for Telnyx's envelope (a fax's ``webhook_format``), and for the Telnyx fields kept with a fax.
FORMAT = "telnyx"
#: Our event types -> Telnyx's (the others - page.sent, retry.scheduled, ... - Telnyx does not send).
EVENT_TYPES: dict[EventType, str] = {
    EventType.QUEUED: "fax.queued",
    EventType.MEDIA_PROCESSED: "fax.media.processed",
    EventType.SENDING_STARTED: "fax.sending.started",
    EventType.DELIVERED: "fax.delivered",
    EventType.FAILED: "fax.failed",
    EventType.RECEIVED: "fax.received",
}
#: The payload's ``status`` for each event (the fax may already have moved on when the body is built).
STATUSES = {
    "fax.queued": "queued",
    "fax.media.processed": "media.processed",
    "fax.sending.started": "sending",
    "fax.delivered": "delivered",
    "fax.failed": "failed",
    "fax.received": "received",
}


def iso_time(epoch: float) -> str:
    """Telnyx's times: ISO 8601 in UTC, with milliseconds and a ``Z``."""
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def renderer(
    gateway: Gateway,
    failure_reason: Callable[[FaxRecord], str | None],
    media_url: Callable[[FaxRecord], str | None],
) -> Renderer:
    """The Telnyx envelope's renderer; ``failure_reason`` and ``media_url`` are the dialect's, as its Fax
    objects say them."""

    async def render(
        fax: FaxRecord, event: EventRecord, subscription: Subscription | None
    ) -> Rendered | None:
        event_type = EVENT_TYPES.get(event.type)
        if event_type is None:
            return None
        extra = dialect_fields(fax, FORMAT)
        payload: dict[str, Any] = {
            "connection_id": extra.get("connection_id"),
            "direction": fax.direction,
            "fax_id": to_uuid(fax.id),
            "from": fax.from_number,
            "to": fax.to_number,
            "user_id": fax.tenant_id,
            "status": STATUSES[event_type],
        }
        for name in ("client_state", "media_name"):
            if extra.get(name):
                payload[name] = extra[name]
        if extra.get("media_url"):
            payload["original_media_url"] = extra["media_url"]
        if event_type in ("fax.delivered", "fax.received"):
            payload["page_count"] = fax.pages_transferred
            payload["call_duration_secs"] = await _call_seconds(gateway, fax)
        if event_type == "fax.received":
            payload["media_url"] = media_url(fax)
        if event_type == "fax.failed":
            payload["failure_reason"] = failure_reason(fax)
            payload["internal_failure_reason"] = fax.error_code or fax.status
        document = {
            "data": {
                "event_type": event_type,
                "id": event.id,
                "occurred_at": iso_time(event.created_at),
                "payload": payload,
                "record_type": "event",
            }
        }
        body = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
        return Rendered(event_type, body)

    return render


async def _call_seconds(gateway: Gateway, fax: FaxRecord) -> int:
    """How long the calls lasted: the outbound attempts', or the one inbound call's."""
    calls = [(a.started_at, a.ended_at) for a in await gateway.attempts(fax.id)]
    if not calls and fax.completed_at is not None:
        calls = [(fax.created_at, fax.completed_at)]  # an inbound fax lives as long as its call
    return sum(round(end - start) for start, end in calls if end is not None)
