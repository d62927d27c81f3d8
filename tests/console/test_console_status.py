"""The console's trunk and device status (``Gateway.engine_status`` across the media process): trunks up or
down with their qualify time, and only the signed-in tenant's own devices."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from faxgw.gateway.demo import free_port
from faxgw.gateway.peers import DeviceConfig, TrunkConfig

from tests.helpers.console import signed_in
from tests.helpers.gateway import EDIT, OTHER, Running, gateway_config, start_running
from tests.helpers.sip import LOCALHOST

pytestmark = pytest.mark.asyncio
DEVICES = (
    DeviceConfig("acme-fax", "device-secret", ("+15550300",), tenant="acme", keepalive=0),
    DeviceConfig("other-fax", "device-secret", ("+15550400",), tenant="other", keepalive=0),
)


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    """Two trunks, "self" (the gateway's own SIP port, which answers OPTIONS) and "dead", and a device of
    each tenant."""
    config = gateway_config(tmp_path / "var")
    trunks = (
        TrunkConfig("self", (f"{LOCALHOST}:{config.sip_port}",), keepalive=0.3),
        TrunkConfig("dead", (f"{LOCALHOST}:{free_port(socket.SOCK_DGRAM)}",), keepalive=0.3),
    )
    config = dataclasses.replace(config, trunk=None, trunks=trunks, devices=DEVICES)
    async for started in start_running(config):
        yield started


async def test_trunks_and_the_tenants_own_devices(running: Running) -> None:
    async with httpx.AsyncClient(base_url=running.base_url) as anonymous:
        assert (await anonymous.get("/console/api/status")).status_code == 401
    async with signed_in(running, EDIT) as (client, _):
        async with asyncio.timeout(10):
            while True:
                status = (await client.get("/console/api/status")).json()
                trunks = {trunk["name"]: trunk for trunk in status["trunks"]}
                # A trunk counts as up until its first OPTIONS goes unanswered.
                if trunks["self"]["hosts"][0]["rtt_ms"] is not None and not trunks["dead"]["up"]:
                    break
                await asyncio.sleep(0.05)
        assert trunks["self"]["up"] and trunks["dead"]["hosts"][0]["rtt_ms"] is None
        assert status["devices"] == [{"username": "acme-fax", "contacts": [], "expires": None}]
        assert status["calls"] == 0
    async with signed_in(running, OTHER) as (client, _):
        status = (await client.get("/console/api/status")).json()
        assert [device["username"] for device in status["devices"]] == ["other-fax"]
