"""A fax relayed in real time from one SIP call to another: a back-to-back user agent (RFC 3261 6,
"B2BUA") with our media in the middle.

The device leg is a call a fax machine (an ATA, a PBX extension) placed to us; the trunk leg is the
call we place onward. Both start on G.711. Either leg may re-INVITE to T.38: we try to move the other
leg to T.38 too (T.38 then passes through untouched), and where one leg stays on audio SpanDSP's T.38
gateway joins them (``sip.fax.FaxRelay``). The device is answered only once the trunk answers, so its
fax machine hears the far end's ringing fail as a SIP status; a hang-up on either leg ends the other.
The relay reads the fax going by, so the outcome tells pages, rate, ECM and idents like a fax of
our own. Nothing here picks trunks: whoever relays the call passes a ``Dial`` that does.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from faxgw.sip.call import Call, CallError, CallState, Hangup, IncomingCall, OutgoingCall
from faxgw.sip.call_media import CallMedia
from faxgw.sip.diagnostics import CallDiagnostics
from faxgw.sip.fax.audio import BLOCK_SAMPLES
from faxgw.sip.fax.relay import FaxRelay
from faxgw.sip.fax_call import setup_failure
from faxgw.sip.fax_terms import CallStatus, T38Policy
from faxgw.sip.media import Ticker
from faxgw.sip.rtp import Gap
from faxgw.sip.sdp import (
    NegotiatedMedia,
    NotAcceptable,
    SessionDescription,
    T38Params,
    negotiated_from_answer,
    removes_every_stream,
)
from faxgw.sip.tasks import Tasks
from faxgw.sip.ua import UserAgent
from faxgw.sip.udptl import UdptlError

log = logging.getLogger("sip.bridge")

DEVICE, TRUNK = 0, 1  # the relay's sides

#: What the device hears when the trunk leg fails (RFC 3261 21): the callee's own answers pass on;
#: a failure of the trunks themselves (no response, 403, 5xx, a challenge we could not meet) is
#: ours to report: 503, the service is unavailable just now.
_DEVICE_STATUS = {
    404: 404,
    410: 404,
    484: 484,
    604: 404,
    486: 486,
    600: 486,
    408: 480,
    480: 480,
    487: 480,  # our ring timeout cancelled it
    488: 488,
    606: 488,
    603: 603,
}
UNAVAILABLE = 503


def device_status(trunk_status: int | None) -> int:
    """The final response for the device when the trunk leg ended with ``trunk_status`` (None: none came)."""
    return _DEVICE_STATUS.get(trunk_status or 0, UNAVAILABLE)


@dataclass(frozen=True)
class BridgeOptions:
    #: Per leg, as for a fax call of our own: AUDIO refuses T.38 on that leg (488), T38 offers it as
    #: soon as the leg is up, AUTO takes the peer's offer (and follows the other leg's move to T.38).
    device_t38: T38Policy = T38Policy.AUTO
    t38_params: T38Params = field(default_factory=T38Params)
    #: What the gateway lets the fax machines negotiate when one leg is on audio.
    ecm: bool = True
    max_bit_rate: int = 14400
    #: How long a leg's T.38 re-INVITE waits for the other leg to follow before it is answered alone
    #: (the gateway then carries the fax; the other leg may still move and pass T.38 through later).
    reinvite_timeout: float = 5.0
    #: Pause between a leg being up and our own T.38 offer on it (lets its media settle).
    t38_offer_delay: float = 0.2
    #: Give up on a relayed fax that is still going after this long (a 20-page fax takes ~10 min).
    fax_timeout: float = 3600.0
    #: Hang a leg up when no media has come from it for this long (its peer is gone; the relay then
    #: ends the other leg as when a leg hangs up): as ``FaxCallOptions.media_timeout``.
    media_timeout: float = 45.0
    #: After one leg hangs up, what the relay still holds for the other (the last MCF being played
    #: out as audio, a DCN) goes out for at most this long before we hang that leg up too.
    hangup_grace: float = 2.0
    #: Media to where each peer's media comes from (a peer behind NAT), as ``FaxCallOptions.media_latch``.
    device_latch: bool = False
    trunk_latch: bool = False


@dataclass(frozen=True)
class TrunkLeg:
    """The answered trunk leg a ``Dial`` returns: its call, and how the route it took faxes: its T.38
    policy, ECM and bit-rate cap (the gateway lets no more through, and our T.38 SDP on it says so)."""

    call: OutgoingCall
    t38: T38Policy
    ecm: bool = True
    max_rate: int = 14400


#: Places one call to the callee (``place(target, caller)`` makes its INVITE; ``await call.connect()``
#: sends it), going on to other targets as it sees fit; returns the answered leg, or raises
#: ``CallError`` with the final status when none answered. ``place`` raises ``CallError`` 487 once the
#: device has hung up: stop there.
Place = Callable[[str, str | None], OutgoingCall]
Dial = Callable[[Place], Awaitable[TrunkLeg]]


@dataclass(frozen=True)
class BridgeOutcome:
    """How a relayed fax ended: the two calls and what the relay read of the fax between them."""

    status: CallStatus
    #: The trunk leg's INVITE final response (200 once answered; None: no trunk call got one).
    sip_code: int | None
    #: Our final response to the device's INVITE.
    device_code: int | None
    #: Which leg ended the call: "device", "trunk", or "gateway" (timeout, or a failure of ours).
    ended_by: str
    hangup_cause: str | None  # of the leg that ended first
    reason: str  # in words
    pages: int  # confirmed by the receiving machine
    t38: bool  # the trunk leg ran T.38
    device_t38: bool  # the device leg ran T.38
    gateway: bool  # SpanDSP's gateway carried pages (a leg was on audio while they went)
    bit_rate: int | None
    ecm: bool | None
    calling_ident: str  # TSI
    called_ident: str  # CSI
    call_id: str  # the device leg's
    trunk_call_id: str
    #: The status that refused our T.38 re-INVITE on the trunk leg (488 ...), if one did.
    t38_refused: int | None = None
    #: Both legs' SIP ladders (each message marked "device:" or "trunk:"), both stations' T.30 frames
    #: ("sent": the calling machine's), both legs' media.
    diagnostics: CallDiagnostics = field(default_factory=CallDiagnostics)
    #: What T.30 had to do, in words (``FrameLog.story``); "" when nothing.
    t30_story: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


class Leg(CallMedia):
    """One call of the bridge: its sockets and SDP, and the relay side it feeds."""

    def __init__(self, bridge: Bridge, side: int, *, host: str, t38: T38Policy, latch: bool) -> None:
        options = bridge.options
        # Toward real peers: our offers' datagram floor is the paced one (we relay, and do not pace).
        super().__init__(host=host, t38=t38, t38_params=options.t38_params, latch=latch, paced=True)
        self.bridge = bridge
        self.side = side
        self.name = "device" if side == DEVICE else "trunk"
        self.moving = False  # our re-INVITE to T.38 is under way
        self.t38_used = False
        self._oversize = 0

    @property
    def kind(self) -> str | None:
        return self.bridge.relay.kind(self.side)

    @property
    def up(self) -> bool:
        return self.call is not None and self.call.state is CallState.ESTABLISHED

    def use(self, media: NegotiatedMedia) -> None:
        """The leg runs ``media`` now: point the sockets there and switch its side of the relay."""
        self.point(media)
        if media.kind == "t38":
            self.bridge.relay.use_t38(self.side)
            self.t38_used = True
        else:
            self.bridge.relay.use_audio(self.side)
        self.bridge.started()

    def stop(self, offer: SessionDescription) -> SessionDescription:
        answer = self.streams_removed(offer)
        self.bridge.relay.stop(self.side)
        return answer

    async def on_offer(self, offer: SessionDescription) -> SessionDescription:
        return await self.bridge.offered(self, offer)

    def _ifp_received(self, sequence: int, ifp: bytes) -> None:
        self.bridge.guard(lambda: self.bridge.relay.receive_ifp(self.side, ifp, sequence))

    def send_ifp(self, packet: bytes, repeat: int) -> None:
        try:
            self.udptl.send(packet, repeat)
        except UdptlError as error:  # a packet from the other leg larger than this peer takes
            if not self._oversize:
                log.warning("call %s: IFP packet dropped: %s", self.call_id, error)
            self._oversize += 1

    def tick(self) -> None:
        """20 ms of this leg's audio into the relay and out of it (only while the leg is on audio)."""
        if self.kind != "audio" or not self.up:
            return
        relay = self.bridge.relay
        frame = self.rtp.next_frame()
        if isinstance(frame, bytes | bytearray):
            relay.receive_audio(self.side, self.codec.decode(frame))
        else:
            relay.receive_gap(self.side, frame.samples if isinstance(frame, Gap) else BLOCK_SAMPLES)
        self.rtp.send(self.codec.encode(relay.transmit_audio(self.side)))


