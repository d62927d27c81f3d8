"""The JSON body of a webhook: built once, stored as bytes, and signed and sent as exactly those bytes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from faxgw.gateway.domain import EventType


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
    event_id: str, event_type: EventType, fax_id: str, payload: dict[str, Any], created_at: float | datetime
) -> bytes:
    """``{"id", "type", "created_at", "fax_id", "data"}`` as compact UTF-8 JSON.

    Raises ValueError for an unknown event type and TypeError for a payload JSON cannot hold: both are
    the caller's mistakes, found before anything is stored.
    """
    document = {
        "id": event_id,
        "type": EventType(event_type),  # the enum, or its word: anything else is a ValueError
        "created_at": isoformat_utc(created_at),
        "fax_id": fax_id,
        "data": payload,
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
