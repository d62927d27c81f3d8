"""An arriving call is faxed with the settings of who called, and media to and from devices behind NAT.

The native engine runs in the test's event loop on 127.0.0.1 with two trunks, one calling from 127.0.0.2
(t38 = "audio"), one from 127.0.0.3 (t38 = "auto", no ECM, 9600 bit/s), and two devices; the gateway's
own t38 setting is always the opposite of what the caller's says, so that the caller's settings show.
The callers are user agents of ours bound to those addresses, sending one page (T.38 unpaced).

A device behind NAT is played by a user agent whose SDP states 127.0.0.5 (where nothing listens) as its
media address, as an ATA states its private address, while its media comes from 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from faxgw.gateway.config import Config
from faxgw.gateway.demo import free_port
from faxgw.gateway.documents import page_differences
from faxgw.gateway.engines.base import Bridge, CallResult, InboundCall, InboundDecision, OutboundCall, Route
from faxgw.gateway.engines.native import NativeEngine
from faxgw.gateway.peers import DeviceConfig, TrunkConfig
from faxgw.sip.call import IncomingCall
from faxgw.sip.fax_call import FaxCallOptions, FaxOutcome, receive_fax, send_fax
from faxgw.sip.fax_terms import CallStatus, T38Policy
from faxgw.sip.message import SipRequest, SipResponse
from faxgw.sip.sdp import SessionDescription
from faxgw.sip.transport import Peer
from faxgw.sip.ua import UaConfig, UserAgent

from tests.helpers.pages import make_document
from tests.helpers.sip import LOCALHOST

PLAIN = TrunkConfig("plain", ("127.0.0.2",), networks=("127.0.0.2/32",), t38=T38Policy.AUDIO, keepalive=0)
T38_TRUNK = TrunkConfig(
    "t38", ("127.0.0.3",), networks=("127.0.0.3/32",), ecm=False, max_rate=9600, keepalive=0
)
#: A fax machine behind a plain ATA line: G.711 only.
ATA = DeviceConfig("ata1", "s3cret", ("+15550100",), t38=T38Policy.AUDIO, keepalive=0)
#: An ATA behind NAT.
NATTED = DeviceConfig("ata2", "s3cret", ("+15550101",), keepalive=0)
FAR = "+15550199"
NOWHERE = "127.0.0.5"  # the private address the NATted device states: nothing listens there

#: A caller that offers T.38 as soon as the call is up (re-INVITE).
OFFERS_T38 = FaxCallOptions(t38=T38Policy.T38, paced=False)


class Engine:
    """A NativeEngine that receives every call it is offered (a device's is relayed in real time to FAR
    through the trunk ``relay`` when there is one); its results in ``results``."""

    def __init__(self, tmp_path: Path, config: Config, relay: str | None = None) -> None:
        self.engine = NativeEngine(config)
        self.tmp_path = tmp_path
        self.relay = relay
        self.offered: list[InboundCall] = []
        self.results: asyncio.Queue[CallResult] = asyncio.Queue()

    @property
    def address(self) -> str:
        host, port = self.engine.sip_address
        return f"{host}:{port}"

    def received(self, n: int) -> Path:
        return self.tmp_path / f"received-{n}.tif"

    async def on_inbound(self, call: InboundCall) -> InboundDecision:
        self.offered.append(call)
        if self.relay is not None and call.device is not None:
            return Bridge((Route(self.relay),), to_number=FAR, from_number=call.caller)
        return self.received(len(self.offered)), lambda page: None

    async def on_done(self, call: InboundCall, result: CallResult) -> None:
        self.results.put_nowait(result)


@pytest.fixture
async def engines(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[Engine]]]:
    """Starts an engine with both trunks and both devices, the gateway's t38 and the NATted device's
    media_latch as given (and a trunk "far" to ``relay_to``, a port on 127.0.0.1, that devices' calls
    are relayed to); closed at the end."""
    started: list[Engine] = []

    async def start(
        t38: T38Policy = T38Policy.AUTO, media_latch: bool = True, relay_to: int | None = None
    ) -> Engine:
        far = (TrunkConfig("far", (f"{LOCALHOST}:{relay_to}",), keepalive=0),) if relay_to else ()
        config = Config(
            data_dir=tmp_path / "var",
            sip_host=LOCALHOST,
            sip_port=free_port(socket.SOCK_DGRAM),
            unpaced_t38=True,
            t38=t38,
            trunks=(PLAIN, T38_TRUNK, *far),
            devices=(ATA, dataclasses.replace(NATTED, media_latch=media_latch)),
        )
        engine = Engine(tmp_path, config, "far" if far else None)
        started.append(engine)
        await engine.engine.start(engine.on_inbound, engine.on_done)
        return engine

    yield start
    for engine in started:
        await engine.engine.close()


@pytest.fixture
def document(tmp_path: Path) -> Path:
    path = tmp_path / "one-page.tif"
    make_document(path, 1)
    return path


def behind_nat(ua: UserAgent) -> None:
    """Every SDP ``ua`` sends states NOWHERE as its media address, as a device behind NAT states its
    private one; its media still comes from (and is taken at) its real address."""
    send = ua.transport.send

    async def stating_nowhere(message: SipRequest | SipResponse, peer: Peer) -> None:
        if message.body:
            sdp = SessionDescription.parse(message.body)
            sdp.connection = NOWHERE
            for media in sdp.media:
                media.connection = None
            message = dataclasses.replace(message, body=bytes(sdp))
        await send(message, peer)

    ua.transport.send = stating_nowhere  # type: ignore[method-assign]


async def call_in(
    engine: Engine,
    host: str,
    document: Path,
    options: FaxCallOptions = OFFERS_T38,
    device: DeviceConfig | None = None,
) -> FaxOutcome:
    """Send ``document`` to the engine from ``host``, as ``device`` (with its credentials and number)
    if one is given; behind NAT if it is NATTED."""
    credentials = {"username": device.username, "password": device.password} if device else {}
    ua = UserAgent(UaConfig(host=host, **credentials))
    await ua.start()
    if device is not None and device.username == NATTED.username:
        behind_nat(ua)
    caller = device.numbers[0] if device is not None else "+15557000"
    try:
        return await send_fax(ua, f"sip:{FAR}@{engine.address}", document, options=options, caller=caller)
    finally:
        ua.close()


@pytest.mark.slow  # the refused trunk's fax goes on G.711 in real time, ~10 s
@pytest.mark.parametrize(
    ("source", "gateway_t38"),
    [("127.0.0.2", T38Policy.AUTO), ("127.0.0.3", T38Policy.AUDIO)],
    ids=["audio-trunk", "t38-trunk"],
)
async def test_a_call_from_a_trunk_is_faxed_with_that_trunks_settings(
    engines: Callable[..., Awaitable[Engine]], document: Path, source: str, gateway_t38: T38Policy
) -> None:
    engine = await engines(gateway_t38)
    sent = await call_in(engine, source, document)
    result = await asyncio.wait_for(engine.results.get(), 10)

    assert [call.device for call in engine.offered] == [None]
    assert (sent.status, sent.pages, result.status, result.pages) == ("success", 1, "success", 1), sent
    assert page_differences(document, engine.received(1)) == [0]
    if source == "127.0.0.2":  # t38 = "audio": our T.38 offer is refused, the fax goes on G.711
        assert (sent.t38, sent.t38_refused, result.t38) == (False, 488, False), sent
    else:  # t38 = "auto", ecm = false, max_rate = 9600: T.38 taken, without ECM, at 9600
        assert (sent.t38, sent.t38_refused, result.t38) == (True, None, True), sent
        assert (sent.ecm, sent.bit_rate, result.ecm, result.bit_rate) == (False, 9600, False, 9600), sent


@pytest.mark.slow  # on G.711 in real time, ~10 s
async def test_a_call_from_a_device_is_faxed_with_the_devices_settings(
    engines: Callable[..., Awaitable[Engine]], document: Path
) -> None:
    """ata1 (t38 = "audio") calls from 127.0.0.3, the T.38 trunk's network, to a gateway that takes T.38:
    the device's settings win, its T.38 offer is refused."""
    engine = await engines(T38Policy.AUTO)
    sent = await call_in(engine, "127.0.0.3", document, device=ATA)
    result = await asyncio.wait_for(engine.results.get(), 10)

    assert [call.device for call in engine.offered] == ["ata1"]
    assert (sent.status, sent.pages, result.status, result.pages) == ("success", 1, "success", 1), sent
    assert (sent.t38, sent.t38_refused, result.t38) == (False, 488, False), sent
    assert page_differences(document, engine.received(1)) == [0]


