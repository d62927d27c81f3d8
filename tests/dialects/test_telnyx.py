"""The Telnyx dialect, driven by the official SDK (telnyx), unmodified: only its base_url is ours."""

from __future__ import annotations

import asyncio

import pytest
import telnyx
from faxgw.gateway.api.dialects.telnyx_ids import from_uuid, to_uuid

from tests.helpers.dialects import SAMPLE, call, telnyx_client, telnyx_until_final
from tests.helpers.gateway import EDIT, OTHER, RECEIVER, SENDER, Running
from tests.helpers.webhooks import Receiver


async def test_send_retrieve_list_delete(running: Running, samples_server: str, receiver: Receiver) -> None:
    client = telnyx_client(running)
    created = await call(
        client.faxes.create,
        connection_id="conn-1",
        from_=SENDER,
        to=RECEIVER,
        media_url=f"{samples_server}/{SAMPLE.name}",
        quality="high",
        client_state="aGF2ZSBhIG5pY2UgZGF5ID1d",
        webhook_url=receiver.url,
    )
    fax = created.data
    assert fax.record_type == "fax" and fax.id and fax.direction == "outbound"
    assert (fax.from_, fax.to, fax.connection_id) == (SENDER, RECEIVER, "conn-1")
    assert fax.status in ("queued", "media.processing", "media.processed", "sending")
    assert fax.media_url == f"{samples_server}/{SAMPLE.name}" and fax.quality == "high"
    assert fax.client_state == "aGF2ZSBhIG5pY2UgZGF5ID1d" and fax.webhook_url == receiver.url
    assert fax.created_at is not None and fax.created_at.tzinfo is not None and fax.failure_reason is None

    done = await telnyx_until_final(client, fax.id)
    assert done.status == "delivered", (done.failure_reason, done.internal_failure_reason)
    assert done.updated_at >= done.created_at

    # The gateway faxed itself: the inbound copy arrives as a received fax.
    inbound_id = await running.inbound()
    async with asyncio.timeout(30):
        while (received := (await call(client.faxes.retrieve, inbound_id)).data).status == "receiving":
            await asyncio.sleep(0.05)
    assert (received.direction, received.status, received.to) == ("inbound", "received", RECEIVER)

    listed = await call(client.faxes.list, page_size=1)
    assert len(listed.data) == 1 and listed.meta.total_pages == 2 and listed.has_next_page()
    everything = [f.id for f in await call(lambda: list(client.faxes.list(page_size=1)))]
    assert sorted(everything) == sorted([fax.id, to_uuid(inbound_id)])
    outbound = await call(client.faxes.list, filter={"direction": {"eq": "outbound"}})
    assert [f.id for f in outbound.data] == [fax.id]
    to_receiver = await call(
        client.faxes.list, filter={"to": {"eq": RECEIVER}, "direction": {"eq": "outbound"}}
    )
    assert [f.id for f in to_receiver.data] == [fax.id]

    # Another tenant sees nothing of ours.
    other = telnyx_client(running, OTHER)
    with pytest.raises(telnyx.NotFoundError):
        await call(other.faxes.retrieve, fax.id)
    assert (await call(other.faxes.list)).data == []

    assert await call(client.faxes.delete, fax.id) is None
    with pytest.raises(telnyx.NotFoundError) as missing:
        await call(client.faxes.retrieve, fax.id)
    assert missing.value.body["errors"][0]["title"] == "Resource not found"


async def test_multipart_contents_and_media_name(running: Running) -> None:
    """The SDK's create has no ``contents``: multipart as other clients send it, then by media_name."""
    response = await running.client.post(
        "/v2/faxes",
        data={"connection_id": "c", "from": SENDER, "to": RECEIVER, "quality": "very_high"},
        files={"contents": (SAMPLE.name, SAMPLE.read_bytes(), "application/pdf")},
    )
    assert response.status_code == 202, response.text
    fax = response.json()["data"]
    assert fax["quality"] == "very_high" and fax["status"] in ("queued", "media.processing", "sending")
    assert (await running.gateway.fax("acme", from_uuid(fax["id"]))).resolution == "superfine"

    file_id = await running.upload(SAMPLE)
    client = telnyx_client(running)
    by_name = (
        await call(client.faxes.create, connection_id="c", from_=SENDER, to=RECEIVER, media_name=file_id)
    ).data
    assert by_name.media_name == file_id
    assert (await running.gateway.fax("acme", from_uuid(by_name.id))).file_ids == [file_id]


@pytest.mark.parametrize(
    ("fields", "pointer"),
    [
        ({"media_url": "file:///etc/passwd"}, "/media_url"),
        ({}, "/media_url"),
        ({"media_name": "fl_nothing"}, "/media_name"),
        ({"media_name": "x", "media_url": "http://127.0.0.1/x.pdf"}, "/media_url"),
        ({"media_name": "x", "client_state": "not base64!"}, "/client_state"),
    ],
)
async def test_bad_request_is_422(running: Running, fields: dict[str, str], pointer: str) -> None:
    client = telnyx_client(running)
    with pytest.raises(telnyx.UnprocessableEntityError) as raised:
        await call(client.faxes.create, connection_id="c", from_=SENDER, to=RECEIVER, **fields)
    assert raised.value.status_code == 422
    (error,) = raised.value.body["errors"]
    assert error["code"] and error["title"] == "Unprocessable Entity" and error["detail"]
    assert error["source"]["pointer"] == pointer


async def test_bad_numbers_and_pages_are_422(running: Running) -> None:
    response = await running.client.post(
        "/v2/faxes", json={"connection_id": "c", "from": "nope", "to": RECEIVER, "media_name": "x"}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["source"] == {"pointer": "/from"}
    response = await running.client.get("/v2/faxes", params={"page[size]": "0"})
    assert response.status_code == 422
    with pytest.raises(telnyx.UnprocessableEntityError):
        await call(telnyx_client(running).faxes.list, filter={"direction": {"eq": "sideways"}})


async def test_async_client(running: Running) -> None:
    """The SDK's AsyncTelnyx, in the gateway's own event loop."""
    file_id = await running.upload(SAMPLE)
    async with telnyx.AsyncTelnyx(api_key=EDIT, base_url=f"{running.base_url}/v2", max_retries=0) as client:
        fax = (
            await client.faxes.create(connection_id="c", from_=SENDER, to=RECEIVER, media_name=file_id)
        ).data
        assert fax.status in ("queued", "media.processing", "media.processed", "sending")
        assert (await client.faxes.retrieve(fax.id)).data.id == fax.id
        assert [f.id async for f in client.faxes.list(filter={"direction": {"eq": "outbound"}})] == [fax.id]
        with pytest.raises(telnyx.NotFoundError):
            await client.faxes.delete("fx_missing")
