"""Fax over SIP: a ``Call`` plus its media plus a SpanDSP session, in both directions.

The call starts on G.711 audio. Either side may re-INVITE to T.38: we then carry on with a T.38
terminal; if our own T.38 offer is refused we stay on audio. The outcome joins what SIP and
T.30 said into one ``FaxOutcome``. Nothing here knows about HTTP, jobs or databases.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from faxgw.sip.auth import DigestClient
from faxgw.sip.call import Call, CallError, CallState, Hangup, IncomingCall
from faxgw.sip.call_media import CallMedia
from faxgw.sip.capture import Capture
from faxgw.sip.diagnostics import CallDiagnostics
from faxgw.sip.fax import AudioTerminal, Completed, FaxEvent, FaxOptions, Negotiated, T38Terminal
from faxgw.sip.fax.audio import BLOCK_SAMPLES
from faxgw.sip.fax.t30_frames import FrameLog
from faxgw.sip.fax_terms import CallStatus, T38Policy
from faxgw.sip.media import Ticker
from faxgw.sip.message import SipRequest, SipResponse
from faxgw.sip.rtp import Gap
from faxgw.sip.sdp import (
    CODECS,
    NegotiatedMedia,
    NotAcceptable,
    SessionDescription,
    T38Params,
    negotiated_from_answer,
    removes_every_stream,
)
from faxgw.sip.transport import Peer
from faxgw.sip.ua import UserAgent

log = logging.getLogger("sip.fax_call")

#: How long the receiver waits for the sender's BYE after T.30 has finished.
BYE_GRACE = 2.0
#: How long a fax call whose task is cancelled waits for its BYE's answer before it goes anyway.
CANCEL_HANGUP_WAIT = 2.0


@dataclass(frozen=True)
class FaxCallOptions:
    t38: T38Policy = T38Policy.AUTO
    fax: FaxOptions = field(default_factory=FaxOptions)
    t38_params: T38Params = field(default_factory=T38Params)
    ring_timeout: float = 60.0
    #: Give up on a call that has not finished T.30 in this time (a 20-page fax takes ~10 min).
    fax_timeout: float = 3600.0
    #: Hang up when no media packet (RTP or UDPTL) has come for this long: the peer is gone (killed,
    #: unplugged) and T.30 may wait for it for ever (mid-page it has no timer running). Longer than any
    #: silence T.30 allows: its longest timer, T1, is 35 s (T.38 sends nothing between signals).
    media_timeout: float = 45.0
    #: Toward a real peer T.38 must be paced; between our own endpoints it may run flat out.
    paced: bool = True
    #: Pause between the answer and our T.38 re-INVITE (lets the peer's media settle).
    t38_offer_delay: float = 0.2
    #: Send media to where the peer's media comes from, not to its SDP address (a peer behind NAT):
    #: once, early in the call (see ``sip.media``). Off: media only to and from the SDP address.
    media_latch: bool = False
    #: The G.711 laws our audio offer names, in order of preference (a trunk may take only one).
    codecs: tuple[str, ...] = tuple(CODECS)
    #: Where a capture of a failed call's own packets (SIP, RTP, UDPTL) is written, as <Call-ID>.pcap;
    #: None: no capture. Kept in memory while the call runs (``sip.capture``), written only if it failed.
    capture_dir: str | None = None


@dataclass(frozen=True)
class FaxOutcome:
    """One fax call's result: the SIP view and the T.30 view together."""

    status: CallStatus
    sip_code: int | None
    hangup_cause: str | None
    t30_code: int | None
    t30_text: str
    pages: int
    pages_expected: int | None
    t38: bool
    bit_rate: int | None
    ecm: bool | None
    remote_ident: str
    call_id: str
    #: The SIP status that refused our T.38 re-INVITE (488, 415 ...): the fax stayed on audio. None: not
    #: refused, or never offered.
    t38_refused: int | None = None
    #: Media packets that arrived: none at all on an answered call usually means a NAT or firewall problem.
    audio_packets_in: int = 0
    t38_packets_in: int = 0
    diagnostics: CallDiagnostics = field(default_factory=CallDiagnostics)
    #: What T.30 had to do beyond the plain exchange, in words ("training failed twice at 14400, then
    #: 9600"); "" when nothing (``FrameLog.story``).
    t30_story: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