class Bridge:
    """The two legs of one relayed fax, the relay between them, and the rules for moving to T.38."""

    def __init__(self, ua: UserAgent, options: BridgeOptions, ticker: Ticker) -> None:
        self.ua = ua
        self.options = options
        self.ticker = ticker
        host = ua.address[0]
        self.device = Leg(self, DEVICE, host=host, t38=options.device_t38, latch=options.device_latch)
        # The trunk's policy is its route's, known once a route answered (``run``).
        self.trunk = Leg(self, TRUNK, host=host, t38=T38Policy.AUTO, latch=options.trunk_latch)
        self.relay = FaxRelay(
            (self.device.send_ifp, self.trunk.send_ifp),
            ecm=options.ecm,
            max_bit_rate=options.max_bit_rate,
            version=options.t38_params.version,
            name="bridge",
        )
        self.placed: list[OutgoingCall] = []
        self.error: BaseException | None = None
        self._broken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._device_gone = False
        self._tick_handle: int | None = None
        self._tasks = Tasks(log, "bridge task")

    def _other(self, leg: Leg) -> Leg:
        return self.trunk if leg is self.device else self.device

    # -- lifetime ----------------------------------------------------------------------------------
    async def open(self) -> None:
        await self.device.open()
        try:
            await self.trunk.open()
        except BaseException:
            self.device.close()
            raise

    def close(self) -> None:
        if self._tick_handle is not None:
            self.ticker.remove(self._tick_handle)
            self._tick_handle = None
        self._tasks.cancel_all()
        self.relay.close()
        self.device.close()
        self.trunk.close()

    def started(self) -> None:
        if self._tick_handle is None:
            self._tick_handle = self.ticker.add(self._tick)

    def _tick(self) -> None:
        self.guard(self.device.tick)
        self.guard(self.trunk.tick)

    def guard(self, work: Callable[[], None]) -> None:
        """Run media work; a failure (a bug, SpanDSP refusing) ends this bridge, not the process."""
        if self._broken.done():
            return
        try:
            work()
        except Exception as error:
            log.exception("bridge failed", exc_info=error)
            self.error = error
            self._broken.set_result(None)

    def drop_calls(self) -> None:
        """End whatever call of ours is still up or ringing (``run`` was cut short: a bug, the engine
        closing): BYE or CANCEL, sent without waiting. A device still ringing is left to our caller,
        who answers it with the reason."""
        calls: list[Call] = list(self.placed)
        if self.device.call is not None and self.device.call.state is CallState.ESTABLISHED:
            calls.append(self.device.call)
        for call in calls:
            if call.state is not CallState.TERMINATED:
                call.spawn(call.hangup("the relay stopped"))

    # -- placing the trunk leg ---------------------------------------------------------------------
    def place(self, target: str, caller: str | None) -> OutgoingCall:
        """A call to ``target`` for the trunk leg, offering the trunk leg's audio (see ``Dial``)."""
        if self._device_gone:
            raise CallError(487, "Request Terminated")
        call = self.ua.call(target, self.trunk.audio_offer(), caller=caller, on_offer=self.trunk.on_offer)
        self.placed.append(call)
        return call

    async def _dial(self, device_call: IncomingCall, dial: Dial) -> TrunkLeg:
        """``dial``; the trunk leg ringing is cancelled (RFC 3261 9.1) if the device hangs up first."""

        def device_gone(_: object) -> None:
            log.info("call %s: the device hung up while the trunk leg rang", device_call.call_id)
            self._device_gone = True
            if self.placed:
                self.placed[-1].cancel()

        device_call.ended.add_done_callback(device_gone)
        try:
            leg = await dial(self.place)  # CallError once cancelled, unless the 2xx crossed our CANCEL
        except BaseException:
            if self.placed and self.placed[-1].state is not CallState.TERMINATED:
                await self.placed[-1].hangup()  # dial itself failed (a bug): leave nothing ringing
            raise
        finally:
            device_call.ended.remove_done_callback(device_gone)
        if self._device_gone:
            await leg.call.hangup()  # answered as we cancelled: the 2xx wins, then BYE (RFC 3261 9.1)
            raise CallError(487, "Request Terminated")
        return leg

    # -- moving to T.38 ----------------------------------------------------------------------------
    async def offered(self, leg: Leg, offer: SessionDescription) -> SessionDescription:
        """A re-INVITE on ``leg``. One to T.38 first tries to bring the other leg along (so T.38 passes
        through), waiting at most ``reinvite_timeout``; it is accepted either way, the gateway joining
        the legs while the other stays on audio."""
        if removes_every_stream(offer):
            return leg.stop(offer)
        answer, media = leg.answer(offer)  # NotAcceptable (T.38 only, and this leg is audio only): 488
        other = self._other(leg)
        if (
            media.kind == "t38"
            and leg.kind != "t38"
            and not leg.moving  # we are moving this leg ourselves: its offer crossed ours, take it
            and not other.moving
            and other.kind == "audio"
            and other.up
            and other.t38_policy is not T38Policy.AUDIO
        ):
            moving = self._tasks.spawn(self._move_to_t38(other))
            try:
                await asyncio.wait_for(asyncio.shield(moving), self.options.reinvite_timeout)
            except TimeoutError:
                log.info(
                    "call %s: the %s leg has not answered T.38 within %.0f s: the gateway carries the fax",
                    leg.call_id,
                    other.name,
                    self.options.reinvite_timeout,
                )
        leg.use(media)
        return answer

    async def _move_to_t38(self, leg: Leg, delay: float = 0.0) -> None:
        """Our re-INVITE to T.38 on ``leg``; refused, the leg stays on audio and the gateway serves it."""
        await asyncio.sleep(delay)
        if leg.moving or leg.kind != "audio" or not leg.up or self._broken.done():
            return
        leg.moving = True
        try:
            media = await leg.request_t38(still_wanted=lambda: leg.kind != "t38" and leg.up)
        finally:
            leg.moving = False
        if media is not None and leg.up:
            leg.use(media)

    # -- the call ----------------------------------------------------------------------------------
    async def run(self, device_call: IncomingCall, dial: Dial) -> BridgeOutcome:
        """Relay ``device_call`` to the callee ``dial`` reaches; every call involved has ended on return."""
        self.device.call = device_call
        if device_call.remote_sdp is None:
            device_call.reject(488)  # an offerless INVITE: we bridge offers, we do not make them up
            return self._outcome(device_call, None, "device", "an INVITE without an offer")
        try:
            device_answer, device_media = self.device.answer(device_call.remote_sdp)
        except NotAcceptable as error:
            device_call.reject(488)
            return self._outcome(device_call, None, "device", str(error))
        device_call.ring()
        try:
            trunk = await self._dial(device_call, dial)
        except CallError as error:
            device_call.reject(device_status(error.status))
            ended_by = "device" if self._device_gone else "trunk"
            return self._outcome(device_call, None, ended_by, f"the trunk leg failed: {error}")
        trunk_call = trunk.call
        self.trunk.call = trunk_call
        self.trunk.t38_policy = trunk.t38
        max_rate = min(self.options.max_bit_rate, trunk.max_rate)
        self.trunk.t38_params = replace(self.trunk.t38_params, max_bit_rate=max_rate)
        self.relay.limit(ecm=trunk.ecm, max_bit_rate=max_rate)
        offer, answer = trunk_call.local_sdp, trunk_call.remote_sdp
        assert offer is not None and answer is not None  # connect() returned: both are there
        try:
            self.trunk.use(negotiated_from_answer(offer, answer))
        except NotAcceptable as error:
            await trunk_call.hangup(f"unusable answer: {error}")
            device_call.reject(UNAVAILABLE)
            return self._outcome(device_call, trunk_call, "trunk", f"the trunk's answer: {error}")
        device_call.on_offer = self.device.on_offer
        try:
            await device_call.accept(device_answer)
        except CallError as error:
            await trunk_call.hangup("the device leg failed")
            return self._outcome(device_call, trunk_call, "device", f"the device leg failed: {error}")
        # Media once the ACK came (as in ``receive_fax``): until then the SDP's address is the INVITE's word.
        self.device.use(device_media)
        return await self._relay(device_call, trunk_call)

    async def _relay(self, device_call: IncomingCall, trunk_call: OutgoingCall) -> BridgeOutcome:
        for leg in (self.device, self.trunk):
            # Ours to offer: by the leg's policy, or to follow a device that called on T.38 at once.
            follows = self._other(leg).kind == "t38" and leg.t38_policy is not T38Policy.AUDIO
            if leg.t38_policy is T38Policy.T38 or follows:
                self._tasks.spawn(self._move_to_t38(leg, self.options.t38_offer_delay))
            self._tasks.spawn(leg.hang_up_on_silence(self.options.media_timeout))
        ends: list[asyncio.Future[Any]] = [device_call.ended, trunk_call.ended, self._broken]
        await asyncio.wait(ends, timeout=self.options.fax_timeout, return_when=asyncio.FIRST_COMPLETED)
        first: Call | None = None  # the leg that hung up, and the one still up
        rest: Call | None = None
        ended_by = "gateway"  # neither: the fax timed out, or the relay failed
        if device_call.ended.done():
            first, rest, ended_by = device_call, trunk_call, "device"
        elif trunk_call.ended.done():
            first, rest, ended_by = trunk_call, device_call, "trunk"
        if rest is not None:
            # Let the relay play out what it holds for the leg still up (the last MCF, a DCN).
            grace: list[asyncio.Future[Any]] = [rest.ended, self._broken]
            await asyncio.wait(grace, timeout=self.options.hangup_grace)
        reason = "timeout" if ended_by == "gateway" and not self._broken.done() else ""
        if self.error is not None:
            reason = f"the relay failed: {self.error}"
        for call in (device_call, trunk_call):
            if call.state is CallState.ESTABLISHED:
                await call.hangup(reason if call is not rest else "")
        hangup: Hangup | None = first.ended.result() if first is not None else None
        return self._outcome(
            device_call,
            trunk_call,
            ended_by,
            reason or f"the {ended_by} leg hung up",
            cause=hangup.cause if hangup else reason or None,
        )

    def _outcome(
        self,
        device_call: IncomingCall,
        trunk_call: OutgoingCall | None,
        ended_by: str,
        reason: str,
        *,
        cause: str | None = None,
    ) -> BridgeOutcome:
        progress = self.relay.progress
        last = trunk_call or (self.placed[-1] if self.placed else None)
        if progress.document_done:
            status = CallStatus.SUCCESS
        elif progress.pages:
            status = CallStatus.PARTIAL
        elif trunk_call is None:
            status = self._setup_status(device_call, last)
        else:
            status = CallStatus.FAILED
        if cause is None:
            hangup = (last.ended.result() if last is not None and last.ended.done() else None) or (
                device_call.ended.result() if device_call.ended.done() else None
            )
            cause = hangup.cause if hangup else None
        outcome = BridgeOutcome(
            status=status,
            sip_code=last.final_status if last is not None else None,
            device_code=device_call.final_status,
            ended_by=ended_by,
            hangup_cause=cause,
            reason=reason,
            pages=progress.pages,
            t38=self.trunk.t38_used,
            device_t38=self.device.t38_used,
            gateway=self.relay.gateway_carried,
            bit_rate=progress.bit_rate,
            ecm=progress.ecm,
            calling_ident=progress.calling_ident,
            called_ident=progress.called_ident,
            call_id=device_call.call_id,
            trunk_call_id=last.call_id if last is not None else "",
            t38_refused=self.trunk.t38_refused,
            diagnostics=self._diagnostics(device_call, ended_by),
            t30_story=self.relay.frames.story(),
        )
        # Not the whole outcome: its diagnostics are the call's every message and frame.
        log.info("call %s: relayed fax ended: %s, %s", device_call.call_id, status.value, reason)
        return outcome

    def _diagnostics(self, device_call: IncomingCall, ended_by: str) -> CallDiagnostics:
        """Both legs on one timeline, from the device's INVITE."""
        since = device_call.started
        calls = [("device", device_call), *(("trunk", call) for call in self.placed)]
        ladders = [(leg, call.ladder) for leg, call in calls if call.ladder is not None]
        sip = [
            replace(step, message=f"{leg}: {step.message}")
            for leg, ladder in ladders
            for step in ladder.steps(since)
        ]
        frames = self.relay.frames
        return CallDiagnostics(
            t30=frames.steps(since),
            sip=tuple(sorted(sip, key=lambda step: step.at)),
            media=self.device.figures("device") + self.trunk.figures("trunk"),
            hung_up_by="us" if ended_by == "gateway" else "peer",
            notes=(
                "relayed: T.30 frames marked sent are the calling machine's",
                *frames.notes(),
                *(note for _, ladder in ladders for note in ladder.notes()),
            ),
        )

    def _setup_status(self, device_call: IncomingCall, last: OutgoingCall | None) -> CallStatus:
        """Never connected: the device gave up (cancelled), or the trunk leg's failure says how."""
        hangup = device_call.ended.result() if device_call.ended.done() else None
        if self._device_gone or (hangup is not None and hangup.cause == "cancelled"):
            return CallStatus.CANCELLED
        if last is not None and last.ended.done():
            return setup_failure(last.ended.result())
        return CallStatus.REJECTED


