"""The Asterisk engine against a real Asterisk 22 (sid chroot), configured by our own renderer: the
gateway, over AMI, has Asterisk fax our native engine with T.38, and receive a fax from it."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from faxgw.gateway.config import AsteriskConfig, Config, EngineKind, NumberConfig, RouteConfig, TenantConfig
from faxgw.gateway.documents import page_differences
from faxgw.gateway.service import Gateway, NewFax
from faxgw.gateway.store import FaxQuery
from faxgw.sip.fax_terms import T38Policy

from tests.helpers.asterisk import PLACEHOLDER, SCRIPT, final, free_port, start_asterisk
from tests.helpers.pages import make_document

FAXGW = Path(sys.executable).parent / "faxgw"
SENDER, REMOTE, DID = "+15550100", "+15550300", "+15550199"

pytestmark = pytest.mark.slow


def gateway_config(tmp_path: Path, *, trunk_port: int, test_peer: str | None = None) -> Config:
    return Config(
        data_dir=tmp_path / "var",
        engine=EngineKind.ASTERISK,
        sip_host="127.0.0.1",
        sip_port=free_port(socket.SOCK_DGRAM),
        trunk=f"127.0.0.1:{trunk_port}",
        t38=T38Policy.AUTO,
        numbers=(NumberConfig(SENDER, 2),),
        routes=(RouteConfig(DID, "acme"),),
        tenants=(TenantConfig("acme", "ACME", {"token": ["read", "edit"]}),),
        asterisk=AsteriskConfig(
            root=Path(PLACEHOLDER), ami_port=free_port(), ami_secret="ami-test-secret", test_peer=test_peer
        ),
    )


@contextlib.contextmanager
def native_receiver(tmp_path: Path) -> Iterator[tuple[int, Callable[[], dict]]]:
    """``faxgw receive`` for one fax on a free port (Asterisk's trunk points there): yields the port
    and a function returning the receiver's JSON report once it has finished. Killed if still running."""
    port = free_port(socket.SOCK_DGRAM)
    command = [
        FAXGW,
        "receive",
        "--listen",
        f"127.0.0.1:{port}",
        "--out",
        tmp_path / "received",
        "--count",
        "1",
        "--json",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def report() -> dict:
        stdout, _ = process.communicate(timeout=60)
        return json.loads(stdout.strip().splitlines()[-1])

    try:
        assert process.stderr is not None and "listening" in process.stderr.readline()
        yield port, report
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()


async def send_one(config: Config, document: Path) -> tuple[Gateway, str]:
    """A started gateway (Asterisk engine) with one fax of ``document`` submitted from SENDER to REMOTE."""
    gateway = Gateway(config)
    await gateway.start()
    upload = await gateway.save_file("acme", document.name, document.read_bytes())
    (fax,) = await gateway.submit("acme", NewFax(from_numbers=[SENDER], to=[REMOTE], file_ids=[upload.id]))
    return gateway, fax.id


@pytest.mark.parametrize("t38", [True, False], ids=["t38", "g711"])
async def test_asterisk_sends_to_our_native_engine(asterisk, tmp_path: Path, t38: bool) -> None:
    make_document(tmp_path / "one.tif", 1)
    with native_receiver(tmp_path) as (port, report):
        config = gateway_config(tmp_path, trunk_port=port)
        if not t38:
            config = dataclasses.replace(config, t38=T38Policy.AUDIO)  # T.38 off on Asterisk's endpoints
        gateway, fax_id = await send_one(start_asterisk(asterisk, config), tmp_path / "one.tif")
        try:
            result = await final(gateway, fax_id)
            attempts = await gateway.store.attempts(fax_id)
        finally:
            await gateway.stop()
        got = report()
    assert result["status"] == "success", (result, attempts)
    assert result["t38"] is t38 and result["pages_transferred"] == 1
    assert (got["status"], got["pages"], got["t38"]) == ("success", 1, t38)
    assert page_differences(tmp_path / "one.tif", Path(got["tiff"])) == [0]


@pytest.mark.parametrize("t38", [True, False], ids=["t38", "g711"])
async def test_asterisk_receives_from_our_native_engine_with_pages_streamed(
    asterisk, tmp_path: Path, t38: bool
) -> None:
    from faxgw.sip.fax_call import FaxCallOptions, send_fax
    from faxgw.sip.ua import UaConfig, UserAgent

    make_document(tmp_path / "two.tif", 2)
    peer_port = free_port(socket.SOCK_DGRAM)
    config = gateway_config(
        tmp_path, trunk_port=free_port(socket.SOCK_DGRAM), test_peer=f"127.0.0.1:{peer_port}"
    )
    if not t38:
        config = dataclasses.replace(config, t38=T38Policy.AUDIO)  # T.38 off on Asterisk's endpoints
    config = start_asterisk(asterisk, config)
    gateway = Gateway(config)
    await gateway.start()
    native = UserAgent(UaConfig(host="127.0.0.1", port=peer_port, user="remote"))
    await native.start()
    try:
        outcome = await send_fax(
            native,
            f"sip:{DID}@127.0.0.1:{config.sip_port}",
            tmp_path / "two.tif",
            options=FaxCallOptions(t38=T38Policy.AUTO if t38 else T38Policy.AUDIO),
            caller=REMOTE,
        )
        faxes, _ = await gateway.store.query_faxes("acme", FaxQuery(direction="inbound"))
        assert len(faxes) == 1
        fax = await final(gateway, faxes[0].id)
        events = await gateway.store.events(fax["id"])
    finally:
        native.close()
        await gateway.stop()
    assert outcome.status == "success" and outcome.t38 is t38
    assert (fax["status"], fax["pages_transferred"], fax["from_number"], fax["to_number"]) == (
        "success",
        2,
        REMOTE,
        DID,
    )
    assert fax["t38"] is t38
    pages = [event for event in events if event.type == "page.received"]
    done = next(event for event in events if event.type == "received")
    assert [event.payload["page"] for event in pages] == [1, 2]
    # Streamed while the call was up: page 1 was announced well before the fax ended.
    assert pages[0].created_at < done.created_at - 3
    assert page_differences(tmp_path / "two.tif", Path(fax["document"])) == [0, 0]
    assert (Path(fax["document"]).parent / "received.pdf").is_file()


async def test_asterisk_restarted_mid_fax_settles_the_job(
    asterisk, asterisk_root: Path, tmp_path: Path
) -> None:
    """Asterisk goes away during page 2 and comes back: the AMI link reconnects (with back-off), the
    call is gone, and the job is settled with the pages seen - not lost, not left 'sending'."""
    make_document(tmp_path / "three.tif", 3)
    with native_receiver(tmp_path) as (port, _):
        config = start_asterisk(asterisk, gateway_config(tmp_path, trunk_port=port))
        etc_inside = str(config.asterisk.root / "etc")
        gateway, fax_id = await send_one(config, tmp_path / "three.tif")
        try:
            async with asyncio.timeout(120):
                while (await gateway.store.get_fax(fax_id)).pages_transferred < 1:
                    await asyncio.sleep(0.2)
            chroot = [SCRIPT, asterisk_root, etc_inside]
            subprocess.run([chroot[0], "stop", *chroot[1:]], check=True, capture_output=True, timeout=60)
            await asyncio.sleep(2)
            subprocess.run([chroot[0], "start", *chroot[1:]], check=True, capture_output=True, timeout=60)
            result = await final(gateway, fax_id, timeout=120)
            attempts = await gateway.store.attempts(fax_id)
        finally:
            await gateway.stop()
            subprocess.run([SCRIPT, "stop", asterisk_root, etc_inside], capture_output=True, timeout=60)
    assert result["status"] == "partially_sent", (result, attempts)
    assert result["pages_transferred"] >= 1 and result["completed_at"] is not None
    assert attempts[0].status == "partially_sent" and attempts[0].ended_at is not None
