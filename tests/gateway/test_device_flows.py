"""A fax machine behind an ATA faxes through the gateway, every part real: the device is a ``faxgw send``
process registering with the gateway and authenticating its INVITE, the gateway runs whole (REST API,
store, jobs, native engine), and the trunk is a ``faxgw receive`` process on another port."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from faxgw.gateway.documents import page_differences
from faxgw.gateway.peers import DeviceConfig, Relay

from tests.helpers.gateway import gateway_config, start_running
from tests.helpers.pages import make_document
from tests.helpers.sip import FAXGW, LOCALHOST, ROOT

DEVICE_NUMBER, EXTERNAL = "+15550300", "+15557000"
ATA = DeviceConfig("ata1", "s3cret", (DEVICE_NUMBER,), tenant="acme", keepalive=0)


async def device_sends(document: Path, gateway_sip: str, *flags: str) -> dict:
    """``faxgw send`` as the ATA: registered, its INVITE authenticated; what it printed at the end."""
    process = await asyncio.create_subprocess_exec(
        FAXGW,
        "send",
        str(document),
        "--to",
        f"sip:{EXTERNAL}@{gateway_sip}",
        "--from-user",
        DEVICE_NUMBER,
        "--registrar",
        gateway_sip,
        "--username",
        ATA.username,
        "--password",
        ATA.password,
        "--json",
        *flags,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, stderr.decode()
    return json.loads(stdout.decode().splitlines()[-1])


@pytest.mark.slow
async def test_store_and_forward_delivers_the_devices_pages_to_the_trunk_unchanged(
    tmp_path: Path, fax_receiver: Callable[..., tuple[subprocess.Popen, int]]
) -> None:
    far_end, port = fax_receiver()  # the trunk's far end
    config = dataclasses.replace(
        gateway_config(tmp_path / "var"),
        trunk=f"{LOCALHOST}:{port}",
        trunk_networks=(f"{LOCALHOST}/32",),
        devices=(ATA,),
    )
    document = tmp_path / "three-pages.tif"
    make_document(document, 3)
    async for running in start_running(config):
        sent = await device_sends(document, f"{LOCALHOST}:{config.sip_port}", "--unpaced")
        assert sent["status"] == "success" and sent["pages"] == 3
        (relayed,) = (await running.client.get("/v1/faxes", params={"direction": "outbound"})).json()["faxes"]
        assert relayed["origin"]["device"] == "ata1" and relayed["to"] == EXTERNAL
        final = await running.final(relayed["id"], timeout=120)
        assert final["status"] == "success", final
        assert final["from"] == DEVICE_NUMBER and final["pages"] == {"total": 3, "transferred": 3}
    stdout, _ = far_end.communicate(timeout=30)
    received = json.loads(stdout.splitlines()[-1])
    assert received["status"] == "success" and received["pages"] == 3
    assert page_differences(document, Path(received["tiff"])) == [0, 0, 0]


@pytest.mark.slow
async def test_real_time_relay_joins_a_g711_device_to_a_t38_trunk_and_records_the_fax(
    tmp_path: Path, fax_receiver: Callable[..., tuple[subprocess.Popen, int]]
) -> None:
    far_end, port = fax_receiver("--t38")  # the trunk's far end moves the call to T.38
    config = dataclasses.replace(
        gateway_config(tmp_path / "var"),
        trunk=f"{LOCALHOST}:{port}",
        trunk_networks=(f"{LOCALHOST}/32",),
        devices=(dataclasses.replace(ATA, relay=Relay.REAL_TIME),),
    )
    document = tmp_path / "two-pages.tif"
    make_document(document, 2)
    async for running in start_running(config):
        # The fax machine behind a plain ATA line: G.711 only, paced as a real line is.
        sent = await device_sends(document, f"{LOCALHOST}:{config.sip_port}", "--audio")
        assert sent["status"] == "success" and sent["pages"] == 2
        (relayed,) = (await running.client.get("/v1/faxes", params={"direction": "outbound"})).json()["faxes"]
        final = await running.final(relayed["id"], timeout=60)
    assert final["origin"]["relay"] == "real_time" and final["origin"]["device"] == "ata1"
    assert final["status"] == "success", final
    assert final["pages"] == {"total": 2, "transferred": 2} and final["t38"] is True
    (attempt,) = final["attempts"]
    assert attempt["status"] == "success" and attempt["summary"]
    stdout, _ = far_end.communicate(timeout=30)
    received = json.loads(stdout.splitlines()[-1])
    assert received["status"] == "success" and received["t38"] is True
    assert page_differences(document, Path(received["tiff"])) == [0, 0]
