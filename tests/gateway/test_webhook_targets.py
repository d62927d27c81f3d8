"""Webhook URLs of every dialect under the webhook address policy, through the running gateway.

The test config allows 127.0.0.1 (``webhook_allow``), where the tests' receivers listen; a receiver on
127.0.0.2 stands for every internal address a tenant must not make the gateway post to.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from faxgw.gateway.config import RouteConfig

from tests.helpers.gateway import RECEIVER, SENDER, Running, gateway_config, start_running
from tests.helpers.webhooks import Receiver, Reply

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "sample.pdf"
LATER = "2099-01-01 00:00:00 +0000"
REFUSAL = (
    "127.0.0.2 is a loopback address this gateway does not post webhooks to (allow it with webhook_allow)"
)
METADATA = "http://169.254.169.254/latest/meta-data/"


async def test_every_dialect_refuses_an_internal_webhook_url_when_it_is_given(
    running: Running, inside: Receiver
) -> None:
    client = running.client
    file_id = await running.upload(SAMPLE)
    native = {"from": SENDER, "to": [RECEIVER], "files": [file_id], "send_time": LATER}
    response = await client.post("/v1/faxes", json={**native, "webhook_url": inside.url})
    assert response.status_code == 400, response.text
    assert response.json() == {"error": "invalid_request", "description": f"webhook_url: {REFUSAL}"}

    telnyx = {"connection_id": "c", "from": SENDER, "to": RECEIVER, "media_name": file_id}
    response = await client.post("/v2/faxes", json={**telnyx, "webhook_url": inside.url})
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["source"] == {"pointer": "/webhook_url"} and REFUSAL in error["detail"]

    response = await client.post("/v3/hooks", json={"target": inside.url, "event": "fax_sent"})
    assert response.status_code == 400, response.text
    assert response.json() == {"error": "invalid_request", "description": f"target: {REFUSAL}"}
    assert (await client.get("/v3/hooks")).json() == {"data": []}

    response = await client.put("/v3/account", json={"callback_url": METADATA})
    assert response.status_code == 400, response.text
    assert response.json()["error"] == {
        "error_msg": "callback_url: 169.254.169.254 is a link-local address this gateway does not post"
        " webhooks to (allow it with webhook_allow)",
        "error_name": "bad_request",
    }
    assert (await client.get("/v3/account")).json()["account"]["callback_url"] is None

    assert (await client.get("/v1/faxes")).json()["total"] == 0
    assert inside.requests == []


async def test_the_delivery_log_shows_our_reason_not_the_receivers_answer(
    running: Running, receiver: Receiver
) -> None:
    receiver.default = Reply(500, body=b"Traceback: password=hunter2 at db.internal:5432")
    file_id = await running.upload(SAMPLE)
    body = {"from": SENDER, "to": [RECEIVER], "files": [file_id], "webhook_url": receiver.url}
    response = await running.client.post("/v1/faxes", json={**body, "return_ids": True})
    assert response.status_code == 201, response.text
    fax_id = response.json()["ids"][RECEIVER]
    await running.final(fax_id)
    await receiver.wait_for(2)
    log = await running.client.get(f"/v1/faxes/{fax_id}/webhooks")
    deliveries = log.json()["deliveries"]
    assert deliveries and {(d["status_code"], d["error"]) for d in deliveries} == {(500, "HTTP 500")}
    assert "hunter2" not in log.text


@pytest.fixture
async def routed_inside(tmp_path: Path, inside: Receiver) -> AsyncIterator[Running]:
    """acme's route posts its inbound faxes' events to 127.0.0.2, which no webhook_allow has."""
    config = gateway_config(tmp_path / "var")
    route = RouteConfig(RECEIVER, "acme", webhook_url=inside.url)
    async for started in start_running(dataclasses.replace(config, routes=(route,))):
        yield started


async def test_a_routes_webhook_url_is_the_operators_and_trusted(
    routed_inside: Running, inside: Receiver
) -> None:
    running = routed_inside
    file_id = await running.upload(SAMPLE)
    body = {"from": SENDER, "to": [RECEIVER], "files": [file_id], "return_ids": True}
    # The same URL from a tenant is refused ...
    response = await running.client.post("/v1/faxes", json={**body, "webhook_url": inside.url})
    assert response.status_code == 400, response.text
    # ... from the operator's route, its inbound fax's events arrive.
    response = await running.client.post("/v1/faxes", json=body)
    assert response.status_code == 201, response.text
    inbound_id = await running.inbound()
    async with asyncio.timeout(30):
        while "received" not in {json.loads(request.body)["type"] for request in inside.requests}:
            await asyncio.sleep(0.05)
    log = (await running.client.get(f"/v1/faxes/{inbound_id}/webhooks")).json()["deliveries"]
    assert log and all(d["outcome"] == "delivered" for d in log)
