"""Gateway configuration: one TOML file, overridable by FAXGW_* environment variables.

See ``faxgw.sample.toml`` for every setting with its default.
"""

from __future__ import annotations

import enum
import os
import re
import socket
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faxgw.gateway.consoleconfig import ConsoleConfig, password_hash_ok
from faxgw.gateway.diagnosticsconfig import DiagnosticsConfig
from faxgw.gateway.edge import EdgeConfig, EdgeError, NodeConfig
from faxgw.gateway.mailconfig import (
    DEFAULT_BODY,
    DEFAULT_SUBJECT,
    MailAccount,
    MailConfig,
    MailError,
    check_template,
)
from faxgw.gateway.metrics import MetricsConfig
from faxgw.gateway.netpolicy import AddressPolicy
from faxgw.gateway.peers import DEFAULT_TRUNK, DeviceConfig, PeerError, Relay, TrunkConfig, check_networks
from faxgw.sip.fax_terms import T38Policy


class ConfigError(ValueError):
    """The configuration file or environment says something the gateway cannot use."""


class EngineKind(enum.Enum):
    """Which engine places and answers the calls (``engine``)."""

    NATIVE = "native"  # our own SIP stack (sip/) with SpanDSP
    ASTERISK = "asterisk"  # Asterisk over AMI (gateway.engines.asterisk)


@dataclass(frozen=True)
class NumberConfig:
    """One of our fax numbers (a DID on the trunk) and how many calls it may carry at once."""

    number: str
    max_calls: int = 1
    #: The tenant that may send from this number. None: the tenant of the inbound route whose ``did`` is
    #: exactly this number, else the only tenant when there is just one (see ``Config.owner``).
    tenant: str | None = None


#: The envelopes a route's own webhook_url can have (Fax.Plus and Dropbox subscribe per account instead).
ROUTE_WEBHOOK_FORMATS = ("native", "telnyx")


@dataclass(frozen=True)
class RouteConfig:
    """Inbound routing: calls to numbers matching ``did`` (exact, or a regex when it starts with ^)
    belong to ``tenant``; their events go to ``webhook_url`` in the envelope ``webhook_format`` names."""

    did: str
    tenant: str
    webhook_url: str | None = None
    webhook_format: str = "native"  # native | telnyx (fax.received ...)
    storage: str | None = None  # directory for this route's received faxes (default: data_dir/faxes)
    #: Fax to e-mail ([mail] sends it): each received fax goes to these addresses as a PDF, with these
    #: templates (fields: gateway.mailconfig.TEMPLATE_FIELDS); ``email_failed``: a failed or partly
    #: received fax too (with the pages that came, if any).
    email_to: tuple[str, ...] = ()
    email_subject: str = DEFAULT_SUBJECT
    email_body: str = DEFAULT_BODY
    email_failed: bool = True

    def __post_init__(self) -> None:
        addresses = (self.email_to,) if isinstance(self.email_to, str) else tuple(self.email_to)
        object.__setattr__(self, "email_to", addresses)  # TOML gives a list; a lone address is one
        try:
            check_template(f"route {self.did}: email_subject", self.email_subject)
            check_template(f"route {self.did}: email_body", self.email_body)
        except MailError as error:
            raise ConfigError(str(error)) from None
        if self.webhook_format not in ROUTE_WEBHOOK_FORMATS:
            raise ConfigError(
                f"route {self.did}: webhook_format = {self.webhook_format!r}:"
                f" use {' or '.join(ROUTE_WEBHOOK_FORMATS)}"
            )

    def matches(self, number: str) -> bool:
        if self.did.startswith("^"):
            return re.fullmatch(self.did, number) is not None
        return self.did == number


