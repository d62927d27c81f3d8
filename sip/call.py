"""An INVITE session (RFC 3261 sections 13-15): set-up, re-INVITEs both ways, glare, session
timers, CANCEL and BYE. One ``Call`` per dialog; ``OutgoingCall`` and ``IncomingCall`` add the
two ways a call starts. Media is not handled here: offers and answers go in and out as SDP.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from faxgw.sip import session_timer
from faxgw.sip.auth import DigestClient
from faxgw.sip.dialog import Dialog, remote_target
from faxgw.sip.ladder import SipLadder
from faxgw.sip.message import SipParseError, SipRequest, SipResponse, SipUri, new_tag, response_to
from faxgw.sip.sdp import NotAcceptable, SdpError, SessionDescription
from faxgw.sip.tasks import Tasks
from faxgw.sip.transaction import (
    ClientTransaction,
    InviteServerTransaction,
    ServerTransaction,
    TransactionLayer,
    sibling_request,
)
from faxgw.sip.transport import Peer, TransportLayer

log = logging.getLogger("sip.call")

SDP = "application/sdp"
#: RFC 3261 14.1: how often a re-INVITE is retried after 491 before giving up.
GLARE_RETRIES = 3
#: How long hanging up waits for the answer to our BYE: the call is over once it is sent, and a peer
#: that is gone would hold whoever hangs up for the whole transaction (64*T1, 32 s). The transaction
#: goes on in the call's tasks (retransmissions, the answer) after that.
BYE_ANSWER_WAIT = 2.0

OfferHandler = Callable[[SessionDescription], Awaitable[SessionDescription]]


class SessionSettings(Protocol):
    """The session timer settings a call follows (RFC 4028); ``sip.ua.UaConfig`` has them."""

    @property
    def session_expires(self) -> int | None: ...

    @property
    def min_se(self) -> int: ...


class CallHost(Protocol):
    """What a call uses of the user agent it lives in (``sip.ua.UserAgent``). A call knows its user
    agent only by this shape, so dependencies point one way: the user agent makes calls and routes
    their requests, calls never import the user agent."""

    ALLOW: str
    transactions: TransactionLayer
    transport: TransportLayer

    @property
    def config(self) -> SessionSettings: ...

    @property
    def address(self) -> tuple[str, int]: ...

    def contact(self, transport: str = "UDP") -> str: ...

    def decorate(self, message: SipRequest | SipResponse) -> None: ...

    def peer_for(self, uri: SipUri) -> Peer: ...

    async def send_request(
        self,
        request: SipRequest,
        peer: Peer,
        *,
        return_request: bool = False,
        on_provisional: Callable[[SipResponse], None] | None = None,
        on_transaction: Callable[[ClientTransaction], None] | None = None,
        credentials: DigestClient | None = None,
    ) -> Any: ...

    def remember_dialog(self, dialog: Dialog, call: Call) -> None:
        """Route the dialog's requests to ``call`` from now on."""

    def forget_dialog(self, dialog: Dialog) -> None:
        """The call has ended: its dialog's requests get 481 from now on."""


class CallState(enum.Enum):
    CALLING = "CALLING"  # INVITE sent or received, nothing more yet
    EARLY = "EARLY"  # a provisional response went across
    ESTABLISHED = "ESTABLISHED"  # 2xx (and, for us as callee, its ACK)
    TERMINATED = "TERMINATED"


@dataclass(frozen=True)
class Hangup:
    """How a call ended. ``status`` is the SIP final response when the set-up failed."""

    cause: str  # remote_bye | local_bye | rejected | cancelled | no_answer | timeout | no_ack
    #             | session_expired | transport_error (timeout, transport_error: no response to our INVITE)
    status: int | None = None
    reason: str = ""


