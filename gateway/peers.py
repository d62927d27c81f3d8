"""The SIP peers the gateway is configured to talk to: trunks (``[[trunks]]``) toward the telephone
network, and devices (``[[devices]]``: ATAs, fax machines, PBX extensions) that register with it.

Plain frozen dataclasses, checked when built; ``gateway.config`` reads them from the TOML file, the
engines and the Asterisk renderer read them from ``Config.trunks`` and ``Config.devices``.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from ipaddress import ip_network

from faxgw.sip.fax.options import BIT_RATES
from faxgw.sip.fax_terms import T38Policy

#: The one-trunk settings (``trunk``, ``trunk_username`` ...) make a trunk of this name.
DEFAULT_TRUNK = "default"

TRANSPORTS = ("udp", "tcp", "tls")
CODECS = ("PCMU", "PCMA")
#: Names go into SIP, the dialplan and metrics labels: keep them plain.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")


class PeerError(ValueError):
    """A trunk or device entry the gateway cannot use (``gateway.config`` reports it as a ConfigError)."""


class Relay(enum.Enum):
    """What happens to a fax a device sends to a number that is not its tenant's own."""

    STORE_AND_FORWARD = "store_and_forward"  # received in full, then sent on as an outbound fax
    REAL_TIME = "real_time"  # the call is bridged to a trunk while the fax machine is on the line


def _check_name(kind: str, name: str) -> None:
    if not isinstance(name, str) or _NAME.fullmatch(name) is None:
        raise PeerError(f"{kind} name {name!r}: 1 to 63 letters, digits, '_', '.' or '-'")


def check_networks(where: str, networks: tuple[str, ...] | list[str]) -> None:
    """Every entry is an IP network (address/prefix); ``PeerError`` naming the first that is not."""
    for entry in networks:
        try:
            if not isinstance(entry, str):  # ip_network would read the integer 5 as 0.0.0.5
                raise TypeError(entry)
            ip_network(entry, strict=False)
        except (TypeError, ValueError):
            raise PeerError(f"{where}: {entry!r} is not an IP network (address/prefix)") from None


def _check_patterns(where: str, patterns: tuple[str, ...]) -> None:
    for pattern in patterns:
        if not isinstance(pattern, str) or not pattern:
            raise PeerError(f"{where}: {pattern!r} is not a prefix or a pattern")
        if pattern.startswith("^"):
            try:
                re.compile(pattern)
            except re.error as error:
                raise PeerError(f"{where}: {pattern!r}: {error}") from None


