"""Asterisk's configuration, rendered from the gateway's own: ``render(config, out_dir)``.

The templates are in ``dialplan/`` at the top of the repository, installed as the package
``gateway.dialplan`` and read through importlib.resources: Asterisk config files with ``$name``
placeholders (lowercase; Asterisk's own ``${VAR}`` and ``$[expr]`` pass through untouched) and, in
``dialplan/parts/``, the blocks that appear only with some settings (trunk, credentials,
registration, test peer). Every value is checked before any file is written: one that would break
a file or change its meaning (a newline, a ``;`` that starts a comment, a comma in a dialplan
argument) is a ConfigError naming the setting.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Mapping
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from string import Template

from faxgw.gateway.asterisk import contract
from faxgw.gateway.asterisk.patterns import CATCH_ALL, extension
from faxgw.gateway.config import Config, ConfigError
from faxgw.gateway.peers import CODECS, DEFAULT_TRUNK, DeviceConfig, TrunkConfig
from faxgw.sip.fax_terms import T38Policy

TEMPLATES = resources.files("faxgw.gateway.dialplan")

#: The files written, in this order.
FILES = (
    "asterisk.conf",
    "modules.conf",
    "logger.conf",
    "manager.conf",
    "pjsip.conf",
    "extensions.conf",
    "res_fax.conf",
    "udptl.conf",
    "rtp.conf",
)

#: The peers' G.711 laws as PJSIP names them.
CODEC_NAMES = {"PCMU": "ulaw", "PCMA": "alaw"}

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_SIP_USER = re.compile(r"[A-Za-z0-9._~!$&'*+=%-]+")  # RFC 3261 user characters without ; , ? @ :
_HOSTNAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*")
_PATH = re.compile(r"/[A-Za-z0-9._/+-]*")  # these paths go into dialplan arguments and UserEvents


#: A placeholder: ``$name`` or ``${name}``, lower case; "$$" is a dollar; any other "$" is Asterisk's.
_PLACEHOLDER = r"""
    \$(?:
      (?P<escaped>\$) |
      (?P<named>[a-z][a-z0-9_]*) |
      \{(?P<braced>[a-z][a-z0-9_]*)\} |
      (?P<invalid>(?!))   # never: a "$" before anything else is Asterisk's
    )
"""


class AsteriskTemplate(Template):
    """string.Template whose placeholders are ``$lowercase_name`` or ``${lowercase_name}`` only, case
    sensitive, so that Asterisk's ``${EXTEN}``, ``${CALLERID(num)}`` and ``$[...]`` stay as written."""

    flags = re.RegexFlag(0)  # not re.IGNORECASE (the default), which would take ${EXTEN} for a placeholder
    # Template compiles this text when the class is made (string docs: "Advanced usage"); typeshed
    # types the attribute as the compiled pattern it becomes.
    pattern = _PLACEHOLDER  # type: ignore[assignment]


def render(config: Config, out_dir: Path) -> list[Path]:
    """Write Asterisk's configuration files for ``config`` into ``out_dir``; the paths written."""
    texts = render_texts(config)  # all checked before the first file is touched
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in texts.items():
        path = out_dir / name
        path.write_text(text)
        paths.append(path)
    return paths


def render_texts(config: Config, templates: Traversable = TEMPLATES) -> dict[str, str]:
    """File name -> content, for every file in FILES."""
    values = _values(config, templates)
    return {name: fill(templates / name, values) for name in FILES}


def fill(template: Traversable, values: Mapping[str, str]) -> str:
    try:
        return AsteriskTemplate(template.read_text()).substitute(values)
    except KeyError as error:
        raise RuntimeError(f"{template}: no value for placeholder {error}") from None
    except FileNotFoundError:
        raise ConfigError(
            f"{template}: template missing from the installed gateway.dialplan package"
        ) from None


