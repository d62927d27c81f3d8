"""A fax relayed in real time through the bridge, on real sockets over 127.0.0.1: a device's G.711 fax to
a T.38 receiver through SpanDSP's gateway, T.38 passed through, the far end hanging up, a busy callee,
a device that gives up while the trunk leg rings."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from faxgw.sip.bridge import BridgeOptions, BridgeOutcome, dial_target, relay_fax
from faxgw.sip.call import IncomingCall
from faxgw.sip.fax import FaxEvent, PageDone
from faxgw.sip.fax_call import FaxCallOptions, FaxOutcome, receive_fax, send_fax
from faxgw.sip.fax_terms import CallStatus, T38Policy
from faxgw.sip.media import Ticker
from faxgw.sip.ua import UaConfig, UserAgent
from PIL import ImageChops

from tests.helpers.pages import make_document, read_pages
from tests.helpers.sip import LOCALHOST

FAX_TIMEOUT = 120.0  # a two-page G.711 fax through the gateway takes ~40 s


class Relay:
    """The bridge's user agent: every call it gets is relayed with ``relay_fax`` to ``target``."""

    def __init__(self, target: str, options: BridgeOptions, ticker: Ticker, *, t38: T38Policy) -> None:
        self.target = target
        self.options = options
        self.ticker = ticker
        self.t38 = t38
        self.outcome: asyncio.Future[BridgeOutcome] = asyncio.get_running_loop().create_future()
        self.ua = UserAgent(UaConfig(host=LOCALHOST), on_invite=self._invite)
        self.tasks: list[asyncio.Task] = []

    def _invite(self, call: IncomingCall) -> None:
        self.tasks.append(asyncio.ensure_future(self._relay(call)))

    async def _relay(self, call: IncomingCall) -> None:
        dial = dial_target(self.target, caller="+15550100", t38=self.t38, ring_timeout=10)
        outcome = await relay_fax(self.ua, call, dial, options=self.options, ticker=self.ticker)
        self.outcome.set_result(outcome)

    @property
    def uri(self) -> str:
        host, port = self.ua.address
        return f"sip:+15550199@{host}:{port}"


@asynccontextmanager
async def relay_to(
    target: str, *, options: BridgeOptions | None = None, t38: T38Policy = T38Policy.AUTO
) -> AsyncIterator[Relay]:
    ticker = Ticker()
    relay = Relay(target, options or BridgeOptions(), ticker, t38=t38)
    await relay.ua.start()
    try:
        yield relay
    finally:
        relay.ua.close()
        for task in relay.tasks:
            task.cancel()
        await asyncio.gather(*relay.tasks, return_exceptions=True)
        ticker.close()


@asynccontextmanager
async def far_end(
    on_call: Callable[[IncomingCall], asyncio.Future | None],
) -> AsyncIterator[UserAgent]:
    """A user agent behind the trunk: ``on_call`` takes each call it gets."""
    tasks: list[asyncio.Future] = []

    def invite(call: IncomingCall) -> None:
        task = on_call(call)
        if task is not None:
            tasks.append(task)

    ua = UserAgent(UaConfig(host=LOCALHOST), on_invite=invite)
    await ua.start()
    try:
        yield ua
    finally:
        ua.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def uri(ua: UserAgent) -> str:
    host, port = ua.address
    return f"sip:+15550199@{host}:{port}"


def assert_identical(received: Path, sent: list) -> None:
    pages = read_pages(received)
    assert len(pages) == len(sent)
    for got, want in zip(pages, sent, strict=True):
        assert ImageChops.difference(got, want).getbbox() is None


