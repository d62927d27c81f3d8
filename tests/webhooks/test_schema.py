"""The webhook body."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from faxgw.gateway.domain import EventType
from faxgw.gateway.webhooks import event_body


def test_body_fields_and_utc_timestamp() -> None:
    body = event_body("evt_1", "page.sent", "fax_9", {"page": 2, "pages": 3}, 1_700_000_000.25)
    assert json.loads(body) == {
        "id": "evt_1",
        "type": "page.sent",
        "created_at": "2023-11-14T22:13:20.250Z",
        "fax_id": "fax_9",
        "data": {"page": 2, "pages": 3},
    }
    assert b" " not in body  # compact: the bytes signed are the bytes sent, no reformatting on the way


def test_aware_datetimes_are_converted_to_utc() -> None:
    paris = datetime(2024, 5, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    body = json.loads(event_body("e", "queued", "f", {}, paris))
    assert body["created_at"] == "2024-05-01T12:00:00.000Z"
    with pytest.raises(ValueError):
        event_body("e", "queued", "f", {}, datetime(2024, 5, 1))  # naive
    assert json.loads(event_body("e", "queued", "f", {}, datetime(2024, 5, 1, tzinfo=UTC)))


def test_every_internal_event_type_and_nothing_else() -> None:
    assert {
        "queued", "media.processed", "sending.started", "page.sent", "retry.scheduled", "delivered",
        "failed", "receiving.started", "page.received", "received",
    } == {event_type.value for event_type in EventType}  # fmt: skip
    with pytest.raises(ValueError):
        event_body("e", "fax.delivered", "f", {}, 0)


def test_unserialisable_payload_is_the_callers_error() -> None:
    with pytest.raises(TypeError):
        event_body("e", "queued", "f", {"when": object()}, 0)
    with pytest.raises(ValueError):
        event_body("e", "queued", "f", {"ratio": float("nan")}, 0)


def test_non_ascii_is_sent_as_utf8() -> None:
    body = event_body("e", "received", "f", {"remote_ident": "Bür\u00f6 \u6771\u4eac"}, 0)
    assert "Bür\u00f6 \u6771\u4eac".encode() in body
