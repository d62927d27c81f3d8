"""The engine's status (trunks, devices, calls in progress) as the gateway process gets it: asked across
the pipe to the media process, whose native engine knows it; and what /metrics makes of it.

Real parts: a whole gateway with its media process on 127.0.0.1, one trunk that is the gateway itself
(it answers OPTIONS), one at a port nothing listens on, and a device that registers with digest.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import socket
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from faxgw.gateway.demo import free_port
from faxgw.gateway.engines import ipc
from faxgw.gateway.engines.base import (
    ActiveCall,
    DeviceStatus,
    EngineStatus,
    HostStatus,
    TrunkStatus,
)
from faxgw.gateway.engines.media_process import STATUS_TIMEOUT, MediaProcessEngine
from faxgw.gateway.peers import DeviceConfig, TrunkConfig
from faxgw.sip.ua import UaConfig, UserAgent

from tests.helpers.gateway import Running, gateway_config, start_running
from tests.helpers.metrics import scrape
from tests.helpers.sip import LOCALHOST

pytestmark = pytest.mark.slow
DEVICE = DeviceConfig("fax1", "device-secret", ("+15550300",), tenant="acme", keepalive=0)
PING = 0.3  # seconds between the trunks' OPTIONS


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    """The gateway with two trunks, "self" (its own SIP port) and "dead" (nothing there), and a device."""
    config = gateway_config(tmp_path / "var")
    dead = free_port(socket.SOCK_DGRAM)
    trunks = (
        TrunkConfig("self", (f"{LOCALHOST}:{config.sip_port}",), keepalive=PING),
        TrunkConfig("dead", (f"{LOCALHOST}:{dead}",), keepalive=PING),
    )
    config = dataclasses.replace(config, trunk=None, trunks=trunks, devices=(DEVICE,))
    async for started in start_running(config):
        yield started


async def status_until(running: Running, holds: Callable[[EngineStatus], bool]) -> EngineStatus:
    async with asyncio.timeout(10):
        while not holds(status := await running.gateway.engine_status()):
            await asyncio.sleep(0.05)
    return status


def trunk(status: EngineStatus, name: str) -> TrunkStatus:
    (found,) = [trunk for trunk in status.trunks if trunk.name == name]
    return found


async def test_trunks_and_a_registered_device_across_the_media_process(running: Running) -> None:
    assert isinstance(running.gateway.engine, MediaProcessEngine)  # asked over the pipe, not in process

    status = await status_until(
        running, lambda s: not trunk(s, "dead").up and trunk(s, "self").hosts[0].rtt_ms is not None
    )
    alive = trunk(status, "self")
    assert alive.up and alive.hosts[0].up and 0 < (alive.hosts[0].rtt_ms or 0) < 1000, alive
    dead = trunk(status, "dead")
    assert dead.hosts[0].up is False and dead.hosts[0].rtt_ms is None, dead
    assert status.devices == (DeviceStatus("fax1"),)  # configured, not registered
    assert status.calls == () and status.note == ""
    metrics = await scrape(running.base_url)
    assert metrics.value("faxgw_trunk_up", trunk="self") == 1
    assert metrics.value("faxgw_trunk_up", trunk="dead") == 0
    assert metrics.value("faxgw_registered_devices") == 0

    device = UserAgent(UaConfig(host=LOCALHOST, username=DEVICE.username, password=DEVICE.password))
    await device.start()
    try:
        registration = await device.register(f"sip:{LOCALHOST}:{running.gateway.config.sip_port}", expires=60)
        status = await status_until(running, lambda s: bool(s.devices[0].contacts))
        (registered,) = status.devices
        assert len(registered.contacts) == 1, registered
        assert registered.contacts[0].endswith(f"@{LOCALHOST}:{device.address[1]}"), registered
        assert registered.expires is not None and 50 <= registered.expires <= 60, registered
        assert (await scrape(running.base_url)).value("faxgw_registered_devices") == 1

        await registration.stop()  # Expires: 0
        status = await status_until(running, lambda s: not s.devices[0].contacts)
        assert status.devices == (DeviceStatus("fax1"),)
        assert (await scrape(running.base_url)).value("faxgw_registered_devices") == 0
    finally:
        device.close()


async def test_a_stuck_media_process_gets_a_status_that_says_so_in_time(running: Running) -> None:
    engine = running.gateway.engine
    assert isinstance(engine, MediaProcessEngine) and engine.pid is not None
    os.kill(engine.pid, signal.SIGSTOP)  # the media process the gateway started for this test
    try:
        began = time.monotonic()
        status = await running.gateway.engine_status()
        waited = time.monotonic() - began
        metrics = await scrape(running.base_url)  # /metrics answers too (200), without the engine's part
    finally:
        os.kill(engine.pid, signal.SIGCONT)
    assert status.trunks == () and "did not tell its status" in status.note, status
    assert STATUS_TIMEOUT <= waited < STATUS_TIMEOUT + 1, waited
    assert metrics.value("faxgw_registered_devices") == 0
    # Woken, it answers again (its late answer to the question it missed is dropped).
    again = await running.gateway.engine_status()
    assert [trunk.name for trunk in again.trunks] == ["self", "dead"] and again.note == "", again


def test_a_status_crosses_the_pipe_whole() -> None:
    status = EngineStatus(
        trunks=(TrunkStatus("t", True, (HostStatus("h:5060", True, 12.5), HostStatus("g", False))),),
        devices=(DeviceStatus("fax1", ("sip:fax1@127.0.0.1:5062",), 42), DeviceStatus("fax2")),
        calls=(ActiveCall("outbound", "t38", "t"), ActiveCall("inbound", "relay", "fax1")),
        note="",
    )
    frame = ipc.encode(ipc.Status(7, status))
    assert ipc.decode(frame[4:]) == ipc.Status(7, status)
    assert ipc.decode(ipc.encode(ipc.AskStatus(3))[4:]) == ipc.AskStatus(3)
