"""A gateway with the default config does not fetch client-given URLs from internal addresses: Telnyx
``media_url`` and Dropbox ``file_urls`` at 127.0.0.1 are refused in each provider's error shape, through
the official SDKs (gateway_config allows 127.0.0.0/8 for the other tests; here that is taken away)."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import telnyx
from dropbox_sign import ApiException, FaxSendRequest

from tests.helpers.dialects import call, dropbox_fax, telnyx_client
from tests.helpers.gateway import RECEIVER, SENDER, Running, gateway_config, start_running

REFUSAL = "127.0.0.1 is a loopback address this gateway does not fetch from (allow it with url_fetch_allow)"


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    config = dataclasses.replace(gateway_config(tmp_path / "var"), url_fetch_allow=())
    async for started in start_running(config):
        yield started


@pytest.fixture
def requests_seen() -> Iterator[tuple[str, list[str]]]:
    """A real HTTP server on 127.0.0.1 and the paths asked of it (there should be none)."""
    seen: list[str] = []

    class Recording(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            self.send_error(500)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Recording)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


async def test_telnyx_media_url_on_loopback_is_refused(
    running: Running, requests_seen: tuple[str, list[str]]
) -> None:
    url, seen = requests_seen
    client = telnyx_client(running)
    with pytest.raises(telnyx.UnprocessableEntityError) as refused:
        await call(
            client.faxes.create, connection_id="c", from_=SENDER, to=RECEIVER, media_url=f"{url}/a.pdf"
        )
    (error,) = refused.value.body["errors"]
    assert error["code"] == "file_download_failed" and error["source"] == {"pointer": "/media_url"}
    assert error["detail"] == f"The 'media_url' could not be downloaded: {REFUSAL}."
    assert seen == [] and (await call(client.faxes.list)).data == []


async def test_dropbox_file_urls_on_loopback_are_refused(
    running: Running, requests_seen: tuple[str, list[str]]
) -> None:
    url, seen = requests_seen
    api = dropbox_fax(running)
    with pytest.raises(ApiException) as refused:
        await call(api.fax_send, FaxSendRequest(recipient=RECEIVER, file_urls=[f"{url}/a.pdf"]))
    assert refused.value.status == 400
    assert refused.value.data.error.error_name == "bad_request"
    assert refused.value.data.error.error_msg == f"file_urls: {REFUSAL}"
    assert seen == [] and (await call(api.fax_list)).faxes == []