@dataclass(frozen=True)
class TrunkConfig:
    """A SIP trunk: where its calls go, how it may call us, what it carries and how much."""

    name: str
    #: host or host:port (IPv6 in brackets), tried in this order within the trunk.
    hosts: tuple[str, ...]
    port: int = 5060  # for hosts that name none
    transport: str = "udp"  # udp | tcp | tls
    username: str | None = None  # digest credentials toward the trunk (and its registrar)
    password: str | None = None
    register: bool = False  # REGISTER with the trunk (needs username and password)
    #: Networks (CIDR) the trunk may call us from; empty: the addresses its hosts resolve to at start.
    networks: tuple[str, ...] = ()
    t38: T38Policy = T38Policy.AUTO
    ecm: bool = True
    max_rate: int = 14400  # bit/s: 4800, 9600 or 14400
    codecs: tuple[str, ...] = CODECS  # G.711 laws offered, in this order
    max_calls: int | None = None  # calls at once through this trunk; None: no limit of its own
    calls_per_second: float | None = None  # new calls per second; None: no limit
    priority: int = 0  # lower first; trunks of equal priority share calls by weight
    weight: int = 1
    #: Numbers it carries: prefixes ("+1", "0044") or regular expressions starting with ^; empty: all.
    destinations: tuple[str, ...] = ()
    keepalive: float = 30.0  # seconds between OPTIONS pings (up/down); 0: never pinged, always up

    def __post_init__(self) -> None:
        _check_name("trunk", self.name)
        where = f"trunk {self.name}"
        if not self.hosts or not all(isinstance(host, str) and host for host in self.hosts):
            raise PeerError(f"{where}: hosts must name at least one host")
        if self.transport not in TRANSPORTS:
            raise PeerError(f"{where}: transport = {self.transport!r}: use {', '.join(TRANSPORTS)}")
        if (self.username is None) != (self.password is None):
            raise PeerError(f"{where}: username and password go together")
        if self.register and self.username is None:
            raise PeerError(f"{where}: register = true needs username and password")
        if self.max_rate not in BIT_RATES:
            raise PeerError(f"{where}: max_rate = {self.max_rate}: use {', '.join(map(str, BIT_RATES))}")
        if not self.codecs or any(codec not in CODECS for codec in self.codecs):
            raise PeerError(f"{where}: codecs = {list(self.codecs)}: choose from {', '.join(CODECS)}")
        if self.max_calls is not None and self.max_calls < 1:
            raise PeerError(f"{where}: max_calls must be at least 1")
        if self.calls_per_second is not None and self.calls_per_second <= 0:
            raise PeerError(f"{where}: calls_per_second must be above 0")
        if self.weight < 1:
            raise PeerError(f"{where}: weight must be at least 1")
        if self.keepalive < 0:
            raise PeerError(f"{where}: keepalive must be 0 (off) or more seconds")
        check_networks(f"{where}: networks", self.networks)
        _check_patterns(f"{where}: destinations", self.destinations)

    def carries(self, number: str) -> bool:
        """Does this trunk take calls to ``number``?"""
        if not self.destinations:
            return True
        for pattern in self.destinations:
            if pattern.startswith("^"):
                if re.fullmatch(pattern, number) is not None:
                    return True
            elif number.startswith(pattern):
                return True
        return False

    def uri(self, number: str | None, host: str | None = None) -> str:
        """The Request-URI of a call to ``number`` through this trunk (its first host by default); with
        no number, the host's own (OPTIONS pings, REGISTER)."""
        host = host or self.hosts[0]
        if ":" not in host.rsplit("]", 1)[-1]:
            host = f"{host}:{self.port}"
        transport = "" if self.transport == "udp" else f";transport={self.transport}"
        user = f"{number}@" if number else ""
        return f"sip:{user}{host}{transport}"


@dataclass(frozen=True)
class DeviceConfig:
    """A device that registers with the gateway (an ATA with a fax machine behind it, a PBX extension)."""

    username: str  # its digest username and the user part of its address of record
    password: str
    #: The numbers (or extensions) it owns: faxes to them call the device; it sends from the first.
    numbers: tuple[str, ...]
    tenant: str | None = None  # None: the only tenant, when there is just one
    t38: T38Policy = T38Policy.AUTO
    ecm: bool = True
    keepalive: float = 30.0  # seconds between OPTIONS to its contacts (qualify, and NAT bindings open)
    relay: Relay = Relay.STORE_AND_FORWARD
    max_contacts: int = 4  # registered contacts at once
    #: Send media to where its media comes from, not to the (private) address its SDP states: a device
    #: behind NAT (once, early in the call, as ``Config.media_latch`` for trunks; Asterisk's rtp_symmetric).
    media_latch: bool = True

    def __post_init__(self) -> None:
        _check_name("device", self.username)
        where = f"device {self.username}"
        if not self.password:
            raise PeerError(f"{where}: a password is required (devices authenticate with digest)")
        if not self.numbers or not all(isinstance(number, str) and number for number in self.numbers):
            raise PeerError(f"{where}: numbers must name at least one number or extension")
        if self.keepalive < 0:
            raise PeerError(f"{where}: keepalive must be 0 (off) or more seconds")
        if self.max_contacts < 1:
            raise PeerError(f"{where}: max_contacts must be at least 1")

    def owns(self, number: str) -> bool:
        return number in self.numbers
