"""Several trunks through the whole gateway (REST API, store, jobs, the native engine in its media process):
failover within an attempt, and the outcome per trunk in the fax object (``attempts[].legs``, ``route``).

Real peers on 127.0.0.1: SIPp answering 503 or 486 as a failing trunk, ``faxgw receive`` as the far end
behind the trunk that carries the call, a port with nothing behind it as a trunk that is down.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from faxgw.gateway.config import Config
from faxgw.gateway.demo import free_port
from faxgw.gateway.documents import page_differences
from faxgw.gateway.peers import DeviceConfig, TrunkConfig

from tests.helpers.gateway import Running, gateway_config, start_running
from tests.helpers.pages import make_document
from tests.helpers.sip import LOCALHOST, Sipp

FAR = "+15557000"
Receiver = Callable[..., tuple[subprocess.Popen, int]]


def with_trunks(config: Config, *trunks: TrunkConfig) -> Config:
    return dataclasses.replace(config, trunk=None, trunks=trunks)


def trunk(name: str, port: int, **settings: object) -> TrunkConfig:
    return TrunkConfig(name, (f"{LOCALHOST}:{port}",), **settings)  # type: ignore[arg-type]


def nowhere() -> int:
    """A port with nothing listening: a trunk that never answers."""
    return free_port(socket.SOCK_DGRAM)


async def send(running: Running, document: Path, to: str = FAR, retries: int = 0) -> dict:
    fax_id = await running.submit(await running.upload(document), to, retries=retries)
    return await running.final(fax_id, timeout=90)


def received(far_end: subprocess.Popen) -> dict:
    stdout, _ = far_end.communicate(timeout=30)
    return json.loads(stdout.splitlines()[-1])


def leg(via: str, sip_code: int | None, reason: str, failed_over: bool) -> dict:
    return {"via": via, "sip_code": sip_code, "reason": reason, "failed_over": failed_over}


@pytest.fixture
def document(tmp_path: Path) -> Path:
    path = tmp_path / "two-pages.tif"
    make_document(path, 2)
    return path


@pytest.mark.slow  # SIPp and a two-page fax in real time
async def test_a_trunk_answering_503_hands_the_call_to_the_next(
    sipp: Sipp, fax_receiver: Receiver, tmp_path: Path, document: Path
) -> None:
    refusing = await sipp.start("uas_reject.xml", keys={"status": "503", "reason": "Service Unavailable"})
    far_end, port = fax_receiver()
    config = with_trunks(
        gateway_config(tmp_path / "var"),
        trunk("a", refusing.port, keepalive=0),  # SIPp's scenario has no room for OPTIONS
        trunk("b", port, priority=1),  # pinged: faxgw receive answers OPTIONS
    )
    async for running in start_running(config):
        fax = await send(running, document)
    assert await refusing.finished() == 0, refusing.errors()
    assert fax["status"] == "success", fax
    (attempt,) = fax["attempts"]
    assert attempt["legs"] == [
        leg("a", 503, "503 Service Unavailable", True),
        leg("b", 200, "answered", False),
    ]
    assert attempt["route"] == "b"
    assert attempt["summary"].startswith("503 on trunk a; "), attempt["summary"]
    far = received(far_end)
    assert far["status"] == "success" and far["pages"] == 2
    sent = config.data_dir / "faxes" / fax["id"] / "document.tif"
    assert page_differences(sent, Path(far["tiff"])) == [0, 0]


@pytest.mark.slow  # a two-page fax in real time
async def test_a_trunk_down_is_skipped_without_waiting_for_a_timeout(
    fax_receiver: Receiver, tmp_path: Path, document: Path
) -> None:
    far_end, port = fax_receiver()
    config = with_trunks(
        gateway_config(tmp_path / "var"),
        trunk("a", nowhere(), keepalive=0.3),  # its first ping goes unanswered: down after 0.3 s
        trunk("b", port, priority=1),
    )
    async for running in start_running(config):
        await asyncio.sleep(1.0)
        started = time.monotonic()
        fax = await send(running, document)
        took = time.monotonic() - started
    assert fax["status"] == "success", fax
    assert fax["attempts"][0]["legs"] == [
        leg("a", None, "down (no answer to OPTIONS)", True),
        leg("b", 200, "answered", False),
    ]
    assert took < 20  # an INVITE to trunk a would have waited 32 s for its timeout first
    assert received(far_end)["pages"] == 2


async def test_busy_on_the_first_trunk_does_not_fail_over(sipp: Sipp, tmp_path: Path, document: Path) -> None:
    busy = await sipp.start("uas_reject.xml", keys={"status": "486", "reason": "Busy Here"})
    config = with_trunks(
        gateway_config(tmp_path / "var"),
        trunk("a", busy.port, keepalive=0),
        trunk("b", nowhere(), keepalive=0, priority=1),  # tried, it would hold the call 32 s
    )
    async for running in start_running(config):
        fax = await send(running, document)
    assert await busy.finished() == 0, busy.errors()
    assert fax["status"] == "failed_user_busy", fax
    (attempt,) = fax["attempts"]
    assert attempt["legs"] == [leg("a", 486, "486 Busy Here", False)]
    assert attempt["route"] == "a"


@pytest.mark.slow  # a two-page fax in real time
async def test_a_number_goes_only_to_the_trunks_that_carry_it(
    fax_receiver: Receiver, tmp_path: Path, document: Path
) -> None:
    far_end, port = fax_receiver()
    config = with_trunks(
        gateway_config(tmp_path / "var"),
        # First by priority, but only for UK numbers: tried, it would hold the call 32 s.
        trunk("uk", nowhere(), keepalive=0, destinations=("+44",)),
        trunk("nanp", port, priority=1, destinations=("^\\+1[0-9]{7,10}$",)),
    )
    async for running in start_running(config):
        fax = await send(running, document)
        nobody = await send(running, document, to="+33123456789")
    assert fax["status"] == "success", fax
    assert fax["attempts"][0]["legs"] == [leg("nanp", 200, "answered", False)]
    assert received(far_end)["pages"] == 2
    assert nobody["status"] == "failed_destination_not_supported" and nobody["attempts"] == []
    assert "+33123456789" in nobody["error"]["description"], nobody["error"]


async def test_a_device_not_registered_is_retried_then_fails_saying_so(
    tmp_path: Path, document: Path
) -> None:
    ata = DeviceConfig("ata1", "s3cret", ("+15550300",), tenant="acme", keepalive=0)
    config = dataclasses.replace(gateway_config(tmp_path / "var"), devices=(ata,))
    async for running in start_running(config):
        fax = await send(running, document, to="+15550300", retries=1)
    assert fax["status"] == "failed_no_answer", fax
    assert "ata1" in fax["error"]["description"] and "not registered" in fax["error"]["description"]
    assert len(fax["attempts"]) == 2  # retried, as the fax's policy says
    for attempt in fax["attempts"]:
        assert attempt["hangup_cause"] == "device_not_registered"
        assert attempt["legs"] == [leg("ata1", None, "not registered", True)]
        assert attempt["route"] is None