class CallError(Exception):
    """A request inside the call failed; ``status`` is the SIP response."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason


def read_offer(request: SipRequest) -> SessionDescription | None:
    """The SDP offer an INVITE carries, None when it has no body (the offer then goes in our 2xx).

    Raises ``SipParseError``: 415 for a body that is not SDP (RFC 3261 8.2.3; the response names what
    we accept), 400 with the reason for SDP we cannot read. SDP we can read but not use is the media
    layer's to refuse (488).
    """
    if not request.body:
        return None
    if request.content_type not in (None, SDP):
        raise SipParseError(f"a body of type {request.content_type}, not {SDP}", status=415)
    try:
        return SessionDescription.parse(request.body)
    except SdpError as error:
        raise SipParseError(f"bad SDP: {error}") from None


def refusal(ua: CallHost, request: SipRequest, error: SipParseError, to_tag: str) -> SipResponse:
    """The final response to a request we cannot use: ``error.status`` with what is wrong as its reason
    phrase (one line, bounded), and for 415 the Accept header RFC 3261 21.4.13 asks for."""
    reason = " ".join(str(error).split())[:120] or None
    response = response_to(request, error.status, reason, to_tag=to_tag)
    if error.status == 415:
        response.headers.add("Accept", SDP)
    ua.decorate(response)
    return response


class Call:
    """The parts of an INVITE session that do not depend on who called whom."""

    we_are_uac: bool

    def __init__(self, ua: CallHost, on_offer: OfferHandler | None = None) -> None:
        self.ua = ua
        self.on_offer = on_offer
        self.state = CallState.CALLING
        self.dialog: Dialog | None = None
        self.local_sdp: SessionDescription | None = None
        self.remote_sdp: SessionDescription | None = None
        self.ended: asyncio.Future[Hangup] = asyncio.get_running_loop().create_future()
        self.timer: session_timer.SessionTimer | None = None
        self._timer_task: asyncio.TimerHandle | None = None
        self._reinvite_pending = False  # ours
        self._incoming_reinvite: InviteServerTransaction | None = None
        self._tasks = Tasks(log, lambda: f"call {self.call_id}")
        self._last_ack: SipRequest | None = None
        self.call_id = ""
        #: The INVITE's final response (sent or received): 200 once answered, else the failure.
        self.final_status: int | None = None
        #: Where the dialog's requests go whatever its Contact says (``Dialog.flow``: a device behind NAT).
        self.flow: Peer | None = None
        #: Our digest credentials toward this call's peer (a trunk's own); None: the user agent's.
        self.credentials: DigestClient | None = None
        #: When the call began (``time.monotonic()``): its diagnostics count from here.
        self.started = time.monotonic()
        #: The call's SIP messages, for its diagnostics (``_record_ladder``).
        self.ladder: SipLadder | None = None
        self._watchers: list[Callable[[SipRequest | SipResponse, bool, Peer], None]] = []

    # -- state --------------------------------------------------------------------------------
    def _enter(self, state: CallState) -> None:
        if state is not self.state:
            log.info("call %s %s -> %s", self.call_id, self.state.value, state.value)
            self.state = state

    def _end(self, hangup: Hangup) -> None:
        if self.state is CallState.TERMINATED:
            return
        self._enter(CallState.TERMINATED)
        if self._timer_task:
            self._timer_task.cancel()
        if self.dialog is not None:
            self.ua.forget_dialog(self.dialog)
        if self._watchers:
            # Still watched for as long as a transaction may last (64*T1, RFC 3261 17.1.1.2): the BYE's
            # answer, the last retransmission of a final response.
            asyncio.get_running_loop().call_later(self.ua.transactions.timers.timeout, self._unwatch)
        if not self.ended.done():
            self.ended.set_result(hangup)

    def watch(self, watcher: Callable[[SipRequest | SipResponse, bool, Peer], None]) -> None:
        """Show ``watcher`` each message with this call's Call-ID the transport sends (True) or receives
        (False), and to or from where, until a transaction's lifetime after the call ended."""
        self._watchers.append(watcher)
        self.ua.transport.watchers.setdefault(self.call_id, []).append(watcher)

    def _record_ladder(self, local_tag: str, remote_tag: str | None = None) -> SipLadder:
        """Keep this call's SIP messages from now on, as the transport sends and receives them."""
        self.ladder = SipLadder(local_tag, remote_tag)
        self.watch(self.ladder.record)
        return self.ladder

    def _unwatch(self) -> None:
        watchers = self.ua.transport.watchers.get(self.call_id, [])
        for watcher in self._watchers:
            if watcher in watchers:
                watchers.remove(watcher)
        if not watchers:
            self.ua.transport.watchers.pop(self.call_id, None)

    def spawn(self, coroutine: Awaitable[None]) -> None:
        """Run a task that belongs to this call; its failure is logged with the Call-ID."""
        self._tasks.spawn(coroutine)

    # -- hanging up -----------------------------------------------------------------------------
    async def hangup(self, reason: str = "") -> None:
        """End the call from our side (BYE once established); ``reason`` says why when it is not simply
        that we were done (it becomes the ``Hangup``'s)."""
        await self._bye(Hangup("local_bye", reason=reason))

    # -- re-INVITE from us (RFC 3261 14.1) -------------------------------------------------------
    async def reinvite(
        self, offer: SessionDescription, *, still_wanted: Callable[[], bool] = lambda: True
    ) -> SessionDescription:
        """Offer new media; returns the answer or raises ``CallError`` (e.g. 488: stay as you are).

        A 2xx is ACKed whatever its body (RFC 3261 13.2.2.4); if its answer cannot be read, ``SdpError``
        is raised after the ACK, the call's SDP stays as it was, and the caller decides what the
        session is now (hang up, or offer again).

        On glare (491) it waits the RFC 3261 14.1 back-off and tries again while ``still_wanted()``:
        meanwhile the peer's own re-INVITE may have done the job.
        """
        if self.state is not CallState.ESTABLISHED or self.dialog is None:
            raise CallError(481, "Call/Transaction Does Not Exist")
        if self._reinvite_pending:
            raise CallError(491, "Request Pending")
        for attempt in range(GLARE_RETRIES + 1):
            self._reinvite_pending = True
            try:
                response, request = await self._send_reinvite(offer)
            finally:
                self._reinvite_pending = False  # not during the back-off: the peer's retry must get in
            if response.status == 491 and attempt < GLARE_RETRIES:
                await asyncio.sleep(self._glare_backoff())
                if still_wanted() and self.state is CallState.ESTABLISHED:
                    continue
            break
        if response.status >= 300:
            if response.status in (408, 481):  # RFC 3261 12.2.1.2: the dialog is gone
                await self.hangup(f"{response.status} {response.reason} to our re-INVITE: the peer is gone")
            raise CallError(response.status, response.reason)
        self._acknowledge(request, response)
        answer = SessionDescription.parse(response.body)
        self.local_sdp, self.remote_sdp = offer, answer
        self._timer_from_response(response)
        return answer

    async def _send_reinvite(self, offer: SessionDescription) -> tuple[SipResponse, SipRequest]:
        assert self.dialog is not None  # reinvite() checked: established
        request = self._in_dialog("INVITE", body=bytes(offer), content_type=SDP)
        if self.ua.config.session_expires:
            session_timer.add_request_headers(
                request.headers, self.timer.interval if self.timer else self.ua.config.session_expires
            )
        response, sent = await self.ua.send_request(
            request, self.dialog.next_hop(), return_request=True, credentials=self.credentials
        )
        return response, sent

    def _glare_backoff(self) -> float:
        # RFC 3261 14.1: the owner of the Call-ID (the caller) waits 2.1-4 s, the other 0-2 s.
        return random.uniform(2.1, 4.0) if self.we_are_uac else random.uniform(0.0, 2.0)

    def _acknowledge(self, invite: SipRequest, response: SipResponse) -> None:
        """RFC 3261 13.2.2.4: ACK a 2xx ourselves, end to end, with the INVITE's CSeq number."""
        assert self.dialog is not None
        try:
            self.dialog.refresh_target(remote_target(response))
        except SipParseError as error:
            # The 2xx still needs its ACK; it goes to the target we had.
            log.warning(
                "call %s: %s in the %d; the remote target stays", self.call_id, error, response.status
            )
        ack = self._in_dialog("ACK", cseq=invite.cseq[0])
        self._last_ack = ack
        self.ua.transactions.send_stateless(ack, self.dialog.next_hop())

    def resend_ack(self) -> None:
        """A 2xx came again: our ACK was lost."""
        if self._last_ack is not None and self.dialog is not None:
            self.ua.transactions.send_stateless(self._last_ack, self.dialog.next_hop())

    def _in_dialog(
        self, method: str, *, body: bytes = b"", content_type: str | None = None, cseq: int | None = None
    ) -> SipRequest:
        assert self.dialog is not None
        host, port = self.ua.transport.via_address(self.dialog.transport)
        request = self.dialog.request(
            method,
            via_host=host,
            via_port=port,
            contact=self.ua.contact(self.dialog.transport),
            body=body,
            content_type=content_type,
            cseq=cseq,
        )
        self.ua.decorate(request)
        return request

    # -- requests from the peer inside the dialog ------------------------------------------------
    def receive(self, request: SipRequest, transaction: ServerTransaction | None) -> None:
        assert self.dialog is not None
        if request.method == "ACK":
            self._on_ack(request)
            return
        assert transaction is not None
        if not self.dialog.accept_remote_cseq(request):
            transaction.respond(response_to(request, 500, "Server Internal Error"))
            return
        if request.method == "BYE":
            transaction.respond(self._response(request, 200))
            self._end(Hangup("remote_bye"))
        elif request.method == "INVITE" and self.state is not CallState.ESTABLISHED:
            # Before the ACK for our 2xx the first INVITE transaction is still in progress, and RFC 3261
            # 14.1 allows no second one meanwhile; answered as 14.2 answers an overtaking INVITE.
            response = self._response(request, 500)
            response.headers.add("Retry-After", str(random.randint(0, 10)))
            transaction.respond(response)
        elif request.method == "INVITE":
            self.spawn(self._on_reinvite(request, transaction))  # type: ignore[arg-type]
        elif request.method == "UPDATE":
            self._on_update(request, transaction)
        elif request.method in ("INFO", "OPTIONS", "NOTIFY"):
            transaction.respond(self._response(request, 200))
        else:
            transaction.respond(self._response(request, 501))

    def _on_ack(self, request: SipRequest) -> None:
        if self._incoming_reinvite is not None:
            self._incoming_reinvite.acknowledged()
            self._incoming_reinvite = None

    async def _on_reinvite(self, request: SipRequest, transaction: InviteServerTransaction) -> None:
        """RFC 3261 14.2, with glare (491) and RFC 4028 refreshes that leave the media alone.

        Every re-INVITE gets a final response; one we cannot use (400, 415, 422, 488, 491, 500) leaves
        the call as it was (RFC 3261 14.2: "the UAS MUST ensure that the session description
        [and target] ... are unchanged").
        """
        try:
            await self._answer_reinvite(request, transaction)
        finally:
            if not transaction.answered:  # a bug on the way (the task logs it): still end the transaction
                transaction.respond(self._response(request, 500))

    async def _answer_reinvite(self, request: SipRequest, transaction: InviteServerTransaction) -> None:
        if self._reinvite_pending:
            transaction.respond(self._response(request, 491))
            return
        if self._incoming_reinvite is not None:
            response = self._response(request, 500)
            response.headers.add("Retry-After", str(random.randint(0, 10)))
            transaction.respond(response)
            return
        assert self.dialog is not None
        try:
            target = remote_target(request)
            offer = read_offer(request)
        except SipParseError as error:
            log.info("call %s: re-INVITE refused: %s", self.call_id, error)
            transaction.respond(refusal(self.ua, request, error, self.dialog.local_tag))
            return
        try:
            timer = session_timer.negotiate_as_uas(request, self.ua.config.min_se)
        except session_timer.IntervalTooSmall as small:
            response = self._response(request, 422)
            response.headers.add("Min-SE", str(small.min_se))
            transaction.respond(response)
            return
        try:
            answer = await self._answer_reoffer(offer)
        except NotAcceptable as error:
            log.info("call %s: re-INVITE refused: %s", self.call_id, error)
            transaction.respond(self._response(request, 488))
            return
        self.dialog.refresh_target(target)
        response = self._response(request, 200, body=bytes(answer))
        if timer is not None:
            session_timer.add_response_headers(response.headers, timer, request)
            self._start_timer(timer, we_are_uac=False)
        self._incoming_reinvite = transaction
        transaction.on_no_ack = lambda: self.spawn(self.hangup())
        transaction.respond(response)

    async def _answer_reoffer(self, offer: SessionDescription | None) -> SessionDescription:
        if offer is None:
            # An offerless re-INVITE: our current SDP is the offer in the 2xx (RFC 3261 14.2).
            assert self.local_sdp is not None
            return self.local_sdp
        if self.remote_sdp is not None and offer.origin == self.remote_sdp.origin and self.local_sdp:
            # Same o= line, same version: a session refresh (RFC 4028) - the media stays untouched.
            log.info("call %s: session refreshed by the peer", self.call_id)
            return self.local_sdp
        if self.on_offer is None:
            raise NotAcceptable("no handler for new offers")
        answer = await self.on_offer(offer)
        self.remote_sdp, self.local_sdp = offer, answer
        return answer

    def _on_update(self, request: SipRequest, transaction: ServerTransaction) -> None:
        """UPDATE (RFC 3311) is only used here for session refreshes without SDP."""
        if request.body:
            transaction.respond(self._response(request, 488))
            return
        response = self._response(request, 200)
        timer = None
        try:
            timer = session_timer.negotiate_as_uas(request, self.ua.config.min_se)
        except session_timer.IntervalTooSmall as small:
            response = self._response(request, 422)
            response.headers.add("Min-SE", str(small.min_se))
        if timer is not None:
            session_timer.add_response_headers(response.headers, timer, request)
            self._start_timer(timer, we_are_uac=False)
        transaction.respond(response)

    def _response(self, request: SipRequest, status: int, body: bytes = b"") -> SipResponse:
        assert self.dialog is not None
        response = response_to(request, status, to_tag=self.dialog.local_tag)
        if status < 300:
            response.headers.add("Contact", self.ua.contact(self.dialog.transport))
        if body:
            response.headers.add("Content-Type", SDP)
            response.body = body
        self.ua.decorate(response)
        return response

    # -- session timer (RFC 4028) ---------------------------------------------------------------
    def _timer_from_response(self, response: SipResponse) -> None:
        timer = session_timer.from_uac_response(response, self.ua.config.session_expires)
        if timer is not None:
            self._start_timer(timer, we_are_uac=True)

    def _start_timer(self, timer: session_timer.SessionTimer, *, we_are_uac: bool) -> None:
        """(Re)start after any successful refresh. The roles are those of the refreshing request."""
        self.timer = timer
        if self._timer_task:
            self._timer_task.cancel()
        loop = asyncio.get_running_loop()
        if timer.we_refresh(we_are_uac):
            self._timer_task = loop.call_later(timer.refresh_after, lambda: self.spawn(self._refresh()))
        else:
            self._timer_task = loop.call_later(timer.expire_after, lambda: self.spawn(self._expired()))

    async def _refresh(self) -> None:
        if self.state is not CallState.ESTABLISHED or self.local_sdp is None:
            return
        try:
            await self.reinvite(self.local_sdp)  # unchanged SDP: same o= version, media untouched
            log.info("call %s: session refreshed", self.call_id)
        except CallError as error:
            log.warning("call %s: session refresh failed: %s", self.call_id, error)
            if error.status == 491 and self.timer:
                self._start_timer(self.timer, we_are_uac=True)
            elif self.timer is not None and self.state is CallState.ESTABLISHED:
                # RFC 4028 10: a session not refreshed still ends when it expires, half an interval on
                # (a 408 or 481 ended it already: reinvite hung up).
                loop = asyncio.get_running_loop()
                self._timer_task = loop.call_later(
                    self.timer.interval / 2, lambda: self.spawn(self._expired())
                )

    async def _expired(self) -> None:
        log.warning("call %s: session timer expired without a refresh", self.call_id)
        await self._bye(Hangup("session_expired"))

    async def _bye(self, hangup: Hangup) -> None:
        """End an established call from our side as ``hangup`` says, with a BYE."""
        if self.state is CallState.ESTABLISHED and self.dialog is not None:
            self._end(hangup)
            bye = self._tasks.spawn(
                self.ua.send_request(
                    self._in_dialog("BYE"), self.dialog.next_hop(), credentials=self.credentials
                )
            )
            try:
                await asyncio.wait_for(asyncio.shield(bye), BYE_ANSWER_WAIT)
            except TimeoutError:
                log.info("call %s: no answer to our BYE within %.0f s", self.call_id, BYE_ANSWER_WAIT)


