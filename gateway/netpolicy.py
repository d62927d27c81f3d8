"""Which addresses the gateway connects to on a client's word, and connecting to no other.

A client names a place - a document URL to fetch (``gateway.documents.fetch``), a webhook URL to post to
(``gateway.webhooks``), a SIP URI to call (``gateway.jobs.destinations``) - but the gateway makes the
connection, from its own place in the network: left alone, a client could reach what only the gateway can
(an admin page on 127.0.0.1, a cloud metadata service on 169.254.169.254, a printer on the LAN). So:

- a host is resolved once, and refused if any address it resolves to is internal (loopback, private,
  link-local, shared/carrier-grade NAT, multicast, reserved, unspecified, or such an IPv4 address inside
  an IPv6 one) and not in one of the policy's ``allow`` networks, or is in one of its ``deny`` networks;
- the connection goes to an address that was checked, never to what a second lookup might answer (DNS
  rebinding): ``send_pinned`` puts the address in the URL and keeps the name in ``Host`` and, for https,
  in TLS SNI and so in the certificate check.

One policy per use, each with its own settings in the config: ``url_fetch_allow``/``url_fetch_deny`` for
document URLs and SIP URI destinations, ``webhook_allow``/``webhook_deny`` for webhook targets.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

import httpx

#: Shared address space (RFC 6598): carrier-grade NAT, and some clouds' internal services.
_SHARED = ip_network("100.64.0.0/10")
#: The well-known NAT64 prefix (RFC 6052): its last 32 bits are the IPv4 address really reached.
_NAT64 = ip_network("64:ff9b::/96")
_EVERYWHERE = (ip_network("0.0.0.0/0"), ip_network("::/0"))

Address = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network


class AddressError(Exception):
    """A host the gateway will not connect to; the message says why and names the host."""


class AddressRefused(AddressError):
    """The host is, or resolves to, an address the policy refuses."""


class Unresolvable(AddressError):
    """The host could not be resolved (now: it may be passing trouble)."""


@dataclass(frozen=True)
class AddressPolicy:
    """Internal networks that may be connected to all the same (``allow``) and networks never connected to,
    global or not (``deny``, which wins)."""

    allow: tuple[Network, ...] = ()
    deny: tuple[Network, ...] = ()
    #: The config settings behind allow and deny, without ``_allow``/``_deny``: refusals name them.
    setting: str = "url_fetch"
    #: What the gateway would do at the address, as refusals say it.
    action: str = "fetch from"

    @classmethod
    def parse(cls, allow: Iterable[str], deny: Iterable[str], *, setting: str, action: str) -> AddressPolicy:
        """The policy of networks written as in the config ("10.0.0.0/8"), already validated there."""
        return cls(
            allow=tuple(ip_network(entry, strict=False) for entry in allow),
            deny=tuple(ip_network(entry, strict=False) for entry in deny),
            setting=setting,
            action=action,
        )

    def trusting(self) -> AddressPolicy:
        """For a target the operator gave, not a client: every address but the ``deny`` networks."""
        return dataclasses.replace(self, allow=_EVERYWHERE)

    def refusal(self, address: Address) -> str | None:
        """Why ``address`` may not be connected to, or None if it may."""
        if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # a connection to it goes to the IPv4 address
        embedded = _embedded_ipv4(address)
        for network in self.deny:
            if address in network or (embedded is not None and embedded in network):
                return f"inside {self.setting}_deny {network}"
        kind = _internal_kind(address)
        if kind is not None and not any(address in network for network in self.allow):
            return f"{kind} this gateway does not {self.action} (allow it with {self.setting}_allow)"
        return None


async def checked_addresses(host: str, policy: AddressPolicy, subject: str | None = None) -> list[Address]:
    """Every address ``host`` resolves to (one lookup), if the policy allows all of them.

    ``subject`` is what messages say of the host ("a.example", "a.example redirected to b.example, which");
    raises ``AddressRefused`` or ``Unresolvable``.
    """
    subject = subject or host
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):  # socket.gaierror is an OSError; UnicodeError: a label is too long
        raise Unresolvable(f"{subject} could not be resolved") from None
    addresses: list[Address] = []
    for *_, sockaddr in found:
        address = ip_address(sockaddr[0])
        if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if address not in addresses:
            addresses.append(address)
    literal = is_address(host)
    for address in addresses:
        reason = policy.refusal(address)
        if reason is not None:
            raise AddressRefused(
                f"{subject} is {reason}" if literal else f"{subject} resolves to {address}, {reason}"
            )
    if not addresses:
        raise Unresolvable(f"{subject} could not be resolved")
    return addresses


async def checked_url(url: str, policy: AddressPolicy) -> tuple[httpx.URL, list[Address]]:
    """An http(s) URL and the checked addresses of its host; raises ``AddressError``."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        raise AddressRefused("the URL is not valid") from None
    problem = url_problem(parsed)
    if problem is not None:
        raise AddressRefused(f"the URL {problem}")
    return parsed, await checked_addresses(url_host(parsed), policy)