@dataclass(frozen=True)
class TenantConfig:
    """A tenant and its API keys, created at start if missing (tokens as given: keep the file private)."""

    id: str
    name: str = ""
    keys: dict[str, list[str]] = field(default_factory=dict)  # token -> scopes ("read", "edit")
    #: May this tenant send to a SIP URI (sip:user@host) instead of a number through the trunk? The host is
    #: then checked like a document URL's (internal addresses refused unless url_fetch_allow lists them).
    sip_uri_destinations: bool = False
    #: Retries of the faxes the gateway sends on the tenant's devices' behalf (store and forward), and the
    #: pause before each (a fax submitted through the API says its own).
    retries: int = 2
    retry_delay: float = 120.0
    #: Who may sign in to the web console as this tenant without a key: name -> password hash
    #: (``gateway.consoleconfig.hash_password``). Users may view and send.
    users: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AsteriskConfig:
    """The Asterisk engine's side of things (``[asterisk]``): ``faxgw asterisk-config`` renders
    Asterisk's configuration from these and the rest of Config, so the gateway and Asterisk agree."""

    root: Path = Path("/opt/fax")  # Asterisk's own tree: etc, lib, cache, spool, run, log
    # Fax files shared with the gateway (in/: received, out/: to send), as Asterisk sees them;
    # default root/data.
    spool_dir: Path | None = None
    # The same directory as the gateway sees it when Asterisk runs in a chroot or container.
    local_spool_dir: Path | None = None
    ami_host: str = "127.0.0.1"  # where Asterisk's manager interface listens
    ami_port: int = 5038
    ami_username: str = "faxgw"
    ami_secret: str = "change-me"
    ami_permit: str = "127.0.0.1/32"  # the only network the gateway may log in to AMI from
    rtp_start: int = 10000
    rtp_end: int = 20000
    udptl_start: int = 4000
    udptl_end: int = 4999
    t38_ec: str = "redundancy"  # T.38 error correction over UDPTL: redundancy | fec | none
    t38_maxdatagram: int = 400
    t38_nat: bool = False  # the trunk is behind NAT: send UDPTL where it comes from
    max_rate: int = 14400  # bit/s: 2400, 4800, 7200, 9600, 12000 or 14400
    register: bool = True  # REGISTER with the trunk when trunk_username/trunk_password are set
    # host[:port] of a native faxgw that may call Asterisk without credentials (tests).
    test_peer: str | None = None
    run_user: str | None = None  # user (and group) Asterisk drops root for; None: as started

    @property
    def spool(self) -> Path:
        return self.spool_dir or self.root / "data"

    @property
    def local_spool(self) -> Path:
        return self.local_spool_dir or self.spool