class OutgoingCall(Call):
    """A call we place: INVITE, provisional responses, auth challenges, 2xx + ACK or failure."""

    we_are_uac = True

    def __init__(
        self,
        ua: CallHost,
        invite: SipRequest,
        offer: SessionDescription,
        on_offer: OfferHandler | None = None,
    ) -> None:
        super().__init__(ua, on_offer)
        self.invite = invite
        self.local_sdp = offer
        self.call_id = invite.call_id
        self._record_ladder(invite.from_address.tag or "")
        self.progress: list[int] = []  # provisional statuses seen (180, 183, ...)
        self._transaction: ClientTransaction | None = None
        self._cancel_requested = False
        self._cancel_sent = False
        self._ring_timed_out = False

    async def connect(self, ring_timeout: float = 60.0) -> SessionDescription:
        """Place the call; returns the answer SDP, or raises ``CallError`` with the final status.

        After ``ring_timeout`` seconds without an answer the call is cancelled (no answer).
        """
        timeout_handle = asyncio.get_running_loop().call_later(ring_timeout, self._ring_timeout)
        try:
            response, request = await self.ua.send_request(
                self.invite,
                self.ua.peer_for(self.invite.uri),
                return_request=True,
                on_provisional=self._provisional,
                on_transaction=self._set_transaction,
                credentials=self.credentials,
            )
        finally:
            timeout_handle.cancel()
        self.invite = request
        self.final_status = response.status
        if response.status >= 300:
            self._end(Hangup(self._failure_cause(response), response.status, response.reason))
            raise CallError(response.status, response.reason)
        self.dialog = Dialog.from_uac(request, response, self.ua.peer_for(request.uri).transport)
        self.dialog.flow = self.flow
        self.ua.remember_dialog(self.dialog, self)
        self.remote_sdp = SessionDescription.parse(response.body) if response.body else None
        self._acknowledge(request, response)
        self._enter(CallState.ESTABLISHED)
        self._timer_from_response(response)
        if self._cancel_requested:
            await self.hangup()  # answered while we were cancelling: the 2xx wins, then BYE
            raise CallError(487, "Request Terminated")
        if self.remote_sdp is None:
            raise CallError(488, "Not Acceptable Here")
        return self.remote_sdp

    def _failure_cause(self, response: SipResponse) -> str:
        if response.status == 487 and self._cancel_requested:
            return "no_answer" if self._ring_timed_out else "cancelled"
        if response.to_address.tag is None:
            # Made here, not by the peer (its final responses carry a To tag, RFC 3261 8.2.6.2): Timer B
            # ran out without a response (408) or the transport failed (503) (17.1.1.2, 8.1.3.1).
            return "timeout" if response.status == 408 else "transport_error"
        return "rejected"

    def _set_transaction(self, transaction: ClientTransaction) -> None:
        self._transaction = transaction
        if self._cancel_requested and self.progress:
            self._send_cancel()

    def _provisional(self, response: SipResponse) -> None:
        self.progress.append(response.status)
        if response.status > 100:
            self._enter(CallState.EARLY)
        if self._cancel_requested:
            self._send_cancel()

    def _ring_timeout(self) -> None:
        self._ring_timed_out = True
        self.cancel()

    def cancel(self) -> None:
        """Stop ringing (RFC 3261 9.1). Sent once a provisional response proved the INVITE arrived."""
        self._cancel_requested = True
        if self.progress and self._transaction is not None:
            self._send_cancel()

    def _send_cancel(self) -> None:
        if self._cancel_sent or self._transaction is None:
            return
        self._cancel_sent = True
        cancel = sibling_request(self._transaction.request, "CANCEL")
        self.ua.decorate(cancel)
        self.ua.transactions.request(cancel, self._transaction.peer)

    async def hangup(self, reason: str = "") -> None:
        if self.state in (CallState.CALLING, CallState.EARLY):
            self.cancel()
            return
        await super().hangup(reason)


