"""The provider envelopes on the wire, against a real HTTP receiver on 127.0.0.1, checked with the SDKs'
own verification code (telnyx ``webhooks.unwrap``, dropbox-sign ``EventCallbackHelper``)."""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import hashlib
import hmac
import json
import os
import stat
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import telnyx
from dropbox_sign import EventCallbackHelper, EventCallbackRequest
from faxgw.gateway.webhooks import DeliveryStore, Outcome, WebhookDispatcher, keys, verify
from faxgw.gateway.webhooks.formats import DropboxForm, SignedJson, TelnyxJson

from tests.helpers.webhooks import SECRET, Receiver, Reply, logged, wait_until

Build = Callable[..., WebhookDispatcher]
TELNYX_BODY = json.dumps(
    {
        "data": {
            "event_type": "fax.delivered",
            "id": "evt_1",
            "payload": {"fax_id": "fax_1"},
            "record_type": "event",
        }
    }
).encode()


@pytest.fixture
def signing_key(tmp_path: Path) -> keys.Ed25519PrivateKey:
    return keys.load_or_create(tmp_path / keys.KEY_FILE)


def build(
    make_dispatcher: Build, store: DeliveryStore, signing_key: keys.Ed25519PrivateKey
) -> WebhookDispatcher:
    return make_dispatcher(
        store,
        formats={"faxplus": SignedJson(SECRET), "telnyx": TelnyxJson(signing_key), "dropbox": DropboxForm()},
    )


def test_key_is_made_once_private_to_the_user_and_kept(tmp_path: Path) -> None:
    path = tmp_path / keys.KEY_FILE
    first = keys.load_or_create(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert keys.public_key(keys.load_or_create(path)) == keys.public_key(first)
    path.write_bytes(b"short")
    with pytest.raises(ValueError, match="Ed25519"):
        keys.load_or_create(path)


def test_nodes_starting_at_once_all_get_the_one_key(tmp_path: Path) -> None:
    """faxgw serve --workers starts its nodes together: none may read the file half written."""

    def start(path: Path, together: threading.Barrier) -> str:
        together.wait()
        return keys.public_key(keys.load_or_create(path))

    for round in range(20):
        path = tmp_path / str(round) / keys.KEY_FILE
        path.parent.mkdir()
        together = threading.Barrier(8)
        with ThreadPoolExecutor(8) as nodes:
            made = list(nodes.map(start, [path] * 8, [together] * 8))
        assert made == [keys.public_key(keys.load_or_create(path))] * 8
        assert os.listdir(path.parent) == [keys.KEY_FILE]  # no file left half way


async def test_telnyx_webhook_passes_the_sdks_signature_check_on_every_attempt(
    receiver: Receiver, store: DeliveryStore, make_dispatcher: Build, signing_key: keys.Ed25519PrivateKey
) -> None:
    receiver.script = [Reply(500)]  # the first attempt fails: the retry must carry its own meta and signature
    dispatcher = build(make_dispatcher, store, signing_key)
    await dispatcher.submit_body(
        "evt_1", "fax_1", "tenant_1", receiver.url, TELNYX_BODY, event_type="fax.delivered", format="telnyx"
    )
    runner = asyncio.create_task(dispatcher.run())  # sends the retry when it falls due
    await receiver.wait_for(2)
    await wait_until(lambda: logged(store, lambda log: log[-1].outcome is Outcome.DELIVERED))
    sdk = telnyx.Telnyx(
        api_key="unused", base_url="http://127.0.0.1:9/v2", public_key=keys.public_key(signing_key)
    )
    for attempt, request in enumerate(receiver.requests, start=1):
        event = sdk.webhooks.unwrap(request.body.decode(), headers=request.headers)
        assert event.data.event_type == "fax.delivered"
        assert event.data.payload.fax_id == "fax_1"
        assert (event.meta.attempt, event.meta.delivered_to) == (attempt, receiver.url)
    other = keys.public_key(keys.Ed25519PrivateKey.generate())
    with pytest.raises(ValueError, match="Signature verification failed"):
        sdk.webhooks.unwrap(
            receiver.requests[0].body.decode(), headers=receiver.requests[0].headers, key=other
        )
    await dispatcher.stop()
    await runner


async def test_dropbox_callback_is_a_form_field_and_needs_the_acknowledgement(
    receiver: Receiver, store: DeliveryStore, make_dispatcher: Build, signing_key: keys.Ed25519PrivateKey
) -> None:
    api_key = "token-of-the-account"
    event_time = "1700000000"
    event_hash = hmac.new(api_key.encode(), f"{event_time}fax_sent".encode(), hashlib.sha256).hexdigest()
    body = json.dumps(
        {"event": {"event_time": event_time, "event_type": "fax_sent", "event_hash": event_hash}}
    )
    receiver.script = [Reply(200, body=b"ok")]  # 200 without Dropbox's acknowledgement: not received
    receiver.default = Reply(200, body=b"Hello API Event Received")
    dispatcher = build(make_dispatcher, store, signing_key)
    await dispatcher.submit_body(
        "evt_2", "fax_1", "tenant_1", receiver.url, body.encode(), event_type="fax_sent", format="dropbox"
    )
    first = (await store.log_for_fax("fax_1"))[0]
    assert (first.outcome, first.status_code) == (Outcome.RETRY, None)
    assert "Hello API Event Received" in (first.error or "")
    runner = asyncio.create_task(dispatcher.run())
    await wait_until(lambda: logged(store, lambda log: log[-1].outcome is Outcome.DELIVERED))
    await dispatcher.stop()
    await runner
    request = receiver.requests[-1]
    assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode() + request.body
    )
    [part] = message.iter_parts()
    assert part.get_param("name", header="content-disposition") == "json"
    callback = EventCallbackRequest.from_json(part.get_content())
    assert EventCallbackHelper.is_valid(api_key, callback)
    assert not EventCallbackHelper.is_valid("another key", callback)


async def test_faxplus_webhook_is_the_json_as_built_with_our_signature(
    receiver: Receiver, store: DeliveryStore, make_dispatcher: Build, signing_key: keys.Ed25519PrivateKey
) -> None:
    body = b'{"hook":{"event":"fax_sent"},"data":{"id":"fax_1"}}'
    dispatcher = build(make_dispatcher, store, signing_key)
    await dispatcher.submit_body(
        "evt_3", "fax_1", "tenant_1", receiver.url, body, event_type="fax_sent", format="faxplus"
    )
    [request] = receiver.requests
    assert request.body == body
    assert verify(request.body, request.headers, SECRET)


async def test_unknown_format_is_refused_before_anything_is_stored(
    receiver: Receiver, store: DeliveryStore, make_dispatcher: Build, signing_key: keys.Ed25519PrivateKey
) -> None:
    dispatcher = build(make_dispatcher, store, signing_key)
    with pytest.raises(ValueError, match="unknown webhook format"):
        await dispatcher.submit_body(
            "evt_4", "fax_1", "tenant_1", receiver.url, b"{}", event_type="x", format="fax2"
        )
    assert await store.deliveries_for_fax("fax_1") == []