@asynccontextmanager
async def open_bridge(
    ua: UserAgent, options: BridgeOptions | None = None, ticker: Ticker | None = None
) -> AsyncIterator[Bridge]:
    """A bridge with both legs' sockets bound on the user agent's address; closed on the way out."""
    bridge = Bridge(ua, options or BridgeOptions(), ticker or Ticker())
    await bridge.open()
    try:
        yield bridge
    finally:
        bridge.close()


async def relay_fax(
    ua: UserAgent,
    device_call: IncomingCall,
    dial: Dial,
    *,
    options: BridgeOptions | None = None,
    ticker: Ticker | None = None,
) -> BridgeOutcome:
    """Answer ``device_call`` once ``dial`` has reached the callee, and relay the fax between them."""
    async with open_bridge(ua, options, ticker) as bridge:
        try:
            return await bridge.run(device_call, dial)
        finally:
            bridge.drop_calls()


def dial_target(
    target: str, *, caller: str | None = None, t38: T38Policy = T38Policy.AUTO, ring_timeout: float = 60.0
) -> Dial:
    """The simplest ``Dial``: one call to the SIP URI ``target`` from ``caller``; ``t38``: its policy."""

    async def dial(place: Place) -> TrunkLeg:
        call = place(target, caller)
        await call.connect(ring_timeout)
        return TrunkLeg(call, t38)

    return dial
