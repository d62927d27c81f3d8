"""Fax.Plus webhooks: a tenant's hooks (``/v3/hooks``) get ``fax_sent`` and ``fax_received`` callbacks.

Each hook is a standing subscription of its tenant in the ``faxplus`` envelope for one event, and hears of
every fax of the tenant, whichever API sent it. Its target gets, as Fax.Plus posts it::

    {"hook": {"id": <hook id>, "event": "fax_sent", "event_time": "YYYY-MM-DD HH:MM:SS", "target": <url>},
     "data": {"id": <fax id>, "uid": <tenant id>, "pages": <pages transferred>, "from": ..., "to": ...,
              "from_number": ..., "to_number": ..., "start_time": ..., "file": <fax id>,
              "file_name": <the uploaded files' names>, "cost": 0, "status": <the SDK's FaxStatus>}}

with our ``X-Faxgw-*`` HMAC signature headers (``gateway.webhooks.formats.SignedJson``). Fields and status
are those of the fax as ``GET /v3/accounts/self/faxes/{id}`` shows it (``faxplus.fax_object``).

* ``fax_sent``: once per outbound fax, at its final outcome (our ``delivered`` or ``failed``), whatever
  it is: ``status`` says how it ended (``success``, ``partially_sent``, ``failed_*``).
* ``fax_received``: an inbound fax that brought at least one page (our ``received``; ``partially_received``
  included). An inbound call that ended before its first page (our inbound ``failed``) has no document to
  fetch and no callback: Fax.Plus announces faxes that arrived, not calls that did not.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from faxgw.gateway.api.errors import ApiError
from faxgw.gateway.api.inputs import url_problem
from faxgw.gateway.api.models import HTTP_URL_PATTERN, MAX_URL_CHARS
from faxgw.gateway.domain import EventType
from faxgw.gateway.service import EventRecord, FaxRecord, Rendered, Renderer, Subscription
from pydantic import BaseModel, Field

FORMAT = "faxplus"
HookEvent = Literal["fax_sent", "fax_received"]
#: What the callback's ``data`` copies from the fax's Fax.Plus view.
_FAX_FIELDS = ("id", "pages", "from", "to", "start_time", "file", "file_name", "cost", "status")


class HookRequest(BaseModel):
    """``POST /v3/hooks``: the SDK's ``Webhook`` (its ``id`` is ours to give, so not read)."""

    target: str = Field(max_length=MAX_URL_CHARS, json_schema_extra={"pattern": HTTP_URL_PATTERN})
    event: HookEvent


def checked_target(target: str) -> str:
    """A callback URL we can post to: http or https, with a host."""
    problem = url_problem(target)
    if problem is not None:
        raise ApiError.invalid_request(f"target: the URL {problem}; expected an http or https URL")
    return target


def hook_object(hook: Subscription, event: str) -> dict[str, str]:
    """A hook as the SDK's ``Webhook``."""
    return {"id": hook.id, "target": hook.url, "event": event}


def hook_event(fax: FaxRecord, event: EventRecord) -> HookEvent | None:
    """The Fax.Plus event our event is, if any (see the module docstring)."""
    if fax.direction == "outbound" and event.type in (EventType.DELIVERED, EventType.FAILED):
        return "fax_sent"
    if fax.direction == "inbound" and event.type is EventType.RECEIVED:
        return "fax_received"
    return None


def renderer(
    fax_object: Callable[[FaxRecord], Awaitable[dict[str, Any]]], fax_time: Callable[[float], str | None]
) -> Renderer:
    """The Fax.Plus envelope's renderer; ``fax_object`` and ``fax_time`` are the dialect's, as its API
    shows a fax and a time."""

    async def render(
        fax: FaxRecord, event: EventRecord, subscription: Subscription | None
    ) -> Rendered | None:
        name = hook_event(fax, event)
        # Fax.Plus has no per-fax callback URL: only hooks (subscriptions) get its envelope.
        if name is None or subscription is None or (subscription.events and name not in subscription.events):
            return None
        view = await fax_object(fax)
        data: dict[str, Any] = {field: view[field] for field in _FAX_FIELDS}
        data["uid"] = fax.tenant_id
        # Fax.Plus's documentation shows "from"/"to"; the SDK's WebhookCallbackData reads "from_number" and
        # "to_number". Both, so that a receiver written either way finds the numbers.
        data["from_number"], data["to_number"] = view["from"], view["to"]
        document = {
            "hook": {
                "id": subscription.id,
                "event": name,
                "event_time": fax_time(event.created_at),
                "target": subscription.url,
            },
            "data": data,
        }
        return Rendered(name, json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode())

    return render
