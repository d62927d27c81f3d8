"""What the dialect tests share: the sample document, and each provider's official SDK pointed at a
running gateway with its one setting (the README's table), unmodified otherwise."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dropbox_sign
import faxplus
import telnyx
from faxplus.configuration import Configuration as FaxPlusConfiguration

from tests.gateway.conftest import EDIT, SENDER, Running

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
