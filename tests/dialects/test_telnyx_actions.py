"""The Telnyx SDK's fax surface beyond create/retrieve/list/delete: its key errors on every call, UUID ids,
``actions.cancel``, ``actions.refresh`` and the temporary media links (``media_url`` of a received fax,
``stored_media_url``, ``preview_url``), through the official SDK, unmodified."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import telnyx
from faxgw.gateway.api.dialects import telnyx_links
from faxgw.gateway.api.dialects.telnyx_ids import from_uuid, to_uuid

from tests.helpers.dialects import SAMPLE, call, telnyx_client, telnyx_send, telnyx_until_final
from tests.helpers.gateway import READ_ONLY, RECEIVER, SENDER, Running
from tests.helpers.webhooks import Receiver

MISSING = "0d3a0b8e-5b1c-4c47-9a1e-6a3f0c2b7d11"  # a UUID, but not one of ours

#: Every call of the SDK's fax and media resources, as (name, call on a client).
CALLS: list[tuple[str, Callable[[telnyx.Telnyx], Any]]] = [
    (
        "faxes.create",
        lambda c: c.faxes.create(connection_id="c", from_=SENDER, to=RECEIVER, media_name="m"),
    ),
    ("faxes.retrieve", lambda c: c.faxes.retrieve(MISSING)),
    ("faxes.list", lambda c: c.faxes.list()),
    ("faxes.delete", lambda c: c.faxes.delete(MISSING)),
    ("faxes.actions.cancel", lambda c: c.faxes.actions.cancel(MISSING)),
    ("faxes.actions.refresh", lambda c: c.faxes.actions.refresh(MISSING)),
    ("media.upload", lambda c: c.media.upload(media_url="https://example.com/a.pdf")),
    ("media.list", lambda c: c.media.list()),
    ("media.retrieve", lambda c: c.media.retrieve("m")),
    ("media.update", lambda c: c.media.update("m", ttl_secs=60)),
    ("media.delete", lambda c: c.media.delete("m")),
    ("media.download", lambda c: c.media.download("m")),
]
#: The calls that need the ``edit`` scope (the read-only key gets 403 for them).
EDITING = {
    "faxes.create",
    "faxes.delete",
    "faxes.actions.cancel",
    "faxes.actions.refresh",
    "media.upload",
}


@pytest.mark.parametrize(("name", "method"), CALLS, ids=[name for name, _ in CALLS])
async def test_every_call_answers_a_bad_key_in_telnyxs_shape(
    running: Running, name: str, method: Callable[[telnyx.Telnyx], Any]
) -> None:
    with pytest.raises(telnyx.AuthenticationError) as unknown:
        await call(method, telnyx_client(running, "not-a-key"))
    assert unknown.value.body["errors"][0]["code"] == "10009"
    if name in EDITING:
        with pytest.raises(telnyx.PermissionDeniedError) as read_only:
            await call(method, telnyx_client(running, READ_ONLY))
        assert read_only.value.body["errors"][0]["code"] == "10010"


async def test_other_paths_are_telnyx_errors_after_the_key_check(running: Running) -> None:
    async with running.as_key("not-a-key") as stranger:
        response = await stranger.get("/v2/calls")
    assert response.status_code == 401 and response.json()["errors"][0]["code"] == "10009"
    response = await running.client.get("/v2/calls")
    assert response.status_code == 404
    (error,) = response.json()["errors"]
    assert error["title"] == "Resource not found" and "/v2/faxes" in error["detail"]
    response = await running.client.put("/v2/faxes", json={})
    assert response.status_code == 405 and "POST" in response.headers["allow"]
    assert response.json()["errors"][0]["title"] == "Method Not Allowed"


async def test_ids_are_uuids_and_only_ours_are_found(running: Running) -> None:
    client = telnyx_client(running)
    fax = (
        await call(
            client.faxes.create,
            connection_id="c",
            from_=SENDER,
            to=RECEIVER,
            media_name=await running.upload(SAMPLE),
        )
    ).data
    shown = uuid.UUID(fax.id)
    assert shown.version == 8 and shown.variant == uuid.RFC_4122  # RFC 9562 5.8
    gateway_id = from_uuid(fax.id)
    assert gateway_id is not None and to_uuid(gateway_id) == fax.id
    assert (await running.gateway.fax("acme", gateway_id)).id == gateway_id
    assert (await call(client.faxes.retrieve, fax.id)).data.id == fax.id
    assert [f.id for f in (await call(client.faxes.list)).data] == [fax.id]
    with pytest.raises(telnyx.NotFoundError) as missing:
        await call(client.faxes.retrieve, MISSING)
    assert missing.value.body["errors"][0]["code"] == "10005"


async def test_cancel_a_queued_fax(running: Running) -> None:
    client = telnyx_client(running)
    media = await running.upload(SAMPLE)
    fax = (
        await call(client.faxes.create, connection_id="c", from_=SENDER, to=RECEIVER, media_name=media)
    ).data
    cancelled = await call(client.faxes.actions.cancel, fax.id)
    assert cancelled.data.result == "ok"
    done = (await call(client.faxes.retrieve, fax.id)).data
    assert (done.status, done.failure_reason, done.internal_failure_reason) == (
        "failed",
        "sender_canceled",
        "cancelled",
    )
    with pytest.raises(telnyx.UnprocessableEntityError) as again:
        await call(client.faxes.actions.cancel, fax.id)
    assert "finished" in again.value.body["errors"][0]["detail"]
    with pytest.raises(telnyx.NotFoundError):
        await call(client.faxes.actions.cancel, MISSING)
    await asyncio.sleep(0.5)
    assert (await call(client.faxes.retrieve, fax.id)).data.status == "failed"  # never dialled after all


async def test_a_received_fax_has_a_media_url_anyone_can_get_until_it_expires(
    running: Running, receiver: Receiver
) -> None:
    client = telnyx_client(running)
    sent = await telnyx_send(running, RECEIVER, receiver.url)
    assert (await telnyx_until_final(client, sent.id)).status == "delivered"
    inbound = to_uuid(await running.inbound())
    async with asyncio.timeout(30):
        while (received := (await call(client.faxes.retrieve, inbound)).data).status != "received":
            await asyncio.sleep(0.05)
    assert received.media_url is not None and received.media_url.startswith(running.gateway.config.base_url)
    async with httpx.AsyncClient() as anyone:  # no API key: the link is the credential
        document = await anyone.get(received.media_url)
        assert document.status_code == 200 and document.content.startswith(b"%PDF")
        forged = received.media_url.replace("signature=", "signature=0")
        refused = await anyone.get(forged)
        assert refused.status_code == 403 and refused.json()["errors"][0]["title"] == "Forbidden"
        record = await running.gateway.fax("acme", from_uuid(inbound) or "")
        expired = await anyone.get(telnyx_links.link(running.gateway.config, record, "pdf", time.time() - 1))
        assert expired.status_code == 403

    before = time.time()
    assert (await call(client.faxes.actions.refresh, inbound)).data.result == "ok"
    refreshed = (await call(client.faxes.retrieve, inbound)).data.media_url
    expires = int(parse_qs(urlsplit(refreshed).query)["expires"][0])
    assert expires >= int(before) + telnyx_links.LINK_SECONDS


async def test_store_media_and_store_preview_give_links(running: Running, samples_server: str) -> None:
    client = telnyx_client(running)
    fax = (
        await call(
            client.faxes.create,
            connection_id="c",
            from_=SENDER,
            to=RECEIVER,
            media_url=f"{samples_server}/{SAMPLE.name}",
            store_media=True,
            store_preview=True,
            preview_format="tiff",
        )
    ).data
    done = await telnyx_until_final(client, fax.id)
    assert done.status == "delivered" and done.stored_media_url and done.preview_url
    async with httpx.AsyncClient() as anyone:
        stored = await anyone.get(done.stored_media_url)
        preview = await anyone.get(done.preview_url)
    assert stored.status_code == 200 and stored.content.startswith(b"%PDF")
    assert preview.status_code == 200 and preview.content[:4] in (b"II*\0", b"MM\0*")
    plain = (
        await call(
            client.faxes.create,
            connection_id="c",
            from_=SENDER,
            to=RECEIVER,
            media_url=f"{samples_server}/{SAMPLE.name}",
        )
    ).data
    plain_done = await telnyx_until_final(client, plain.id)
    assert plain_done.stored_media_url is None and plain_done.preview_url is None


async def test_media_upload_gives_a_media_name_a_fax_takes(running: Running, samples_server: str) -> None:
    client = telnyx_client(running)
    media = (await call(client.media.upload, media_url=f"{samples_server}/{SAMPLE.name}")).data
    assert media.media_name and media.created_at
    fax = (
        await call(
            client.faxes.create, connection_id="c", from_=SENDER, to=RECEIVER, media_name=media.media_name
        )
    ).data
    assert fax.media_name == media.media_name
    with pytest.raises(telnyx.UnprocessableEntityError) as named:
        await call(client.media.upload, media_url=f"{samples_server}/{SAMPLE.name}", media_name="mine")
    assert named.value.body["errors"][0]["source"]["pointer"] == "/media_name"
    with pytest.raises(telnyx.APIStatusError) as listed:  # the rest of Media Storage: said so
        await call(client.media.list)
    assert listed.value.status_code == 405 and "not kept" in listed.value.body["errors"][0]["detail"]
    with pytest.raises(telnyx.NotFoundError) as retrieved:
        await call(client.media.retrieve, media.media_name)
    assert "not kept" in retrieved.value.body["errors"][0]["detail"]
