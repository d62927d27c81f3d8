"""The SIP user agent core: transport + transactions + dialogs, and what a UA answers by itself.

``UserAgent`` places calls (``call``), hands offered calls to ``on_invite``, answers OPTIONS,
registers with refresh (``register``), retries requests once with digest credentials on 401/407
and with a larger interval on 422, and routes in-dialog requests to their ``Call``. With a
``sip.registrar.Registrar`` it is a registrar too: REGISTER goes there, and calls to a registered
device behind NAT keep to the address its REGISTER came from. Once ``drain``ed it takes no new call
(503) and says so to OPTIONS probes (503), while the calls it has go on.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field

from faxgw.sip import session_timer
from faxgw.sip.admission import Admission, Refusal
from faxgw.sip.auth import AuthError, DigestClient, choose_challenge
from faxgw.sip.call import SDP, Call, IncomingCall, OfferHandler, OutgoingCall
from faxgw.sip.dialog import MAX_FORWARDS, Dialog, peer_for_uri
from faxgw.sip.message import (
    Address,
    Headers,
    SipRequest,
    SipResponse,
    SipUri,
    Via,
    decimal,
    new_branch,
    new_call_id,
    new_tag,
    response_to,
)
from faxgw.sip.registrar import Registrar
from faxgw.sip.sdp import SessionDescription
from faxgw.sip.tasks import Tasks
from faxgw.sip.transaction import (
    ClientTransaction,
    InviteServerTransaction,
    ServerTransaction,
    Timers,
    TransactionLayer,
)
from faxgw.sip.transport import Peer, TransportLayer

log = logging.getLogger("sip.ua")

USER_AGENT = "faxgw/0.1"
#: Seconds before a failed REGISTER refresh is tried again.
RETRY_AFTER = 30.0
#: Retry-After (seconds) of the 503 a draining user agent answers new INVITEs and OPTIONS with.
DRAINING_RETRY_AFTER = 30


@dataclass
class UaConfig:
    host: str = "127.0.0.1"
    port: int = 0
    tcp: bool = False
    tls_context: ssl.SSLContext | None = None  # server side: our certificate; listening on TLS if set
    tls_port: int = 0
    tls_client_context: ssl.SSLContext | None = None  # for connections we open (default: system CAs)
    user: str = "faxgw"
    display_name: str | None = None
    domain: str | None = None  # host part of our From; defaults to our address
    username: str | None = None  # digest credentials
    password: str | None = None
    session_expires: int | None = session_timer.DEFAULT_INTERVAL
    min_se: int = session_timer.MIN_SE
    timers: Timers = field(default_factory=Timers)
    #: Who may call us and how often (see ``sip.admission``); None: anyone, as a test peer or CLI tool.
    admission: Admission | None = None
    #: Takes REGISTER from devices (``sip.registrar``); None: REGISTER is refused (admission's 403).
    registrar: Registrar | None = None


InviteHandler = Callable[[IncomingCall], None]


class UserAgent:
    ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO"

    def __init__(self, config: UaConfig | None = None, on_invite: InviteHandler | None = None) -> None:
        self.config = config or UaConfig()
        self.on_invite = on_invite
        admission = self.config.admission
        self.transport = TransportLayer(self._on_message, admission.trusts if admission else None)
        self.transactions = TransactionLayer(
            self.transport, self._on_request, self._on_repeated_2xx, self.config.timers
        )
        self._dialogs: dict[tuple[str, str, str], Call] = {}
        self._early: dict[str, IncomingCall] = {}  # by INVITE branch, for CANCEL
        self._digest = (
            DigestClient(self.config.username, self.config.password)
            if self.config.username and self.config.password is not None
            else None
        )
        self.draining = False

    # -- life -----------------------------------------------------------------------------------
    async def start(self) -> tuple[str, int]:
        host, port = await self.transport.listen_udp(self.config.host, self.config.port)
        if self.config.tcp:
            await self.transport.listen_tcp(self.config.host, port)
        if self.config.tls_context is not None:
            await self.transport.listen_tls(
                self.config.host,
                self.config.tls_port,
                self.config.tls_context,
                self.config.tls_client_context,
            )
        if self.config.registrar is not None:
            self.config.registrar.start(self.qualify)
        log.info("SIP user agent on %s:%s", host, port)
        return host, port

    def drain(self) -> None:
        """Take no new call from now on: an INVITE outside any dialog is answered 503 with Retry-After (RFC
        3261 21.5.4), and so is OPTIONS, so that whoever probes us (Kamailio's dispatcher) sends calls
        elsewhere. Requests within dialogs are untouched: the calls under way go on to their end."""
        if not self.draining:
            log.info("draining: new calls and OPTIONS answered 503, calls under way go on")
        self.draining = True

    def close(self) -> None:
        if self.config.registrar is not None:
            self.config.registrar.close()
        self.transactions.close()
        self.transport.close()

    @property
    def address(self) -> tuple[str, int]:
        return self.transport.via_address("UDP")

    def contact(self, transport: str = "UDP") -> str:
        host, port = self.transport.via_address(transport)
        suffix = "" if transport == "UDP" else f";transport={transport.lower()}"
        return f"<sip:{self.config.user}@{_host(host)}:{port}{suffix}>"

    def decorate(self, message: SipRequest | SipResponse) -> None:
        name = "User-Agent" if isinstance(message, SipRequest) else "Server"
        if name not in message.headers:
            message.headers.add(name, USER_AGENT)

    def peer_for(self, uri: SipUri) -> Peer:
        return peer_for_uri(uri)

    # -- outgoing --------------------------------------------------------------------------------
    def call(
        self,
        target: str | SipUri,
        offer: SessionDescription,
        *,
        caller: str | None = None,
        on_offer: OfferHandler | None = None,
        credentials: DigestClient | None = None,
    ) -> OutgoingCall:
        """Prepare a call to ``target``; ``await call.connect()`` places it. ``credentials``: ours toward
        this peer (a trunk's own), used for the whole call; None: the user agent's."""
        uri = SipUri.parse(target) if isinstance(target, str) else target
        request = self._out_of_dialog("INVITE", uri, Address(None, uri, {}), caller=caller)
        request.headers.add("Contact", self.contact(self.peer_for(uri).transport))
        request.headers.add("Allow", self.ALLOW)
        if self.config.session_expires:
            session_timer.add_request_headers(
                request.headers, self.config.session_expires, self.config.min_se
            )
        request.headers.add("Content-Type", SDP)
        request.body = bytes(offer)
        call = OutgoingCall(self, request, offer, on_offer)
        call.credentials = credentials
        if self.config.registrar is not None:
            call.flow = self.config.registrar.flow(uri)  # a device behind NAT: its dialog keeps there
        return call

    async def options(self, target: str | SipUri) -> SipResponse:
        uri = SipUri.parse(target) if isinstance(target, str) else target
        request = self._out_of_dialog("OPTIONS", uri, Address(None, uri, {}))
        return await self.send_request(request, self.peer_for(uri))

    async def qualify(self, target: SipUri) -> bool:
        """Whether ``target`` answers an OPTIONS at all (any status: it is there). A timeout or a
        transport failure ends the transaction with a response made here, which has no To tag: a UAS
        always adds one to its responses (RFC 3261 8.2.6.2)."""
        response = await self.options(target)
        return response.to_address.tag is not None

    def _out_of_dialog(
        self,
        method: str,
        uri: SipUri,
        to: Address,
        *,
        caller: str | None = None,
        call_id: str | None = None,
        from_tag: str | None = None,
        cseq: int = 1,
    ) -> SipRequest:
        """RFC 3261 8.1.1: a request outside any dialog."""
        peer = self.peer_for(uri)
        host, port = self.transport.via_address(peer.transport)
        domain = self.config.domain or _host(host)
        from_uri = SipUri.parse(f"sip:{caller or self.config.user}@{domain}")
        headers = Headers()
        headers.add("Via", f"SIP/2.0/{peer.transport} {_host(host)}:{port};branch={new_branch()};rport")
        headers.add("Max-Forwards", MAX_FORWARDS)
        headers.add("From", str(Address(self.config.display_name, from_uri, {"tag": from_tag or new_tag()})))
        headers.add("To", str(to))
        headers.add("Call-ID", call_id or new_call_id(host))
        headers.add("CSeq", f"{cseq} {method}")
        request = SipRequest(method, uri, headers)
        self.decorate(request)
        return request

    async def send_request(
        self,
        request: SipRequest,
        peer: Peer,
        *,
        return_request: bool = False,
        on_provisional: Callable[[SipResponse], None] | None = None,
        on_transaction: Callable[[ClientTransaction], None] | None = None,
        credentials: DigestClient | None = None,
    ):
        """Send and wait for the final response, answering one digest challenge (401/407) and
        one 422 (RFC 4028) by re-sending with a new CSeq and branch. Returns the final response,
        or ``(response, request actually sent)`` with ``return_request``. ``credentials`` answer the
        challenge (default: the user agent's own).
        """
        challenged: set[str] = set()
        while True:

            def on_response(response: SipResponse) -> None:
                if response.status < 200 and on_provisional is not None:
                    on_provisional(response)

            transaction = self.transactions.request(request, peer, on_response)
            if on_transaction is not None:
                on_transaction(transaction)
            response = await transaction.final
            retry = self._retry_for(request, response, challenged, credentials or self._digest)
            if retry is None:
                return (response, request) if return_request else response
            request = retry

    def _retry_for(
        self,
        request: SipRequest,
        response: SipResponse,
        challenged: set[str],
        digest: DigestClient | None,
    ) -> SipRequest | None:
        if response.status in (401, 407) and digest is not None:
            header = "WWW-Authenticate" if response.status == 401 else "Proxy-Authenticate"
            try:
                challenge = choose_challenge(response.headers.get_all(header))
            except AuthError as error:
                log.info("%s: unusable challenge: %s", request.method, error)
                return None
            if challenge.realm in challenged and not challenge.stale:
                return None  # our credentials were refused
            challenged.add(challenge.realm)
            retry = _next_attempt(request)
            field_name = "Authorization" if response.status == 401 else "Proxy-Authorization"
            retry.headers.remove(field_name)
            retry.headers.add(
                field_name,
                digest.authorization(challenge, request.method, str(request.uri), request.body),
            )
            return retry
        if response.status == 422 and "422" not in challenged:
            min_se = session_timer.min_se_from_422(response)
            if min_se is None:
                return None
            challenged.add("422")
            retry = _next_attempt(request)
            retry.headers.set("Session-Expires", str(min_se))
            retry.headers.set("Min-SE", str(min_se))
            return retry
        return None

    # -- registration ----------------------------------------------------------------------------
    async def register(
        self,
        registrar: str | SipUri,
        *,
        aor: str | None = None,
        expires: int = 3600,
        credentials: DigestClient | None = None,
    ) -> Registration:
        """Register our Contact and keep it refreshed until ``Registration.stop()``; ``credentials``:
        ours toward this registrar (a trunk's own), else the user agent's."""
        registration = Registration(
            self,
            SipUri.parse(registrar) if isinstance(registrar, str) else registrar,
            aor,
            expires,
            credentials,
        )
        await registration.refresh()
        return registration

    # -- incoming ------------------------------------------------------------------------------
    def _on_message(self, message: SipRequest | SipResponse, peer: Peer) -> None:
        admission = self.config.admission
        if (
            isinstance(message, SipRequest)
            and admission
            and not self._registers(message)
            and admission.ignores(message, peer.host)
        ):
            return  # not even a transaction: a dropped request leaves nothing behind
        self.transactions.handle(message, peer)

    def _on_request(self, request: SipRequest, peer: Peer, transaction: ServerTransaction | None) -> None:
        to_tag = request.to_address.tag
        if to_tag:
            call = self._dialogs.get((request.call_id, to_tag, request.from_address.tag or ""))
            if call is not None:
                call.receive(request, transaction)
            elif transaction is not None:
                transaction.respond(self._response(request, 481))
            return
        if transaction is None:
            return  # an ACK that belongs to nothing: absorb
        if self._registers(request):
            assert self.config.registrar is not None
            response = self.config.registrar.handle(request, peer)
            self.decorate(response)
            transaction.respond(response)
            return
        admitted = self.config.admission.check(request, peer.host) if self.config.admission else None
        if isinstance(admitted, Refusal):
            response = self._response(request, admitted.status)
            for name, value in admitted.headers:
                response.headers.add(name, value)
            transaction.respond(response)
            return
        if self.draining and request.method in ("INVITE", "OPTIONS"):
            response = self._response(request, 503)
            response.headers.add("Retry-After", str(DRAINING_RETRY_AFTER))
            transaction.respond(response)
            return
        if request.method == "INVITE":
            user = admitted.user if admitted is not None else None
            self._on_invite(request, peer, transaction, user)  # type: ignore[arg-type]
        elif request.method == "CANCEL":
            self._on_cancel(request, transaction)
        elif request.method == "OPTIONS":
            response = self._response(request, 200)
            response.headers.add("Allow", self.ALLOW)
            response.headers.add("Accept", SDP)
            response.headers.add("Supported", "timer")
            transaction.respond(response)
        elif request.method == "BYE":
            transaction.respond(self._response(request, 481))
        else:
            response = self._response(request, 405)
            response.headers.add("Allow", self.ALLOW)
            transaction.respond(response)

    def _registers(self, request: SipRequest) -> bool:
        """Whether ``request`` is a REGISTER our registrar takes (it authenticates devices itself)."""
        return request.method == "REGISTER" and self.config.registrar is not None

    def _on_invite(
        self, request: SipRequest, peer: Peer, transaction: InviteServerTransaction, user: str | None
    ) -> None:
        transaction.respond(self._response(request, 100))
        if self.on_invite is None:
            transaction.respond(self._response(request, 480))
            return
        call = IncomingCall.offered(self, request, transaction, peer.transport)
        if call is None:
            return  # refused (400, 415) with the reason
        assert call.dialog is not None
        call.authenticated_user = user
        call.source = peer.host
        registrar = self.config.registrar
        if user is not None and registrar is not None and registrar.accounts(user) is not None:
            # A device (it proved who it is) is reached where its requests come from: behind NAT its
            # Contact names a private address (RFC 3581 symmetric signalling, as for its registration).
            call.dialog.flow = peer
        self.remember_dialog(call.dialog, call)
        branch = transaction.branch
        self._early[branch] = call
        call.ended.add_done_callback(lambda _: self._early.pop(branch, None))
        self.on_invite(call)

    def _on_cancel(self, request: SipRequest, transaction: ServerTransaction) -> None:
        """RFC 3261 9.2: 200 to the CANCEL, then 487 to the INVITE if still unanswered."""
        invite = self.transactions.invite_server(request)
        call = self._early.get(invite.branch) if invite is not None else None
        if call is None:
            transaction.respond(self._response(request, 481))
            return
        transaction.respond(response_to(request, 200, to_tag=call.dialog.local_tag if call.dialog else None))
        call.cancelled()

    def _on_repeated_2xx(self, response: SipResponse) -> None:
        call = self._dialogs.get(
            (response.call_id, response.from_address.tag or "", response.to_address.tag or "")
        )
        if call is not None:
            call.resend_ack()

    def _response(self, request: SipRequest, status: int) -> SipResponse:
        response = response_to(request, status, to_tag=new_tag() if status > 100 else None)
        self.decorate(response)
        return response

    # -- dialogs ----------------------------------------------------------------------------------
    def remember_dialog(self, dialog: Dialog, call: Call) -> None:
        self._dialogs[dialog.id] = call

    def forget_dialog(self, dialog: Dialog) -> None:
        self._dialogs.pop(dialog.id, None)


class Registration:
    """A REGISTER binding (RFC 3261 10.2) refreshed before it expires (a failed refresh: again after
    ``RETRY_AFTER`` seconds)."""

    def __init__(
        self,
        ua: UserAgent,
        registrar: SipUri,
        aor: str | None,
        expires: int,
        credentials: DigestClient | None = None,
    ) -> None:
        self.ua = ua
        self.registrar = registrar
        self.credentials = credentials
        domain = _host(registrar.host)
        user = credentials.username if credentials else ua.config.username or ua.config.user
        self.aor = SipUri.parse(aor or f"sip:{user}@{domain}")
        self.expires = expires
        self.granted: int | None = None
        self.call_id = new_call_id(ua.address[0])
        self.from_tag = new_tag()
        self.cseq = 0
        self._refresh: asyncio.TimerHandle | None = None
        self._tasks = Tasks(log, f"registration refresh with {registrar}")
        self.last_status: int | None = None

    async def refresh(self, expires: int | None = None) -> SipResponse:
        self.cseq += 1
        uri = SipUri.parse(f"sip:{self.registrar.hostport}")
        request = self.ua._out_of_dialog(
            "REGISTER",
            uri,
            Address(None, self.aor, {}),
            call_id=self.call_id,
            from_tag=self.from_tag,
            cseq=self.cseq,
            caller=self.aor.user,
        )
        request.headers.set("From", str(Address(None, self.aor, {"tag": self.from_tag})))
        contact = self.ua.contact()
        request.headers.add("Contact", contact)
        request.headers.add("Expires", str(self.expires if expires is None else expires))
        response, sent = await self.ua.send_request(
            request, self.ua.peer_for(self.registrar), return_request=True, credentials=self.credentials
        )
        self.cseq = sent.cseq[0]
        self.last_status = response.status
        if response.status >= 300:
            raise RegistrationError(response.status, response.reason)
        self.granted = _granted_expires(response, self.expires, Address.parse(contact).uri)
        if self.granted and expires != 0:
            # Refresh well before expiry: at most halfway, never later than 30 s before the end.
            delay = max(min(self.granted / 2, self.granted - 30), 1)
            loop = asyncio.get_running_loop()
            if self._refresh:
                self._refresh.cancel()
            self._refresh = loop.call_later(delay, self._refresh_in_background)
        return response

    def _refresh_in_background(self) -> None:
        self._tasks.spawn(self._safe_refresh())

    async def _safe_refresh(self) -> None:
        try:
            await self.refresh()
        except RegistrationError as error:
            # Tried again later: a registrar that restarts or refuses once must not lose us for good.
            log.warning(
                "registration refresh with %s failed: %s (again in %g s)", self.registrar, error, RETRY_AFTER
            )
            self._refresh = asyncio.get_running_loop().call_later(RETRY_AFTER, self._refresh_in_background)

    async def stop(self) -> None:
        """Remove the binding (Expires: 0)."""
        if self._refresh:
            self._refresh.cancel()
        await self._tasks.cancel()  # a refresh under way would otherwise race the removal
        try:
            await self.refresh(expires=0)
        except RegistrationError as error:
            log.info("unregister failed: %s", error)


class RegistrationError(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"REGISTER refused: {status} {reason}")
        self.status = status


def _granted_expires(response: SipResponse, asked: int, ours: SipUri) -> int:
    """The expiry the registrar gave our contact: its expires parameter on our Contact among the bindings
    listed (other devices of the same address of record have their own), else the Expires header."""
    for value in response.headers.get_all("Contact"):
        contact = Address.parse(value)
        granted = decimal(contact.params.get("expires"))
        if granted is not None and contact.uri.hostport == ours.hostport and contact.uri.user == ours.user:
            return granted
    granted = decimal(response.headers.get("Expires"))
    return asked if granted is None else granted


def _next_attempt(request: SipRequest) -> SipRequest:
    """The same request again with a new branch and the next CSeq (RFC 3261 8.1.3.5, 22.2)."""
    headers = request.headers.copy()
    vias = headers.get_all("Via")
    top = Via.parse(vias[0])
    top.params["branch"] = new_branch()
    headers.remove("Via")
    for value in [str(top), *vias[1:]]:
        headers.add("Via", value)
    number, method = request.cseq
    headers.set("CSeq", f"{number + 1} {method}")
    return SipRequest(request.method, request.uri, headers, request.body)


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
