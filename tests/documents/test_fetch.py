"""gateway.documents.fetch against real HTTP(S) servers on 127.0.0.0/8 (http.server in a thread).

Names other than "localhost" are answered by a stand-in for the event loop's resolver: the addresses it
gives are checked and refused before any connection, or are on 127.0.0.0/8.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_address, ip_network
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import certifi
import pytest
from faxgw.gateway.documents.fetch import (
    FetchError,
    FetchFailed,
    FetchPolicy,
    FetchRefused,
    FetchStatus,
    FetchTimeout,
    FetchTooLarge,
    fetch_document,
)

DOCUMENT = b"%PDF-1.4 a document, as far as fetching goes\n"
LOOPBACK = FetchPolicy(allow=(ip_network("127.0.0.0/8"), ip_network("::1/128")))
ONLY_127_0_0_1 = FetchPolicy(allow=(ip_network("127.0.0.1/32"),))


@dataclass
class Served:
    url: str  # scheme://127.0.0.x:port
    port: int
    hosts: list[str] = field(default_factory=list)  # the Host header of every request, in order
    sni: list[str | None] = field(default_factory=list)  # https: the server name of every TLS handshake
    release: threading.Event = field(default_factory=threading.Event)  # ends /silent


def handler(served: Served) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            served.hosts.append(self.headers.get("Host", ""))
            path, query = urlsplit(self.path).path, parse_qs(urlsplit(self.path).query)
            if path in ("/", "/files/doc.pdf"):
                self.answer(200, DOCUMENT)
            elif path == "/redirect":
                self.answer(302, b"", location=query["to"][0])
            elif path == "/loop":
                self.answer(302, b"", location="/loop")
            elif path == "/announced":  # says it is huge, sends nothing
                self.answer(200, b"", length=10**9)
            elif path == "/endless":  # no length: more and more, until the client hangs up
                self.send_response(200)
                self.end_headers()
                try:
                    for _ in range(10_000):  # 640 MB: far more than any client here takes
                        self.wfile.write(b"x" * 65536)
                except OSError:
                    pass
            elif path == "/silent":
                served.release.wait(10)
            else:
                self.answer(404, b"not here")

        def answer(self, status: int, body: bytes, *, location: str = "", length: int | None = None) -> None:
            self.send_response(status)
            if location:
                self.send_header("Location", location)
            self.send_header("Content-Length", str(len(body) if length is None else length))
            self.end_headers()
            self.wfile.write(body)

    return Handler


@contextmanager
def serving(host: str = "127.0.0.1", tls: ssl.SSLContext | None = None) -> Iterator[Served]:
    server = ThreadingHTTPServer((host, 0), BaseHTTPRequestHandler)
    port = server.server_address[1]
    served = Served(f"{'https' if tls else 'http'}://{host}:{port}", port)
    server.RequestHandlerClass = handler(served)
    if tls is not None:
        tls.sni_callback = lambda _socket, name, _context: served.sni.append(name)
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        served.release.set()
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def server() -> Iterator[Served]:
    with serving() as served:
        yield served


@pytest.fixture
async def resolver(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Names -> addresses for the running loop's getaddrinfo, which then answers nothing else; every
    lookup is counted under "lookups"."""
    answers: dict[str, list[str]] = {"lookups": []}

    async def getaddrinfo(host: str, port: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        answers["lookups"].append(host)
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (
                socket.AF_INET6 if ":" in address else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (address, port),
            )
            for address in answers[host]
        ]

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", getaddrinfo)
    return answers


async def test_loopback_is_refused_by_default(server: Served) -> None:
    with pytest.raises(FetchRefused) as refused:
        await fetch_document(f"{server.url}/files/doc.pdf", limit=1000, policy=FetchPolicy())
    assert str(refused.value) == (
        "127.0.0.1 is a loopback address this gateway does not fetch from (allow it with url_fetch_allow)"
    )
    assert server.hosts == []  # refused before connecting


async def test_allowed_network_is_fetched_with_the_original_host_header(server: Served) -> None:
    name, data = await fetch_document(f"{server.url}/files/doc.pdf", limit=1000, policy=LOOPBACK)
    assert (name, data) == ("doc.pdf", DOCUMENT)
    assert server.hosts == [f"127.0.0.1:{server.port}"]
    assert await fetch_document(f"{server.url}/redirect?to=/files/doc.pdf", limit=1000, policy=LOOPBACK) == (
        "redirect",
        DOCUMENT,
    )
    assert (await fetch_document(f"{server.url}/", limit=1000, policy=LOOPBACK))[0] == "download"


