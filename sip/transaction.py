"""SIP transactions (RFC 3261 section 17, with the RFC 6026 Accepted state).

Four explicit state machines - INVITE and non-INVITE, client and server - with the RFC's timers
and retransmissions. Every state change goes through ``Transaction._enter`` so the log reads
"z9hG4bK... INVITE client CALLING -> PROCEEDING" and tests can follow a transaction's life.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass

from faxgw.sip.message import SipRequest, SipResponse, Via, response_to
from faxgw.sip.sparse_log import SparseLog
from faxgw.sip.tasks import Tasks
from faxgw.sip.transport import Peer, TransportError, TransportLayer

log = logging.getLogger("sip.transaction")


@dataclass(frozen=True)
class Timers:
    """RFC 3261 17.1.1.1 defaults; tests shrink them to run the timeouts quickly."""

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0
    #: Timer D (17.1.1.2): how long an INVITE client transaction absorbs retransmitted failures over
    #: UDP, "at least 32 seconds" and not a multiple of T1.
    d: float = 32.0

    @property
    def timeout(self) -> float:
        """Timers B, F, H, J, L and M: 64*T1."""
        return 64 * self.t1


class State(enum.Enum):
    CALLING = "CALLING"
    TRYING = "TRYING"
    PROCEEDING = "PROCEEDING"
    ACCEPTED = "ACCEPTED"  # RFC 6026: a 2xx went through; absorb its retransmissions
    COMPLETED = "COMPLETED"
    CONFIRMED = "CONFIRMED"
    TERMINATED = "TERMINATED"


class Transaction:
    """What all four kinds share: a key, a state, named timers and sending through the layer."""

    kind = "transaction"

    def __init__(self, layer: TransactionLayer, request: SipRequest, peer: Peer) -> None:
        self.layer = layer
        self.request = request
        self.peer = peer
        self.branch = request.vias[0].branch or ""
        self.state = State.TRYING
        self._timers: dict[str, asyncio.TimerHandle] = {}

    @property
    def timers(self) -> Timers:
        return self.layer.timers

    def _enter(self, state: State) -> None:
        if state is self.state:
            return
        log.debug(
            "%s %s %s %s -> %s", self.branch, self.request.method, self.kind, self.state.value, state.value
        )
        self.state = state
        if state is State.TERMINATED:
            for handle in self._timers.values():
                handle.cancel()
            self._timers.clear()
            self.layer._forget(self)

    def _start_timer(self, name: str, delay: float, action: Callable[[], None]) -> None:
        self._stop_timer(name)
        self._timers[name] = asyncio.get_running_loop().call_later(delay, self._fire, name, action)

    def _fire(self, name: str, action: Callable[[], None]) -> None:
        self._timers.pop(name, None)
        if self.state is not State.TERMINATED:
            action()

    def _stop_timer(self, name: str) -> None:
        handle = self._timers.pop(name, None)
        if handle is not None:
            handle.cancel()

    def _send(self, message: SipRequest | SipResponse) -> None:
        self.layer._send(message, self.peer, self._transport_error)

    def _transport_error(self, error: Exception) -> None:
        raise NotImplementedError


# -- client transactions -------------------------------------------------------------------------

ResponseHandler = Callable[[SipResponse], None]


class ClientTransaction(Transaction):
    """Sends a request and delivers responses to ``on_response``; ``final`` resolves on the final one.

    A timeout or a transport failure resolves ``final`` with a locally made 408 or 503
    (RFC 3261 8.1.3.1 and 17.1.1.2), so the caller always gets a response to act on.
    """

    kind = "client"

    def __init__(
        self,
        layer: TransactionLayer,
        request: SipRequest,
        peer: Peer,
        on_response: ResponseHandler | None = None,
    ) -> None:
        super().__init__(layer, request, peer)
        self.on_response = on_response
        self.final: asyncio.Future[SipResponse] = asyncio.get_running_loop().create_future()

    def _deliver(self, response: SipResponse) -> None:
        if self.on_response is not None:
            self.on_response(response)
        if response.status >= 200 and not self.final.done():
            self.final.set_result(response)

    def _fail(self, status: int, reason: str) -> None:
        self._deliver(response_to(self.request, status, reason))
        self._enter(State.TERMINATED)

    def _transport_error(self, error: Exception) -> None:
        log.info("%s %s: transport error: %s", self.branch, self.request.method, error)
        if self.state is not State.TERMINATED:
            self._fail(503, "Service Unavailable")

    def receive(self, response: SipResponse) -> None:
        raise NotImplementedError


class InviteClientTransaction(ClientTransaction):
    """RFC 3261 17.1.1 (figure 5) with RFC 6026."""

    kind = "INVITE client"

    def start(self) -> None:
        self.state = State.CALLING
        self._send(self.request)
        if not self.peer.reliable:
            self._retransmit_after(self.timers.t1)
        self._start_timer("B", self.timers.timeout, lambda: self._fail(408, "Request Timeout"))

    def _retransmit_after(self, interval: float) -> None:
        def retransmit() -> None:
            if self.state is State.CALLING:
                self._send(self.request)
                self._retransmit_after(interval * 2)

        self._start_timer("A", interval, retransmit)

    def receive(self, response: SipResponse) -> None:
        if response.status < 200:
            if self.state in (State.CALLING, State.PROCEEDING):
                self._stop_timer("A")
                self._stop_timer("B")
                self._enter(State.PROCEEDING)
                self._deliver(response)
        elif response.status < 300:
            if self.state is State.ACCEPTED:
                # RFC 6026 7.2: a 2xx again means our ACK was lost; the UA, which sent it, sends it again.
                self._deliver(response)
                self.layer.repeated_2xx(response)
            elif self.state in (State.CALLING, State.PROCEEDING):
                # The 2xx goes to the UA, which ACKs it itself (RFC 3261 13.2.2.4).
                self._stop_timer("A")
                self._stop_timer("B")
                self._enter(State.ACCEPTED)
                self._start_timer("M", self.timers.timeout, lambda: self._enter(State.TERMINATED))
                self._deliver(response)
        elif self.state in (State.CALLING, State.PROCEEDING):
            self._stop_timer("A")
            self._stop_timer("B")
            self._send(self._ack_for(response))
            self._enter(State.COMPLETED)
            self._deliver(response)
            delay = 0 if self.peer.reliable else self.timers.d
            self._start_timer("D", delay, lambda: self._enter(State.TERMINATED))
        elif self.state is State.COMPLETED:
            self._send(self._ack_for(response))  # our ACK was lost: send it again

    def _ack_for(self, response: SipResponse) -> SipRequest:
        """RFC 3261 17.1.1.3: the ACK for a non-2xx final response belongs to the transaction."""
        return ack_for_failure(self.request, response)


class NonInviteClientTransaction(ClientTransaction):
    """RFC 3261 17.1.2 (figure 6)."""

    kind = "client"

    def start(self) -> None:
        self.state = State.TRYING
        self._send(self.request)
        if not self.peer.reliable:
            self._retransmit_after(self.timers.t1)
        self._start_timer("F", self.timers.timeout, lambda: self._fail(408, "Request Timeout"))

    def _retransmit_after(self, interval: float) -> None:
        def retransmit() -> None:
            if self.state in (State.TRYING, State.PROCEEDING):
                self._send(self.request)
                next_interval = self.timers.t2 if self.state is State.PROCEEDING else interval * 2
                self._retransmit_after(min(next_interval, self.timers.t2))

        self._start_timer("E", interval, retransmit)

    def receive(self, response: SipResponse) -> None:
        if self.state not in (State.TRYING, State.PROCEEDING):
            return  # retransmitted final response: absorbed
        if response.status < 200:
            self._enter(State.PROCEEDING)
            self._deliver(response)
            return
        self._stop_timer("E")
        self._stop_timer("F")
        self._enter(State.COMPLETED)
        self._deliver(response)
        self._start_timer(
            "K", 0 if self.peer.reliable else self.timers.t4, lambda: self._enter(State.TERMINATED)
        )


def ack_for_failure(invite: SipRequest, response: SipResponse) -> SipRequest:
    """RFC 3261 17.1.1.3: the ACK for a non-2xx final response, with the To (and tag) of the response."""
    return sibling_request(invite, "ACK", to=response.headers.get("To"))


def sibling_request(invite: SipRequest, method: str, *, to: str | None = None) -> SipRequest:
    """A request in the INVITE's own transaction - ACK for a failure or CANCEL (RFC 3261 9.1): same
    Request-URI, top Via (branch), From, Call-ID, CSeq number and Route set."""
    headers = type(invite.headers)()
    headers.add("Via", invite.headers.get_all("Via")[0])
    for name in ("Max-Forwards", "From"):
        value = invite.headers.get(name)
        if value is not None:
            headers.add(name, value)
    headers.add("To", to or invite.headers.get("To") or "")
    headers.add("Call-ID", invite.call_id)
    headers.add("CSeq", f"{invite.cseq[0]} {method}")
    for route in invite.headers.get_all("Route"):
        headers.add("Route", route)
    return SipRequest(method, invite.uri, headers)


# -- server transactions -------------------------------------------------------------------------


class ServerTransaction(Transaction):
    """Receives a request; the UA answers with ``respond``. Retransmitted requests are absorbed."""

    kind = "server"

    def __init__(self, layer: TransactionLayer, request: SipRequest, peer: Peer) -> None:
        super().__init__(layer, request, peer)
        self.last_response: SipResponse | None = None

    def _transport_error(self, error: Exception) -> None:
        log.info("%s %s: cannot send response: %s", self.branch, self.request.method, error)
        self._enter(State.TERMINATED)

    @property
    def answered(self) -> bool:
        """A final response has been sent."""
        return self.last_response is not None and self.last_response.status >= 200

    def respond(self, response: SipResponse) -> None:
        raise NotImplementedError

    def receive(self, request: SipRequest) -> None:
        raise NotImplementedError


class InviteServerTransaction(ServerTransaction):
    """RFC 3261 17.2.1 (figure 7) with RFC 6026.

    In the Accepted state this transaction also retransmits the 2xx until the UA reports the ACK
    (``acknowledged``), which RFC 3261 13.3.1.4 assigns to the UA core: doing it here keeps the
    timers in one place. ``on_no_ack`` is called if no ACK comes within 64*T1 (the UA then hangs up).
    """

    kind = "INVITE server"

    def __init__(self, layer: TransactionLayer, request: SipRequest, peer: Peer) -> None:
        super().__init__(layer, request, peer)
        self.state = State.PROCEEDING
        self.on_no_ack: Callable[[], None] | None = None

    def respond(self, response: SipResponse) -> None:
        if self.state is not State.PROCEEDING:
            return
        self.last_response = response
        self._send(response)
        if response.status < 200:
            return
        if response.status < 300:
            self._enter(State.ACCEPTED)
            if not self.peer.reliable:
                self._retransmit_after(self.timers.t1)
            self._start_timer("L", self.timers.timeout, self._no_ack)
        else:
            self._enter(State.COMPLETED)
            if not self.peer.reliable:
                self._retransmit_after(self.timers.t1)
            self._start_timer("H", self.timers.timeout, self._no_ack)

    def _retransmit_after(self, interval: float) -> None:
        def retransmit() -> None:
            if self.state in (State.COMPLETED, State.ACCEPTED) and self.last_response is not None:
                self._send(self.last_response)
                self._retransmit_after(min(interval * 2, self.timers.t2))

        self._start_timer("G", interval, retransmit)

    def _no_ack(self) -> None:
        waited_for_2xx_ack = self.state is State.ACCEPTED
        self._enter(State.TERMINATED)
        if waited_for_2xx_ack and self.on_no_ack is not None:
            self.on_no_ack()

    def receive(self, request: SipRequest) -> None:
        if request.method == "ACK":
            if self.state is State.COMPLETED:
                self._stop_timer("G")
                self._stop_timer("H")
                self._enter(State.CONFIRMED)
                self._start_timer(
                    "I", 0 if self.peer.reliable else self.timers.t4, lambda: self._enter(State.TERMINATED)
                )
        elif self.last_response is not None and self.state in (State.PROCEEDING, State.COMPLETED):
            self._send(self.last_response)  # the INVITE was retransmitted: our answer got lost

    def acknowledged(self) -> None:
        """The UA saw the ACK for our 2xx: stop retransmitting it."""
        if self.state is State.ACCEPTED:
            self._enter(State.TERMINATED)


class NonInviteServerTransaction(ServerTransaction):
    """RFC 3261 17.2.2 (figure 8)."""

    kind = "server"

    def respond(self, response: SipResponse) -> None:
        if self.state not in (State.TRYING, State.PROCEEDING):
            return
        self.last_response = response
        self._send(response)
        if response.status < 200:
            self._enter(State.PROCEEDING)
            return
        self._enter(State.COMPLETED)
        self._start_timer(
            "J", 0 if self.peer.reliable else self.timers.timeout, lambda: self._enter(State.TERMINATED)
        )

    def receive(self, request: SipRequest) -> None:
        if self.last_response is not None:
            self._send(self.last_response)


# -- the layer -----------------------------------------------------------------------------------

#: Server transactions alive at once. Each stays up to Timer J (32 s over UDP) after its answer, so a flood of
#: requests would otherwise grow memory without bound; beyond this a new request is answered 503 with
#: Retry-After statelessly (RFC 3261 21.5.4) and nothing is kept of it.
MAX_SERVER_TRANSACTIONS = 8192
OVERLOAD_RETRY_AFTER = 5

RequestHandler = Callable[[SipRequest, Peer, "ServerTransaction | None"], None]


class TransactionLayer:
    """Matches messages to transactions (RFC 3261 17.1.3 and 17.2.3) and creates new ones.

    New requests go to ``on_request`` with their server transaction (None for an ACK to a 2xx,
    which has no transaction). A 2xx to an INVITE that comes again, whether its transaction is still
    Accepted or has ended, goes to ``on_repeated_2xx``: the UA ACKs it again. Other responses that
    match no transaction are dropped (RFC 3261 17.1.3).
    """

    def __init__(
        self,
        transport: TransportLayer,
        on_request: RequestHandler,
        on_repeated_2xx: Callable[[SipResponse], None] | None = None,
        timers: Timers | None = None,
    ) -> None:
        self.transport = transport
        self.on_request = on_request
        self.on_repeated_2xx = on_repeated_2xx
        self.timers = timers or Timers()
        self._clients: dict[tuple[str, str], ClientTransaction] = {}
        self._servers: dict[tuple[str, str, int | None, str], ServerTransaction] = {}
        self._sends = Tasks(log, "send")
        self._overload = SparseLog(log)

    # -- from the transport ----------------------------------------------------------------------
    def handle(self, message: SipRequest | SipResponse, peer: Peer) -> None:
        if isinstance(message, SipResponse):
            client = self._clients.get((message.vias[0].branch or "", message.cseq[1]))
            if client is not None:
                client.receive(message)
            else:
                self.repeated_2xx(message)
            return
        key = _server_key(message)
        server = self._servers.get(key)
        if server is not None:
            server.receive(message)
            return
        if message.method == "ACK":
            self.on_request(message, peer, None)
            return
        if len(self._servers) >= MAX_SERVER_TRANSACTIONS:
            self._overloaded(message, peer)
            return
        server = (InviteServerTransaction if message.method == "INVITE" else NonInviteServerTransaction)(
            self, message, peer
        )
        self._servers[key] = server
        try:
            self.on_request(message, peer, server)
        except Exception:
            # A bug in the UA must still answer the request, or its transaction would never end.
            log.exception("%s %s: the request handler failed", server.branch, message.method)
            if not server.answered:
                server.respond(response_to(message, 500))

    def _overloaded(self, request: SipRequest, peer: Peer) -> None:
        response = response_to(request, 503)
        response.headers.add("Retry-After", str(OVERLOAD_RETRY_AFTER))
        self._overload.warning(f"{len(self._servers)} transactions alive: {request.method} answered 503")
        self.send_stateless(response, peer)

    def __len__(self) -> int:
        """How many transactions are alive (each ends by itself, through its timers)."""
        return len(self._clients) + len(self._servers)

    # -- for the UA -------------------------------------------------------------------------------
    def request(
        self, request: SipRequest, peer: Peer, on_response: ResponseHandler | None = None
    ) -> ClientTransaction:
        """Start a client transaction for ``request`` (its top Via must carry a fresh branch)."""
        kind = InviteClientTransaction if request.method == "INVITE" else NonInviteClientTransaction
        transaction = kind(self, request, peer, on_response)
        self._clients[(transaction.branch, request.method)] = transaction
        transaction.start()
        return transaction

    def invite_server(self, cancel: SipRequest) -> InviteServerTransaction | None:
        """The INVITE transaction a CANCEL is aimed at (RFC 3261 9.2)."""
        key = _server_key(cancel)
        server = self._servers.get((key[0], key[1], key[2], "INVITE"))
        return server if isinstance(server, InviteServerTransaction) else None

    def repeated_2xx(self, response: SipResponse) -> None:
        """A 2xx to an INVITE came again (our ACK was lost): to the UA, which ACKs it again."""
        if response.cseq[1] == "INVITE" and 200 <= response.status < 300 and self.on_repeated_2xx:
            self.on_repeated_2xx(response)

    def send_stateless(self, message: SipRequest | SipResponse, peer: Peer) -> None:
        """For the ACK to a 2xx and 2xx retransmissions, which live outside transactions."""
        self._send(message, peer, lambda error: log.info("cannot send %s: %s", _describe(message), error))

    def close(self) -> None:
        for transaction in [*self._clients.values(), *self._servers.values()]:
            transaction._enter(State.TERMINATED)
        self._sends.cancel_all()

    # -- plumbing -----------------------------------------------------------------------------------
    def _send(
        self, message: SipRequest | SipResponse, peer: Peer, on_error: Callable[[Exception], None]
    ) -> None:
        async def send() -> None:
            try:
                await self.transport.send(message, peer)
            except (TransportError, OSError) as error:
                on_error(error)

        self._sends.spawn(send())

    def _forget(self, transaction: Transaction) -> None:
        if isinstance(transaction, ClientTransaction):
            self._clients.pop((transaction.branch, transaction.request.method), None)
        else:
            key = _server_key(transaction.request)
            if self._servers.get(key) is transaction:
                del self._servers[key]


def _server_key(request: SipRequest) -> tuple[str, str, int | None, str]:
    """RFC 3261 17.2.3: branch, sent-by and method, with ACK matching its INVITE."""
    top: Via = request.vias[0]
    method = "INVITE" if request.method == "ACK" else request.method
    return (top.branch or "", top.host, top.port, method)


def _describe(message: SipRequest | SipResponse) -> str:
    return message.method if isinstance(message, SipRequest) else f"{message.status} response"
