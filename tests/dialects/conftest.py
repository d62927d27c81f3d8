"""The dialect tests' fixtures: a real HTTP server of sample documents (the running gateway that faxes
itself and the webhook receiver are tests/conftest.py's)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.helpers.dialects import SAMPLE


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