@dataclass(frozen=True)
class Config:
    data_dir: Path = Path("var")
    api_host: str = "127.0.0.1"
    api_port: int = 8080
    #: How API clients reach this gateway (behind a proxy, say): the base of links in webhooks.
    public_url: str | None = None
    sip_host: str = "127.0.0.1"
    sip_port: int = 5060
    trunk: str | None = None  # outbound calls go to sip:NUMBER@trunk; None: the number must be a SIP URI
    trunk_username: str | None = None
    trunk_password: str | None = None
    t38: T38Policy = T38Policy.AUTO
    ecm: bool = True
    channels: int = 8  # calls at once, all numbers together
    #: A fax longer than this fails before it is dialled (failed_page_count_limit_exceeded): Telnyx's 350.
    max_pages: int = 350
    #: Ghostscript processes at once for one PDF (at nice 10, below media and the API); 0: one per core.
    convert_processes: int = 0
    numbers: tuple[NumberConfig, ...] = ()
    routes: tuple[RouteConfig, ...] = ()
    tenants: tuple[TenantConfig, ...] = ()
    webhook_secret: str = "change-me"
    webhook_retries: int = 10
    webhook_initial_delay: float = 5.0
    unpaced_t38: bool = False  # only between two faxgw instances (the demo), never toward a trunk
    #: Hang a call up when no media (RTP or UDPTL) has come from its peer for this long: the peer is gone
    #: and its fax is settled with the pages that arrived. Longer than T.30's longest silence (T1, 35 s).
    media_timeout: float = 45.0
    # -- the SIP edge: who may call us, and how much ------------------------------------------------
    sip_tcp: bool = True  # listen on TCP at sip_port as well as UDP
    sip_tls_port: int | None = None  # listen on TLS there too (needs sip_tls_cert and sip_tls_key)
    sip_tls_cert: Path | None = None
    sip_tls_key: Path | None = None
    #: Networks (CIDR) the trunk may call us from; empty: the addresses the trunk's host resolves to.
    trunk_networks: tuple[str, ...] = ()
    #: Credentials a caller from outside trunk_networks may authenticate with (digest, realm sip_realm).
    inbound_username: str | None = None
    inbound_password: str | None = None
    sip_realm: str = "faxgw"
    sip_untrusted: str = "reject"  # reject: answer 403 | drop: no answer at all
    invite_rate: float = 5.0  # new INVITEs per second accepted from one source address ...
    invite_burst: int = 10  # ... with bursts up to this many
    #: Send media to where the peer's media comes from instead of its SDP address (a trunk behind NAT):
    #: once, early in the call, never away from an established source.
    media_latch: bool = False
    # -- the HTTP edge -------------------------------------------------------------------------------
    api_docs: bool = True  # serve /docs and /redoc (the OpenAPI document /openapi.json is always served)
    #: Open HTTP connections at once (at most half of RLIMIT_NOFILE): beyond it a new one closes the one idle
    #: longest, or is answered 503 when every one is serving a request (gateway.api.connections).
    api_max_connections: int = 256
    #: This gateway's name in job leases: a restarted process takes back its own faxes at once,
    #: another node only once their lease has run out. Several nodes: a different name each.
    node: str = field(default_factory=socket.gethostname)
    #: PostgreSQL (``postgresql://user:password@host/dbname``) when several nodes share the work; None: the
    #: embedded SQLite file in data_dir.
    database_url: str | None = None
    database_pool: int = 8  # PostgreSQL: connections (and store threads) per node
    #: Seconds a node's claim on a fax (and its call slots) lasts without being renewed: a node that dies
    #: holds its faxes this long before another node settles and resumes them. Renewed every third of it.
    lease: float = 30.0
    #: Calls at once to one destination number, across every node (a second call to a fax machine that is
    #: already receiving would only hear busy); 0: no limit.
    calls_per_destination: int = 1
    engine: EngineKind = EngineKind.NATIVE
    #: engine = native: run the SIP stack, media and SpanDSP in a media process of their own, so the API,
    #: jobs and store never delay a call's media (false: in the gateway's process, for debugging).
    media_process: bool = True
    asterisk: AsteriskConfig = AsteriskConfig()
    #: Networks (CIDR) the gateway may fetch client-given URLs from although they are internal, and networks
    #: it never fetches from (see gateway.documents.fetch).
    url_fetch_allow: tuple[str, ...] = ()
    url_fetch_deny: tuple[str, ...] = ()
    #: The same for webhook target URLs: internal networks the gateway may POST to (the operator's own
    #: receivers), and networks it never posts to.
    webhook_allow: tuple[str, ...] = ()
    webhook_deny: tuple[str, ...] = ()
    #: The trunks, in the file's order ([[trunks]]). Empty and ``trunk`` set: one trunk named "default"
    #: made of the one-trunk settings (trunk, trunk_username, trunk_password, trunk_networks, t38, ecm).
    trunks: tuple[TrunkConfig, ...] = ()
    #: The devices that register with the gateway ([[devices]]).
    devices: tuple[DeviceConfig, ...] = ()
    #: Days a destination's learned step down (G.711 after T.38 trouble, ECM off, a lower rate) holds before
    #: the route's own settings are tried there again (gateway.jobs.delivery).
    learned_delivery_days: float = 30.0
    #: Kamailio in front of several nodes ([edge], ``faxgw kamailio-config``); no nodes: no edge.
    edge: EdgeConfig = field(default_factory=EdgeConfig)
    #: Seconds a node stopped with SIGTERM waits for its calls in flight to end (it takes no new ones
    #: meanwhile) before it stops anyway.
    drain_timeout: float = 600.0
    #: E-mail both ways ([mail], gateway.mailconfig): the SMTP server mail is sent through, the listener.
    mail: MailConfig = field(default_factory=MailConfig)
    #: GET /metrics for Prometheus ([metrics], gateway.metrics): its optional bearer token.
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    #: The web console ([console], gateway.console): on by default, at /console/ on the API's port.
    console: ConsoleConfig = field(default_factory=ConsoleConfig)
    #: Per-call diagnostics ([diagnostics], gateway.diagnosticsconfig): a packet capture of failed calls.
    diagnostics: DiagnosticsConfig = field(default_factory=DiagnosticsConfig)

    def __post_init__(self) -> None:
        # Derived again each time, so that dataclasses.replace(config, trunk=...) moves the trunk too (a
        # "default" trunk next to the shorthand is the one derived before; load_config refuses both).
        if self.trunk is not None and all(trunk.name == DEFAULT_TRUNK for trunk in self.trunks):
            object.__setattr__(self, "trunks", (self._default_trunk(),))
        # A setting with a vocabulary holds its enum (load_config reads the words): a string here is a
        # mistake in the code that built this Config, stopped before "audio" silently means something else.
        for name, kind in (("t38", T38Policy), ("engine", EngineKind)):
            value = getattr(self, name)
            if not isinstance(value, kind):
                example = next(iter(kind))
                raise TypeError(
                    f"Config.{name} holds {_article(kind.__name__)} ({example} ...), not {value!r}"
                )

    def _default_trunk(self) -> TrunkConfig:
        assert self.trunk is not None
        return TrunkConfig(
            name=DEFAULT_TRUNK,
            hosts=(self.trunk,),
            username=self.trunk_username,
            password=self.trunk_password,
            networks=self.trunk_networks,
            t38=self.t38,
            ecm=self.ecm,
            # The one-trunk setup as before: no OPTIONS pings (with one trunk there is nothing to fail
            # over to, and a peer that does not expect them, e.g. a scripted one, would take them badly).
            keepalive=0,
        )

    def trunk_named(self, name: str) -> TrunkConfig | None:
        return next((trunk for trunk in self.trunks if trunk.name == name), None)

    def device(self, username: str) -> DeviceConfig | None:
        return next((device for device in self.devices if device.username == username), None)

    def device_for(self, number: str) -> DeviceConfig | None:
        """The device that owns ``number``, if one does: faxes to it call the device, not a trunk."""
        return next((device for device in self.devices if device.owns(number)), None)

    def device_tenant(self, device: DeviceConfig) -> str | None:
        """The tenant a device belongs to (its own, else the only tenant)."""
        if device.tenant is not None:
            return device.tenant
        return self.tenants[0].id if len(self.tenants) == 1 else None

    @property
    def base_url(self) -> str:
        """``public_url``, or the API's own address when none is set."""
        return (self.public_url or f"http://{self.api_host}:{self.api_port}").rstrip("/")

    @property
    def database(self) -> Path:
        return self.data_dir / "faxgw.sqlite"

    @property
    def fetch_policy(self) -> AddressPolicy:
        """Where client-given document URLs (and SIP URI destinations) may lead."""
        return AddressPolicy.parse(
            self.url_fetch_allow, self.url_fetch_deny, setting="url_fetch", action="fetch from"
        )

    def owner(self, number: str) -> str | None:
        """The tenant that may send from ``number`` (None: not one of ours, or nobody's)."""
        entry = self.number(number)
        if entry is None:
            return None
        if entry.tenant is not None:
            return entry.tenant
        route = next((route for route in self.routes if route.did == number), None)
        if route is not None:
            return route.tenant
        return self.tenants[0].id if len(self.tenants) == 1 else None

    def number(self, number: str) -> NumberConfig | None:
        return next((n for n in self.numbers if n.number == number), None)

    def route(self, did: str) -> RouteConfig | None:
        return next((route for route in self.routes if route.matches(did)), None)


