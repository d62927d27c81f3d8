"""The trunks' live state in the native engine: which of their hosts answer (OPTIONS keep-alive), how many
calls each trunk carries now (``max_calls``) and how fast new ones start (``calls_per_second``), their
registrations, and what a call through one needs (the hosts' URIs in order, the trunk's credentials).

- Keep-alive: every ``keepalive`` seconds an OPTIONS to each host of the trunk; any response, even 404 or
  405, means the host is there (RFC 3261 11: OPTIONS asks about capabilities, a refusal is an answer);
  none within ``PING_TIMEOUT`` (or ``keepalive``, if shorter) marks it down until it answers again. A
  trunk is up while one of its hosts is. ``keepalive = 0``: never pinged, always up. A trunk is up
  until a ping says otherwise, so calls go out before the first one has come back.
- ``calls_per_second``: a token bucket per trunk. A call over the rate waits for its token when that
  comes within ``PACE_WAIT`` (1 s); a longer wait goes on to the next route. Why: the limit spaces a
  burst (at 1 call/s the second call of a burst waits under a second), and spilling such a call to the
  next trunk would move traffic off the trunk the operator prefers for a moment's wait; a queue that
  long means the trunk is saturated, and the next one should carry the call.
- Registration (``register = true``): REGISTER with the trunk's first host, with the trunk's credentials,
  refreshed by ``sip.ua.Registration``; one refused or unanswered at start is tried again every
  ``sip.ua.RETRY_AFTER`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterable

from faxgw.gateway.engines.base import HostStatus, LegResult, Route, TrunkStatus
from faxgw.gateway.peers import TrunkConfig
from faxgw.sip.admission import RateLimit
from faxgw.sip.auth import DigestClient
from faxgw.sip.message import REASONS, SipUri
from faxgw.sip.tasks import Tasks
from faxgw.sip.ua import RETRY_AFTER, Registration, RegistrationError, UserAgent

log = logging.getLogger("gateway.engines.trunks")

#: Seconds an OPTIONS ping may take before its host counts as down (Asterisk's qualify_timeout is 3 s;
#: a little more for trunks far away). The transaction's own timeout, 32 s, would leave a dead trunk
#: taking calls for half a minute.
PING_TIMEOUT = 5.0
#: The longest a call waits for its trunk's calls_per_second before it goes on to the next route.
PACE_WAIT = 1.0
#: The expiry asked of a trunk's registrar (it may grant less); refreshed halfway.
REGISTER_EXPIRES = 600


def fails_over(status: int | None) -> bool:
    """Whether the final response to an INVITE says the trunk failed as a trunk, so the next route is
    tried: no response at all (None), 408, any 5xx, 403 (the trunk refuses us), 401/407 (it refused our
    credentials). Busy (486, 600), no answer (480), unallocated (404, 484) and other 6xx are the callee's
    own answers: another trunk would reach the same callee."""
    return status is None or status in (401, 403, 407, 408) or 500 <= status < 600


def note_leg(
    route: Route, sip_code: int | None, cause: str | None, legs: list[LegResult], target: str | None = None
) -> bool:
    """Note in ``legs`` what one call over ``route`` came to, from its final status and hang-up cause (a
    fax's outcome, or a relay's leg), at ``target`` when the trunk has several hosts; True: it failed as
    a trunk (``fails_over``), the next host or route is tried."""
    answered = sip_code is not None and sip_code < 300
    unanswered = cause in ("timeout", "transport_error")  # no response came
    code = None if unanswered else sip_code
    if answered:
        reason = "answered"
    elif unanswered:
        reason = "no response" if cause == "timeout" else "transport error"
    else:
        reason = f"{code} {REASONS.get(code or 0, '')}".strip()
    over = not answered and fails_over(code)
    where = f" at {SipUri.parse(target).hostport}" if target is not None else ""
    legs.append(LegResult(route.via, code, reason + where, failed_over=over))
    return over


class TrunkState:
    """One trunk as the engine sees it now."""

    def __init__(self, config: TrunkConfig) -> None:
        self.config = config
        #: Each host, in the configured order: did it answer its last ping (True until one says not)?
        self.reachable = dict.fromkeys(config.hosts, True)
        #: Each host's last answered OPTIONS round trip in milliseconds (None: none answered yet).
        self.rtt_ms: dict[str, float | None] = dict.fromkeys(config.hosts)
        self.calls = 0  # calls placed through it and not ended yet
        self.credentials = (
            DigestClient(config.username, config.password)
            if config.username is not None and config.password is not None
            else None
        )
        rate = config.calls_per_second
        self._pace = RateLimit(rate, max(1, int(rate))) if rate is not None else None

    @property
    def up(self) -> bool:
        return any(self.reachable.values())

    def status(self) -> TrunkStatus:
        hosts = tuple(HostStatus(host, up, self.rtt_ms[host]) for host, up in self.reachable.items())
        return TrunkStatus(self.config.name, self.up, hosts)

    def targets(self, number: str) -> list[str]:
        """The Request-URIs of a call to ``number``: one per host that answers, in the configured order."""
        return [self.config.uri(number, host) for host, up in self.reachable.items() if up]

    def refusal(self) -> str | None:
        """Why the trunk cannot take a call now (down, at max_calls), or None."""
        if not self.up:
            return "down (no answer to OPTIONS)"
        if self.config.max_calls is not None and self.calls >= self.config.max_calls:
            return f"at max_calls ({self.config.max_calls})"
        return None

    async def paced(self) -> bool:
        """Wait for a token of ``calls_per_second``: False when it would take longer than PACE_WAIT."""
        if self._pace is None:
            return True
        waited = 0.0
        while (wait := self._pace.take(self.config.name)) > 0:
            # Several calls may wait for the same token: each takes again after its wait.
            if waited + wait > PACE_WAIT:
                return False
            await asyncio.sleep(wait)
            waited += wait
        return True


class Trunks:
    """The configured trunks' states, their keep-alive pings and their registrations."""

    def __init__(self, trunks: Iterable[TrunkConfig]) -> None:
        self._states = {trunk.name: TrunkState(trunk) for trunk in trunks}
        self._tasks = Tasks(log, "trunk keep-alive or registration")
        self._registrations: list[Registration] = []

    def get(self, name: str) -> TrunkState | None:
        return self._states.get(name)

    def status(self) -> tuple[TrunkStatus, ...]:
        return tuple(state.status() for state in self._states.values())

    def start(self, ua: UserAgent) -> None:
        """Start pinging the trunks that have a keepalive, and registering with those that register."""
        for state in self._states.values():
            if state.config.keepalive > 0:
                self._tasks.spawn(self._keepalive(ua, state))
            if state.config.register:
                self._tasks.spawn(self._register(ua, state))

    async def close(self) -> None:
        """Stop pinging; unregister (Expires: 0), waiting at most PING_TIMEOUT for the trunks' answers."""
        await self._tasks.cancel()
        if self._registrations:
            stops = [registration.stop() for registration in self._registrations]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*stops, return_exceptions=True), PING_TIMEOUT)

    @contextlib.asynccontextmanager
    async def carrying(self, state: TrunkState) -> AsyncIterator[str | None]:
        """A call's place on the trunk for the length of the ``async with``: yields None when the trunk
        takes the call (counted against max_calls until the block ends), else why not."""
        refused = state.refusal()
        if refused is not None:
            yield refused
            return
        state.calls += 1
        try:
            if not await state.paced():
                yield f"over calls_per_second ({state.config.calls_per_second:g})"
                return
            yield None
        finally:
            state.calls -= 1

    # -- keep-alive ------------------------------------------------------------------------------------
    async def _keepalive(self, ua: UserAgent, state: TrunkState) -> None:
        interval = state.config.keepalive
        while True:
            await asyncio.gather(*(self._ping(ua, state, host, interval) for host in state.reachable))
            await asyncio.sleep(interval)

    @staticmethod
    async def _ping(ua: UserAgent, state: TrunkState, host: str, interval: float) -> None:
        uri = SipUri.parse(state.config.uri(None, host))
        started = time.monotonic()
        try:
            async with asyncio.timeout(min(PING_TIMEOUT, interval)):
                answered = await ua.qualify(uri)
        except TimeoutError:
            answered = False  # the transaction runs on to its own timeout; we stopped listening
        if answered:
            state.rtt_ms[host] = round((time.monotonic() - started) * 1000, 1)
        if answered != state.reachable[host]:
            if answered:
                log.warning("trunk %s: %s answers OPTIONS again: up", state.config.name, host)
            else:
                log.warning("trunk %s: %s does not answer OPTIONS: down", state.config.name, host)
        state.reachable[host] = answered

    # -- registration -----------------------------------------------------------------------------------
    async def _register(self, ua: UserAgent, state: TrunkState) -> None:
        trunk = state.config
        registrar = SipUri.parse(trunk.uri(None))
        aor = f"sip:{trunk.username}@{registrar.host}"
        while True:
            try:
                registration = await ua.register(
                    registrar, aor=aor, expires=REGISTER_EXPIRES, credentials=state.credentials
                )
            except RegistrationError as error:
                log.error("trunk %s: %s (again in %g s)", trunk.name, error, RETRY_AFTER)
                await asyncio.sleep(RETRY_AFTER)
                continue
            log.info("trunk %s: registered as %s for %s s", trunk.name, aor, registration.granted)
            self._registrations.append(registration)
            return
