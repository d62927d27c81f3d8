"""One fax, every view at once: sent through one provider's SDK, read through the native API and all three
SDKs with each one's statuses, while each provider's webhooks reach the same receiver in their envelopes."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

import telnyx
from dropbox_sign import AccountUpdateRequest, FaxResponse
from faxgw.gateway.api.dialects.telnyx_ids import from_uuid
from faxplus import FaxesApi, FilesApi, OutboxApi, PayloadOutbox

from tests.helpers.dialects import (
    SAMPLE,
    UNROUTED,
    accounts,
    call,
    dropbox_fax,
    faxplus_client,
    hook,
    payload_of,
    telnyx_client,
    telnyx_send,
)
from tests.helpers.dialects import callback as faxplus_callback
from tests.helpers.dialects import parse as dropbox_callback
from tests.helpers.gateway import EDIT, RECEIVER, SENDER, Running
from tests.helpers.webhooks import Received, Receiver, Reply

#: Every receiver path answers as Dropbox Sign wants; the other envelopes take any 2xx.
ACKNOWLEDGED = Reply(200, body=b"Hello API Event Received")


def path_of(request: Received) -> str:
    return request.request_line.split()[1]


async def subscribe_all(running: Running, receiver: Receiver) -> None:
    """Fax.Plus hooks and the Dropbox callback URL, each at its own path of the one receiver."""
    receiver.default = ACKNOWLEDGED
    client = faxplus_client(running)
    await hook(client, f"{receiver.url}/faxplus", "fax_sent")
    await hook(client, f"{receiver.url}/faxplus", "fax_received")
    await call(accounts(running).account_update, AccountUpdateRequest(callback_url=f"{receiver.url}/dropbox"))


async def views(running: Running, fax_id: str) -> dict[str, Any]:
    """The fax's status as each API shows it."""
    native = (await running.client.get(f"/v1/faxes/{fax_id}")).json()
    faxplus = await call(FaxesApi(faxplus_client(running)).get_fax, "self", fax_id)
    telnyx_fax = (await call(telnyx_client(running).faxes.retrieve, fax_id)).data
    dropbox = (await call(dropbox_fax(running).fax_get, fax_id)).fax
    return {
        "native": native["status"],
        "faxplus": str(faxplus.status),
        "telnyx": (telnyx_fax.status, telnyx_fax.failure_reason),
        "dropbox": dropbox.transmissions[0].status_code,
        "pages": (native["pages"]["transferred"], faxplus.pages),
    }


async def webhooks_by_path(running: Running, receiver: Receiver, count: int) -> dict[str, list[Any]]:
    """The first ``count`` webhooks, each checked and read as its provider's SDK reads it."""
    public_key = (await running.client.get("/v1/webhook-keys")).json()["telnyx_public_key"]
    unwrapper = telnyx.Telnyx(api_key=EDIT, base_url=f"{running.base_url}/v2", public_key=public_key)
    faxplus = faxplus_client(running)
    seen: dict[str, list[Any]] = defaultdict(list)
    for request in await receiver.wait_for(count, timeout=30):
        where = path_of(request).rsplit("/", 1)[-1]
        if where == "telnyx":
            event = unwrapper.webhooks.unwrap(request.body.decode(), headers=request.headers)
            seen[where].append((event.data.event_type, payload_of(event)["fax_id"]))
        elif where == "faxplus":
            event = faxplus_callback(faxplus, request)
            seen[where].append((event.hook.event, event.data.id, str(event.data.status)))
        else:
            assert where == "dropbox", request.request_line
            parsed, body = dropbox_callback(request)
            fax = FaxResponse.from_dict(body["fax"])
            seen[where].append((parsed.event.event_type, fax.fax_id, fax.transmissions[0].status_code))
    return seen


async def test_one_fax_sent_through_telnyx_in_every_view_and_every_envelope(
    running: Running, receiver: Receiver
) -> None:
    await subscribe_all(running, receiver)
    client = telnyx_client(running)
    fax = await telnyx_send(running, RECEIVER, f"{receiver.url}/telnyx")
    fax_id = from_uuid(fax.id)  # Telnyx shows our ids as UUIDs (telnyx_ids); the other APIs as they are
    # While it is on its way, every view already has it, each in its own words (Fax.Plus: in the outbox).
    # Read at once, side by side: the fax takes a second or more to convert and send.
    native, outbox, pending, dropbox = await asyncio.gather(
        running.client.get(f"/v1/faxes/{fax_id}"),
        call(OutboxApi(faxplus_client(running)).get_outbox_fax, "self", fax_id),
        call(client.faxes.retrieve, fax.id),
        call(dropbox_fax(running).fax_get, fax_id),
    )
    assert native.json()["status"] in ("queued", "processing", "sending")
    assert str(outbox.status) in ("submitted", "converting", "sending")
    assert pending.data.status in ("queued", "media.processing", "media.processed", "sending")
    assert dropbox.fax.transmissions[0].status_code == "transmitting"
    inbound_id = await running.inbound()
    await running.final(fax_id)
    await running.final(inbound_id)

    assert await views(running, fax_id) == {
        "native": "success",
        "faxplus": "success",
        "telnyx": ("delivered", None),
        "dropbox": "success",
        "pages": (2, 2),
    }
    assert await views(running, inbound_id) == {
        "native": "success",
        "faxplus": "success",
        "telnyx": ("received", None),
        "dropbox": "success",
        "pages": (2, 2),
    }

    # Telnyx: the four outbound events (the inbound route has no webhook); Fax.Plus and Dropbox: the sent
    # and the received fax, as the tenant's standing subscriptions.
    seen = await webhooks_by_path(running, receiver, 8)
    assert seen["telnyx"] == [
        ("fax.queued", fax.id),
        ("fax.media.processed", fax.id),
        ("fax.sending.started", fax.id),
        ("fax.delivered", fax.id),
    ]
    assert sorted(seen["faxplus"]) == sorted(
        [("fax_sent", fax_id, "success"), ("fax_received", inbound_id, "success")]
    )
    assert sorted(seen["dropbox"]) == sorted(
        [("fax_sent", fax_id, "success"), ("fax_received", inbound_id, "success")]
    )
    await asyncio.sleep(0.3)
    assert len(receiver.requests) == 8


async def test_a_fax_refused_by_the_far_end_fails_in_every_view_and_every_envelope(
    running: Running, receiver: Receiver
) -> None:
    await subscribe_all(running, receiver)
    client = faxplus_client(running)
    path = (await call(FilesApi(client).upload_file, "self", fax_file=str(SAMPLE))).path
    payload = PayloadOutbox(from_number=SENDER, to=[UNROUTED], files=[path], return_ids=True)
    fax_id = (await call(OutboxApi(client).send_fax, "self", body=payload)).ids[UNROUTED]
    await running.final(fax_id)

    assert await views(running, fax_id) == {
        "native": "failed_unallocated_number",
        "faxplus": "failed_unallocated_number",
        "telnyx": ("failed", "receiver_unallocated_number"),
        "dropbox": "error_bad_destination",
        "pages": (0, 0),
    }
    # Sent through Fax.Plus: no Telnyx webhook_url, so Fax.Plus's and Dropbox's subscriptions only.
    seen = await webhooks_by_path(running, receiver, 2)
    assert seen == {
        "faxplus": [("fax_sent", fax_id, "failed_unallocated_number")],
        "dropbox": [("fax_blacklisted", fax_id, "error_bad_destination")],
    }