@pytest.mark.slow
@pytest.mark.parametrize("far", ["--t38", "--audio"])
async def test_a_g711_device_faxes_through_the_gateway(tmp_path: Path, receiver: Callable, far: str) -> None:
    """The device speaks G.711 only (it refuses T.38, as a fax machine on a plain ATA line). With --t38
    the receiver behind the trunk (faxgw receive, a process of its own) re-INVITEs the trunk leg to T.38;
    the bridge tries the device leg, is refused, and SpanDSP's gateway joins the two. With --audio both
    legs stay on G.711 and two gateways meet back to back."""
    sent = make_document(tmp_path / "tx.tif", 2)
    process, port = receiver(far)
    async with relay_to(f"sip:+15550199@{LOCALHOST}:{port}") as relay:
        device = UserAgent(UaConfig(host=LOCALHOST))
        await device.start()
        try:
            sender = await asyncio.wait_for(
                send_fax(device, relay.uri, tmp_path / "tx.tif", options=FaxCallOptions(t38=T38Policy.AUDIO)),
                FAX_TIMEOUT,
            )
            bridged = await asyncio.wait_for(relay.outcome, 10)
        finally:
            device.close()
    stdout, _ = process.communicate(timeout=30)
    received = json.loads(stdout.splitlines()[0])

    t38 = far == "--t38"
    assert sender.status is CallStatus.SUCCESS and sender.pages == 2 and not sender.t38, sender
    assert received["status"] == "success" and received["t38"] is t38 and received["pages"] == 2, received
    assert_identical(Path(received["tiff"]), sent)
    assert bridged.status is CallStatus.SUCCESS, bridged
    assert bridged.pages == 2
    assert bridged.t38 is t38 and not bridged.device_t38 and bridged.gateway
    assert bridged.sip_code == 200 and bridged.device_code == 200
    assert bridged.called_ident == "+1 555 0199"
    assert bridged.bit_rate == 14400


def receive_into(
    path: Path, options: FaxCallOptions, ticker: Ticker, outcomes: list[FaxOutcome], on_event=None
) -> Callable[[IncomingCall], asyncio.Future]:
    def on_call(call: IncomingCall) -> asyncio.Future:
        async def receive() -> None:
            events = on_event(call) if on_event else None
            outcomes.append(await receive_fax(call, path, options=options, ticker=ticker, on_event=events))

        return asyncio.ensure_future(receive())

    return on_call


@pytest.mark.slow
async def test_t38_passes_through_when_both_legs_do_t38(tmp_path: Path) -> None:
    """Both fax machines do T.38: whichever re-INVITEs first, the bridge moves the other leg too, and the
    IFP packets pass through without a gateway (unpaced ends: the whole fax in about a second)."""
    sent = make_document(tmp_path / "tx.tif", 3)
    options = FaxCallOptions(t38=T38Policy.T38, paced=False)
    ticker, received = Ticker(), []
    try:
        on_call = receive_into(tmp_path / "rx.tif", options, ticker, received)
        async with far_end(on_call) as far, relay_to(uri(far)) as relay:
            device = UserAgent(UaConfig(host=LOCALHOST))
            await device.start()
            try:
                sender = await asyncio.wait_for(
                    send_fax(device, relay.uri, tmp_path / "tx.tif", options=options, ticker=ticker), 60
                )
                bridged = await asyncio.wait_for(relay.outcome, 10)
            finally:
                device.close()
    finally:
        ticker.close()

    assert sender.status is CallStatus.SUCCESS and sender.t38 and sender.pages == 3, sender
    assert received[0].status is CallStatus.SUCCESS and received[0].t38
    assert_identical(tmp_path / "rx.tif", sent)
    assert bridged.status is CallStatus.SUCCESS and bridged.pages == 3, bridged
    assert bridged.t38 and bridged.device_t38
    assert not bridged.gateway  # the pages went through as IFP, untouched
    assert bridged.ended_by in ("device", "trunk")
    # Its diagnostics: both machines' T.30 frames as the relay read them, both legs' SIP and media.
    frames = [(step.name, step.sent) for step in bridged.diagnostics.t30]
    assert ("DCS", True) in frames and ("CFR", False) in frames and ("MCF", False) in frames, frames
    ladder = [step.message for step in bridged.diagnostics.sip]
    assert ladder[0] == "device: INVITE (audio)" and "trunk: INVITE (audio)" in ladder, ladder
    assert any(message.startswith("trunk: re-INVITE (T.38)") for message in ladder), ladder
    legs = {(media.leg, media.kind) for media in bridged.diagnostics.media}
    assert {("device", "udptl"), ("trunk", "udptl")} <= legs, bridged.diagnostics.media


