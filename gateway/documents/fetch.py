"""Documents fetched from URLs that API clients give (Telnyx ``media_url``, Dropbox ``file_urls``).

The client names the URL but the gateway makes the request, from its own place in the network: left alone,
a client could read what only the gateway can reach (an admin page on 127.0.0.1, a cloud metadata service
on 169.254.169.254, a printer on the LAN). So ``fetch_document``:

- fetches http and https URLs only;
- resolves the host once and refuses it if any address it resolves to is internal (loopback, private,
  link-local, shared/carrier-grade NAT, multicast, reserved, unspecified, or such an IPv4 address inside
  an IPv6 one) and not in one of the policy's ``allow`` networks, or is in one of its ``deny`` networks;
- connects to an address it checked, never to what a second lookup might answer (DNS rebinding): the
  URL's host is replaced by the address, the name stays in ``Host`` and, for https, in TLS SNI and so in
  the certificate check;
- follows redirects itself, at most MAX_REDIRECTS, checking each hop the same way;
- streams the body and stops as soon as it is over the limit;
- ignores proxy settings from the environment, since a proxy would resolve the name itself.

Every error is a ``FetchError`` whose message names the URL's host (never the user info a URL may carry).
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from pathlib import PurePosixPath

import httpx

MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
#: Shared address space (RFC 6598): carrier-grade NAT, and some clouds' internal services.
_SHARED = ip_network("100.64.0.0/10")
#: The well-known NAT64 prefix (RFC 6052): its last 32 bits are the IPv4 address really reached.
_NAT64 = ip_network("64:ff9b::/96")

Address = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network


class FetchError(Exception):
    """The document could not be fetched; the message says why and names the URL's host."""


class FetchRefused(FetchError):
    """Not a URL this gateway fetches: not http(s), or its host is or resolves to a refused address."""


class FetchFailed(FetchError):
    """The server could not be found or reached, or did not hand the document over."""


class FetchTimeout(FetchFailed):
    """The document did not arrive in the time allowed."""


