"""The native engine: our own SIP user agent and SpanDSP (``sip``), in the process that runs it.

The gateway runs it in a media process of its own (``media_process``, ``media_worker``), so nothing else
shares its event loop; ``media_process = false`` runs it in the gateway's process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, replace
from ipaddress import ip_network
from pathlib import Path

from faxgw.gateway.config import Config, ConfigError
from faxgw.gateway.engines.base import (
    NO_TRUNK_AVAILABLE,
    ActiveCall,
    Bridge,
    CallResult,
    DeviceStatus,
    EngineStatus,
    InboundCall,
    InboundDone,
    InboundHandler,
    LegResult,
    OutboundCall,
    PageHandler,
    PageTransferred,
    Refusal,
    Route,
)
from faxgw.gateway.engines.native_relay import RealTimeRelay
from faxgw.gateway.engines.trunks import Trunks, note_leg
from faxgw.gateway.peers import TrunkConfig
from faxgw.sip.admission import Admission, Network, RateLimit, in_networks
from faxgw.sip.auth import DigestClient, DigestServer
from faxgw.sip.bridge import BridgeOptions
from faxgw.sip.call import CallState, IncomingCall
from faxgw.sip.fax import FaxEvent, FaxOptions, Negotiated, PageDone, Transport
from faxgw.sip.fax_call import FaxCallOptions, FaxOutcome, receive_fax, send_fax
from faxgw.sip.media import Ticker
from faxgw.sip.message import SipUri
from faxgw.sip.registrar import DEVICE_ALGORITHMS, Account, Registrar
from faxgw.sip.sdp import CODECS, T38Params
from faxgw.sip.tasks import Tasks
from faxgw.sip.ua import UaConfig, UserAgent

log = logging.getLogger("gateway.engines.native")

#: Retry-After (seconds) when a call fails for want of a resource of ours (file descriptors, ports).
FAILED_RETRY_AFTER = 5
#: Seconds between looks at the calls still waiting for the job layer's decision, while draining.
DRAIN_POLL = 0.05


def _result(outcome: FaxOutcome) -> CallResult:
    """The engine interface's view of the SIP stack's outcome: the same facts, field by typed field
    (the stack's media packet counters stay with it: no engine-neutral reader needs them)."""
    return CallResult(
        status=outcome.status,
        sip_code=outcome.sip_code,
        hangup_cause=outcome.hangup_cause,
        t30_code=outcome.t30_code,
        t30_text=outcome.t30_text,
        pages=outcome.pages,
        pages_expected=outcome.pages_expected,
        t38=outcome.t38,
        bit_rate=outcome.bit_rate,
        ecm=outcome.ecm,
        remote_ident=outcome.remote_ident,
        call_id=outcome.call_id,
        t38_refused=outcome.t38_refused,
        diagnostics=outcome.diagnostics,
        t30_story=outcome.t30_story,
    )


@dataclass(eq=False)
class _Call:
    """A fax call in progress, as ``status`` shows it; its mode follows each training (``Negotiated``)."""

    direction: str
    via: str
    mode: str = "g711"  # every fax call starts on audio, T.38 comes by re-INVITE; "relay": a Bridge

    def seen(self, event: FaxEvent) -> None:
        if isinstance(event, Negotiated):
            self.mode = "t38" if event.transport is Transport.T38 else "g711"


class NativeEngine:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.ticker = Ticker()
        self.ua: UserAgent | None = None
        self.registrar: Registrar | None = None  # with [[devices]]: they register with us
        self._tasks = Tasks(log, "inbound call task")
        self._on_inbound: InboundHandler | None = None
        self._on_inbound_done: InboundDone | None = None
        self._deciding = 0  # arriving calls waiting for on_inbound's answer
        self.trunks = Trunks(config.trunks)  # up or down, calls in progress, registrations
        #: Where each trunk calls us from (set at start), in config order: a call's source names its trunk.
        self._trunk_sources: list[tuple[TrunkConfig, tuple[Network, ...]]] = []
        self._calls: set[_Call] = set()  # fax calls in progress, relayed ones too

    def _options(self, ident: str, route: Route | None = None) -> FaxCallOptions:
        """How to fax: over ``route`` as it says (T.38 policy, ECM, rate cap, the trunk's G.711 laws, the
        device's media_latch), else as the gateway's own settings say."""
        if route is None:
            route = Route("", t38=self.config.t38, ecm=self.config.ecm)
        trunk = None if route.device else self.config.trunk_named(route.via)
        return FaxCallOptions(
            t38=route.t38,
            fax=FaxOptions(ident=ident[-20:], ecm=route.ecm, max_bit_rate=route.max_rate),
            t38_params=T38Params(max_bit_rate=route.max_rate),
            paced=not self.config.unpaced_t38,
            media_latch=self._latch(route.via if route.device else None),
            codecs=trunk.codecs if trunk is not None else tuple(CODECS),
            media_timeout=self.config.media_timeout,
            capture_dir=str(self.config.data_dir / "pcap")
            if self.config.diagnostics.pcap_failed_calls
            else None,
        )

    def _latch(self, device: str | None) -> bool:
        """Whether media follows where it comes from: a device's media_latch, else the gateway's."""
        config = self.config.device(device) if device is not None else None
        return config.media_latch if config is not None else self.config.media_latch

    async def start(self, on_inbound: InboundHandler, on_inbound_done: InboundDone) -> None:
        self._on_inbound, self._on_inbound_done = on_inbound, on_inbound_done
        self.registrar = self._registrar()
        self.ua = UserAgent(
            UaConfig(
                host=self.config.sip_host,
                port=self.config.sip_port,
                username=self.config.trunk_username,
                password=self.config.trunk_password,
                admission=await self._admission(),
                tcp=self.config.sip_tcp,
                tls_context=self._tls_context(),
                tls_port=self.config.sip_tls_port or 0,
                registrar=self.registrar,
            ),
            on_invite=self._invite,
        )
        await self.ua.start()
        self.trunks.start(self.ua)

    def _tls_context(self) -> ssl.SSLContext | None:
        """Our certificate for SIP over TLS (RFC 3261 26.2), when sip_tls_port is set."""
        config = self.config
        if config.sip_tls_port is None or config.sip_tls_cert is None or config.sip_tls_key is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            context.load_cert_chain(config.sip_tls_cert, config.sip_tls_key)
        except (OSError, ssl.SSLError) as error:
            raise ConfigError(f"sip_tls_cert/sip_tls_key: {error}") from None
        return context

    def _registrar(self) -> Registrar | None:
        """The registrar of the configured devices; None without any (REGISTER is then refused)."""
        accounts = {
            device.username: Account(device.password, device.max_contacts, device.keepalive)
            for device in self.config.devices
        }
        return Registrar(self.config.sip_realm, accounts.get) if accounts else None

    async def _admission(self) -> Admission:
        """Who may call us: the trunk's networks, or a caller with the inbound credentials or a device's."""
        config = self.config
        credentials = {device.username: device.password for device in config.devices}
        if config.inbound_username is not None and config.inbound_password is not None:
            credentials[config.inbound_username] = config.inbound_password
        # Devices answer only the first challenge: with devices, MD5 leads (sip.registrar).
        algorithms = DEVICE_ALGORITHMS if config.devices else ("SHA-256", "MD5")
        digest = DigestServer(config.sip_realm, credentials.get, *algorithms) if credentials else None
        # The names a device calls as: an INVITE claiming one must authenticate as that device.
        devices = {
            name: device.username for device in config.devices for name in (device.username, *device.numbers)
        }
        return Admission(
            await self._trunk_networks(),
            digest=digest,
            drop_untrusted=config.sip_untrusted == "drop",
            rate=RateLimit(config.invite_rate, config.invite_burst),
            devices=devices,
        )

    async def _trunk_networks(self) -> list[str]:
        """Where trunks may call us from: each trunk's networks, else the addresses its hosts resolve to
        now, at start (and trunk_networks, the one-trunk setting, which the "default" trunk has as its
        networks). Each trunk's are kept, for ``_caller_route``."""
        networks = list(self.config.trunk_networks)
        self._trunk_sources = []
        for trunk in self.config.trunks:
            sources = trunk.networks or await self._trunk_addresses(trunk)
            self._trunk_sources.append((trunk, tuple(ip_network(net, strict=False) for net in sources)))
            networks += sources
        return list(dict.fromkeys(networks))

    @staticmethod
    async def _trunk_addresses(trunk: TrunkConfig) -> list[str]:
        """The addresses a trunk's hosts resolve to now."""
        addresses: set[str] = set()
        for host in trunk.hosts:
            name = SipUri.parse(trunk.uri(None, host)).host
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(name, None)
            except OSError as error:
                log.error("trunk %s: cannot resolve %s (%s): not trusted", trunk.name, name, error)
                continue
            addresses |= {str(info[4][0]) for info in infos}
        return sorted(addresses)

    @property
    def sip_address(self) -> tuple[str, int]:
        assert self.ua is not None
        return self.ua.address

    async def send(self, call: OutboundCall, on_page: PageHandler) -> CallResult:
        """Send over ``call.routes`` in order: a route that cannot take the call now (a trunk down, at
        max_calls, over calls_per_second; a device not registered) or whose call fails as a trunk
        (``trunks.fails_over``: no response, 408, 5xx, 403) hands on to the next, a host of a trunk to its
        next host first; the callee's own answer (busy, no answer, not found) or an answered call ends the
        attempt. Without routes, ``to_number`` is a SIP URI called directly."""
        ua = self.ua
        assert ua is not None

        async def place(target: str, route: Route | None, credentials: DigestClient | None) -> FaxOutcome:
            with self._calling("outbound", route.via if route is not None else "") as active:

                def pages(event: FaxEvent) -> None:
                    active.seen(event)
                    if isinstance(event, PageDone):
                        on_page(PageTransferred(event.page, event.path, sending=True))

                return await send_fax(
                    ua,
                    target,
                    call.document,
                    options=self._options(call.from_number, route),
                    ticker=self.ticker,
                    on_event=pages,
                    caller=call.from_number,
                    first_page=call.first_page,
                    credentials=credentials,
                )

        if not call.routes:
            if not call.to_number.startswith("sip:"):
                return CallResult.failed(NO_TRUNK_AVAILABLE, f"No route to {call.to_number} was given.")
            return _result(await place(call.to_number, None, None))
        legs: list[LegResult] = []
        failed: FaxOutcome | None = None  # the last call that failed as a trunk
        for route in call.routes:
            if route.device:
                contacts = await self._device_contacts(route.via)
                if not contacts:
                    legs.append(LegResult(route.via, None, "not registered", failed_over=True))
                for contact in contacts:
                    outcome = await place(contact, route, None)
                    if not note_leg(route, outcome.sip_code, outcome.hangup_cause, legs):
                        return replace(_result(outcome), legs=tuple(legs))
                    failed = outcome
                continue
            trunk = self.trunks.get(route.via)
            if trunk is None:  # the job layer routes only through configured trunks
                legs.append(LegResult(route.via, None, "no such trunk", failed_over=True))
                continue
            targets = trunk.targets(call.to_number)
            if not targets:  # every host silent to OPTIONS
                legs.append(LegResult(route.via, None, trunk.refusal() or "down", failed_over=True))
            for target in targets:
                async with self.trunks.carrying(trunk) as refused:
                    if refused is not None:
                        legs.append(LegResult(route.via, None, refused, failed_over=True))
                        break
                    outcome = await place(target, route, trunk.credentials)
                where = target if len(trunk.reachable) > 1 else None
                if not note_leg(route, outcome.sip_code, outcome.hangup_cause, legs, where):
                    return replace(_result(outcome), legs=tuple(legs))
                failed = outcome
        if failed is not None:
            return replace(_result(failed), legs=tuple(legs))
        return CallResult.unrouted(call, tuple(legs))

    def _invite(self, call: IncomingCall) -> None:
        self._tasks.spawn(self._answer(call))

    async def _answer(self, call: IncomingCall) -> None:
        """Answer one INVITE, and report how the call ended, whatever goes wrong on the way."""
        assert self._on_inbound_done is not None
        user = call.authenticated_user
        device = user if user is not None and self.config.device(user) is not None else None
        inbound = InboundCall(did=call.called, caller=call.caller, call_id=call.call_id, device=device)
        try:
            result = await self._receive(call, inbound)
        except Exception as error:
            # Out of file descriptors for the media sockets, the store failing, a bug: the INVITE still
            # gets its final response and the fax, if one was started, is settled with the reason.
            log.error("call %s: the gateway failed: %r", call.call_id, error)
            result = self._failed(call, error)
        if result is not None:
            await self._on_inbound_done(inbound, result)

    async def _receive(self, call: IncomingCall, inbound: InboundCall) -> CallResult | None:
        assert self._on_inbound is not None
        self._deciding += 1
        try:
            decision = await self._on_inbound(inbound)
        finally:
            self._deciding -= 1
        if isinstance(decision, Refusal):
            call.reject(decision.status, retry_after=decision.retry_after)
            return None
        if isinstance(decision, Bridge):
            return await self._relay(call, inbound, decision)
        document, on_page = decision

        route = self._caller_route(call, inbound)
        with self._calling("inbound", route.via if route is not None else "") as active:

            def pages(event: FaxEvent) -> None:
                active.seen(event)
                if isinstance(event, PageDone):
                    on_page(PageTransferred(event.page, Path(event.path), sending=False))

            options = self._options(call.called, route)
            outcome = await receive_fax(call, document, options=options, ticker=self.ticker, on_event=pages)
        return _result(outcome)

    @contextlib.contextmanager
    def _calling(self, direction: str, via: str, mode: str = "g711") -> Iterator[_Call]:
        """A fax call counted in progress for the ``with`` block."""
        active = _Call(direction, via, mode)
        self._calls.add(active)
        try:
            yield active
        finally:
            self._calls.discard(active)

    async def status(self) -> EngineStatus:
        """The trunks (keep-alive), the devices (registrar) and the fax calls in progress, as they are now."""
        registrar = self.registrar
        devices = []
        if registrar is not None:  # None: no device configured
            for device in self.config.devices:
                bindings = registrar.contacts(device.username)
                expires = min((registrar.expires_in(binding) for binding in bindings), default=None)
                contacts = tuple(str(binding.uri) for binding in bindings)
                devices.append(DeviceStatus(device.username, contacts, expires))
        calls = tuple(ActiveCall(call.direction, call.mode, call.via) for call in self._calls)
        return EngineStatus(self.trunks.status(), tuple(devices), calls)

    def _caller_route(self, call: IncomingCall, inbound: InboundCall) -> Route | None:
        """How to fax with who called: a device (it authenticated) as its settings say, a trunk (the first
        in config order whose networks hold the call's source) as its settings say; None: anyone else,
        as the gateway's own settings say."""
        device = self.config.device(inbound.device) if inbound.device is not None else None
        if device is not None:
            return Route.of_device(device)
        source = call.source or ""
        for trunk, networks in self._trunk_sources:
            if in_networks(source, networks):
                return Route.of_trunk(trunk)
        return None

    async def _relay(self, call: IncomingCall, inbound: InboundCall, bridge: Bridge) -> CallResult:
        """Relay a device's fax in real time (``native_relay``), its leg as the device's settings say."""
        assert self.ua is not None
        device = self.config.device(inbound.device) if inbound.device is not None else None
        options = BridgeOptions(
            device_t38=device.t38 if device is not None else self.config.t38,
            ecm=device.ecm if device is not None else self.config.ecm,
            device_latch=self._latch(inbound.device),
            trunk_latch=self.config.media_latch,
            media_timeout=self.config.media_timeout,
        )
        ring_timeout = self._options(bridge.from_number).ring_timeout
        relay = RealTimeRelay(self.ua, self.trunks, self._device_contacts, self.ticker, ring_timeout)
        with self._calling("inbound", inbound.device or "", mode="relay"):
            return await relay.run(call, bridge, options)

    async def _device_contacts(self, username: str) -> list[str]:
        """The SIP URIs to call a device at: its registered contacts, reachable ones first (behind NAT the
        address its REGISTER came from); empty when it is not registered."""
        if self.registrar is None:
            return []
        return [str(binding.target) for binding in self.registrar.contacts(username)]

    def _failed(self, call: IncomingCall, error: Exception) -> CallResult:
        if call.state is CallState.ESTABLISHED:
            call.spawn(call.hangup())
        elif isinstance(error, OSError):  # e.g. EMFILE: a resource of ours ran out, try again later
            call.reject(503, retry_after=FAILED_RETRY_AFTER)
        else:
            call.reject(500)
        return CallResult.failed(
            "gateway_error",
            f"The gateway failed to take the call: {error}",
            call_id=call.call_id,
            sip_code=call.final_status,
        )

    async def drain(self) -> None:
        """New INVITEs and OPTIONS answered 503 (``UserAgent.drain``); returns once the calls that came
        before have been decided."""
        if self.ua is not None:
            self.ua.drain()
        while self._deciding:
            await asyncio.sleep(DRAIN_POLL)

    async def close(self) -> None:
        if self.ua is not None:
            await self.trunks.close()  # unregisters from trunks while the user agent is still up
            self.ua.close()
        await self._tasks.cancel()
        self.ticker.close()
