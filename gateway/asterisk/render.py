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
import re
from collections.abc import Mapping
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from string import Template

from faxgw.gateway.asterisk import contract
from faxgw.gateway.asterisk.patterns import extension
from faxgw.gateway.config import Config, ConfigError
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

# SendFAX/ReceiveFAX options per t38 setting: f lets a refused T.38 re-INVITE fall back to audio,
# z makes SendFAX offer T.38 itself (ReceiveFAX always asks for it on a T.38-capable endpoint),
# F forces audio, s sends FAXStatus progress events.
SEND_OPTIONS = {T38Policy.AUTO: "fs", T38Policy.T38: "fsz", T38Policy.AUDIO: "Fs"}
RECEIVE_OPTIONS = {T38Policy.AUTO: "fs", T38Policy.T38: "fs", T38Policy.AUDIO: "Fs"}

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
    media = fill(
        templates / "parts" / "pjsip-media.conf",
        {
            "t38_udptl": _yes(config.t38 is not T38Policy.AUDIO),
            "t38_ec": ast.t38_ec,
            "t38_maxdatagram": str(_number("asterisk.t38_maxdatagram", ast.t38_maxdatagram, 64, 65535)),
            "t38_nat": _yes(ast.t38_nat),
        },
    ).rstrip("\n")
    trunk = _host_port("trunk", config.trunk) if config.trunk else None
    peer = _host_port("asterisk.test_peer", ast.test_peer) if ast.test_peer else None
    # Asterisk identifies callers by source address; when the trunk and the test peer share a host
    # (both on 127.0.0.1 in tests), the source port tells them apart.
    with_port = trunk is not None and peer is not None and trunk[0].lower() == peer[0].lower()
    if with_port and trunk == peer:
        raise ConfigError("asterisk.test_peer is the trunk itself: leave test_peer out")
    spool = _path("asterisk.spool_dir", ast.spool)
    return {
        "root": _path("asterisk.root", ast.root),
        "system_name": _name("node", config.node),
        "run_as": _run_as(ast.run_user),
        "ami_host": _ip("asterisk.ami_host", ast.ami_host),
        "ami_port": str(_number("asterisk.ami_port", ast.ami_port, 1, 65535)),
        "ami_username": _ami_username(ast.ami_username),
        "ami_secret": _secret("asterisk.ami_secret", ast.ami_secret),
        "ami_permit": _network("asterisk.ami_permit", ast.ami_permit),
        "sip_bind": _address(
            _ip("sip_host", config.sip_host), _number("sip_port", config.sip_port, 1, 65535)
        ),
        "trunk": _trunk(config, templates, trunk, media, with_port) if trunk else "; no trunk configured",
        "peer": _peer(templates, peer, media, with_port) if peer else "",
        "did_extensions": _did_extensions(config),
        "spool_in": f"{spool}/{contract.SPOOL_IN}",
        "ecm": _yes(config.ecm),
        "max_rate": str(ast.max_rate),
        "send_options": SEND_OPTIONS[config.t38],
        "receive_options": RECEIVE_OPTIONS[config.t38],
        "number_chars": contract.NUMBER_CHARS,
        "text_chars": contract.TEXT_CHARS,
        "rtp_start": str(_number("asterisk.rtp_start", ast.rtp_start, 1024, 65535)),
        "rtp_end": str(_number("asterisk.rtp_end", ast.rtp_end, ast.rtp_start + 1, 65535)),
        "udptl_start": str(_number("asterisk.udptl_start", ast.udptl_start, 1024, 65535)),
        "udptl_end": str(_number("asterisk.udptl_end", ast.udptl_end, ast.udptl_start + 1, 65535)),
    }


def _trunk(
    config: Config, templates: Traversable, trunk: tuple[str, int], media: str, with_port: bool
) -> str:
    host, port = trunk
    username, password = config.trunk_username, config.trunk_password
    if (username is None) != (password is None):
        raise ConfigError("trunk_username and trunk_password: set both, or neither")
    values = {
        "media": media,
        "trunk_uri_host": _address(host, port),
        # Who Asterisk takes for the trunk: the networks it may call from when they are configured (as
        # the native engine's ACL), else its host (and port, when the test peer shares that host).
        "trunk_match": ",".join(_network("trunk_networks", net) for net in config.trunk_networks)
        or (_address(host, port) if with_port else host),
        "outbound_auth": "; no trunk_username/trunk_password: the trunk trusts our address",
        "credentials": "",
    }
    if username is not None and password is not None:
        if not _SIP_USER.fullmatch(username):
            raise ConfigError(
                f"trunk_username {username!r}: letters, digits and - . _ ~ ! $ & ' * + = % only"
            )
        credentials = {
            "trunk_username": username,
            "trunk_password": _secret("trunk_password", password),
            "trunk_uri_host": values["trunk_uri_host"],
        }
        credentials["registration"] = (
            fill(templates / "parts" / "pjsip-registration.conf", credentials)
            if config.asterisk.register
            else "; asterisk.register = false: no REGISTER, the trunk knows our address"
        )
        values["outbound_auth"] = "outbound_auth = faxgw-trunk-auth"
        values["credentials"] = "\n" + fill(templates / "parts" / "pjsip-credentials.conf", credentials)
    return fill(templates / "parts" / "pjsip-trunk.conf", values).rstrip("\n")


def _peer(templates: Traversable, peer: tuple[str, int], media: str, with_port: bool) -> str:
    host, port = peer
    values = {
        "media": media,
        "peer_uri_host": _address(host, port),
        "peer_match": _address(host, port) if with_port else host,
    }
    return "\n" + fill(templates / "parts" / "pjsip-peer.conf", values).rstrip("\n")


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