#: The NATted device: T.38 when the gateway offers it (no glare with ours), giving up after 4 s
#: without media (an unpaced T.38 fax takes well under a second).
NAT_OPTIONS = {True: FaxCallOptions(paced=False), False: FaxCallOptions(paced=False, fax_timeout=4)}


@pytest.mark.parametrize("media_latch", [True, False], ids=["latched", "not-latched"])
async def test_a_fax_from_a_device_behind_nat(
    engines: Callable[..., Awaitable[Engine]], document: Path, media_latch: bool
) -> None:
    engine = await engines(media_latch=media_latch)
    sent = await call_in(engine, LOCALHOST, document, NAT_OPTIONS[media_latch], device=NATTED)
    result = await asyncio.wait_for(engine.results.get(), 10)

    assert [call.device for call in engine.offered] == ["ata2"]
    if media_latch:  # the gateway's media went where the device's came from
        assert (sent.status, sent.pages, sent.t38, result.status, result.pages) == (
            "success",
            1,
            True,
            "success",
            1,
        ), sent
        assert sent.audio_packets_in > 0 and sent.t38_packets_in > 0
        assert page_differences(document, engine.received(1)) == [0]
    else:  # it went to the stated address: the device heard nothing, and the fax failed
        assert (sent.audio_packets_in, sent.t38_packets_in) == (0, 0), sent
        assert sent.status != "success" and result.status != "success"


