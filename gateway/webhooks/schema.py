"""The JSON body of a webhook: built once, stored as bytes, and signed and sent as exactly those bytes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

#: Internal event names (DESIGN.md); each API dialect renames them on its own side.
EVENT_TYPES = frozenset(
    {
        "queued",
        "media.processed",
        "sending.started",
        "page.sent",
        "retry.scheduled",
        "delivered",
        "failed",
        "receiving.started",
        "page.received",
        "received",
    }
)


def isoformat_utc(when: float | datetime) -> str:
    """ISO-8601 in UTC with a ``Z`` and milliseconds, as the cloud fax providers' webhooks write it."""
    if isinstance(when, datetime):
        if when.tzinfo is None:
            raise ValueError("a naive datetime has no time zone: give an aware one or a Unix time")
        moment = when.astimezone(UTC)
    else:
        moment = datetime.fromtimestamp(when, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def event_body(
    event_id: str, event_type: str, fax_id: str, payload: dict[str, Any], created_at: float | datetime
) -> bytes:
    """``{"id", "type", "created_at", "fax_id", "data"}`` as compact UTF-8 JSON.

    Raises ValueError for an unknown event type and TypeError for a payload JSON cannot hold: both are
    the caller's mistakes, found before anything is stored.
    """
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    document = {
        "id": event_id,
        "type": event_type,
        "created_at": isoformat_utc(created_at),
        "fax_id": fax_id,
        "data": payload,
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