_SCALARS = {
    "data_dir": Path,
    "api_host": str,
    "api_port": int,
    "public_url": str,
    "sip_host": str,
    "sip_port": int,
    "trunk": str,
    "trunk_username": str,
    "trunk_password": str,
    "t38": T38Policy,
    "ecm": bool,
    "channels": int,
    "max_pages": int,
    "convert_processes": int,
    "webhook_secret": str,
    "webhook_retries": int,
    "webhook_initial_delay": float,
    "unpaced_t38": bool,
    "media_timeout": float,
    "node": str,
    "database_url": str,
    "database_pool": int,
    "lease": float,
    "calls_per_destination": int,
    "engine": EngineKind,
    "media_process": bool,
    "sip_tcp": bool,
    "sip_tls_port": int,
    "sip_tls_cert": Path,
    "sip_tls_key": Path,
    "inbound_username": str,
    "inbound_password": str,
    "sip_realm": str,
    "sip_untrusted": str,
    "invite_rate": float,
    "invite_burst": int,
    "media_latch": bool,
    "api_docs": bool,
    "api_max_connections": int,
    "learned_delivery_days": float,
    "drain_timeout": float,
}

# [asterisk] settings; FAXGW_ASTERISK_<NAME> overrides them (the AMI secret need not be in the file).
_ASTERISK_SCALARS = {
    "root": Path,
    "spool_dir": Path,
    "local_spool_dir": Path,
    "ami_host": str,
    "ami_port": int,
    "ami_username": str,
    "ami_secret": str,
    "ami_permit": str,
    "rtp_start": int,
    "rtp_end": int,
    "udptl_start": int,
    "udptl_end": int,
    "t38_ec": str,
    "t38_maxdatagram": int,
    "t38_nat": bool,
    "max_rate": int,
    "register": bool,
    "test_peer": str,
    "run_user": str,
}


