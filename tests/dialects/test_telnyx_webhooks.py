"""Telnyx-style webhooks from a real gateway to a real receiver, checked as the telnyx SDK's users check
them: ``client.webhooks.unwrap()`` with the gateway's public key."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import telnyx
from faxgw.gateway.api.dialects.telnyx_ids import from_uuid, to_uuid
from faxgw.gateway.config import ConfigError, RouteConfig

from tests.helpers.dialects import UNROUTED, payload_of, telnyx_client, telnyx_send, telnyx_until_final
from tests.helpers.gateway import EDIT, RECEIVER, SENDER, Running, gateway_config, start_running
from tests.helpers.webhooks import Receiver


@pytest.fixture
async def running(tmp_path: Path, receiver: Receiver) -> AsyncIterator[Running]:
    """The gateway, whose inbound route posts Telnyx-style webhooks to the receiver."""
    config = gateway_config(tmp_path / "var")
    route = RouteConfig(RECEIVER, "acme", webhook_url=receiver.url, webhook_format="telnyx")
    async for started in start_running(dataclasses.replace(config, routes=(route,))):
        yield started


async def unwrapped(running: Running, receiver: Receiver, count: int) -> list[Any]:
    """The first ``count`` webhooks, each checked with the public key the gateway publishes."""
    public_key = (await running.client.get("/v1/webhook-keys")).json()["telnyx_public_key"]
    client = telnyx.Telnyx(api_key=EDIT, base_url=f"{running.base_url}/v2", public_key=public_key)
    requests = await receiver.wait_for(count, timeout=30)
    return [client.webhooks.unwrap(r.body.decode(), headers=r.headers) for r in requests]


async def test_a_sent_fax_and_its_inbound_copy_in_telnyx_events(running: Running, receiver: Receiver) -> None:
    client = telnyx_client(running)
    fax = await telnyx_send(running, RECEIVER, receiver.url, connection_id="conn-7", client_state="c3RhdGU=")
    media = fax.media_name
    assert (await telnyx_until_final(client, fax.id)).status == "delivered"
    inbound_id = await running.inbound()
    await running.final(inbound_id)

    # Outbound: queued, media.processed, sending.started, delivered; inbound: received.
    events = await unwrapped(running, receiver, 5)
    by_fax: dict[str, list[Any]] = {}
    for event in events:
        by_fax.setdefault(payload_of(event)["fax_id"], []).append(event)
    sent = [e.data.event_type for e in by_fax[fax.id]]
    assert sent == ["fax.queued", "fax.media.processed", "fax.sending.started", "fax.delivered"]
    # The SDK knows these four: each arrives as its own typed model.
    assert [type(e).__name__ for e in by_fax[fax.id]] == [
        "FaxQueued",
        "FaxMediaProcessed",
        "FaxSendingStarted",
        "FaxDelivered",
    ]
    delivered = by_fax[fax.id][-1]
    assert delivered.data.payload.status == "delivered" and delivered.data.payload.page_count == 2
    assert delivered.data.payload.call_duration_secs is not None and delivered.data.record_type == "event"
    for event in by_fax[fax.id]:
        payload = event.data.payload
        assert (payload.direction, payload.from_, payload.to) == ("outbound", SENDER, RECEIVER)
        assert (payload.connection_id, payload.client_state, payload.media_name) == (
            "conn-7",
            "c3RhdGU=",
            media,
        )
        assert event.meta.attempt == 1 and event.meta.delivered_to == receiver.url
    [received] = by_fax[to_uuid(inbound_id)]
    assert received.data.event_type == "fax.received"
    payload = payload_of(received)
    assert (payload["direction"], payload["status"], payload["page_count"]) == ("inbound", "received", 2)
    # A temporary link, fetched as the receiver would: with no API key.
    async with httpx.AsyncClient() as anyone:
        document = await anyone.get(payload["media_url"])
    assert document.status_code == 200 and document.content.startswith(b"%PDF")

    # The delivery log names Telnyx's event types.
    log = (await running.client.get(f"/v1/faxes/{from_uuid(fax.id)}/webhooks")).json()["deliveries"]
    assert [d["type"] for d in log] == sent and {d["outcome"] for d in log} == {"delivered"}


async def test_a_refused_number_ends_in_fax_failed_with_telnyxs_reason(
    running: Running, receiver: Receiver
) -> None:
    client = telnyx_client(running)
    fax = await telnyx_send(running, UNROUTED, receiver.url)
    assert (await telnyx_until_final(client, fax.id)).status == "failed"
    events = await unwrapped(running, receiver, 4)
    assert [e.data.event_type for e in events] == [
        "fax.queued",
        "fax.media.processed",
        "fax.sending.started",
        "fax.failed",
    ]
    failed = events[-1].data.payload
    assert (failed.status, failed.failure_reason) == ("failed", "receiver_unallocated_number")
    assert failed.internal_failure_reason == "failed_unallocated_number"
    await asyncio.sleep(0.2)
    assert len(receiver.requests) == 4  # no inbound fax: nothing else


def test_a_route_names_only_an_envelope_it_can_have() -> None:
    with pytest.raises(ConfigError, match="webhook_format"):
        RouteConfig(RECEIVER, "acme", webhook_url="http://127.0.0.1:9/x", webhook_format="faxplus")