class IncomingCall(Call):
    """A call offered to us: ring, then accept with an answer or reject with a status."""

    we_are_uac = False

    def __init__(
        self, ua: CallHost, request: SipRequest, transaction: InviteServerTransaction, transport: str
    ) -> None:
        super().__init__(ua)
        self.request = request
        self.transaction = transaction
        self.call_id = request.call_id
        # SipParseError for an INVITE that cannot start a call: see ``offered``.
        self.remote_sdp = read_offer(request)
        self.dialog = Dialog.from_uas(request, new_tag(), transport)
        #: The user the INVITE authenticated as with digest (``sip.admission``); None: admitted without.
        self.authenticated_user: str | None = None
        #: The address the INVITE came from (its transport's source, not what its headers claim).
        self.source: str | None = None
        self._acked: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # The INVITE came before we knew it was a call: recorded now.
        self._record_ladder(self.dialog.local_tag, request.from_address.tag).record(request, sent=False)

    @classmethod
    def offered(
        cls, ua: CallHost, request: SipRequest, transaction: InviteServerTransaction, transport: str
    ) -> IncomingCall | None:
        """The call an INVITE offers; None when the INVITE cannot start one (a body that is not SDP,
        SDP we cannot read, a Contact or Record-Route we could not send to), which is then answered
        here with the reason, ending its transaction."""
        try:
            return cls(ua, request, transaction, transport)
        except SipParseError as error:
            log.info("call %s: INVITE refused: %s %s", request.call_id, error.status, error)
            transaction.respond(refusal(ua, request, error, new_tag()))
            return None

    @property
    def caller(self) -> str:
        return self.request.from_address.uri.user or ""

    @property
    def called(self) -> str:
        """The number dialled: the Request-URI's user part (the DID), else the To user."""
        return self.request.uri.user or self.request.to_address.uri.user or ""

    def ring(self) -> None:
        if self.state is CallState.CALLING:
            self.transaction.respond(self._response(self.request, 180))
            self._enter(CallState.EARLY)

    def reject(self, status: int = 486, *, retry_after: int | None = None) -> None:
        """Refuse the call; ``retry_after`` (seconds) says when to try again (RFC 3261 20.33, e.g. 503)."""
        if self.state in (CallState.CALLING, CallState.EARLY):
            self.final_status = status
            response = self._response(self.request, status)
            if retry_after is not None:
                response.headers.add("Retry-After", str(retry_after))
            self.transaction.respond(response)
            self._end(Hangup("rejected", status))

    async def accept(self, answer: SessionDescription, ack_timeout: float | None = None) -> None:
        """Send 200 with ``answer`` and wait for the ACK (the call is established then)."""
        try:
            timer = session_timer.negotiate_as_uas(self.request, self.ua.config.min_se)
        except session_timer.IntervalTooSmall as small:
            response = self._response(self.request, 422)
            response.headers.add("Min-SE", str(small.min_se))
            self.final_status = 422
            self.transaction.respond(response)
            self._end(Hangup("rejected", 422))
            raise CallError(422, "Session Interval Too Small") from None
        response = self._response(self.request, 200, body=bytes(answer))
        response.headers.add("Allow", self.ua.ALLOW)
        if timer is not None:
            session_timer.add_response_headers(response.headers, timer, self.request)
        self.local_sdp = answer
        self.final_status = 200
        self.transaction.on_no_ack = lambda: self._end(Hangup("no_ack"))
        self.transaction.respond(response)
        ack_wait: asyncio.Future[Any] = asyncio.shield(self._acked)
        await asyncio.wait(
            [ack_wait, self.ended],
            timeout=ack_timeout or self.ua.transactions.timers.timeout,
            return_when=asyncio.FIRST_COMPLETED,
        )
        if not self._acked.done():
            self._end(Hangup("no_ack"))
            raise CallError(408, "no ACK")
        if timer is not None and self.state is CallState.ESTABLISHED:
            self._start_timer(timer, we_are_uac=False)

    def _on_ack(self, request: SipRequest) -> None:
        if self.final_status == 200 and not self._acked.done():  # our 2xx's ACK: never one sent early
            self.transaction.acknowledged()
            self._acked.set_result(None)
            if self.state is not CallState.TERMINATED:
                self._enter(CallState.ESTABLISHED)  # now, not when ``accept`` resumes: a re-INVITE may follow
            return
        super()._on_ack(request)

    def cancelled(self) -> None:
        """The caller sent CANCEL before we answered (RFC 3261 9.2)."""
        if self.state in (CallState.CALLING, CallState.EARLY):
            self.final_status = 487
            self.transaction.respond(self._response(self.request, 487))
            self._end(Hangup("cancelled", 487))

    async def hangup(self, reason: str = "") -> None:
        if self.state in (CallState.CALLING, CallState.EARLY):
            self.reject(480)
            return
        await super().hangup(reason)
