"""Schemathesis against the running gateway's /openapi.json: requests generated from the schema, valid and
not, to every operation of every dialect, with a key that may read and edit, through all of its phases
(examples, coverage, fuzzing, stateful). No answer may be a server error, and every answer must be one the
schema declares: status, content type, headers, body. The checks left out, and why, are in
``schemathesis.toml`` beside this file.

The gateway is a whole one (native engine, SQLite, uvicorn on 127.0.0.1), run in a thread of its own.
Its trunk is a closed port on 127.0.0.1, and it connects to no address a request names (``url_fetch_deny``
and ``webhook_deny`` everything): generated faxes fail at once, and nothing leaves the machine.
``EXAMPLES`` bounds the examples per operation: about a minute on two cores.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from faxgw.gateway.demo import free_port

from tests.helpers.gateway import EDIT, gateway_config, start_running

EXAMPLES = 100
CONFIG = Path(__file__).with_name("schemathesis.toml")
EVERYWHERE = ("0.0.0.0/0", "::/0")
#: Schemathesis's console script, beside this Python (it has no ``python -m`` entry of its own).
ST = Path(sys.executable).with_name("st")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The gateway's API, served from a thread (the test itself waits on a subprocess)."""
    config = dataclasses.replace(
        gateway_config(tmp_path_factory.mktemp("schemathesis") / "var"),
        trunk=f"127.0.0.1:{free_port(socket.SOCK_DGRAM)}",  # nothing listens there
        url_fetch_allow=(),
        url_fetch_deny=EVERYWHERE,
        webhook_allow=(),
        webhook_deny=EVERYWHERE,
    )
    loop = asyncio.new_event_loop()
    started: concurrent.futures.Future[str] = concurrent.futures.Future()
    stop = asyncio.Event()

    async def serve() -> None:
        try:
            async for running in start_running(config):
                started.set_result(running.base_url)
                await stop.wait()
        except BaseException as error:
            if not started.done():
                started.set_exception(error)
            raise

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    try:
        yield started.result(timeout=60)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=60)
        loop.close()


def test_no_server_error_and_every_answer_as_documented(base_url: str, tmp_path: Path) -> None:
    command = [
        str(ST),
        "--config-file",
        str(CONFIG),
        "--no-color",
        "run",
        f"{base_url}/openapi.json",
        "--header",
        f"Authorization: Bearer {EDIT}",
        "--max-examples",
        str(EXAMPLES),
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--report-dir",
        str(tmp_path),  # not the working directory
    ]
    run = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    # The report names each failure with a curl command that repeats it, and the seed of the run.
    assert run.returncode == 0, run.stdout[-20_000:] + run.stderr[-5_000:]
    assert " passed" in run.stdout and "Server error" not in run.stdout