def url_problem(url: httpx.URL) -> str | None:
    """Why the gateway does not connect to ``url`` whatever its address ("uses ftp, not http or https"),
    or None."""
    if url.scheme not in ("http", "https"):
        return f"uses {url.scheme}, not http or https" if url.scheme else "is not absolute"
    if not url.raw_host:
        return "has no host"
    if url.port is not None and not 0 < url.port < 65536:
        return f"has port {url.port}, which does not exist"
    return None


async def send_pinned(
    client: httpx.AsyncClient,
    method: str,
    url: httpx.URL,
    addresses: list[Address],
    *,
    headers: Mapping[str, str] | None = None,
    content: bytes | None = None,
) -> httpx.Response:
    """``method`` ``url``, connected to the first of the checked ``addresses`` that takes the connection; the
    response is streamed (the caller closes it). Raises the last ``httpx.ConnectError`` when none does.

    The name stays in ``Host`` and, for https, in TLS SNI and so in the certificate check. Use a client per
    name: pooled connections are keyed by address, so a request for another name at the same address would
    reuse a TLS connection whose certificate was checked for the first name.
    """
    sent_headers = {"Host": url.netloc.decode("ascii"), **(headers or {})}
    extensions = {"sni_hostname": url_host(url)} if url.scheme == "https" else {}
    failure: httpx.ConnectError | None = None
    for address in addresses:
        request = client.build_request(
            method,
            url.copy_with(host=str(address)),
            headers=sent_headers,
            content=content,
            extensions=extensions,
        )
        try:
            return await client.send(request, stream=True)
        except httpx.ConnectError as error:  # refused, unreachable, TLS: try the next address
            failure = error
    if failure is None:
        raise ValueError("send_pinned needs at least one address")
    raise failure


def url_host(url: httpx.URL) -> str:
    """The name as resolved and sent (IDNA-encoded): url.host would decode it, and can fail doing so."""
    return url.raw_host.decode("ascii")


def is_address(host: str) -> bool:
    try:
        ip_address(host)
    except ValueError:
        return False
    return True


def _embedded_ipv4(address: Address) -> IPv4Address | None:
    """The IPv4 address a 6to4 or NAT64 address leads to."""
    if isinstance(address, IPv4Address):
        return None
    if address in _NAT64:
        return IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


def _internal_kind(address: Address) -> str | None:
    """What makes ``address`` internal ("a loopback address", ...), or None for a global unicast one."""
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        # ipaddress calls every NAT64 address reserved, and every 6to4 one global: the IPv4 one decides.
        return _internal_kind(embedded)
    checks = (
        (address.is_unspecified, "an unspecified address"),
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),  # is_global says yes to most of them
        (address in _SHARED, "a shared (carrier-grade NAT) address"),
        (address.is_reserved, "a reserved address"),
        (isinstance(address, IPv6Address) and address.is_site_local, "a site-local address"),
        (address.is_private, "a private address"),
        (not address.is_global, "a non-global address"),
    )
    return next((kind for hit, kind in checks if hit), None)