class FaxMedia(CallMedia):
    """The media half of a fax call: sockets, the current SpanDSP session, and the switch to T.38."""

    def __init__(
        self,
        *,
        host: str,
        sending: bool,
        calling: bool,
        path: Path,
        options: FaxCallOptions,
        ticker: Ticker,
        on_event: Callable[[FaxEvent], None] | None,
    ) -> None:
        super().__init__(
            host=host,
            t38=options.t38,
            t38_params=options.t38_params,
            latch=options.media_latch,
            paced=options.paced,
            codecs=options.codecs,
        )
        self.sending = sending
        self.calling = calling
        self.path = path
        self.options = options
        self.ticker = ticker
        self.on_event = on_event
        self.session: AudioTerminal | T38Terminal | None = None
        self.first_page = 1  # a retry of a partly sent fax starts further in
        self.completed: asyncio.Future[Completed] = asyncio.get_running_loop().create_future()
        self.negotiated: Negotiated | None = None
        self.t38 = False
        self.error: BaseException | None = None
        self._tick_handle: int | None = None
        #: Every T.30 frame of the call, whichever SpanDSP session (audio, then T.38) carried it.
        self.frames = FrameLog()
        self.capture = Capture() if options.capture_dir else None

    def close(self) -> None:
        if self._tick_handle is not None:
            self.ticker.remove(self._tick_handle)
            self._tick_handle = None
        if self.session is not None:
            self.session.close()
        super().close()

    # -- SDP ---------------------------------------------------------------------------------------
    async def on_offer(self, offer: SessionDescription) -> SessionDescription:
        """The peer re-INVITEs (to T.38, or back to audio): answer and switch the media."""
        if removes_every_stream(offer):
            # Media stops; the SpanDSP session stays, so T.30's own outcome is what the fax reports.
            return self.streams_removed(offer)
        answer, media = self.answer(offer)  # NotAcceptable -> the Call answers 488
        self.use(media)
        return answer

    async def offer_t38(self, delay: float) -> None:
        """Our re-INVITE to T.38; a refusal (488 or anything else) leaves the fax on audio."""
        await asyncio.sleep(delay)
        if (
            self.call is None
            or self.call.state is not CallState.ESTABLISHED
            or self.t38
            or self.completed.done()
        ):
            return
        media = await self.request_t38(still_wanted=lambda: not self.t38 and not self.completed.done())
        if media is not None:
            self.use(media)

    # -- switching ---------------------------------------------------------------------------------
    def use(self, media: NegotiatedMedia) -> None:
        """Start (or switch to) the negotiated media with a fresh SpanDSP session for it."""
        self.point(media)
        if media.kind == "t38":
            if not self.t38:
                self._replace_session(self._t38_session(media.t38 or self.options.t38_params))
                self.t38 = True
        else:
            if self.session is None or (self.t38 and self.session.negotiated is None):
                self._replace_session(self._audio_session())
                self.t38 = False
            elif self.t38:
                # T.30 is already under way (or done) on T.38: gateways like Asterisk switch back to
                # audio as soon as their side is finished; restarting T.30 would lose the outcome.
                log.info("back to audio after T.38 training: the T.38 session finishes the fax")
        if self._tick_handle is None:
            self._tick_handle = self.ticker.add(self._tick, reads=(self.rtp,))

    def _replace_session(self, session: AudioTerminal | T38Terminal) -> None:
        old = self.session
        if old is not None:
            if old.pages_done:
                log.warning(
                    "media switched after %d pages: T.30 starts again on the new media", old.pages_done
                )
            old.on_event = None  # its end is not the fax's end
            old.close()
        if self.completed.done():
            session.close()
            return
        session.on_frame = self.frames.record
        self.session = session

    def _file_arguments(self) -> dict:
        return {"send": self.path, "first_page": self.first_page} if self.sending else {"receive": self.path}

    def _audio_session(self) -> AudioTerminal:
        return AudioTerminal(
            calling=self.calling, options=self.options.fax, on_event=self._event, **self._file_arguments()
        )

    def _t38_session(self, params: T38Params) -> T38Terminal:
        return T38Terminal(
            calling=self.calling,
            transmit=self.udptl.send,
            options=self.options.fax,
            on_event=self._event,
            paced=self.options.paced,
            version=params.version,
            **self._file_arguments(),
        )

    # -- running -----------------------------------------------------------------------------------
    def _event(self, event: FaxEvent) -> None:
        if isinstance(event, Negotiated):
            self.negotiated = event
        if self.on_event is not None:
            self.on_event(event)
        if isinstance(event, Completed) and not self.completed.done():
            self.completed.set_result(event)

    def _tick(self) -> None:
        session = self.session
        if session is None or session.closed or self.completed.done():
            return
        try:
            if isinstance(session, T38Terminal):
                session.advance(BLOCK_SAMPLES)
                return
            frame = self.rtp.next_frame()
            if isinstance(frame, bytes):
                line = session.g711_step(self.codec, frame)
            else:  # a gap (or nothing yet): the time passes for the modem all the same
                missing = frame.samples if isinstance(frame, Gap) else BLOCK_SAMPLES
                line = session.g711_step(self.codec, None, missing)
            self.rtp.send(line)
        except Exception as error:  # a bug or a handler error: end this fax, not the process
            self._fail(error)

    def _ifp_received(self, sequence: int, ifp: bytes) -> None:
        session = self.session
        if isinstance(session, T38Terminal) and not session.closed:
            try:
                session.receive_ifp(ifp, sequence)
            except Exception as error:
                self._fail(error)

    def _fail(self, error: BaseException) -> None:
        log.exception("fax session failed", exc_info=error)
        self.error = error
        if self.session is not None and not self.session.closed:
            self.session.on_event = None
            self.session.close()
        if not self.completed.done():
            self.completed.set_exception(error)

    def hangup(self) -> None:
        """The call is gone: end T.30 so phase E reports what got through."""
        session = self.session
        if session is not None and not session.closed and not self.completed.done():
            session.hangup()