def _values(config: Config, templates: Traversable) -> dict[str, str]:
    ast = config.asterisk
    # load_config checks these too; a Config built in code has not been through it.
    if ast.t38_ec not in ("redundancy", "fec", "none"):
        raise ConfigError(f"asterisk.t38_ec = {ast.t38_ec!r}: use redundancy, fec or none")
    if ast.max_rate not in (2400, 4800, 7200, 9600, 12000, 14400):
        raise ConfigError(f"asterisk.max_rate = {ast.max_rate}: use 2400, 4800, 7200, 9600, 12000 or 14400")
    peers = _Peers(config, templates)
    spool = _path("asterisk.spool_dir", ast.spool)
    sip_bind = _address(_ip("sip_host", config.sip_host), _number("sip_port", config.sip_port, 1, 65535))
    tcp = any(trunk.transport == "tcp" for trunk in config.trunks)
    return {
        "root": _path("asterisk.root", ast.root),
        "system_name": _name("node", config.node),
        "run_as": _run_as(ast.run_user),
        "ami_host": _ip("asterisk.ami_host", ast.ami_host),
        "ami_port": str(_number("asterisk.ami_port", ast.ami_port, 1, 65535)),
        "ami_username": _ami_username(ast.ami_username),
        "ami_secret": _secret("asterisk.ami_secret", ast.ami_secret),
        "ami_permit": _network("asterisk.ami_permit", ast.ami_permit),
        "sip_bind": sip_bind,
        "tcp_transport": (
            f"\n[{contract.TCP_TRANSPORT}]\ntype = transport\nprotocol = tcp\nbind = {sip_bind}\n"
            if tcp
            else ""
        ),
        "trunks": peers.trunks() or "\n; no trunk configured\n",
        "devices": peers.devices(),
        "peer": peers.peer(),
        "did_extensions": _did_extensions(config),
        "trunk_contexts": peers.trunk_contexts(),
        "any_number": CATCH_ALL,
        "spool_in": f"{spool}/{contract.SPOOL_IN}",
        "decision_timeout": str(contract.DECISION_TIMEOUT),
        "ring_timeout": str(contract.RING_TIMEOUT),
        "failover": failover_expression("FAXGW_CODE"),
        "failover_words": ", ".join(map(str, contract.FAILOVER_CODES)) + ", 5xx",
        "ecm": _yes(config.ecm),
        "max_rate": str(ast.max_rate),
        "number_chars": contract.NUMBER_CHARS,
        "text_chars": contract.TEXT_CHARS,
        "rtp_start": str(_number("asterisk.rtp_start", ast.rtp_start, 1024, 65535)),
        "rtp_end": str(_number("asterisk.rtp_end", ast.rtp_end, ast.rtp_start + 1, 65535)),
        "udptl_start": str(_number("asterisk.udptl_start", ast.udptl_start, 1024, 65535)),
        "udptl_end": str(_number("asterisk.udptl_end", ast.udptl_end, ast.udptl_start + 1, 65535)),
    }


def failover_expression(variable: str) -> str:
    """The dialplan's test (``$[...]``: 1 or 0) of whether the SIP final response in ``variable`` fails
    over to the next route: contract.FAILOVER_CODES or any 5xx, as ``engines.trunks.fails_over``."""
    code = f"${{{variable}}}"
    tests = [f"{code} = {status}" for status in contract.FAILOVER_CODES]
    return f"$[{' | '.join(tests)} | ({code} >= 500 & {code} <= 599)]"


