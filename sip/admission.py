"""Who may start something with our user agent, and how often: the SIP edge's admission control.

A request outside any dialog is judged here before the UA acts on it:

- INVITE: admitted from a trusted network (the trunk's), or with digest credentials checked by
  ``sip.auth.DigestServer`` (RFC 3261 22.2 and 22.4: 401 with one WWW-Authenticate per algorithm,
  stale=true for an expired nonce); new INVITEs are also limited per source address by a token bucket
  (503 with Retry-After, RFC 3261 21.5.4). Anything else is refused with 403, or not answered at all.
  An INVITE whose From claims a device (its username or one of its numbers) must authenticate as that
  device, from a trusted network too: a trunk's network is no proof of being a registered fax machine.
  What it authenticated as comes back in ``Admitted.user``.
- REGISTER: 403, we keep no registrations (the user agent hands REGISTER to its registrar when it has
  one, ``sip.registrar``, before asking here).
- OPTIONS: always answered (trunks and load balancers probe with it).

In-dialog requests are not judged: they reach a dialog only with its unguessable tags, and a dialog exists
only for an admitted call.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from faxgw.sip.auth import DigestServer
from faxgw.sip.message import SipRequest

log = logging.getLogger("sip.admission")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Methods of an INVITE transaction: with digest configured a stranger must be able to send them.
_INVITE_METHODS = frozenset({"INVITE", "ACK", "CANCEL"})
#: Buckets kept per source before the full (idle) ones are forgotten.
_MAX_BUCKETS = 4096


@dataclass(frozen=True)
class Refusal:
    """The response to send instead of admitting a request."""

    status: int
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Admitted:
    """A request let in; ``user`` is the username its digest credentials proved (None: none were asked)."""

    user: str | None = None


ADMITTED = Admitted()


def in_networks(host: str, networks: Iterable[Network]) -> bool:
    """Whether the IP literal ``host`` is in one of ``networks`` (False for anything but an IP literal)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # an IPv4 peer seen through a dual-stack socket
    return any(address in network for network in networks)


class RateLimit:
    """A token bucket per source address: ``rate`` tokens a second, at most ``burst`` saved up."""

    def __init__(self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be above 0 and burst at least 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # source -> (tokens, when counted)

    def take(self, source: str) -> float:
        """Take a token for ``source``: 0 if there was one, else the seconds until there will be."""
        now = self._clock()
        tokens, then = self._buckets.get(source, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - then) * self.rate)
        if tokens < 1:
            self._buckets[source] = (tokens, now)
            return (1 - tokens) / self.rate
        self._buckets[source] = (tokens - 1, now)
        if len(self._buckets) > _MAX_BUCKETS:
            self._forget_idle(now)
        return 0.0

    def _forget_idle(self, now: float) -> None:
        """A bucket that has filled up again says nothing a new one would not: drop it."""
        for source, (tokens, then) in list(self._buckets.items()):
            if tokens + (now - then) * self.rate >= self.burst:
                del self._buckets[source]


class Admission:
    """The policy: trusted networks, optional digest credentials, the devices, the untrusted mode and the
    INVITE rate."""

    def __init__(
        self,
        trusted: Iterable[Network | str] = (),
        *,
        digest: DigestServer | None = None,
        drop_untrusted: bool = False,
        rate: RateLimit | None = None,
        devices: Mapping[str, str] | None = None,
    ) -> None:
        self.trusted = tuple(ipaddress.ip_network(net, strict=False) for net in trusted)
        self.digest = digest
        self.drop_untrusted = drop_untrusted
        self.rate = rate
        #: Every name a device calls as (its username, its numbers) -> the device's username; ``digest``
        #: must know the devices' passwords.
        self.devices = dict(devices or {})
        if self.devices and digest is None:
            raise ValueError("devices call with digest credentials: give a DigestServer that knows them")

    def trusts(self, host: str) -> bool:
        return in_networks(host, self.trusted)

    def ignores(self, request: SipRequest, host: str) -> bool:
        """Whether to drop ``request`` without a word, before any transaction exists for it.

        Only with ``drop_untrusted``, only for out-of-dialog requests from untrusted sources, never for
        OPTIONS, and not for an INVITE transaction when digest credentials could admit it.
        """
        if not self.drop_untrusted or request.to_address.tag or request.method == "OPTIONS":
            return False
        if self.digest is not None and request.method in _INVITE_METHODS:
            return False
        if self.trusts(host):
            return False
        log.debug("dropped %s %s from %s", request.method, request.call_id, host)
        return True

    def check(self, request: SipRequest, host: str) -> Refusal | Admitted:
        """Whether to admit a new out-of-dialog request from ``host``: Admitted, or what to answer."""
        if request.method == "REGISTER":
            return self._refuse(request, host, 403, "we keep no registrations")
        if request.method != "INVITE":
            return ADMITTED
        trusted = self.trusts(host)
        claimed = self.devices.get(request.from_address.uri.user or "")
        if not trusted and self.digest is None:
            return self._refuse(request, host, 403, "untrusted source")
        if self.rate is not None:
            wait = self.rate.take(host)
            if wait:
                return self._refuse(
                    request, host, 503, "too many calls", ("Retry-After", str(math.ceil(wait)))
                )
        if trusted and claimed is None:
            return ADMITTED
        admitted = self._authenticate(request, host)
        if isinstance(admitted, Admitted) and claimed is not None and admitted.user != claimed:
            return self._refuse(request, host, 403, f"From claims device {claimed}, not {admitted.user}")
        return admitted

    def _authenticate(self, request: SipRequest, host: str) -> Refusal | Admitted:
        """RFC 3261 22.4 as the UAS: a 401 challenge until the Authorization header checks out."""
        assert self.digest is not None
        authorizations = request.headers.get_all("Authorization")
        outcome = self.digest.authenticate(authorizations, request.method, uri=str(request.uri))
        if outcome.user is not None:
            return Admitted(outcome.user)
        if outcome.challenges:
            return Refusal(401, tuple(("WWW-Authenticate", value) for value in outcome.challenges))
        return self._refuse(request, host, 403, f"credentials refused ({outcome.refused})")

    @staticmethod
    def _refuse(request: SipRequest, host: str, status: int, why: str, *headers: tuple[str, str]) -> Refusal:
        log.info("%s %s from %s: %d, %s", request.method, request.call_id, host, status, why)
        return Refusal(status, headers)