@asynccontextmanager
async def _fax_media(
    host: str,
    *,
    sending: bool,
    document: str | os.PathLike[str],
    options: FaxCallOptions,
    ticker: Ticker | None,
    on_event: Callable[[FaxEvent], None] | None,
) -> AsyncIterator[FaxMedia]:
    # The caller sends and the callee receives: T.30 roles follow who placed the call.
    media = FaxMedia(
        host=host,
        sending=sending,
        calling=sending,
        path=Path(document),
        options=options,
        ticker=ticker or Ticker(),
        on_event=on_event,
    )
    await media.open()
    media.rtp.capture = media.udptl.capture = media.capture
    try:
        yield media
    finally:
        media.close()


async def send_fax(
    ua: UserAgent,
    target: str,
    document: str | os.PathLike[str],
    *,
    options: FaxCallOptions | None = None,
    ticker: Ticker | None = None,
    on_event: Callable[[FaxEvent], None] | None = None,
    caller: str | None = None,
    first_page: int = 1,
    credentials: DigestClient | None = None,
) -> FaxOutcome:
    """Call ``target`` and send the TIFF-F ``document`` from ``first_page`` on, as ``caller`` (the
    user part of our From: our fax number); ``credentials``: ours toward the peer, if not the UA's."""
    options = options or FaxCallOptions()
    async with _fax_media(
        ua.address[0], sending=True, document=document, options=options, ticker=ticker, on_event=on_event
    ) as media:
        media.first_page = first_page
        offer = media.audio_offer()
        call = ua.call(target, offer, on_offer=media.on_offer, caller=caller, credentials=credentials)
        _capture_sip(call, media.capture)
        async with _hung_up_if_cancelled(call):
            try:
                answer = await call.connect(options.ring_timeout)
                media.call = call
                media.use(negotiated_from_answer(offer, answer))
            except (CallError, NotAcceptable):
                if call.state is not CallState.TERMINATED:
                    await call.hangup()
                return await _finished(call, media, None, options)
            completed = await _run(call, media, options, offer_t38=options.t38 is T38Policy.T38)
            if call.state is CallState.ESTABLISHED:
                await call.hangup()
            return await _finished(call, media, completed, options)