async def test_a_name_that_resolves_to_loopback_is_refused_by_default(server: Served) -> None:
    with pytest.raises(FetchRefused) as refused:
        await fetch_document(
            f"http://localhost:{server.port}/files/doc.pdf", limit=1000, policy=FetchPolicy()
        )
    assert str(refused.value).startswith("localhost resolves to ")
    assert "a loopback address this gateway does not fetch from (allow it with url_fetch_allow)" in str(
        refused.value
    )
    # Allowed, the request goes to the address but carries the name (localhost may resolve to ::1 first,
    # where nothing listens: the next address is tried).
    url = f"http://localhost:{server.port}/files/doc.pdf"
    assert await fetch_document(url, limit=1000, policy=LOOPBACK) == ("doc.pdf", DOCUMENT)
    assert server.hosts == [f"localhost:{server.port}"]


async def test_deny_wins_over_allow(server: Served) -> None:
    policy = FetchPolicy(allow=(ip_network("127.0.0.0/8"),), deny=(ip_network("127.0.0.1/32"),))
    with pytest.raises(FetchRefused) as refused:
        await fetch_document(f"{server.url}/files/doc.pdf", limit=1000, policy=policy)
    assert str(refused.value) == "127.0.0.1 is inside url_fetch_deny 127.0.0.1/32"
    assert server.hosts == []


async def test_redirect_to_a_refused_address_is_refused(server: Served) -> None:
    with serving("127.0.0.2") as elsewhere:
        target = f"{elsewhere.url}/files/doc.pdf"
        with pytest.raises(FetchRefused) as refused:
            await fetch_document(f"{server.url}/redirect?to={target}", limit=1000, policy=ONLY_127_0_0_1)
        # Allowed everywhere on loopback, the same redirect is followed.
        fetched = await fetch_document(f"{server.url}/redirect?to={target}", limit=1000, policy=LOOPBACK)
    assert str(refused.value) == (
        "127.0.0.1 redirected to 127.0.0.2, which is a loopback address this gateway does not fetch from"
        " (allow it with url_fetch_allow)"
    )
    assert fetched == ("redirect", DOCUMENT)
    assert elsewhere.hosts == [f"127.0.0.2:{elsewhere.port}"]  # only the allowed fetch reached it
    with pytest.raises(
        FetchRefused, match=r"127\.0\.0\.1 redirected to a URL that uses file, not http or https"
    ):
        await fetch_document(f"{server.url}/redirect?to=file:///etc/passwd", limit=1000, policy=LOOPBACK)
    with pytest.raises(FetchFailed, match=r"127\.0\.0\.1 redirected more than 5 times"):
        await fetch_document(f"{server.url}/loop", limit=1000, policy=LOOPBACK)
    assert server.hosts.count(f"127.0.0.1:{server.port}") == 2 + 1 + 6


async def test_limit_is_enforced_while_streaming(server: Served) -> None:
    with pytest.raises(FetchTooLarge, match=r"127\.0\.0\.1 sent more than the 100000 bytes allowed"):
        await fetch_document(f"{server.url}/endless", limit=100_000, policy=LOOPBACK, timeout=10)
    with pytest.raises(FetchTooLarge, match=r"127\.0\.0\.1 announced 1000000000 bytes"):
        await fetch_document(f"{server.url}/announced", limit=100_000, policy=LOOPBACK)
    # Exactly the limit is fine.
    assert await fetch_document(f"{server.url}/files/doc.pdf", limit=len(DOCUMENT), policy=LOOPBACK)


async def test_failures_have_their_own_types(server: Served) -> None:
    with pytest.raises(FetchStatus, match=r"127\.0\.0\.1 answered HTTP 404") as missing:
        await fetch_document(f"{server.url}/nothing.pdf", limit=1000, policy=LOOPBACK)
    assert isinstance(missing.value, FetchFailed) and missing.value.status == 404
    with pytest.raises(FetchTimeout):
        await fetch_document(f"{server.url}/silent", limit=1000, policy=LOOPBACK, timeout=0.5)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]  # nothing listens once the probe is closed
    with pytest.raises(FetchFailed, match=r"127\.0\.0\.1 could not be reached") as unreachable:
        await fetch_document(f"http://127.0.0.1:{closed}/x.pdf", limit=1000, policy=LOOPBACK)
    assert type(unreachable.value) is FetchFailed
    with pytest.raises(FetchFailed, match=r"no-such-host\.invalid could not be resolved"):
        await fetch_document("http://no-such-host.invalid/x.pdf", limit=1000, policy=LOOPBACK)


@pytest.mark.parametrize(
    "url", ["ftp://127.0.0.1/x.pdf", "file:///etc/passwd", "data:,hello", "http:///x.pdf", "not a url"]
)
async def test_only_http_and_https(url: str) -> None:
    with pytest.raises(FetchRefused):
        await fetch_document(url, limit=1000, policy=LOOPBACK)


async def test_user_info_is_never_echoed(server: Served) -> None:
    for policy in (FetchPolicy(), LOOPBACK):
        with pytest.raises(FetchError) as failed:
            await fetch_document(f"http://alice:s3cret@127.0.0.1:{server.port}/gone", limit=9, policy=policy)
        assert "s3cret" not in str(failed.value) and "alice" not in str(failed.value)