@pytest.mark.slow
async def test_the_far_end_hanging_up_ends_the_device_leg(tmp_path: Path) -> None:
    make_document(tmp_path / "tx.tif", 3)
    options = FaxCallOptions(t38=T38Policy.T38, paced=False)
    ticker, received = Ticker(), []

    def hang_up_after_page_one(call: IncomingCall) -> Callable[[FaxEvent], None]:
        def on_event(event: FaxEvent) -> None:
            if isinstance(event, PageDone) and event.page == 1:
                call.spawn(call.hangup())

        return on_event

    try:
        on_call = receive_into(tmp_path / "rx.tif", options, ticker, received, hang_up_after_page_one)
        async with far_end(on_call) as far, relay_to(uri(far)) as relay:
            device = UserAgent(UaConfig(host=LOCALHOST))
            await device.start()
            try:
                sender = await asyncio.wait_for(
                    send_fax(device, relay.uri, tmp_path / "tx.tif", options=options, ticker=ticker), 60
                )
                ended = time.monotonic()
                bridged = await asyncio.wait_for(relay.outcome, 10)
            finally:
                device.close()
    finally:
        ticker.close()

    assert sender.hangup_cause == "remote_bye", sender  # the bridge's BYE, on the far end's word
    assert sender.status in (CallStatus.PARTIAL, CallStatus.FAILED) and sender.pages <= 1
    assert bridged.ended_by == "trunk" and bridged.hangup_cause == "remote_bye", bridged
    assert bridged.status is not CallStatus.SUCCESS and bridged.pages <= 1
    assert time.monotonic() - ended < 10


async def test_a_busy_callee_is_busy_for_the_device(tmp_path: Path, document: Path) -> None:
    def busy(call: IncomingCall) -> None:
        call.reject(486)

    async with far_end(busy) as far, relay_to(uri(far)) as relay:
        device = UserAgent(UaConfig(host=LOCALHOST))
        await device.start()
        try:
            sender = await asyncio.wait_for(send_fax(device, relay.uri, document), 20)
            bridged = await asyncio.wait_for(relay.outcome, 10)
        finally:
            device.close()

    assert sender.status is CallStatus.BUSY and sender.sip_code == 486
    assert bridged.status is CallStatus.BUSY and bridged.sip_code == 486 and bridged.device_code == 486
    assert bridged.ended_by == "trunk" and bridged.pages == 0


async def test_a_device_that_gives_up_cancels_the_ringing_trunk_leg(tmp_path: Path, document: Path) -> None:
    ringing: list[IncomingCall] = []

    def ring(call: IncomingCall) -> None:
        call.ring()
        ringing.append(call)

    async with far_end(ring) as far, relay_to(uri(far)) as relay:
        device = UserAgent(UaConfig(host=LOCALHOST))
        await device.start()
        try:
            sender = await asyncio.wait_for(
                send_fax(device, relay.uri, document, options=FaxCallOptions(ring_timeout=1.0)), 20
            )
            bridged = await asyncio.wait_for(relay.outcome, 10)
            far_leg = await asyncio.wait_for(asyncio.shield(ringing[0].ended), 5)
        finally:
            device.close()

    assert sender.status is CallStatus.NO_ANSWER
    assert far_leg.cause == "cancelled"  # our CANCEL reached the far end
    assert bridged.status is CallStatus.CANCELLED and bridged.ended_by == "device", bridged


async def test_a_relay_cut_short_hangs_up_both_legs(tmp_path: Path) -> None:
    """The engine closing cancels the relay mid-fax: neither the device nor the far end is left on a
    call that nobody relays any more (each gets a BYE at once, not a T.30 timeout a minute later)."""
    make_document(tmp_path / "tx.tif", 3)
    options = FaxCallOptions(t38=T38Policy.AUDIO)
    ticker, received = Ticker(), []
    try:
        on_call = receive_into(tmp_path / "rx.tif", options, ticker, received)
        async with far_end(on_call) as far, relay_to(uri(far)) as relay:
            device = UserAgent(UaConfig(host=LOCALHOST))
            await device.start()
            try:
                sending = asyncio.ensure_future(
                    send_fax(device, relay.uri, tmp_path / "tx.tif", options=options, ticker=ticker)
                )
                await asyncio.sleep(3)  # both legs up, T.30 under way
                assert not sending.done()
                relay.tasks[0].cancel()
                async with asyncio.timeout(5):
                    sender = await sending
                    while not received:
                        await asyncio.sleep(0.05)
            finally:
                device.close()
    finally:
        ticker.close()

    assert sender.hangup_cause == "remote_bye" and sender.status is CallStatus.FAILED, sender
    assert received[0].hangup_cause == "remote_bye", received[0]