@asynccontextmanager
async def _hung_up_if_cancelled(call: Call) -> AsyncIterator[None]:
    """A fax call whose task is cancelled (whoever placed it stopped, or gave the fax up) is still ended
    toward the peer, CANCEL or BYE: the peer would otherwise hold the call open, waiting for pages that
    never come, until its own timers give up."""
    try:
        yield
    except asyncio.CancelledError:
        if call.state is not CallState.TERMINATED:
            try:
                await asyncio.wait_for(call.hangup("cancelled"), CANCEL_HANGUP_WAIT)
            except (TimeoutError, CallError, OSError) as error:  # we are going anyway
                log.info("call %s: cancelled, and its hang-up failed: %r", call.call_id, error)
        raise


async def receive_fax(
    call: IncomingCall,
    document: str | os.PathLike[str],
    *,
    options: FaxCallOptions | None = None,
    ticker: Ticker | None = None,
    on_event: Callable[[FaxEvent], None] | None = None,
) -> FaxOutcome:
    """Answer ``call`` and receive into ``document`` (TIFF-F, written page by page)."""
    options = options or FaxCallOptions()
    async with _fax_media(
        call.ua.address[0],
        sending=False,
        document=document,
        options=options,
        ticker=ticker,
        on_event=on_event,
    ) as media:
        try:
            if call.remote_sdp is None:
                raise NotAcceptable("an INVITE without an offer")
            answer, negotiated = media.answer(call.remote_sdp)
        except NotAcceptable:
            call.reject(488)
            return await _finished(call, media, None, options)
        call.on_offer = media.on_offer
        media.call = call
        _capture_sip(call, media.capture)
        try:
            await call.accept(answer)
        except CallError:
            return await _finished(call, media, None, options)
        # Media only once the ACK came: until then the SDP's address is the INVITE's word alone, and
        # anyone could make us stream at a third party by never ACKing (RFC 3261 13.3.1.4: no ACK within
        # 64*T1 ends the call; that cost a packet per 20 ms towards whatever the SDP named).
        media.use(negotiated)
        completed = await _run(call, media, options, offer_t38=options.t38 is not T38Policy.AUDIO)
        if call.state is CallState.ESTABLISHED:
            # T.30 is over: the sender normally hangs up now; do it ourselves if it does not.
            try:
                await asyncio.wait_for(asyncio.shield(call.ended), BYE_GRACE)
            except TimeoutError:
                await call.hangup()
        return await _finished(call, media, completed, options)


async def _run(call: Call, media: FaxMedia, options: FaxCallOptions, *, offer_t38: bool) -> Completed | None:
    """Offer T.38 if wanted, then wait for T.30 to finish, the call to drop, or the fax timeout."""
    if offer_t38 and not media.t38:
        call.spawn(media.offer_t38(options.t38_offer_delay))
    call.spawn(media.hang_up_on_silence(options.media_timeout))
    # Either end will do: waited for as Future[Any], as they give different results.
    ends: list[asyncio.Future[Any]] = [media.completed, call.ended]
    await asyncio.wait(ends, timeout=options.fax_timeout, return_when=asyncio.FIRST_COMPLETED)
    if not media.completed.done():
        media.hangup()  # BYE or timeout mid-fax: phase E tells how many pages made it
    if media.completed.done() and media.completed.exception() is None:
        return media.completed.result()
    return None


