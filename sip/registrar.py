"""A registrar (RFC 3261 10.3) for the devices that register with us: ATAs, fax machines, PBX extensions.

The user agent hands it every REGISTER. A device authenticates with digest (``sip.auth.DigestServer``);
the address of record is the username it authenticated as, so a device can only bind its own. Each
contact is bound until it expires (``Expires`` or the contact's ``expires`` parameter, held between
``min_expires`` and ``max_expires``), is refreshed or removed (``Expires: 0``, ``Contact: *``).

NAT: a device behind NAT registers a Contact with its private address, which nobody outside can reach.
The registrar remembers where the REGISTER really came from (the source the transport stamped in the
top Via as ``received``/``rport``, RFC 3581) and reaches the device there, as Asterisk's
``rewrite_contact`` does; requests inside a dialog with it go there too (``flow``). Qualify: every
``keepalive`` seconds each contact gets an OPTIONS; a contact that stops answering is marked
unreachable and dropped after ``QUALIFY_MISSES`` misses. The pings also keep the NAT binding open.

Bounded: users come only from the ``accounts`` lookup (the configuration), each holds at most its
``max_contacts`` bindings, and a request from an unknown user leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from faxgw.sip.auth import DigestServer
from faxgw.sip.dialog import peer_for_uri
from faxgw.sip.message import (
    Address,
    SipParseError,
    SipRequest,
    SipResponse,
    SipUri,
    decimal,
    new_tag,
    response_to,
)
from faxgw.sip.tasks import Tasks
from faxgw.sip.transport import Peer

log = logging.getLogger("sip.registrar")

#: Expiry bounds (seconds) when the caller gives none; a REGISTER without any expiry gets DEFAULT_EXPIRES.
MIN_EXPIRES = 60
MAX_EXPIRES = 3600
DEFAULT_EXPIRES = 3600
#: OPTIONS left unanswered in a row before a contact is dropped (the first one marks it unreachable).
QUALIFY_MISSES = 3

#: Digest algorithms offered to devices, in this order. MD5 first: ATAs and simple stacks (SIPp among them)
#: answer the first challenge and fail on one they cannot compute, and MD5 is the one they all know.
#: SHA-256 is still offered and accepted (RFC 8760: a client that knows both may choose).
DEVICE_ALGORITHMS = ("MD5", "SHA-256")

#: Sends an OPTIONS to a contact; True when the contact answered at all (any status).
Qualify = Callable[[SipUri], Awaitable[bool]]


@dataclass(frozen=True)
class Account:
    """A user the registrar knows: its digest password and what it may register."""

    password: str
    max_contacts: int = 4
    keepalive: float = 30.0  # seconds between OPTIONS to each of its contacts; 0: never qualified


@dataclass(eq=False)
class Binding:
    """One registered contact of a user."""

    contact: Address  # as the device registered it (its expires parameter removed)
    call_id: str
    cseq: int
    expires_at: float  # on the registrar's clock
    source: Peer  # where the REGISTER came from
    registered_at: float
    reachable: bool = True
    misses: int = 0  # OPTIONS unanswered in a row
    qualifier: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def uri(self) -> SipUri:
        return self.contact.uri

    @property
    def behind_nat(self) -> bool:
        """Whether the Contact names another address (or transport) than the one the REGISTER came from."""
        reached = peer_for_uri(self.uri)
        return (reached.transport, reached.host, reached.port) != (
            self.source.transport,
            self.source.host,
            self.source.port,
        )

    @property
    def target(self) -> SipUri:
        """The URI to call the device at: its Contact, or behind NAT the Contact moved to the source address
        (and transport) the REGISTER came from."""
        if not self.behind_nat:
            return self.uri
        uri = copy.deepcopy(self.uri)
        uri.host, uri.port = self.source.host, self.source.port
        if self.source.transport == "UDP":
            uri.params.pop("transport", None)
        elif uri.scheme == "sip":
            uri.params["transport"] = self.source.transport.lower()
        return uri

    @property
    def q(self) -> float:
        """The contact's preference (RFC 3261 20.10), 1.0 when it gave none or an unreadable one."""
        try:
            return min(max(float(self.contact.params.get("q") or 1.0), 0.0), 1.0)
        except ValueError:
            return 1.0


