"""A device's fax relayed in real time by the native engine (a ``Bridge`` decision): the device's call is
answered once a trunk leg answers, and the fax goes across while both are up.

Real parts on 127.0.0.1: the device is ``faxgw send`` registered as ata1 (G.711 only, as a fax machine
behind a plain ATA line), the trunks are a user agent answering 503 and ``faxgw receive --t38``; the
engine runs in the test's event loop, or in its media process.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from faxgw.gateway.config import Config
from faxgw.gateway.demo import free_port
from faxgw.gateway.documents import page_differences
from faxgw.gateway.engines.base import (
    Bridge,
    CallResult,
    InboundCall,
    InboundDecision,
    LegResult,
    Route,
)
from faxgw.gateway.engines.media_process import MediaProcessEngine
from faxgw.gateway.engines.native import NativeEngine
from faxgw.gateway.peers import DeviceConfig, Relay, TrunkConfig
from faxgw.sip.call import IncomingCall
from faxgw.sip.fax_terms import CallStatus, T38Policy
from faxgw.sip.ua import UaConfig, UserAgent

from tests.helpers.pages import make_document
from tests.helpers.sip import FAXGW, LOCALHOST, ROOT, start_receiver

ATA = DeviceConfig("ata1", "s3cret", ("+15550100",), keepalive=0, relay=Relay.REAL_TIME)
FAR = "+15550199"
FAR_IDENT = "+1 555 0199"


@pytest.fixture
async def refusing_trunk() -> AsyncIterator[int]:
    """A trunk that answers every INVITE 503 (it fails as a trunk: the next route is tried)."""
    ua = UserAgent(UaConfig(host=LOCALHOST), on_invite=lambda call: call.reject(503))
    await ua.start()
    yield ua.address[1]
    ua.close()


@pytest.fixture
async def busy_trunk() -> AsyncIterator[int]:
    def busy(call: IncomingCall) -> None:
        call.reject(486)

    ua = UserAgent(UaConfig(host=LOCALHOST), on_invite=busy)
    await ua.start()
    yield ua.address[1]
    ua.close()


@pytest.fixture
def t38_receiver(tmp_path: Path) -> Iterator[tuple[int, Callable[[], dict]]]:
    """``faxgw receive --t38`` for one fax behind a trunk; its JSON line once it has exited."""
    port = free_port(socket.SOCK_DGRAM)
    listen, out = f"{LOCALHOST}:{port}", tmp_path / "far"
    process = start_receiver(
        [
            FAXGW,
            "receive",
            "--listen",
            listen,
            "--out",
            out,
            "--count",
            "1",
            "--json",
            "--t38",
            "--ident",
            FAR_IDENT,
        ]
    )

    def result() -> dict:
        stdout, _ = process.communicate(timeout=30)
        return json.loads(stdout.splitlines()[0])

    yield port, result
    if process.poll() is None:
        process.kill()
    process.communicate()


def config(tmp_path: Path, trunks: dict[str, int]) -> Config:
    return Config(
        data_dir=tmp_path / "var",
        sip_host=LOCALHOST,
        sip_port=free_port(socket.SOCK_DGRAM),
        trunk_networks=(f"{LOCALHOST}/32",),
        devices=(ATA,),
        trunks=tuple(TrunkConfig(name, (f"{LOCALHOST}:{port}",)) for name, port in trunks.items()),
    )


class Relaying:
    """The job layer's part, played by the test: every device call is relayed to FAR over ``routes``."""

    def __init__(self, routes: tuple[Route, ...]) -> None:
        self.routes = routes
        self.offered: list[InboundCall] = []
        self.results: asyncio.Queue[CallResult] = asyncio.Queue()

    async def on_inbound(self, call: InboundCall) -> InboundDecision:
        self.offered.append(call)
        return Bridge(self.routes, to_number=FAR, from_number=ATA.numbers[0])

    async def on_done(self, call: InboundCall, result: CallResult) -> None:
        self.results.put_nowait(result)


