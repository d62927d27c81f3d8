"""Dropbox Sign-style callbacks: our fax events as Dropbox Fax's ``fax_*`` events, at the account's callback.

The account's callback URL (``PUT /v3/account``, stored as the tenant's one ``dropbox`` subscription) gets,
as a multipart/form-data field named ``json`` (``gateway.webhooks.formats.DropboxForm``)::

    {"event": {"event_time": "<unix seconds>", "event_type": "fax_sent", "event_hash": "<hex>",
               "event_metadata": {"reported_for_account_id": <tenant id>, "reported_for_app_id": null,
                                  "related_signature_id": null, "event_message": null}},
     "account_guid": <tenant id>,
     "fax": <the FaxResponse that GET /v3/fax/{fax_id} answers>}

``event_hash`` is Dropbox Sign's: hex HMAC-SHA256 of ``event_time + event_type`` keyed with the API key
that set the callback URL, which the SDK's ``EventCallbackHelper.is_valid(api_key, callback)`` checks. The
SDK's ``EventCallbackRequest`` (2.0.0) has no ``fax`` field: read it as ``FaxResponse.from_dict(...)``.

Events: the final outcome of an outbound fax, ``fax_sent`` or the failure's own type (``fax_busy``,
``fax_no_answer``, ``fax_disconnected``, ``fax_blacklisted``, ``file_error``, ``unknown_error``), and
``fax_received`` for an inbound fax with pages. Nothing else is sent: Dropbox Fax has no progress events.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any

from faxgw.gateway.domain import EventType
from faxgw.gateway.service import EventRecord, FaxRecord, Rendered, Renderer, Subscription

#: Our name for Dropbox's envelope (a subscription's ``format``), and for the Dropbox fields kept with a fax.
FORMAT = "dropbox"
#: A failed fax's documented ``status_code`` -> the callback's event type (the SDK's enum has these).
FAILURE_EVENTS = {
    "error_busy": "fax_busy",
    "error_no_answer": "fax_no_answer",
    "error_disconnected": "fax_disconnected",
    "error_could_not_fax": "fax_disconnected",
    "error_bad_destination": "fax_blacklisted",
    "error_file": "file_error",
    "error_unknown": "unknown_error",
}


def event_hash(api_key: str, event_time: str, event_type: str) -> str:
    """What ``EventCallbackHelper.is_valid`` recomputes from the callback and the receiver's API key."""
    message = f"{event_time}{event_type}".encode()
    return hmac.new(api_key.encode(), message, hashlib.sha256).hexdigest()


def event_type(fax: FaxRecord, event: EventRecord, status_code: Callable[[FaxRecord], str]) -> str | None:
    """The callback's event type for one of our events, or None when Dropbox Fax sends none for it."""
    if event.type is EventType.DELIVERED:
        return "fax_sent"
    if event.type is EventType.RECEIVED:
        return "fax_received"
    if event.type is EventType.FAILED and fax.direction == "outbound":
        return FAILURE_EVENTS.get(status_code(fax), "unknown_error")
    return None  # progress events, and an inbound call that brought no page (Dropbox Fax has no such event)


def renderer(
    fax_response: Callable[[FaxRecord], Awaitable[dict[str, Any]]], status_code: Callable[[FaxRecord], str]
) -> Renderer:
    """The Dropbox envelope's renderer; the fax object and status codes are the dialect's, as its API shows
    them (``fax_response`` builds the ``FaxResponse``, its files link absolute)."""

    async def render(
        fax: FaxRecord, event: EventRecord, subscription: Subscription | None
    ) -> Rendered | None:
        # A callback is the account's: without its API key there is nothing to sign it with.
        if subscription is None or subscription.secret is None:
            return None
        kind = event_type(fax, event, status_code)
        if kind is None:
            return None
        event_time = str(int(event.created_at))
        document = {
            "event": {
                "event_time": event_time,
                "event_type": kind,
                "event_hash": event_hash(subscription.secret, event_time, kind),
                "event_metadata": {
                    "reported_for_account_id": fax.tenant_id,
                    "reported_for_app_id": None,
                    "related_signature_id": None,
                    "event_message": None,
                },
            },
            "account_guid": fax.tenant_id,
            "fax": await fax_response(fax),
        }
        return Rendered(kind, json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode())

    return render