class _Peers:
    """The PJSIP sections and dialplan subroutines of the trunks, the devices and the test peer."""

    def __init__(self, config: Config, templates: Traversable) -> None:
        self.config = config
        self.templates = templates
        ast = config.asterisk
        self.t38_maxdatagram = str(_number("asterisk.t38_maxdatagram", ast.t38_maxdatagram, 64, 65535))
        self.hosts = {
            trunk.name: [_host_port(f"trunk {trunk.name}: hosts", host, trunk.port) for host in trunk.hosts]
            for trunk in config.trunks
        }
        self.test_peer = _host_port("asterisk.test_peer", ast.test_peer) if ast.test_peer else None
        # Asterisk identifies trunks and the test peer by source address; where two of them share a host
        # (all on 127.0.0.1 in tests), the source port tells them apart.
        addresses = [address for hosts in self.hosts.values() for address in dict.fromkeys(hosts)]
        if self.test_peer is not None:
            if self.test_peer in addresses:
                raise ConfigError("asterisk.test_peer is a trunk's host itself: leave test_peer out")
            addresses.append(self.test_peer)
        hosts = [host.lower() for host, _ in addresses]
        self.shared = {host for host in hosts if hosts.count(host) > 1}

    def _media(self, t38: T38Policy, codecs: tuple[str, ...], nat: bool, ecm: bool, max_rate: int) -> str:
        values = {
            "codecs": ",".join(CODEC_NAMES[codec] for codec in codecs),
            "t38_udptl": _yes(t38 is not T38Policy.AUDIO),
            "t38_ec": self.config.asterisk.t38_ec,
            "t38_maxdatagram": self.t38_maxdatagram,
            "t38_nat": _yes(nat),
            "ecm": _yes(ecm),
            "max_rate": str(min(max_rate, self.config.asterisk.max_rate)),
        }
        return fill(self.templates / "parts" / "pjsip-media.conf", values).rstrip("\n")

    def _match(self, host: str, port: int) -> str:
        return _address(host, port) if host.lower() in self.shared else host

    def trunks(self) -> str:
        return "".join(self._trunk(trunk) for trunk in self.config.trunks)

    def _trunk(self, trunk: TrunkConfig) -> str:
        if trunk.transport not in ("udp", "tcp"):
            raise ConfigError(
                f"trunk {trunk.name}: transport = {trunk.transport!r}: the Asterisk engine renders udp and"
                " tcp trunks (set TLS up in pjsip.conf by hand)"
            )
        endpoint = contract.trunk_endpoint(trunk.name)
        hosts = self.hosts[trunk.name]
        transport = contract.TCP_TRANSPORT if trunk.transport == "tcp" else contract.TRANSPORT
        # "\;": a bare ";" starts a comment in Asterisk's config.
        uri_params = "\\;transport=tcp" if trunk.transport == "tcp" else ""
        ast = self.config.asterisk
        values = {
            "name": trunk.name,
            "endpoint": endpoint,
            "context": contract.trunk_context(trunk.name),
            "transport": transport,
            "media": self._media(trunk.t38, trunk.codecs, ast.t38_nat, trunk.ecm, trunk.max_rate),
            "aors": ",".join(contract.trunk_aor(trunk.name, index) for index in range(1, len(hosts) + 1)),
            # Who Asterisk takes for the trunk: the networks it may call from when they are configured (as
            # the native engine's ACL), else its hosts.
            "match": ",".join(_network(f"trunk {trunk.name}: networks", net) for net in trunk.networks)
            or ",".join(dict.fromkeys(self._match(host, port) for host, port in hosts)),
            "hosts": "".join(
                fill(
                    self.templates / "parts" / "pjsip-trunk-host.conf",
                    {
                        "name": trunk.name,
                        "index": str(index),
                        "aor": contract.trunk_aor(trunk.name, index),
                        "contact": f"sip:{_address(host, port)}{uri_params}",
                        "qualify": str(math.ceil(trunk.keepalive)),
                        "qualify_text": (
                            f"OPTIONS every {math.ceil(trunk.keepalive)} s, skipped while it does not answer"
                            if trunk.keepalive
                            else "never pinged (keepalive = 0): always tried"
                        ),
                    },
                )
                for index, (host, port) in enumerate(hosts, 1)
            ),
            "outbound_auth": "; no username/password: the trunk trusts our address",
            "credentials": "",
        }
        if trunk.username is not None and trunk.password is not None:
            if not _SIP_USER.fullmatch(trunk.username):
                raise ConfigError(
                    f"trunk {trunk.name}: username {trunk.username!r}: letters, digits and"
                    " - . _ ~ ! $ & ' * + = % only"
                )
            credentials = {
                "endpoint": endpoint,
                "transport": transport,
                "username": trunk.username,
                "password": _secret(f"trunk {trunk.name}: password", trunk.password),
                "uri_host": _address(*hosts[0]) + uri_params,
            }
            credentials["registration"] = (
                fill(self.templates / "parts" / "pjsip-registration.conf", credentials)
                if self._registers(trunk)
                else "; no registration: the trunk knows our address"
            )
            values["outbound_auth"] = f"outbound_auth = {endpoint}-auth"
            values["credentials"] = fill(self.templates / "parts" / "pjsip-credentials.conf", credentials)
        return fill(self.templates / "parts" / "pjsip-trunk.conf", values).rstrip("\n") + "\n"

    def _registers(self, trunk: TrunkConfig) -> bool:
        """A [[trunks]] entry registers as its ``register`` says; the one-trunk shorthand's trunk as
        asterisk.register says (true by default: as it did before there were several trunks)."""
        shorthand = self.config.trunk is not None and trunk.name == DEFAULT_TRUNK
        return trunk.register or (shorthand and self.config.asterisk.register)

    def trunk_contexts(self) -> str:
        """One dialplan subroutine per trunk: its hosts in order, the calls it carries counted."""
        return "".join(self._trunk_context(trunk) for trunk in self.config.trunks)

    def _trunk_context(self, trunk: TrunkConfig) -> str:
        name, group = trunk.name, contract.TRUNK_GROUP
        limit = f"at most {trunk.max_calls} calls at once" if trunk.max_calls else "no call limit"
        lines = [
            "",
            f"; Trunk {name}: its hosts in order, the next while the one before failed as a trunk; {limit}.",
            f"[{contract.trunk_context(name)}]",
            f"exten => s,1,Set(GROUP({group})={name})",
        ]
        if trunk.max_calls:
            lines.append(f" same => n,GotoIf($[${{GROUP_COUNT({name}@{group})}} > {trunk.max_calls}]?full)")
        lines.append(" same => n,Set(FAXGW_PLACED=0)")
        endpoint = contract.trunk_endpoint(name)
        for index, (host, port) in enumerate(self.hosts[name], 1):
            if index > 1:
                lines.append(" same => n,GotoIf($[${FAXGW_OVER}]?:done)")
            aor = contract.trunk_aor(name, index)
            lines.append(
                f" same => n,Gosub(fax-try,s,1({endpoint},{aor},${{FAXGW_NUMBER}},{_address(host, port)}))"
            )
        lines += [
            " same => n(done),GotoIf($[${FAXGW_PLACED}]?placed)",
            " same => n,Gosub(fax-leg,s,1(down,1,))",
            " same => n(placed),Return()",
        ]
        if trunk.max_calls:
            lines += [
                f" same => n(full),Set(GROUP({group})=)",
                " same => n,Gosub(fax-leg,s,1(full,1,))",
                " same => n,Return()",
            ]
        return "\n".join(lines) + "\n"

    def devices(self) -> str:
        return "".join(self._device(device) for device in self.config.devices)

    def _device(self, device: DeviceConfig) -> str:
        where = f"device {device.username}"
        if device.username.lower().startswith(contract.RESERVED_PREFIX):
            raise ConfigError(
                f"{where}: names starting with {contract.RESERVED_PREFIX!r} are the gateway's own"
            )
        values = {
            "username": device.username,
            "password": _secret(f"{where}: password", device.password),
            "numbers": " ".join(_text(f"{where}: numbers", number) for number in device.numbers),
            "max_contacts": str(device.max_contacts),
            "qualify": str(math.ceil(device.keepalive)),
            # Devices sit behind NAT as often as not: UDPTL goes back where it comes from, as RTP does.
            "media": self._media(device.t38, CODECS, True, device.ecm, self.config.asterisk.max_rate),
        }
        return fill(self.templates / "parts" / "pjsip-device.conf", values).rstrip("\n") + "\n"

    def peer(self) -> str:
        if self.test_peer is None:
            return ""
        host, port = self.test_peer
        ast = self.config.asterisk
        values = {
            "media": self._media(self.config.t38, CODECS, ast.t38_nat, self.config.ecm, ast.max_rate),
            "peer_uri_host": _address(host, port),
            "peer_match": self._match(host, port),
        }
        return fill(self.templates / "parts" / "pjsip-peer.conf", values).rstrip("\n") + "\n"


