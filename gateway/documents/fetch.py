"""Documents fetched from URLs that API clients give (Telnyx ``media_url``, Dropbox ``file_urls``).

The client names the URL but the gateway makes the request, from its own place in the network: left alone,
a client could read what only the gateway can reach (an admin page on 127.0.0.1, a cloud metadata service
on 169.254.169.254, a printer on the LAN). So ``fetch_document``:

- fetches http and https URLs only;
- resolves the host once, checks every address under the address policy (``gateway.netpolicy``: internal
  addresses refused unless ``url_fetch_allow`` has them, ``url_fetch_deny`` always refused) and connects
  to an address it checked, the name kept in ``Host`` and TLS SNI (no DNS rebinding);
- follows redirects itself, at most MAX_REDIRECTS, checking each hop the same way;
- streams the body and stops as soon as it is over the limit;
- ignores proxy settings from the environment, since a proxy would resolve the name itself.

Every error is a ``FetchError`` whose message names the URL's host (never the user info a URL may carry).
"""

from __future__ import annotations

import asyncio
from pathlib import PurePosixPath

import httpx
from faxgw.gateway.netpolicy import (
    Address,
    AddressPolicy,
    AddressRefused,
    Unresolvable,
    checked_addresses,
    send_pinned,
    url_problem,
)
from faxgw.gateway.netpolicy import url_host as _host

MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
#: The address policy of document URLs: its defaults name url_fetch_allow and url_fetch_deny.
FetchPolicy = AddressPolicy


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
        problem = url_problem(url)
        if problem is not None:
            raise FetchRefused(
                f"{_host(previous)} redirected to a URL that {problem}" if previous else f"the URL {problem}"
            )
        # Said of the server a message is about: the one the client named or the one it was sent to.
        subject = f"{_host(previous)} redirected to {_host(url)}, which" if previous else _host(url)
        try:
            addresses = await checked_addresses(_host(url), policy, subject)
        except AddressRefused as error:
            raise FetchRefused(str(error)) from None
        except Unresolvable as error:
            raise FetchFailed(str(error)) from None
        location, body = await _get(url, addresses, subject, limit, timeout)
        if location is None:
            return body
        previous, url = url, location
    raise FetchFailed(f"{first} redirected more than {MAX_REDIRECTS} times")


async def _get(
    url: httpx.URL, addresses: list[Address], subject: str, limit: int, timeout: float
) -> tuple[httpx.URL | None, bytes]:
    """One hop: where it redirects to, or the document."""
    headers = {"Accept-Encoding": "identity"}
    # A client per hop: see send_pinned.
    async with httpx.AsyncClient(timeout=timeout, trust_env=False) as client:
        try:
            response = await send_pinned(client, "GET", url, addresses, headers=headers)
        except httpx.ConnectError as error:
            raise FetchFailed(f"{subject} could not be reached ({_describe(error)})") from None
        except httpx.TimeoutException:
            raise FetchTimeout(f"{subject} did not answer within {timeout:g} s") from None
        except httpx.HTTPError as error:
            raise FetchFailed(f"{subject} could not be fetched ({_describe(error)})") from None
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
    if announced.isascii() and announced.isdigit() and int(announced) > limit:
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