def load_config(path: Path | None = None, environ: dict[str, str] | None = None) -> Config:
    """The file's settings, then FAXGW_<NAME> environment variables over the scalar ones."""
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise ConfigError(f"{path}: {error}") from None
    environ = dict(os.environ if environ is None else environ)
    values: dict[str, Any] = {}
    for name, kind in _SCALARS.items():
        value = environ.get(f"FAXGW_{name.upper()}", raw.get(name))
        if value is not None:
            values[name] = _convert(name, value, kind)
    try:
        values["numbers"] = tuple(NumberConfig(**entry) for entry in raw.get("numbers", []))
        values["routes"] = tuple(RouteConfig(**entry) for entry in raw.get("routes", []))
        values["tenants"] = tuple(TenantConfig(**entry) for entry in raw.get("tenants", []))
    except TypeError as error:
        raise ConfigError(f"{path}: {error}") from None
    values["asterisk"] = _load_asterisk(raw.get("asterisk", {}), environ)
    values["edge"] = _load_edge(raw.get("edge", {}), environ)
    values["mail"] = _load_mail(raw.get("mail", {}), environ)
    values["metrics"] = _load_metrics(raw.get("metrics", {}), environ)
    values["console"] = _load_console(raw.get("console", {}), environ)
    values["diagnostics"] = DiagnosticsConfig(
        **_table("diagnostics", raw.get("diagnostics", {}), environ, {"pcap_failed_calls": bool})
    )
    values["trunks"] = _load_peers("trunks", raw.get("trunks", []), _TRUNK_FIELDS, TrunkConfig)
    values["devices"] = _load_peers("devices", raw.get("devices", []), _DEVICE_FIELDS, DeviceConfig)
    if values["trunks"] and values.get("trunk") is not None:
        raise ConfigError("trunk and [[trunks]]: use one or the other (trunk is the one-trunk shorthand)")
    for name in ("url_fetch_allow", "url_fetch_deny", "webhook_allow", "webhook_deny", "trunk_networks"):
        values[name] = _networks(name, raw.get(name, []))
    config = Config(**values)
    if config.database_url is not None and not config.database_url.startswith(
        ("postgresql://", "postgres://")
    ):
        raise ConfigError("database_url: give a postgresql://user:password@host/dbname URL")
    if config.database_pool < 1 or config.lease < 3 or config.calls_per_destination < 0:
        raise ConfigError(
            "database_pool must be at least 1, lease at least 3 seconds, calls_per_destination 0 or more"
        )
    if config.sip_untrusted not in ("reject", "drop"):
        raise ConfigError(f"sip_untrusted = {config.sip_untrusted!r}: use reject or drop")
    if config.sip_tls_port is not None and (config.sip_tls_cert is None or config.sip_tls_key is None):
        raise ConfigError("sip_tls_port needs sip_tls_cert and sip_tls_key")
    if (config.inbound_username is None) != (config.inbound_password is None):
        raise ConfigError("inbound_username and inbound_password go together")
    if config.invite_rate <= 0 or config.invite_burst < 1:
        raise ConfigError("invite_rate must be above 0 and invite_burst at least 1")
    if config.drain_timeout < 0:
        raise ConfigError("drain_timeout cannot be negative")
    if config.max_pages < 1:
        raise ConfigError("max_pages must be at least 1")
    if config.convert_processes < 0:
        raise ConfigError("convert_processes must be 0 (one per core) or more")
    if config.media_timeout < 10:
        # T.38 is silent between T.30's signals (T2 is 6 s): a shorter wait would cut calls that are fine.
        raise ConfigError("media_timeout must be at least 10 seconds")
    if config.api_max_connections < 1:
        raise ConfigError("api_max_connections must be at least 1")
    _check_owners(config)
    _check_peers(config)
    _check_mail(config)
    _check_users(config)
    for tenant in config.tenants:
        if tenant.retries < 0 or tenant.retry_delay < 0:
            raise ConfigError(f"tenant {tenant.id}: retries and retry_delay cannot be negative")
    return config