class Registrar:
    """Bindings per user, from REGISTER requests; ``contacts(user)`` says where to reach a device."""

    def __init__(
        self,
        realm: str,
        accounts: Callable[[str], Account | None],
        *,
        min_expires: int = MIN_EXPIRES,
        max_expires: int = MAX_EXPIRES,
        default_expires: int = DEFAULT_EXPIRES,
        clock: Callable[[], float] = time.monotonic,
        digest: DigestServer | None = None,
    ) -> None:
        if not 0 < min_expires <= default_expires <= max_expires:
            raise ValueError("need 0 < min_expires <= default_expires <= max_expires")
        self.accounts = accounts
        self.min_expires = min_expires
        self.max_expires = max_expires
        self.default_expires = default_expires
        self._clock = clock
        self.digest = digest or DigestServer(realm, self._password, *DEVICE_ALGORITHMS)
        self._bindings: dict[str, list[Binding]] = {}
        self._qualify: Qualify | None = None
        self._tasks = Tasks(log, "qualifying a registered contact")

    def _password(self, username: str) -> str | None:
        account = self.accounts(username)
        return account.password if account is not None else None

    # -- life -----------------------------------------------------------------------------------
    def start(self, qualify: Qualify) -> None:
        """Begin qualifying contacts with ``qualify`` (the user agent's OPTIONS)."""
        self._qualify = qualify

    def close(self) -> None:
        self._qualify = None
        self._tasks.cancel_all()

    # -- lookups --------------------------------------------------------------------------------
    def contacts(self, username: str) -> list[Binding]:
        """The user's live bindings, the ones to call first first: reachable, then by q, then newest."""
        bindings = self._live(username)
        return sorted(bindings, key=lambda b: (not b.reachable, -b.q, -b.registered_at))

    def expires_in(self, binding: Binding) -> int:
        """Seconds until ``binding`` expires unless refreshed."""
        return max(0, round(binding.expires_at - self._clock()))

    def flow(self, uri: SipUri) -> Peer | None:
        """Where requests for a binding's ``target`` go when the device is behind NAT: the address its
        REGISTER came from (None: not such a target, send as the URI says)."""
        key = _uri_key(uri)
        for bindings in self._bindings.values():
            for binding in bindings:
                if binding.behind_nat and _uri_key(binding.target) == key:
                    return binding.source
        return None

    def _live(self, username: str) -> list[Binding]:
        """The user's bindings with the expired ones removed (bindings expire by themselves)."""
        bindings = self._bindings.get(username)
        if not bindings:
            return []
        now = self._clock()
        for binding in [b for b in bindings if b.expires_at <= now]:
            log.info("%s: %s expired", username, binding.uri)
            self._drop(username, binding)
        return list(self._bindings.get(username, []))

    def _drop(self, username: str, binding: Binding) -> None:
        bindings = self._bindings.get(username, [])
        if binding in bindings:
            bindings.remove(binding)
        if not bindings:
            self._bindings.pop(username, None)
        if binding.qualifier is not None and binding.qualifier is not asyncio.current_task():
            binding.qualifier.cancel()

    # -- REGISTER (RFC 3261 10.3) ---------------------------------------------------------------
    def handle(self, request: SipRequest, source: Peer) -> SipResponse:
        """The response to a REGISTER that came from ``source``."""
        verdict, username = self._authenticate(request)
        if verdict is not None:
            return verdict
        assert username is not None
        account = self.accounts(username)
        assert account is not None  # the digest check found its password
        aor = request.to_address.uri
        if aor.user != username:  # step 6: a user binds only its own address of record
            return self._refuse(request, 403, f"{username} may not register {aor.user or 'that address'}")
        try:
            changes = self._read_contacts(request)
        except SipParseError as error:
            return self._refuse(request, 400, str(error))
        except _TooBrief:
            response = self._refuse(request, 423, "Interval Too Brief")
            response.headers.add("Min-Expires", str(self.min_expires))
            return response
        if changes is not None:
            failure = self._apply(username, account, request, source, changes)
            if failure is not None:
                return failure
        return self._bindings_response(request, username)

    def _authenticate(self, request: SipRequest) -> tuple[SipResponse | None, str | None]:
        """RFC 3261 22.4 as the registrar: (None, username) when the credentials check out; else the
        401 challenge or the 403."""
        authorizations = request.headers.get_all("Authorization")
        outcome = self.digest.authenticate(authorizations, "REGISTER", uri=str(request.uri))
        if outcome.user is not None:
            return None, outcome.user
        if outcome.challenges:
            response = self._response(request, 401)
            for challenge in outcome.challenges:
                response.headers.add("WWW-Authenticate", challenge)
            return response, None
        return self._refuse(request, 403, f"credentials refused ({outcome.refused})"), None

    def _read_contacts(self, request: SipRequest) -> list[tuple[Address, int]] | None:
        """The contacts a REGISTER binds and for how long (0: remove), [] for ``Contact: *`` with
        ``Expires: 0`` (remove all), None for a query. Raises SipParseError (400) or _TooBrief (423)."""
        values = request.headers.get_all("Contact")
        if not values:
            return None
        header = request.headers.get("Expires")
        expires = decimal(header) if header is not None else None
        if header is not None and expires is None:
            raise SipParseError(f"bad Expires {header[:20]!r}")
        if "*" in values:  # RFC 3261 10.3 step 6: only alone and with Expires: 0
            if len(values) != 1 or expires != 0:
                raise SipParseError("Contact: * needs Expires: 0 and no other contact")
            return []
        contacts = []
        for value in values:
            address = Address.parse(value)
            if address.uri.port == 0:
                raise SipParseError("bad Contact: port 0")
            param = address.params.pop("expires", None)
            seconds = decimal(param) if param is not None else expires
            if param is not None and seconds is None:
                raise SipParseError(f"bad expires parameter {param[:20]!r}")
            if seconds is None:
                seconds = self.default_expires
            if 0 < seconds < self.min_expires:
                raise _TooBrief
            contacts.append((address, min(seconds, self.max_expires)))
        return contacts

    def _apply(
        self,
        username: str,
        account: Account,
        request: SipRequest,
        source: Peer,
        changes: list[tuple[Address, int]],
    ) -> SipResponse | None:
        """Steps 7 and 8: every change checked first, then all made (or none), then the limit kept."""
        bindings = self._live(username)
        call_id, cseq = request.call_id, request.cseq[0]
        if not changes:  # Contact: *
            for binding in [b for b in bindings if b.call_id != call_id or b.cseq < cseq]:
                self._drop(username, binding)
            log.info("%s: all contacts removed", username)
            return None
        by_key = {_uri_key(binding.uri): binding for binding in bindings}
        for address, _ in changes:
            existing = by_key.get(_uri_key(address.uri))
            if existing is not None and existing.call_id == call_id and existing.cseq >= cseq:
                return self._refuse(request, 500, "CSeq out of order")  # a retransmission or a reordering
        adding = sum(1 for address, seconds in changes if seconds and _uri_key(address.uri) not in by_key)
        if adding > account.max_contacts:
            return self._refuse(request, 403, f"at most {account.max_contacts} contacts")
        now = self._clock()
        for address, seconds in changes:
            existing = by_key.get(_uri_key(address.uri))
            if seconds == 0:
                if existing is not None:
                    log.info("%s: %s removed", username, existing.uri)
                    self._drop(username, existing)
                continue
            if existing is not None:
                existing.contact, existing.call_id, existing.cseq = address, call_id, cseq
                existing.expires_at, existing.source = now + seconds, source
                continue
            binding = Binding(address, call_id, cseq, now + seconds, source, registered_at=now)
            self._bindings.setdefault(username, []).append(binding)
            log.info(
                "%s: %s registered from %s:%s for %d s%s",
                username,
                binding.uri,
                source.host,
                source.port,
                seconds,
                f", reached at {binding.target}" if binding.behind_nat else "",
            )
            self._qualify_later(username, account, binding)
        self._keep_limit(username, account)
        return None

    def _keep_limit(self, username: str, account: Account) -> None:
        """Over its limit, a user loses the bindings that expire first: a device that came back with a
        new address (a reboot, a new DHCP lease) must not be locked out by its own stale binding."""
        bindings = self._bindings.get(username, [])
        excess = max(0, len(bindings) - account.max_contacts)
        for binding in sorted(bindings, key=lambda b: b.expires_at)[:excess]:
            log.info("%s: %s replaced (at most %d contacts)", username, binding.uri, account.max_contacts)
            self._drop(username, binding)

    def _bindings_response(self, request: SipRequest, username: str) -> SipResponse:
        """Step 8: 200 listing every current binding with the seconds it has left."""
        response = self._response(request, 200)
        now = self._clock()
        for binding in self._live(username):
            remaining = max(0, round(binding.expires_at - now))
            params = {**binding.contact.params, "expires": str(remaining)}
            response.headers.add("Contact", str(Address(None, binding.uri, params)))
        response.headers.add("Date", time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime()))
        return response

    # -- qualify ----------------------------------------------------------------------------------
    def _qualify_later(self, username: str, account: Account, binding: Binding) -> None:
        if self._qualify is not None and account.keepalive > 0:
            binding.qualifier = self._tasks.spawn(self._keep_qualifying(username, account.keepalive, binding))

    async def _keep_qualifying(self, username: str, every: float, binding: Binding) -> None:
        """OPTIONS to the contact every ``every`` seconds while it is bound."""
        while True:
            await asyncio.sleep(every)
            if binding not in self._live(username) or self._qualify is None:
                return
            answered = await self._qualify(binding.target)
            if answered:
                if not binding.reachable:
                    log.info("%s: %s reachable again", username, binding.uri)
                binding.reachable, binding.misses = True, 0
                continue
            binding.misses += 1
            if binding.reachable:
                log.warning("%s: %s does not answer OPTIONS: unreachable", username, binding.uri)
            binding.reachable = False
            if binding.misses >= QUALIFY_MISSES:
                log.warning(
                    "%s: %s dropped after %d unanswered OPTIONS", username, binding.uri, binding.misses
                )
                self._drop(username, binding)
                return

    # -- responses --------------------------------------------------------------------------------
    @staticmethod
    def _response(request: SipRequest, status: int) -> SipResponse:
        return response_to(request, status, to_tag=new_tag())

    def _refuse(self, request: SipRequest, status: int, why: str) -> SipResponse:
        log.info("REGISTER %s: %d, %s", request.call_id, status, why)
        return self._response(request, status)


class _TooBrief(Exception):
    """A contact asked for less than min_expires (423, RFC 3261 10.3 step 7)."""


def _uri_key(uri: SipUri) -> tuple[str, str | None, str, int, str]:
    """What makes two contact URIs the same binding (RFC 3261 19.1.4, the parts that matter here)."""
    peer = peer_for_uri(uri)
    return (uri.scheme, uri.user, uri.host.lower(), peer.port, peer.transport)
