"""Fax.Plus hooks through the official SDK (``WebhooksApi``), and their callbacks at a real receiver, read
with the SDK's own ``WebhookCallback`` model."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from faxgw.gateway.api.dialects import faxplus as faxplus_dialect
from faxgw.gateway.domain import EventType, FaxStatus
from faxgw.gateway.store import EventRecord, FaxRecord, Subscription
from faxplus import ApiClient, FaxesApi, FilesApi, OutboxApi, PayloadOutbox, Webhook, WebhooksApi
from faxplus.rest import ApiException

from tests.helpers.dialects import SAMPLE, UNROUTED, call, callback, faxplus_client, hook
from tests.helpers.gateway import OTHER, READ_ONLY, RECEIVER, SENDER, Running
from tests.helpers.webhooks import Receiver


async def listed(client: ApiClient, event: str) -> dict[str, str]:
    """The hooks of ``event`` the client's tenant has: id -> target."""
    hooks = (await call(WebhooksApi(client).get_webhooks, event)).data or []
    assert all(str(h.event) == event for h in hooks)
    return {h.id: h.target for h in hooks}


async def send(client: ApiClient, to: str) -> str:
    path = (await call(FilesApi(client).upload_file, "self", fax_file=str(SAMPLE))).path
    payload = PayloadOutbox(from_number=SENDER, to=[to], files=[path], return_ids=True)
    return (await call(OutboxApi(client).send_fax, "self", body=payload)).ids[to]


async def error_of(function: Any, *args: Any, **kwargs: Any) -> tuple[int, dict[str, str]]:
    with pytest.raises(ApiException) as caught:
        await call(function, *args, **kwargs)
    body = json.loads(caught.value.body)
    assert set(body) == {"error", "description"}, body
    return caught.value.status, body


async def test_hooks_get_the_sent_and_the_received_fax(running: Running, receiver: Receiver) -> None:
    client, other = faxplus_client(running), faxplus_client(running, OTHER)
    sent_target, received_target = f"{receiver.url}/sent", f"{receiver.url}/received"
    sent_hook = await hook(client, sent_target, "fax_sent")
    received_hook = await hook(client, received_target, "fax_received")
    deleted = await hook(client, f"{receiver.url}/deleted", "fax_sent")
    assert await listed(client, "fax_sent") == {sent_hook: sent_target, deleted: f"{receiver.url}/deleted"}
    assert await listed(client, "fax_received") == {received_hook: received_target}

    await call(WebhooksApi(client).delete_webhook, deleted)
    assert await listed(client, "fax_sent") == {sent_hook: sent_target}
    assert await error_of(WebhooksApi(client).delete_webhook, deleted) == (
        404,
        {"error": "not_found", "description": f"no hook with id '{deleted}'"},
    )
    # Another tenant's key neither sees nor deletes acme's hooks.
    assert await listed(other, "fax_sent") == {}
    status, body = await error_of(WebhooksApi(other).delete_webhook, sent_hook)
    assert (status, body["error"]) == (404, "not_found")
    assert await listed(client, "fax_sent") == {sent_hook: sent_target}

    fax_id = await send(client, RECEIVER)
    await running.final(fax_id)
    inbound_id = await running.inbound()
    await running.final(inbound_id)
    requests = await receiver.wait_for(2, timeout=30)
    await asyncio.sleep(0.5)  # time for a callback that should not come (deleted hook, a second one)
    by_path = {r.request_line.split()[1]: r for r in requests}
    assert len(requests) == 2 and set(by_path) == {"/hooks/fax/sent", "/hooks/fax/received"}, requests

    sent = callback(client, by_path["/hooks/fax/sent"])
    fax = await call(FaxesApi(client).get_fax, "self", fax_id)
    assert (sent.hook.id, sent.hook.event, sent.hook.target) == (sent_hook, "fax_sent", sent_target)
    # Fax.Plus's "YYYY-MM-DD HH:MM:SS" (UTC) sorts as it reads: the event came after the fax's last update.
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    assert fax.last_update <= sent.hook.event_time <= now
    data = sent.data
    assert (data.id, data.uid, str(data.status), data.pages) == (fax_id, "acme", "success", fax.pages)
    assert data.pages >= 1
    assert (data.from_number, data.to_number) == (SENDER, RECEIVER)
    # The name the file was uploaded under (send() uploads the sample).
    assert (data.file, data.file_name, data.start_time) == (fax_id, SAMPLE.name, fax.start_time)
    raw = json.loads(by_path["/hooks/fax/sent"].body)["data"]
    assert (raw["from"], raw["to"]) == (SENDER, RECEIVER)  # the keys Fax.Plus's documentation shows

    received = callback(client, by_path["/hooks/fax/received"])
    assert (received.hook.id, received.hook.event) == (received_hook, "fax_received")
    data = received.data
    assert (data.id, data.uid, str(data.status), data.pages) == (inbound_id, "acme", "success", fax.pages)
    assert (data.from_number, data.to_number) == (SENDER, RECEIVER)