def _check_owners(config: Config) -> None:
    known = {tenant.id for tenant in config.tenants}
    for entry in config.numbers:
        if entry.tenant is not None and known and entry.tenant not in known:
            raise ConfigError(f"number {entry.number}: tenant {entry.tenant!r} is not a configured tenant")


#: [[trunks]] and [[devices]] fields and how each is read (lists become tuples).
_TRUNK_FIELDS: dict[str, Any] = {
    "name": str,
    "hosts": (str,),
    "port": int,
    "transport": str,
    "username": str,
    "password": str,
    "register": bool,
    "networks": (str,),
    "t38": T38Policy,
    "ecm": bool,
    "max_rate": int,
    "codecs": (str,),
    "max_calls": int,
    "calls_per_second": float,
    "priority": int,
    "weight": int,
    "destinations": (str,),
    "keepalive": float,
}
_DEVICE_FIELDS: dict[str, Any] = {
    "username": str,
    "password": str,
    "numbers": (str,),
    "tenant": str,
    "t38": T38Policy,
    "ecm": bool,
    "keepalive": float,
    "relay": Relay,
    "max_contacts": int,
    "media_latch": bool,
}


def _load_peers(table: str, entries: Any, kinds: dict[str, Any], build: Any) -> tuple[Any, ...]:
    """[[trunks]] or [[devices]]: each entry's fields read as ``kinds`` says, then checked by ``build``."""
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        raise ConfigError(f"{table}: must be an array of tables ([[{table}]])")
    peers = []
    for index, entry in enumerate(entries):
        where = f"{table}[{index}]"
        unknown = sorted(set(entry) - set(kinds))
        if unknown:
            raise ConfigError(f"{where}: unknown setting(s) {', '.join(unknown)}")
        values: dict[str, Any] = {}
        for name, value in entry.items():
            kind = kinds[name]
            if isinstance(kind, tuple):  # a list of strings; a lone string is taken as a list of one
                items = [value] if isinstance(value, str) else value
                if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
                    raise ConfigError(f"{where}.{name}: must be a list of strings")
                values[name] = tuple(items)
            else:
                values[name] = _convert(f"{where}.{name}", value, kind)
        try:
            peers.append(build(**values))
        except TypeError as error:  # a required field missing
            raise ConfigError(f"{where}: {error}") from None
        except PeerError as error:
            raise ConfigError(str(error)) from None
    return tuple(peers)


