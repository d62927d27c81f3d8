"""The dialect tests' shared fixtures: a running gateway that faxes itself, and the real HTTP receiver
that webhooks are sent to."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.dialects.clients import SAMPLE
from tests.gateway.conftest import Running, gateway_config, start_running
from tests.webhooks.conftest import receiver  # noqa: F401  (re-exported as a fixture)


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    """The gateway with the test config: an outbound fax to RECEIVER comes back in for tenant acme."""
    async for started in start_running(gateway_config(tmp_path / "var")):
        yield started


@pytest.fixture
def samples_server() -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 serving samples/: the base URL of ``media_url``s and ``file_urls``."""

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(SAMPLE.parent)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