@pytest.mark.parametrize("media_latch", [True, False], ids=["latched", "not-latched"])
async def test_a_fax_to_a_device_behind_nat(
    engines: Callable[..., Awaitable[Engine]], document: Path, tmp_path: Path, media_latch: bool
) -> None:
    engine = await engines(media_latch=media_latch)
    received: asyncio.Future[FaxOutcome] = asyncio.get_running_loop().create_future()

    async def receive(call: IncomingCall) -> None:
        outcome = await receive_fax(call, tmp_path / "device.tif", options=NAT_OPTIONS[media_latch])
        received.set_result(outcome)

    tasks: list[asyncio.Task] = []
    device = UserAgent(
        UaConfig(host=LOCALHOST, username=NATTED.username, password=NATTED.password),
        on_invite=lambda call: tasks.append(asyncio.ensure_future(receive(call))),
    )
    await device.start()
    behind_nat(device)
    try:
        registration = await device.register(f"sip:{engine.address}", expires=60)
        to = NATTED.numbers[0]
        call = OutboundCall("fx_1", "+15557000", to, document, routes=(Route.of_device(NATTED),))
        result = await asyncio.wait_for(engine.engine.send(call, lambda page: None), 30)
        outcome = await asyncio.wait_for(received, 10)
        await registration.stop()
    finally:
        device.close()

    if media_latch:
        assert (result.status, result.pages, result.t38) == (CallStatus.SUCCESS, 1, True), result
        assert (outcome.status, outcome.pages) == ("success", 1), outcome
        assert page_differences(document, tmp_path / "device.tif") == [0]
    else:
        assert (outcome.audio_packets_in, outcome.t38_packets_in) == (0, 0), outcome
        assert result.status is not CallStatus.SUCCESS and outcome.status != "success"


@pytest.mark.parametrize("media_latch", [True, False], ids=["latched", "not-latched"])
async def test_a_fax_from_a_device_behind_nat_relayed_in_real_time(
    engines: Callable[..., Awaitable[Engine]], document: Path, tmp_path: Path, media_latch: bool
) -> None:
    """The device leg of the relay follows the device's media_latch (the far end offers T.38, the relay
    moves the device leg to it too and passes T.38 through)."""
    received: asyncio.Future[FaxOutcome] = asyncio.get_running_loop().create_future()

    async def receive(call: IncomingCall) -> None:
        received.set_result(await receive_fax(call, tmp_path / "far.tif", options=OFFERS_T38))

    tasks: list[asyncio.Task] = []
    far = UserAgent(
        UaConfig(host=LOCALHOST), on_invite=lambda call: tasks.append(asyncio.ensure_future(receive(call)))
    )
    await far.start()
    try:
        engine = await engines(media_latch=media_latch, relay_to=far.address[1])
        sent = await call_in(engine, LOCALHOST, document, NAT_OPTIONS[media_latch], device=NATTED)
        result = await asyncio.wait_for(engine.results.get(), 10)
        outcome = await asyncio.wait_for(received, 10)
    finally:
        far.close()

    assert [call.device for call in engine.offered] == ["ata2"]
    if media_latch:
        assert (sent.status, sent.pages, sent.t38) == ("success", 1, True), sent
        assert (outcome.status, outcome.pages, outcome.t38) == ("success", 1, True), outcome
        assert (result.status, result.pages) == (CallStatus.SUCCESS, 1), result
        assert page_differences(document, tmp_path / "far.tif") == [0]
    else:
        assert (sent.audio_packets_in, sent.t38_packets_in) == (0, 0), sent
        assert sent.status != "success" and outcome.status != "success"