def _check_peers(config: Config) -> None:
    """What no single entry can see: names and numbers used twice, tenants that do not exist."""
    for kind, names in (
        ("trunk", [trunk.name for trunk in config.trunks]),
        ("device", [device.username for device in config.devices]),
        ("device number", [number for device in config.devices for number in device.numbers]),
    ):
        doubles = sorted({name for name in names if names.count(name) > 1})
        if doubles:
            raise ConfigError(f"{kind} {', '.join(doubles)} configured more than once")
    known = {tenant.id for tenant in config.tenants}
    for device in config.devices:
        if device.tenant is not None and known and device.tenant not in known:
            raise ConfigError(
                f"device {device.username}: tenant {device.tenant!r} is not a configured tenant"
            )


def _table(
    section: str, table: Any, environ: dict[str, str], scalars: dict[str, type], lists: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The scalar settings of the table ``[section]``, a FAXGW_<SECTION>_<NAME> variable over the file's;
    a key that is neither one of ``scalars`` nor of ``lists`` is a ConfigError."""
    if not isinstance(table, dict):
        raise ConfigError(f"{section}: must be a table ([{section}])")
    unknown = sorted(set(table) - set(scalars) - set(lists))
    if unknown:
        raise ConfigError(f"{section}: unknown setting(s) {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for name, kind in scalars.items():
        value = environ.get(f"FAXGW_{section.upper()}_{name.upper()}", table.get(name))
        if value is not None:
            values[name] = _convert(f"{section}.{name}", value, kind)
    return values


def _load_asterisk(table: Any, environ: dict[str, str]) -> AsteriskConfig:
    asterisk = AsteriskConfig(**_table("asterisk", table, environ, _ASTERISK_SCALARS))
    if asterisk.t38_ec not in ("redundancy", "fec", "none"):
        raise ConfigError(f"asterisk.t38_ec = {asterisk.t38_ec!r}: use redundancy, fec or none")
    if asterisk.max_rate not in (2400, 4800, 7200, 9600, 12000, 14400):
        raise ConfigError(
            f"asterisk.max_rate = {asterisk.max_rate}: use 2400, 4800, 7200, 9600, 12000 or 14400"
        )
    return asterisk


# [edge] settings besides its [[edge.nodes]]; FAXGW_EDGE_<NAME> overrides them.
_EDGE_SCALARS = {"listen_host": str, "listen_port": int, "probe_interval": int, "node_timeout": float}
_NODE_FIELDS = {"name": str, "sip_host": str, "sip_port": int}


def _load_edge(table: Any, environ: dict[str, str]) -> EdgeConfig:
    values = _table("edge", table, environ, _EDGE_SCALARS, lists=("nodes",))
    try:
        values["nodes"] = _load_peers("edge.nodes", table.get("nodes", []), _NODE_FIELDS, NodeConfig)
        return EdgeConfig(**values)
    except EdgeError as error:
        raise ConfigError(str(error)) from None


# [console]; FAXGW_CONSOLE_<NAME> overrides them.
_CONSOLE_SCALARS = {
    "enabled": bool,
    "session_lifetime": float,
    "secret": str,
    "max_failed_sign_ins": int,
    "sign_in_window": float,
}


def _check_users(config: Config) -> None:
    for tenant in config.tenants:
        for name, hashed in tenant.users.items():
            if not isinstance(hashed, str) or not password_hash_ok(hashed):
                raise ConfigError(
                    f"tenant {tenant.id}: user {name}: not a password hash of ours (make one with "
                    "faxgw.gateway.consoleconfig.hash_password)"
                )


def _load_console(table: Any, environ: dict[str, str]) -> ConsoleConfig:
    console = ConsoleConfig(**_table("console", table, environ, _CONSOLE_SCALARS))
    if console.session_lifetime <= 0 or console.max_failed_sign_ins < 1 or console.sign_in_window <= 0:
        raise ConfigError(
            "console: session_lifetime and sign_in_window must be above 0, max_failed_sign_ins at least 1"
        )
    return console


def _load_metrics(table: Any, environ: dict[str, str]) -> MetricsConfig:
    """[metrics]; FAXGW_METRICS_TOKEN overrides its token (it need not be in the file)."""
    metrics = MetricsConfig(**_table("metrics", table, environ, {"token": str}))
    if metrics.token is not None and not metrics.token.strip():
        raise ConfigError("metrics.token: empty (leave it out for an open /metrics)")
    return metrics


# [mail] settings besides its [[mail.accounts]]; FAXGW_MAIL_<NAME> overrides them (the password need not
# be in the file).
_MAIL_SCALARS = {
    "smtp_host": str,
    "smtp_port": int,
    "smtp_security": str,
    "smtp_username": str,
    "smtp_password": str,
    "smtp_ca_file": Path,
    "smtp_timeout": float,
    "sender": str,
    "retries": int,
    "retry_delay": float,
    "listen_host": str,
    "listen_port": int,
    "domain": str,
    "tls_cert": Path,
    "tls_key": Path,
    "plaintext_auth": bool,
    "max_message_size": int,
    "max_recipients": int,
    "max_connections": int,
    "session_timeout": float,
}
_ACCOUNT_FIELDS = {
    "tenant": str,
    "username": str,
    "password": str,
    "senders": (str,),
    "fax_from": str,
    "cover_page": bool,
}


def _load_mail(table: Any, environ: dict[str, str]) -> MailConfig:
    if (isinstance(table, dict) and "smtp_starttls" in table) or "FAXGW_MAIL_SMTP_STARTTLS" in environ:
        raise ConfigError(
            'mail.smtp_starttls is replaced by mail.smtp_security = "starttls" | "tls" | "none"'
            ' (true was "starttls", false "none"; "tls" is implicit TLS, port 465)'
        )
    values = _table("mail", table, environ, _MAIL_SCALARS, lists=("accounts",))
    try:
        values["accounts"] = _load_peers(
            "mail.accounts", table.get("accounts", []), _ACCOUNT_FIELDS, MailAccount
        )
        return MailConfig(**values)
    except MailError as error:
        raise ConfigError(str(error)) from None


def _check_mail(config: Config) -> None:
    """What [mail] alone cannot see: the accounts' tenants and numbers, routes that mail with no server."""
    known = {tenant.id for tenant in config.tenants}
    for account in config.mail.accounts:
        if account.tenant not in known:
            raise ConfigError(f"mail account {account.username}: tenant {account.tenant!r} is not configured")
        if account.fax_from != "no_number" and config.owner(account.fax_from) != account.tenant:
            raise ConfigError(
                f"mail account {account.username}: fax_from {account.fax_from} is not its tenant's"
            )
    for name in ("smtp_ca_file", "tls_cert", "tls_key"):
        path = getattr(config.mail, name)
        if path is not None and not path.is_file():
            raise ConfigError(f"mail.{name}: no file {path}")
    if not config.mail.sends and any(route.email_to for route in config.routes):
        raise ConfigError("a route has email_to but [mail] has no smtp_host to send through")


def _networks(name: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ConfigError(f'{name}: must be a list of networks, e.g. ["10.0.0.0/8", "fd00::/8"]')
    try:
        check_networks(name, value)
    except PeerError as error:
        raise ConfigError(str(error)) from None
    return tuple(value)


def _article(name: str) -> str:
    return f"{'an' if name[0] in 'AEIOU' else 'a'} {name}"


def _convert(name: str, value: Any, kind: type[Any]) -> Any:
    if issubclass(kind, enum.Enum):
        try:
            return kind(value)
        except ValueError:
            words = [str(member.value) for member in kind]
            raise ConfigError(f"{name} = {value!r}: use {', '.join(words[:-1])} or {words[-1]}") from None
    if kind is bool and isinstance(value, str):
        if value.lower() not in ("1", "0", "true", "false", "yes", "no"):
            raise ConfigError(f"{name}: {value!r} is not a boolean")
        return value.lower() in ("1", "true", "yes")
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: {value!r} is not a valid {kind.__name__}") from None