def _did_extensions(config: Config) -> str:
    """Two dialplan lines per route: note the DID (only number characters), go to [fax-receive]."""
    lines: list[str] = []
    seen: set[str] = set()
    for route in config.routes:
        exten = extension(route.did)
        shown = "".join(char if char.isprintable() else "?" for char in route.did)
        if exten in seen:
            lines.append(f"; route {shown}: {exten} is already above")
            continue
        seen.add(exten)
        lines += [
            f"; route {shown}",
            f"exten => {exten},1,Set(FAXGW_DID=${{FILTER({contract.NUMBER_CHARS},${{EXTEN}})}})",
            " same => n,Goto(fax-receive,s,1)",
        ]
    return "\n".join(lines) or "; no [[routes]] in faxgw.toml: every call gets 404"


def _run_as(user: str | None) -> str:
    if user is None:
        return "; runs as the user that starts it (root in the test chroot: its uids are not the host's)"
    name = _name("asterisk.run_user", user)
    return f"runuser = {name}\nrungroup = {name}"


def _ami_username(name: str) -> str:
    _name("asterisk.ami_username", name)
    if name.lower() == "general":
        raise ConfigError("asterisk.ami_username: 'general' is manager.conf's own section")
    return name


def _text(setting: str, value: str) -> str:
    """A value on a config line as is: no line breaks or other control characters, no ";" (starts a
    comment), no spaces at either end (Asterisk trims them)."""
    if any(not char.isprintable() for char in value):
        raise ConfigError(f"{setting}: line breaks and control characters cannot go into Asterisk's config")
    if ";" in value:
        raise ConfigError(f"{setting}: ';' starts a comment in Asterisk's config")
    if value != value.strip():
        raise ConfigError(f"{setting}: Asterisk would drop the spaces at either end")
    return value