class FetchStatus(FetchFailed):
    """The server answered something other than 200 or a redirect."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class FetchTooLarge(FetchError):
    """The document is larger than the limit."""


@dataclass(frozen=True)
class FetchPolicy:
    """Internal networks that may be fetched from all the same (``allow``) and networks never fetched from,
    global or not (``deny``, which wins)."""

    allow: tuple[Network, ...] = ()
    deny: tuple[Network, ...] = ()

    def refusal(self, address: Address) -> str | None:
        """Why ``address`` may not be fetched from, or None if it may."""
        if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # a connection to it goes to the IPv4 address
        embedded = _embedded_ipv4(address)
        for network in self.deny:
            if address in network or (embedded is not None and embedded in network):
                return f"inside url_fetch_deny {network}"
        kind = _internal_kind(address)
        if kind is not None and not any(address in network for network in self.allow):
            return f"{kind} this gateway does not fetch from (allow it with url_fetch_allow)"
        return None


async def fetch_document(
    url: str, *, limit: int, policy: FetchPolicy, timeout: float = 30.0
) -> tuple[str, bytes]:
    """The file name at the end of ``url``'s path (or "download") and the document, at most ``limit`` bytes,
    within ``timeout`` seconds in all (redirects included)."""
    try:
        target = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        raise FetchRefused("the URL is not valid") from None
    name = PurePosixPath(target.path).name or "download"
    try:
        async with asyncio.timeout(timeout):
            return name, await _follow(target, limit, policy, timeout)
    except TimeoutError:
        raise FetchTimeout(f"{_host(target)} did not hand the document over within {timeout:g} s") from None


async def _follow(url: httpx.URL, limit: int, policy: FetchPolicy, timeout: float) -> bytes:
    first = _host(url)
    previous: httpx.URL | None = None
    for _ in range(MAX_REDIRECTS + 1):
        if url.scheme not in ("http", "https") or not url.raw_host:
            if url.scheme in ("http", "https"):
                problem = "has no host"
            else:
                problem = f"uses {url.scheme}, not http or https" if url.scheme else "is not absolute"
            raise FetchRefused(
                f"{_host(previous)} redirected to a URL that {problem}" if previous else f"the URL {problem}"
            )
        # Said of the server a message is about: the one the client named or the one it was sent to.
        subject = f"{_host(previous)} redirected to {_host(url)}, which" if previous else _host(url)
        if url.port is not None and not 0 < url.port < 65536:
            raise FetchRefused(f"{subject} has port {url.port}, which does not exist")
        addresses = await _checked_addresses(url, subject, policy)
        location, body = await _get(url, addresses, subject, limit, timeout)
        if location is None:
            return body
        previous, url = url, location
    raise FetchFailed(f"{first} redirected more than {MAX_REDIRECTS} times")


async def _checked_addresses(url: httpx.URL, subject: str, policy: FetchPolicy) -> list[Address]:
    """Every address the host resolves to, if the policy lets the gateway fetch from all of them."""
    try:
        found = await asyncio.get_running_loop().getaddrinfo(_host(url), None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):  # socket.gaierror is an OSError; UnicodeError: a label is too long
        raise FetchFailed(f"{subject} could not be resolved") from None
    addresses: list[Address] = []
    for *_, sockaddr in found:
        address = ip_address(sockaddr[0])
        if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if address not in addresses:
            addresses.append(address)
    literal = _is_address(_host(url))
    for address in addresses:
        reason = policy.refusal(address)
        if reason is not None:
            raise FetchRefused(
                f"{subject} is {reason}" if literal else f"{subject} resolves to {address}, {reason}"
            )
    if not addresses:
        raise FetchFailed(f"{subject} could not be resolved")
    return addresses


async def _get(
    url: httpx.URL, addresses: list[Address], subject: str, limit: int, timeout: float
) -> tuple[httpx.URL | None, bytes]:
    """One hop: where it redirects to, or the document."""
    headers = {"Host": url.netloc.decode("ascii"), "Accept-Encoding": "identity"}
    extensions = {"sni_hostname": _host(url)} if url.scheme == "https" else {}
    # A client per hop: pooled connections are keyed by address, so a later hop to another name at the same
    # address would reuse a TLS connection made (and its certificate checked) for the first name.
    async with httpx.AsyncClient(timeout=timeout, trust_env=False) as client:
        response = None
        failure: Exception | None = None
        for address in addresses:
            request = client.build_request(
                "GET", url.copy_with(host=str(address)), headers=headers, extensions=extensions
            )
            try:
                response = await client.send(request, stream=True)
                break
            except httpx.ConnectError as error:  # refused, unreachable, TLS: try the next address
                failure = error
            except httpx.TimeoutException:
                raise FetchTimeout(f"{subject} did not answer within {timeout:g} s") from None
            except httpx.HTTPError as error:
                raise FetchFailed(f"{subject} could not be fetched ({_describe(error)})") from None
        if response is None:
            assert failure is not None
            raise FetchFailed(f"{subject} could not be reached ({_describe(failure)})")
        try:
            location = response.headers.get("location")
            if response.status_code in REDIRECT_STATUSES and location:
                try:
                    return url.join(location), b""
                except httpx.InvalidURL:
                    raise FetchFailed(f"{subject} redirected to an invalid URL") from None
            if response.status_code != 200:
                raise FetchStatus(f"{subject} answered HTTP {response.status_code}", response.status_code)
            return None, await _body(response, subject, limit)
        except httpx.TimeoutException:
            raise FetchTimeout(f"{subject} stopped sending for {timeout:g} s") from None
        except httpx.HTTPError as error:
            raise FetchFailed(f"{subject} broke off the document ({_describe(error)})") from None
        finally:
            await response.aclose()


async def _body(response: httpx.Response, subject: str, limit: int) -> bytes:
    announced = response.headers.get("content-length", "")
    if announced.isdigit() and int(announced) > limit:
        raise FetchTooLarge(f"{subject} announced {announced} bytes, more than the {limit} allowed")
    data = bytearray()
    async for chunk in response.aiter_bytes():
        data += chunk
        if len(data) > limit:
            raise FetchTooLarge(f"{subject} sent more than the {limit} bytes allowed")
    return bytes(data)


def _describe(error: Exception) -> str:
    # httpx's transport errors carry the socket or TLS error, not the URL (which could hold user info).
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def _host(url: httpx.URL) -> str:
    # The name as resolved and sent (IDNA-encoded): url.host would decode it, and can fail doing so.
    return url.raw_host.decode("ascii")


def _is_address(host: str) -> bool:
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