async def test_private_name_is_refused_with_a_clear_message(resolver: dict[str, list[str]]) -> None:
    resolver["media.example"] = ["10.0.0.5"]
    with pytest.raises(FetchRefused) as refused:
        await fetch_document("https://media.example/a.pdf", limit=1000, policy=FetchPolicy())
    assert str(refused.value) == (
        "media.example resolves to 10.0.0.5, a private address this gateway does not fetch from"
        " (allow it with url_fetch_allow)"
    )


async def test_any_refused_address_refuses_the_name(server: Served, resolver: dict[str, list[str]]) -> None:
    resolver["two.example"] = ["127.0.0.1", "127.0.0.2"]
    with pytest.raises(FetchRefused, match=r"two.example resolves to 127\.0\.0\.2, a loopback"):
        await fetch_document(
            f"http://two.example:{server.port}/files/doc.pdf", limit=1000, policy=ONLY_127_0_0_1
        )
    assert server.hosts == []


async def test_the_checked_address_is_the_one_connected_to(
    server: Served, resolver: dict[str, list[str]]
) -> None:
    """One lookup per hop: a resolver that would answer differently the second time (DNS rebinding) is
    never asked again (the stand-in refuses any name it does not know, addresses included)."""
    resolver["media.example"] = ["127.0.0.1"]
    url = f"http://media.example:{server.port}/files/doc.pdf"
    assert await fetch_document(url, limit=1000, policy=LOOPBACK) == ("doc.pdf", DOCUMENT)
    assert resolver["lookups"] == ["media.example"]
    assert server.hosts == [f"media.example:{server.port}"]


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("10.0.0.5", "a private address"),
        ("192.168.1.1", "a private address"),
        ("100.64.0.1", "a shared (carrier-grade NAT) address"),
        ("169.254.169.254", "a link-local address"),  # cloud metadata services
        ("0.0.0.0", "an unspecified address"),
        ("224.0.0.1", "a multicast address"),
        ("240.0.0.1", "a reserved address"),
        ("::1", "a loopback address"),
        ("::", "an unspecified address"),
        ("fe80::1", "a link-local address"),
        ("fd00::1", "a private address"),
        ("fec0::1", "a site-local address"),
        ("ff0e::1", "a multicast address"),
        ("::ffff:127.0.0.1", "a loopback address"),  # IPv4-mapped
        ("::ffff:10.0.0.5", "a private address"),
        ("64:ff9b::a00:5", "a private address"),  # NAT64 of 10.0.0.5
        ("2002:a00:5::1", "a private address"),  # 6to4 of 10.0.0.5
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
        ("64:ff9b::808:808", None),  # NAT64 of a global address: what DNS64 gives on IPv6-only networks
    ],
)
def test_internal_addresses(address: str, kind: str | None) -> None:
    refusal = FetchPolicy().refusal(ip_address(address))
    assert refusal == (kind and f"{kind} this gateway does not fetch from (allow it with url_fetch_allow)")


def test_policy_networks() -> None:
    policy = FetchPolicy(
        allow=(ip_network("10.0.0.0/8"),), deny=(ip_network("10.9.0.0/16"), ip_network("8.8.8.0/24"))
    )
    assert policy.refusal(ip_address("10.1.2.3")) is None
    assert policy.refusal(ip_address("::ffff:10.1.2.3")) is None  # the same address, IPv4-mapped
    assert policy.refusal(ip_address("10.9.1.1")) == "inside url_fetch_deny 10.9.0.0/16"
    assert policy.refusal(ip_address("8.8.8.8")) == "inside url_fetch_deny 8.8.8.0/24"
    assert policy.refusal(ip_address("64:ff9b::808:808")) == "inside url_fetch_deny 8.8.8.0/24"
    assert policy.refusal(ip_address("192.168.0.1")) is not None


@pytest.fixture(scope="module")
def localhost_certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for the name localhost only (no IP address in it)."""
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


async def test_https_checks_the_certificate_against_the_name(
    localhost_certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = localhost_certificate
    # httpx verifies against certifi's bundle: let it hold our certificate instead.
    monkeypatch.setattr(certifi, "where", lambda: str(cert))
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    with serving(tls=tls) as served:
        url = f"https://localhost:{served.port}/files/doc.pdf"
        assert await fetch_document(url, limit=1000, policy=LOOPBACK) == ("doc.pdf", DOCUMENT)
        # The connection went to 127.0.0.1, yet SNI and the certificate check used the name.
        assert served.sni[-1] == "localhost" and served.hosts == [f"localhost:{served.port}"]
        # The certificate is not valid for the address itself.
        with pytest.raises(FetchFailed, match=r"could not be reached.*CERTIFICATE_VERIFY_FAILED"):
            await fetch_document(f"{served.url}/files/doc.pdf", limit=1000, policy=LOOPBACK)