def _secret(setting: str, value: str) -> str:
    if not value:
        raise ConfigError(f"{setting}: empty")
    return _text(setting, value)


def _name(setting: str, value: str) -> str:
    if not _NAME.fullmatch(value):
        raise ConfigError(f"{setting} {value!r}: letters, digits, '.', '_' and '-' only")
    return value


def _path(setting: str, path: Path) -> str:
    text = str(path)
    if not _PATH.fullmatch(text):
        # these paths end up in dialplan arguments and UserEvent fields: no commas, spaces, quotes
        raise ConfigError(f"{setting} {text!r}: an absolute path of letters, digits and . _ / + - only")
    return text.rstrip("/") or "/"


def _number(setting: str, value: int, low: int, high: int) -> int:
    if not low <= value <= high:
        raise ConfigError(f"{setting} = {value}: must be between {low} and {high}")
    return value


def _ip(setting: str, value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ConfigError(f"{setting} {value!r}: Asterisk binds to an IP address, not a name") from None


def _network(setting: str, value: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=False))
    except ValueError:
        raise ConfigError(f"{setting} {value!r}: an address or network such as 127.0.0.1/32") from None


def _host_port(setting: str, text: str, default_port: int = 5060) -> tuple[str, int]:
    """'HOST', 'HOST:PORT', '[IPv6]' or '[IPv6]:PORT'; the host an IP address or a DNS name."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else rest
    elif text.count(":") > 1:
        host, port = text, ""
    else:
        host, _, port = text.partition(":")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is None and not _HOSTNAME.fullmatch(host):
        raise ConfigError(f"{setting} {text!r}: HOST or HOST:PORT with an IP address or host name")
    if port and not (port.isascii() and port.isdigit()):
        raise ConfigError(f"{setting} {text!r}: the port is not a number")
    number = int(port) if port else default_port
    _number(setting, number, 1, 65535)
    return (str(address) if address else host), number


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _address(host: str, port: int) -> str:
    return f"{_bracketed(host)}:{port}"


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"
