"""The media process: calls run in a process of their own, so nothing the gateway process does delays
them, and when that process dies or talks nonsense its calls are settled and a new one takes over.

Real parts only: a whole gateway (REST API on a real port, SQLite, the media process), a ``faxgw
receive`` process as the far end, G.711 over 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from faxgw.gateway.engines.media_process import LOST, MediaProcessEngine
from faxgw.gateway.service import Gateway
from faxgw.sip.fax_call import T38Policy

from tests.helpers.gateway import RECEIVER, Running, gateway_config, start_running
from tests.helpers.pages import make_document
from tests.helpers.sip import LOCALHOST

pytestmark = pytest.mark.slow
FAR = "+15550000"  # a number behind the trunk: the far-end receiver


@pytest.fixture
def far_end(fax_receiver: Callable[..., tuple[subprocess.Popen, int]]) -> tuple[int, subprocess.Popen]:
    """``faxgw receive --audio`` for one fax (G.711 only: a two-page fax takes ~20 s)."""
    process, port = fax_receiver("--audio")
    return port, process


@pytest.fixture
def two_pages(tmp_path: Path) -> Path:
    path = tmp_path / "two-pages.tif"
    make_document(path, 2)
    return path


def media_engine(running: Running) -> MediaProcessEngine:
    engine = running.gateway.engine
    assert isinstance(engine, MediaProcessEngine)  # the default for engine = "native"
    return engine


async def send(running: Running, document: Path, to: str) -> str:
    return await running.submit(await running.upload(document), to)


async def until(running: Running, fax_id: str, done: object) -> dict:
    async with asyncio.timeout(60):
        while not done(fax := (await running.client.get(f"/v1/faxes/{fax_id}")).json()):
            await asyncio.sleep(0.05)
    return fax


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


class Stalls:
    """Blocks the event loop it runs in for ``length`` s of every ``period`` s, as a busy API or a
    locked store would: ``time.sleep`` lets nothing else in that loop run."""

    def __init__(self, length: float, period: float) -> None:
        self.length, self.period = length, period
        self.stalled: list[float] = []
        self._handle: asyncio.TimerHandle | None = None

    def start(self, after: float) -> None:
        self._handle = asyncio.get_running_loop().call_later(after, self._stall)

    def _stall(self) -> None:
        started = time.monotonic()
        time.sleep(self.length)
        self.stalled.append(time.monotonic() - started)
        self.start(self.period - self.length)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()


async def test_pages_arrive_while_the_gateway_process_is_blocked(
    tmp_path: Path, far_end: tuple[int, subprocess.Popen], two_pages: Path
) -> None:
    """The gateway's event loop stalls for 2.5 s of every 5 s of the call: the call's media does not.
    With the engine in the gateway's process, T.30 gives up on this fax (failed_fs_20, failed_fs_49)."""
    port, receiver = far_end
    config = dataclasses.replace(
        gateway_config(tmp_path / "var"), trunk=f"{LOCALHOST}:{port}", t38=T38Policy.AUDIO
    )
    stalls = Stalls(2.5, 5.0)
    async for running in start_running(config):
        media_engine(running)
        fax_id = await send(running, two_pages, FAR)
        await until(running, fax_id, lambda fax: fax["status"] == "sending")
        stalls.start(after=1.0)
        try:
            fax = await running.final(fax_id, timeout=120)
        finally:
            stalls.stop()
        assert len(stalls.stalled) >= 3 and sum(stalls.stalled) >= 7.5, stalls.stalled  # during the call
        assert (fax["status"], fax["pages"]) == ("success", {"total": 2, "transferred": 2}), fax
    stdout, _ = receiver.communicate(timeout=30)  # the far end's own word on what arrived
    received = json.loads(stdout)
    assert (received["status"], received["pages"], received["t38"]) == ("success", 2, False)


@pytest.fixture
async def looped(tmp_path: Path) -> AsyncIterator[Running]:
    """The gateway faxing itself over G.711: both ends of the call in its one media process."""
    async for running in start_running(
        dataclasses.replace(gateway_config(tmp_path / "var"), t38=T38Policy.AUDIO)
    ):
        yield running


def kill(engine: MediaProcessEngine) -> str:
    assert engine.pid is not None
    os.kill(engine.pid, signal.SIGKILL)
    return "the media process closed its connection"


def spoil(engine: MediaProcessEngine) -> str:
    """A frame the media process never sent: it is as good as dead to the gateway."""
    assert engine._child is not None
    body = b'{"type":1}'
    engine._child.reader.feed_data(len(body).to_bytes(4, "big") + body)
    return "malformed frame from the media process: unknown message type 1"


@pytest.mark.parametrize("trouble", [kill, spoil], ids=["killed", "malformed frame"])
async def test_a_lost_media_process_settles_its_calls_and_another_takes_over(
    looped: Running, two_pages: Path, tmp_path: Path, trouble: object
) -> None:
    engine = media_engine(looped)
    first_pid = engine.pid
    assert first_pid is not None
    outbound_id = await send(looped, two_pages, RECEIVER)
    await until(looped, outbound_id, lambda fax: fax["pages"]["transferred"] == 1)
    inbound_id = await looped.inbound()
    reason = trouble(engine)  # type: ignore[operator]

    outbound = await looped.final(outbound_id, timeout=30)
    inbound = await looped.final(inbound_id, timeout=30)
    assert (outbound["status"], outbound["pages"]["transferred"]) == ("failed", 1), outbound
    assert [(a["status"], a["hangup_cause"], a["pages_sent"]) for a in outbound["attempts"]] == [
        ("failed", LOST, 1)
    ]
    assert outbound["error"]["description"] == f"The media process ended during the call: {reason}."
    # The page that arrived is kept, and the fax says it is partial (not in progress forever).
    assert (inbound["status"], inbound["pages"]["transferred"]) == ("partially_received", 1), inbound
    assert gone(first_pid)

    # A new media process took over; the next fax goes through it.
    async with asyncio.timeout(10):
        while engine.pid in (None, first_pid):
            await asyncio.sleep(0.05)
    one_page = tmp_path / "one-page.tif"
    make_document(one_page, 1)
    again = await looped.final(await send(looped, one_page, RECEIVER), timeout=60)
    assert (again["status"], again["pages"]["transferred"]) == ("success", 1), again


async def test_the_media_process_goes_with_the_gateway(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    gateway = Gateway(gateway_config(tmp_path / "var"))
    await gateway.start()
    engine = gateway.engine
    assert isinstance(engine, MediaProcessEngine) and engine.pid is not None
    pid = engine.pid
    assert not gone(pid)
    await gateway.stop()
    assert gone(pid)
    assert "killed" not in caplog.text  # it exited by itself once the gateway closed its side


async def test_a_media_process_that_cannot_start_fails_the_start_saying_why(tmp_path: Path) -> None:
    config = gateway_config(tmp_path / "var")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind((LOCALHOST, config.sip_port))
        gateway = Gateway(config)
        with pytest.raises(OSError, match=r"(?i)address already in use"):
            await gateway.start()
        engine = gateway.engine
        assert isinstance(engine, MediaProcessEngine) and engine.pid is None  # none left running
        await gateway.stop()
