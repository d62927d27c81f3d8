"""Trunks and devices through the Asterisk engine against a real Asterisk 22 (sid chroot), configured by
our own renderer, the whole gateway (REST API, store, jobs) driving it over AMI.

Real peers on loopback: SIPp answering 503 or 486 as failing trunks, ``faxgw receive`` as the far end
behind a trunk (on 127.0.0.2, so that Asterisk tells it from the devices on 127.0.0.1 by address), and
``faxgw receive``/``faxgw send`` registering with Asterisk as devices (digest) and faxing through it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from faxgw.gateway.config import AsteriskConfig, Config, EngineKind
from faxgw.gateway.documents import page_differences
from faxgw.gateway.peers import DeviceConfig, TrunkConfig

from tests.helpers.asterisk import PLACEHOLDER, AsteriskInstance, free_port, start_asterisk
from tests.helpers.gateway import Running, gateway_config, start_running
from tests.helpers.pages import make_document
from tests.helpers.sip import FAXGW, LOCALHOST, Sipp, start_receiver

pytestmark = pytest.mark.slow

TRUNK_SIDE = "127.0.0.2"  # the trunks' far end: another address than the devices'
FAR, BUSY = "+15557000", "+15557400"
DEVICE_NUMBER = "+15550170"
Factory = Callable[[Mapping[str, str]], AsteriskInstance]


def asterisk_config(
    tmp_path: Path, trunks: tuple[TrunkConfig, ...], devices: tuple[DeviceConfig, ...] = ()
) -> Config:
    config = gateway_config(tmp_path / "var")
    return dataclasses.replace(
        config,
        engine=EngineKind.ASTERISK,
        unpaced_t38=False,
        trunk=None,
        trunks=trunks,
        devices=devices,
        asterisk=AsteriskConfig(root=Path(PLACEHOLDER), ami_port=free_port(), ami_secret="ami-test-secret"),
    )


def far_end(tmp_path: Path, *flags: str) -> tuple[subprocess.Popen, int]:
    """``faxgw receive`` for one fax on TRUNK_SIDE: the process and its port."""
    port = free_port()
    out = tmp_path / "far"
    listen = ["--listen", f"{TRUNK_SIDE}:{port}", "--out", out, "--count", "1", "--json", *flags]
    return start_receiver([FAXGW, "receive", *listen]), port


def report(process: subprocess.Popen) -> dict:
    stdout, _ = process.communicate(timeout=60)
    return json.loads(stdout.splitlines()[-1])


def leg(via: str, sip_code: int | None, reason: str, failed_over: bool) -> dict:
    return {"via": via, "sip_code": sip_code, "reason": reason, "failed_over": failed_over}


async def send(running: Running, document: Path, to: str) -> str:
    return await running.submit(await running.upload(document), to)


async def test_a_trunk_answering_503_hands_the_call_to_the_next_and_busy_does_not(
    asterisk: Factory, sipp: Sipp, tmp_path: Path
) -> None:
    """Two faxes at once: one to FAR over trunks a (503) then b (faxgw receive), one to BUSY over trunks
    busy (486) then b. The first fails over and arrives; the second ends busy on its first trunk."""
    refusing = await sipp.start("uas_reject.xml", keys={"status": "503", "reason": "Service Unavailable"})
    busy = await sipp.start("uas_reject.xml", keys={"status": "486", "reason": "Busy Here"})
    receiver, port = far_end(tmp_path)
    try:
        config = asterisk_config(
            tmp_path,
            (
                # SIPp's scenarios have no room for OPTIONS: not pinged.
                TrunkConfig("a", (f"{LOCALHOST}:{refusing.port}",), keepalive=0, destinations=(FAR,)),
                TrunkConfig("busy", (f"{LOCALHOST}:{busy.port}",), keepalive=0, destinations=(BUSY,)),
                TrunkConfig("b", (f"{TRUNK_SIDE}:{port}",), priority=1),  # pinged: faxgw receive answers
            ),
        )
        document = tmp_path / "one.tif"
        make_document(document, 1)
        async for running in start_running(start_asterisk(asterisk, config)):
            carried, refused = await asyncio.gather(
                send(running, document, FAR), send(running, document, BUSY)
            )
            busy_fax = await running.final(refused, timeout=60)
            fax = await running.final(carried, timeout=240)
        got = report(receiver)
    finally:
        if receiver.poll() is None:
            receiver.kill()
            receiver.communicate()
    assert await refusing.finished() == 0, refusing.errors()
    assert await busy.finished() == 0, busy.errors()
    assert fax["status"] == "success", fax
    (attempt,) = fax["attempts"]
    assert attempt["legs"] == [
        leg("a", 503, "503 Service Unavailable", True),
        leg("b", 200, "answered", False),
    ]
    assert attempt["route"] == "b"
    assert got["status"] == "success" and got["pages"] == 1
    assert page_differences(document, Path(got["tiff"])) == [0]

    assert busy_fax["status"] == "failed_user_busy", busy_fax
    (attempt,) = busy_fax["attempts"]
    assert attempt["legs"] == [leg("busy", 486, "486 Busy Here", False)]