def _capture_sip(call: Call, capture: Capture | None) -> None:
    """The call's SIP messages into its capture, from the time it is known (an incoming call's INVITE
    came before: the capture starts with our answer)."""
    if capture is None:
        return
    local = call.ua.address

    def add(message: SipRequest | SipResponse, sent: bool, peer: Peer) -> None:
        remote = (peer.host, peer.port)
        capture.add(local if sent else remote, remote if sent else local, bytes(message))

    call.watch(add)


async def _finished(
    call: Call, media: FaxMedia, completed: Completed | None, options: FaxCallOptions
) -> FaxOutcome:
    """The call's outcome, with its capture written (off the event loop) if it failed."""
    outcome = _outcome(call, media, completed)
    if media.capture is None or options.capture_dir is None or outcome.status is CallStatus.SUCCESS:
        return outcome
    name = "".join(c if c.isalnum() or c in "-._" else "_" for c in call.call_id) or "call"
    try:
        path = await asyncio.to_thread(media.capture.write, Path(options.capture_dir) / f"{name}.pcap")
    except OSError as error:
        log.warning("call %s: its capture could not be written: %s", call.call_id, error)
        return outcome
    return replace(outcome, diagnostics=replace(outcome.diagnostics, pcap=str(path)))


def _outcome(call: Call, media: FaxMedia, completed: Completed | None) -> FaxOutcome:
    hangup: Hangup | None = call.ended.result() if call.ended.done() else None
    negotiated = media.negotiated
    pages = completed.pages_transferred if completed else 0
    if completed is not None and completed.success:
        status = CallStatus.SUCCESS
    elif pages:
        status = CallStatus.PARTIAL
    elif hangup is not None and hangup.status is not None and hangup.status >= 300:
        status = setup_failure(hangup)
    else:
        status = CallStatus.FAILED
    text = completed.text if completed else (str(media.error) if media.error else "")
    if status is CallStatus.FAILED and hangup is not None and hangup.cause == "local_bye" and hangup.reason:
        text = hangup.reason  # we ended the call for a reason of ours: that, not T.30's view of the end
    return FaxOutcome(
        status=status,
        sip_code=call.final_status,
        hangup_cause=hangup.cause if hangup else None,
        t30_code=completed.code if completed else None,
        t30_text=text,
        pages=pages,
        pages_expected=completed.pages_expected if completed else None,
        t38=media.t38,
        bit_rate=negotiated.bit_rate if negotiated else None,
        ecm=negotiated.ecm if negotiated else None,
        remote_ident=completed.remote_ident if completed else "",
        call_id=call.call_id,
        t38_refused=media.t38_refused,
        audio_packets_in=media.rtp.packets_in,
        t38_packets_in=media.udptl.datagrams_in,
        diagnostics=_diagnostics(call, media, hangup),
        t30_story=media.frames.story(),
    )


def _diagnostics(call: Call, media: FaxMedia, hangup: Hangup | None) -> CallDiagnostics:
    """What the call did, named now that it is over (nothing of this is worked out on the media path)."""
    ladder = call.ladder
    return CallDiagnostics(
        t30=media.frames.steps(call.started),
        sip=ladder.steps(call.started) if ladder is not None else (),
        media=media.figures(),
        hung_up_by=_hung_up_by(hangup),
        notes=media.frames.notes() + (ladder.notes() if ladder is not None else ()),
    )


def _hung_up_by(hangup: Hangup | None) -> str | None:
    """Which end ended an established call: the BYE's sender (a session that expired is ended by us, RFC
    4028 10); None for a call that was never set up."""
    if hangup is None:
        return None
    return {"remote_bye": "peer", "local_bye": "us", "session_expired": "us"}.get(hangup.cause)


def setup_failure(hangup: Hangup) -> CallStatus:
    """Tell busy, no answer, cancelled and rejected apart (RFC 3261 21.4, 21.6)."""
    if hangup.cause == "cancelled":
        return CallStatus.CANCELLED
    if hangup.cause == "no_answer" or hangup.status in (408, 480):
        return CallStatus.NO_ANSWER
    if hangup.status in (486, 600):
        return CallStatus.BUSY
    return CallStatus.REJECTED
