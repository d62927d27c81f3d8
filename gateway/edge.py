"""The SIP edge in front of several gateway nodes (``[edge]``): where Kamailio listens for the trunks, the
nodes it spreads their calls over, how often it probes them, and how long a node may stay silent.

Plain frozen dataclasses, checked when built; ``gateway.config`` reads them from the TOML file, ``faxgw
kamailio-config`` (``gateway.kamailio``) renders Kamailio's configuration from them and the trunks.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

#: Node names go into Kamailio's dispatcher list and logs: keep them plain.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
#: A host name (RFC 1123 labels) or an IP literal: nothing that could end a line or a string in Kamailio's
#: configuration.
_HOSTNAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*")


class EdgeError(ValueError):
    """An ``[edge]`` setting the gateway cannot use (``gateway.config`` reports it as a ConfigError)."""


def check_host(where: str, host: str) -> None:
    """``host`` is an IP address or a host name, not an unspecified address such as 0.0.0.0 (Kamailio puts
    its own address into Record-Route and Via, and sends to the nodes'); ``EdgeError`` naming ``where``
    otherwise."""
    if not isinstance(host, str) or not host:
        raise EdgeError(f"{where}: give an IP address or a host name")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if _HOSTNAME.fullmatch(host) is None:
            raise EdgeError(f"{where} = {host!r}: not an IP address or a host name") from None
        return
    if address.is_unspecified:
        raise EdgeError(f"{where} = {host!r}: name an address of its own, not a wildcard")


def check_port(where: str, port: int) -> None:
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise EdgeError(f"{where} = {port!r}: a port is 1 to 65535")


@dataclass(frozen=True)
class NodeConfig:
    """One gateway node as the edge reaches it: its SIP user agent's address (its ``sip_host`` and
    ``sip_port``, as seen from the edge)."""

    name: str
    sip_host: str
    sip_port: int = 5060

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or _NAME.fullmatch(self.name) is None:
            raise EdgeError(f"edge node name {self.name!r}: 1 to 63 letters, digits, '_', '.' or '-'")
        check_host(f"edge node {self.name}: sip_host", self.sip_host)
        check_port(f"edge node {self.name}: sip_port", self.sip_port)

    @property
    def uri(self) -> str:
        """The node's SIP URI (where the edge sends its calls and its OPTIONS probes)."""
        host = f"[{self.sip_host}]" if ":" in self.sip_host else self.sip_host
        return f"sip:{host}:{self.sip_port}"


@dataclass(frozen=True)
class EdgeConfig:
    """Kamailio in front of the nodes (``faxgw kamailio-config``): the trunks call ``listen_host``:
    ``listen_port``; each INVITE from a trunk's network goes to one of ``nodes`` (by a hash of its Call-ID),
    to the next one when a node answers 5xx or nothing within ``node_timeout``; a node is probed with
    OPTIONS every ``probe_interval`` seconds and left out while it does not answer 200."""

    listen_host: str = "127.0.0.1"
    listen_port: int = 5060
    nodes: tuple[NodeConfig, ...] = ()
    probe_interval: int = 10  # seconds between OPTIONS probes of each node (Kamailio's ds_ping_interval)
    #: Seconds a node has to answer an INVITE at all (it says 100 Trying at once) before the next is tried,
    #: and a probe before the node is taken for down.
    node_timeout: float = 2.0

    def __post_init__(self) -> None:
        check_host("edge.listen_host", self.listen_host)
        check_port("edge.listen_port", self.listen_port)
        if isinstance(self.probe_interval, bool) or not isinstance(self.probe_interval, int):
            raise EdgeError(f"edge.probe_interval = {self.probe_interval!r}: whole seconds")
        if self.probe_interval < 1:
            raise EdgeError("edge.probe_interval must be at least 1 second")
        if not self.node_timeout > 0:
            raise EdgeError("edge.node_timeout must be above 0 seconds")
        for kind, keys in (
            ("name", [node.name for node in self.nodes]),
            ("address", [f"{node.sip_host}:{node.sip_port}" for node in self.nodes]),
        ):
            doubles = sorted({key for key in keys if keys.count(key) > 1})
            if doubles:
                raise EdgeError(f"edge nodes: {kind} {', '.join(doubles)} given more than once")
        own = f"{self.listen_host}:{self.listen_port}"
        for node in self.nodes:
            if f"{node.sip_host}:{node.sip_port}" == own:
                raise EdgeError(f"edge node {node.name}: {own} is where the edge itself listens")
            # Kamailio sends to a node from its own socket, which has the listening address's family.
            ours, theirs = _version(self.listen_host), _version(node.sip_host)
            if ours is not None and theirs is not None and ours != theirs:
                raise EdgeError(
                    f"edge node {node.name}: {node.sip_host} is not reachable from the edge's"
                    f" listen_host {self.listen_host} (IPv4 and IPv6)"
                )


def _version(host: str) -> int | None:
    """4 or 6 for an IP literal, None for a host name."""
    try:
        return ipaddress.ip_address(host).version
    except ValueError:
        return None