async def test_a_failed_fax_gives_fax_sent_with_its_failure(running: Running, receiver: Receiver) -> None:
    client = faxplus_client(running)
    sent_hook = await hook(client, receiver.url, "fax_sent")
    fax_id = await send(client, UNROUTED)
    assert (await running.final(fax_id))["status"] == "failed_unallocated_number"
    (request,) = await receiver.wait_for(1, timeout=30)
    sent = callback(client, request)
    assert (sent.hook.id, sent.hook.event) == (sent_hook, "fax_sent")
    assert (sent.data.id, str(sent.data.status), sent.data.pages) == (fax_id, "failed_unallocated_number", 0)
    assert sent.data.to_number == UNROUTED


async def test_bad_hooks_are_refused(running: Running, receiver: Receiver) -> None:
    client = faxplus_client(running)
    api = WebhooksApi(client)
    for target, event in (("ftp://127.0.0.1/x", "fax_sent"), ("not a url", "fax_sent")):
        status, body = await error_of(api.create_webhook, body=Webhook(target=target, event=event))
        assert (status, body["error"]) == (400, "invalid_request"), body
    status, body = await error_of(api.create_webhook, body=Webhook(target=receiver.url, event="fax_page"))
    assert (status, body["error"]) == (400, "invalid_request"), body
    status, body = await error_of(api.get_webhooks, "fax_page")
    assert (status, body["error"]) == (400, "invalid_request"), body
    # Creating needs the edit scope; listing, read.
    reader = WebhooksApi(faxplus_client(running, READ_ONLY))
    status, body = await error_of(reader.create_webhook, body=Webhook(target=receiver.url, event="fax_sent"))
    assert (status, body["error"]) == (403, "forbidden")
    assert await listed(faxplus_client(running, READ_ONLY), "fax_sent") == {}


async def test_an_inbound_call_without_pages_and_other_events_give_no_callback(running: Running) -> None:
    assert faxplus_dialect.DIALECT.webhooks is not None
    render = faxplus_dialect.DIALECT.webhooks.renderer(running.gateway)
    hook_for = {
        name: Subscription(f"hook_{name}", "acme", "faxplus", "http://127.0.0.1/h", (name,))
        for name in ("fax_sent", "fax_received")
    }
    now = time.time()

    def fax(direction: str, status: str) -> FaxRecord:
        return FaxRecord(
            id="fx_1",
            tenant_id="acme",
            direction=direction,
            from_number=SENDER,
            to_number=RECEIVER,
            status=FaxStatus(status),
            created_at=now,
            updated_at=now,
        )

    def event(kind: str) -> EventRecord:
        return EventRecord(1, "ev_1", "fx_1", "acme", EventType(kind), {}, now)

    # A call that ended before its first page is inbound "failed": no fax arrived, no fax_received.
    assert await render(fax("inbound", "failed_fs_2"), event("failed"), hook_for["fax_received"]) is None
    assert await render(fax("inbound", "failed_fs_2"), event("failed"), hook_for["fax_sent"]) is None
    for kind in ("queued", "media.processed", "sending.started", "page.sent", "retry.scheduled"):
        assert await render(fax("outbound", "sending"), event(kind), hook_for["fax_sent"]) is None
    # Each hook gets its own event only.
    assert await render(fax("outbound", "success"), event("delivered"), hook_for["fax_received"]) is None
    rendered = await render(fax("outbound", "success"), event("delivered"), hook_for["fax_sent"])
    assert rendered is not None and rendered.event_type == "fax_sent"
    assert await render(fax("inbound", "success"), event("received"), hook_for["fax_sent"]) is None
    # Fax.Plus has hooks only: a fax's own webhook URL never gets its envelope.
    assert await render(fax("outbound", "success"), event("delivered"), None) is None
