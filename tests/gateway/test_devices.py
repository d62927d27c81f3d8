"""Devices of the native engine ([[devices]]): they register with its registrar and call it with digest.

The devices here are ``faxgw send`` and ``faxgw receive`` processes with ``--registrar``, acting as an ATA
does; the engine runs in the test's event loop on 127.0.0.1, trusting 127.0.0.1 as its trunk's network.
Last, a fax sent through the REST API of a whole gateway to a device's number reaches the device.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from faxgw.gateway.config import Config
from faxgw.gateway.demo import free_port
from faxgw.gateway.documents import page_differences
from faxgw.gateway.engines.base import CallResult, InboundCall, InboundDecision, Refusal
from faxgw.gateway.engines.native import NativeEngine
from faxgw.gateway.peers import DeviceConfig
from faxgw.sip.fax_call import FaxCallOptions, send_fax
from faxgw.sip.ua import UaConfig, UserAgent

from tests.helpers.gateway import SENDER, gateway_config, start_running
from tests.helpers.pages import make_document
from tests.helpers.sip import FAXGW, LOCALHOST, ROOT

ATA = DeviceConfig("ata1", "s3cret", ("+15550100",), keepalive=0)
DEVICE_NUMBER = "+15550300"


class Engine:
    """A NativeEngine with one device, ata1; it receives every call it is offered into ``received``."""

    def __init__(self, tmp_path: Path) -> None:
        self.config = Config(
            data_dir=tmp_path / "var",
            sip_host=LOCALHOST,
            sip_port=free_port(socket.SOCK_DGRAM),
            trunk_networks=(f"{LOCALHOST}/32",),
            unpaced_t38=True,
            devices=(ATA,),
        )
        self.engine = NativeEngine(self.config)
        self.received = tmp_path / "received.tif"
        self.offered: list[InboundCall] = []
        self.results: asyncio.Queue[CallResult] = asyncio.Queue()

    @property
    def registrar(self) -> str:
        return f"{LOCALHOST}:{self.config.sip_port}"

    async def _on_inbound(self, call: InboundCall) -> InboundDecision:
        self.offered.append(call)
        if call.device is None:
            return Refusal(403)
        return self.received, lambda page: None

    async def _on_done(self, call: InboundCall, result: CallResult) -> None:
        self.results.put_nowait(result)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[Engine]:
    started = Engine(tmp_path)
    await started.engine.start(started._on_inbound, started._on_done)
    yield started
    await started.engine.close()


@pytest.fixture
def document(tmp_path: Path) -> Path:
    path = tmp_path / "two-pages.tif"
    make_document(path, 2)
    return path


async def faxgw(*args: str | Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        FAXGW, *map(str, args), cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )


async def receiver(
    tmp_path: Path, registrar: str, password: str = "s3cret", *flags: str
) -> tuple[asyncio.subprocess.Process, str]:
    """``faxgw receive`` registered as ata1 (its "listening" line comes once it is); and that line."""
    port = free_port(socket.SOCK_DGRAM)
    process = await faxgw(
        "receive",
        "--listen",
        f"{LOCALHOST}:{port}",
        "--out",
        tmp_path / "out",
        "--json",
        "--registrar",
        registrar,
        "--username",
        "ata1",
        "--password",
        password,
        "--expires",
        "60",
        *flags,
    )
    assert process.stderr is not None
    line = (await asyncio.wait_for(process.stderr.readline(), 20)).decode()
    return process, line


async def test_faxgw_receive_registers_as_the_device_and_unregisters_at_exit(
    tmp_path: Path, engine: Engine
) -> None:
    assert await engine.engine._device_contacts("ata1") == []
    process, line = await receiver(tmp_path, engine.registrar)
    try:
        assert "listening on sip:" in line and "registered as sip:ata1@127.0.0.1" in line, line
        port = int(line.split("listening on sip:127.0.0.1:")[1].split()[0])
        assert await engine.engine._device_contacts("ata1") == [f"sip:faxgw@{LOCALHOST}:{port}"]
        assert await engine.engine._device_contacts("nobody") == []
    finally:
        process.terminate()  # SIGTERM: unregisters on the way out
        await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 0
    assert await engine.engine._device_contacts("ata1") == []


async def test_faxgw_receive_with_a_wrong_password_says_so(tmp_path: Path, engine: Engine) -> None:
    process, line = await receiver(tmp_path, engine.registrar, "wrong")
    await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 2
    assert "--registrar" in line and "403" in line, line
    assert await engine.engine._device_contacts("ata1") == []


async def test_faxgw_send_as_the_device_is_authenticated_and_marked(
    tmp_path: Path, engine: Engine, document: Path
) -> None:
    process = await faxgw(
        "send",
        document,
        "--to",
        f"sip:+15550199@{engine.registrar}",
        "--from-user",
        "+15550100",  # the device's number: from 127.0.0.1 too, it must authenticate as ata1
        "--registrar",
        engine.registrar,
        "--username",
        "ata1",
        "--password",
        "s3cret",
        "--unpaced",
        "--json",
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, stderr.decode()
    assert json.loads(stdout.decode().splitlines()[-1])["status"] == "success"
    assert [call.device for call in engine.offered] == ["ata1"]
    result = await asyncio.wait_for(engine.results.get(), 10)
    assert result.pages == 2
    assert page_differences(document, engine.received) == [0, 0]
    assert await engine.engine._device_contacts("ata1") == []  # unregistered when done


async def test_a_call_claiming_the_device_without_credentials_is_challenged(
    engine: Engine, document: Path
) -> None:
    ua = UserAgent(UaConfig(host=LOCALHOST))  # a trusted address, no credentials
    await ua.start()
    try:
        target = f"sip:+15550199@{engine.registrar}"
        claiming = await send_fax(
            ua, target, document, caller="+15550100", options=FaxCallOptions(paced=False)
        )
        assert claiming.sip_code == 401
        assert engine.offered == []
        trunk = await send_fax(ua, target, document, caller="+15557777", options=FaxCallOptions(paced=False))
        assert trunk.sip_code == 403  # the trunk's call got in (and was refused by the test's job layer)
        assert [call.device for call in engine.offered] == [None]
    finally:
        ua.close()


@pytest.mark.slow  # a two-page fax through the whole gateway
async def test_a_fax_to_the_devices_number_reaches_the_registered_device(
    tmp_path: Path, document: Path
) -> None:
    device = dataclasses.replace(ATA, numbers=(DEVICE_NUMBER,), tenant="acme")
    config = dataclasses.replace(gateway_config(tmp_path / "var"), devices=(device,))
    registrar = f"{LOCALHOST}:{config.sip_port}"
    async for running in start_running(config):
        process, line = await receiver(tmp_path, registrar, "s3cret", "--count", "1", "--unpaced")
        try:
            assert "registered as sip:ata1@" in line, line
            file_id = await running.upload(document)
            sent = await running.client.post(
                "/v1/faxes",
                json={"from": SENDER, "to": [DEVICE_NUMBER], "files": [file_id], "return_ids": True},
            )
            assert sent.status_code == 201, sent.text
            fax = await running.final(sent.json()["ids"][DEVICE_NUMBER], timeout=120)
            stdout, stderr = await asyncio.wait_for(process.communicate(), 30)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    assert (fax["status"], fax["pages"]) == ("success", {"total": 2, "transferred": 2}), fax
    assert [(attempt["route"], attempt["status"]) for attempt in fax["attempts"]] == [("ata1", "success")]
    assert process.returncode == 0, stderr.decode()
    received = json.loads(stdout.decode().splitlines()[-1])
    assert (received["status"], received["pages"]) == ("success", 2)
    assert page_differences(document, Path(received["tiff"])) == [0, 0]
