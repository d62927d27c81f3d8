"""What the dialect tests share: the sample document, each provider's official SDK pointed at a running
gateway with its one setting (the README's table), unmodified otherwise, and webhooks read as each
provider's receiver reads them."""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import dropbox_sign
import faxplus
import telnyx
from dropbox_sign import (
    AccountApi,
    EventCallbackRequest,
)
from faxgw.gateway.domain import FaxStatus
from faxgw.gateway.store import FaxRecord
from faxgw.gateway.webhooks import verify
from faxplus import ApiClient, Webhook, WebhooksApi
from faxplus.configuration import Configuration as FaxPlusConfiguration

from tests.helpers.gateway import EDIT, RECEIVER, SENDER, Running
from tests.helpers.webhooks import SECRET, Received

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "sample.pdf"  # two pages
UNROUTED = "+15550142"  # our own engine answers 404 for it: failed_unallocated_number


async def call(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """The sync SDKs run in a thread: the gateway runs in the test's event loop."""
    return await asyncio.to_thread(function, *args, **kwargs)


def faxplus_client(running: Running, token: str = EDIT, tmp: Path | None = None) -> faxplus.ApiClient:
    # Configuration is a singleton-by-default in the SDK (TypeWithDefault): a copy per test is ours.
    conf = FaxPlusConfiguration()
    conf.host = f"{running.base_url}/v3"
    conf.access_token = token
    if tmp is not None:
        conf.temp_folder_path = str(tmp)
    return faxplus.ApiClient(configuration=conf)


def telnyx_client(running: Running, token: str = EDIT) -> telnyx.Telnyx:
    return telnyx.Telnyx(api_key=token, base_url=f"{running.base_url}/v2", max_retries=0)


def dropbox_fax(running: Running, token: str = EDIT) -> dropbox_sign.FaxApi:
    # The API key is the basic-auth user name, as with Dropbox Sign.
    configuration = dropbox_sign.Configuration(host=f"{running.base_url}/v3", username=token)
    return dropbox_sign.FaxApi(dropbox_sign.ApiClient(configuration))


async def telnyx_until_final(client: telnyx.Telnyx, fax_id: str, timeout: float = 60) -> Any:
    """The fax once delivered or failed, polled through the SDK; before that, only sending statuses."""
    seen = []
    async with asyncio.timeout(timeout):
        while True:
            fax = (await call(client.faxes.retrieve, fax_id)).data
            if not seen or seen[-1] != fax.status:
                seen.append(fax.status)
            if fax.status in ("delivered", "failed"):
                assert set(seen) <= {"queued", "media.processing", "media.processed", "sending", fax.status}
                return fax
            await asyncio.sleep(0.05)


async def telnyx_send(running: Running, to: str, webhook_url: str, **fields: Any) -> Any:
    """The sample, uploaded, sent through the Telnyx SDK by media_name with a webhook_url: the new Fax."""
    media = await running.upload(SAMPLE)
    client = telnyx_client(running)
    fields.setdefault("connection_id", "c")
    created = await call(
        client.faxes.create, from_=SENDER, to=to, media_name=media, webhook_url=webhook_url, **fields
    )
    return created.data


def fax(status: str) -> FaxRecord:
    """A stored outbound fax in ``status``, for rendering it without a call."""
    return FaxRecord(
        id="fx1", tenant_id="acme", direction="outbound", from_number=SENDER, to_number=RECEIVER,
        status=FaxStatus(status), created_at=0.0, updated_at=0.0,
    )  # fmt: skip


def accounts(running: Running, token: str = EDIT) -> AccountApi:
    return AccountApi(dropbox_fax(running, token).api_client)


def parse(request: Received) -> tuple[EventCallbackRequest, dict[str, Any]]:
    """The callback as a receiver reads it: the form field ``json``, as the SDK's model and as plain JSON."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode() + request.body
    )
    [part] = message.iter_parts()
    assert part.get_param("name", header="content-disposition") == "json"
    text = part.get_content()
    return EventCallbackRequest.from_json(text), json.loads(text)


async def hook(client: ApiClient, target: str, event: str) -> str:
    return (await call(WebhooksApi(client).create_webhook, body=Webhook(target=target, event=event))).id


def callback(client: ApiClient, request: Received) -> Any:
    """The callback as the SDK reads it, once its signature checks out."""
    assert request.request_line.startswith("POST ")
    assert verify(request.body, request.headers, SECRET)
    return client._ApiClient__deserialize(json.loads(request.body), "WebhookCallback")


def payload_of(event: Any) -> dict[str, Any]:
    """The payload as JSON: the SDK's union has no model for fax.received, which it leaves a dict."""
    payload = event.data.payload
    return payload if isinstance(payload, dict) else payload.to_dict()


@contextmanager
def serving_directory(directory: Path) -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 serving ``directory``: its base URL, for the ``with`` block."""

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