async def device_sends(engine_port: int, document: Path) -> dict:
    """``faxgw send`` as ata1, G.711 only, to FAR through the engine; its JSON line."""
    registrar = f"{LOCALHOST}:{engine_port}"
    process = await asyncio.create_subprocess_exec(
        *map(str, [FAXGW, "send", document, "--to", f"sip:{FAR}@{registrar}", "--from-user", ATA.numbers[0]]),
        *["--registrar", registrar, "--username", "ata1", "--password", "s3cret", "--audio", "--json"],
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 120)
    return json.loads(stdout.decode().splitlines()[-1]) if stdout else {"stderr": stderr.decode()}


@pytest.mark.slow
async def test_a_device_fax_relayed_in_real_time_fails_over_and_crosses_the_gateway(
    tmp_path: Path, refusing_trunk: int, t38_receiver: tuple[int, Callable[[], dict]]
) -> None:
    port, far_result = t38_receiver
    document = tmp_path / "two-pages.tif"
    make_document(document, 2)
    # The second route faxes without ECM (as learned for this callee): the gateway holds to it.
    relaying = Relaying((Route("first"), Route("second", t38=T38Policy.T38, ecm=False)))
    engine = NativeEngine(config(tmp_path, {"first": refusing_trunk, "second": port}))
    await engine.start(relaying.on_inbound, relaying.on_done)
    second = engine.trunks.get("second")
    assert second is not None
    carried: list[int] = []

    async def watch() -> None:  # the relayed call counts against the trunk's max_calls while it lasts
        while True:
            carried.append(second.calls)
            await asyncio.sleep(0.5)

    watching = asyncio.ensure_future(watch())
    try:
        device = await device_sends(engine.sip_address[1], document)
        result = await asyncio.wait_for(relaying.results.get(), 10)
        assert max(carried) == 1 and second.calls == 0
    finally:
        watching.cancel()
        await engine.close()
    far = far_result()

    assert [call.device for call in relaying.offered] == ["ata1"]
    assert device["status"] == "success" and device["pages"] == 2 and device["t38"] is False, device
    assert far["status"] == "success" and far["t38"] is True and far["pages"] == 2, far
    assert page_differences(document, Path(far["tiff"])) == [0, 0]
    assert result.status is CallStatus.SUCCESS, result
    assert (result.pages, result.t38, result.bit_rate, result.ecm, result.sip_code) == (
        2,
        True,
        14400,
        False,
        200,
    )
    assert result.remote_ident == FAR_IDENT
    assert result.legs == (
        LegResult("first", 503, "503 Service Unavailable", failed_over=True),
        LegResult("second", 200, "answered", failed_over=False),
    )
    assert "through the T.38 gateway" in result.t30_text


async def test_a_busy_callee_is_busy_for_the_device_through_the_media_process(
    tmp_path: Path, busy_trunk: int
) -> None:
    """The Bridge decision crosses to the media process (ipc.Relay) and the end comes back (Received);
    busy does not fail over: the second route is never tried."""
    document = tmp_path / "one-page.tif"
    make_document(document, 1)
    relaying = Relaying((Route("busy"), Route("never")))
    engine = MediaProcessEngine(config(tmp_path, {"busy": busy_trunk, "never": free_port(socket.SOCK_DGRAM)}))
    await engine.start(relaying.on_inbound, relaying.on_done)
    try:
        device = await device_sends(engine.sip_address[1], document)
        result = await asyncio.wait_for(relaying.results.get(), 10)
    finally:
        await engine.close()

    assert device["status"] == "busy" and device["sip_code"] == 486, device
    assert result.status is CallStatus.BUSY and result.sip_code == 486 and result.pages == 0, result
    assert result.legs == (LegResult("busy", 486, "486 Busy Here", failed_over=False),)
