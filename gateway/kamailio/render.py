"""Kamailio's configuration for the edge in front of several nodes, rendered from the gateway's own:
``render(config, out_dir)`` writes ``kamailio.cfg``, ``dispatcher.list`` (the nodes) and
``address.list`` (the trunks' networks) into the directory Kamailio reads them from.

``kamailio.cfg`` is a head of values from the configuration (Kamailio preprocessor ``#!define``s and the
``listen`` lines) and ``routing.cfg`` beside this module, which is the same for every configuration and
names only those defines. Every value is checked before any file is written.
"""

from __future__ import annotations

import ipaddress
import math
import socket
from importlib import resources
from pathlib import Path

from faxgw.gateway.config import Config, ConfigError
from faxgw.gateway.edge import EdgeConfig
from faxgw.gateway.peers import TrunkConfig
from faxgw.sip.message import SipParseError, SipUri

ROUTING = resources.files("faxgw.gateway.kamailio") / "routing.cfg"

#: The files written, in this order.
FILES = ("kamailio.cfg", "dispatcher.list", "address.list")
#: The nodes' dispatcher set and the trunks' permissions group (routing.cfg's NODES and TRUNKS).
NODES = 1
TRUNKS = 1

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def render(config: Config, out_dir: Path) -> list[Path]:
    """Write the edge's Kamailio configuration for ``config`` into ``out_dir``; the paths written."""
    out_dir = out_dir.resolve()
    texts = render_texts(config, out_dir)  # all checked before the first file is touched
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in FILES:
        path = out_dir / name
        path.write_text(texts[name])
        paths.append(path)
    return paths


def render_texts(config: Config, out_dir: Path) -> dict[str, str]:
    """The files' texts, by name; ``out_dir`` (absolute) is where Kamailio will read the two lists."""
    edge = config.edge
    if not edge.nodes:
        raise ConfigError("[edge] names no nodes: add an [[edge.nodes]] entry for each gateway node")
    if any(character in str(out_dir) for character in '"\\\n\r'):
        raise ConfigError(f"{out_dir}: a directory whose name has no quotes, backslashes or line breaks")
    trunks = trunk_networks(config)
    if not trunks:
        raise ConfigError(
            "the edge admits calls only from the trunks: configure [[trunks]] (their networks or hosts),"
            " or trunk and trunk_networks"
        )
    return {
        "kamailio.cfg": _head(config, edge, out_dir) + ROUTING.read_text(),
        "dispatcher.list": _dispatcher_list(edge),
        "address.list": _address_list(trunks),
    }


def trunk_networks(config: Config) -> list[tuple[str, Network]]:
    """Where each trunk may call from, as (trunk name, network): its ``networks``, else the addresses its
    hosts resolve to now (as a node's own admission does at start); the one-trunk ``trunk_networks`` are
    the "default" trunk's."""
    sources: list[tuple[str, Network]] = []
    for trunk in config.trunks:
        if trunk.networks:
            networks = [ipaddress.ip_network(network, strict=False) for network in trunk.networks]
        else:
            networks = [ipaddress.ip_network(address) for address in _resolve(trunk)]
        sources += [(trunk.name, network) for network in networks if (trunk.name, network) not in sources]
    return sources


def _resolve(trunk: TrunkConfig) -> list[str]:
    """The addresses ``trunk``'s hosts resolve to now."""
    addresses: list[str] = []
    for host in trunk.hosts:
        try:
            name = SipUri.parse(trunk.uri(None, host)).host.strip("[]")
            infos = socket.getaddrinfo(name, None, proto=socket.IPPROTO_UDP)
        except (SipParseError, OSError) as error:
            raise ConfigError(
                f"trunk {trunk.name}: cannot resolve {host} ({error}): give the trunk's networks instead"
            ) from None
        addresses += [str(info[4][0]) for info in infos if str(info[4][0]) not in addresses]
    return addresses


def _head(config: Config, edge: EdgeConfig, out_dir: Path) -> str:
    host = f"[{edge.listen_host}]" if ":" in edge.listen_host else edge.listen_host
    lines = [
        "#!KAMAILIO",
        f"# Kamailio 5.6 in front of {len(edge.nodes)} faxgw node(s), rendered by `faxgw kamailio-config`",
        "# from the gateway's configuration ([edge], [[edge.nodes]], the trunks): render it again rather",
        "# than editing it.",
        "",
        f'#!define DISPATCHER_LIST "{out_dir / "dispatcher.list"}"',
        f'#!define ADDRESS_LIST "{out_dir / "address.list"}"',
        f"#!define NODES {NODES}",
        f"#!define TRUNKS {TRUNKS}",
        f"#!define PROBE_INTERVAL {edge.probe_interval}",
        f"#!define NODE_TIMEOUT {math.ceil(edge.node_timeout * 1000)}",
    ]
    if config.sip_untrusted == "drop":
        lines.append("#!define DROP_UNTRUSTED")  # strangers get no answer at all, as from a node
    lines += ["", f"listen=udp:{host}:{edge.listen_port}", f"listen=tcp:{host}:{edge.listen_port}", "", ""]
    return "\n".join(lines)


def _dispatcher_list(edge: EdgeConfig) -> str:
    lines = ["# setid destination flags priority attributes: the gateway nodes (faxgw kamailio-config)"]
    lines += [f"{NODES} {node.uri} 0 0 duid={node.name}" for node in edge.nodes]
    return "\n".join(lines) + "\n"


def _address_list(trunks: list[tuple[str, Network]]) -> str:
    lines = ["# group address netmask port tag: where the trunks call from (faxgw kamailio-config)"]
    for name, network in trunks:
        address = str(network.network_address)
        if network.version == 6:
            address = f"[{address}]"
        lines.append(f"{TRUNKS} {address} {network.prefixlen} 0 {name}")
    return "\n".join(lines) + "\n"
