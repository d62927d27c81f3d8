"""A fax over SIP/TCP and over SIP/TLS between our endpoints (RFC 3261 18, 26.2) on 127.0.0.1."""

from __future__ import annotations

import ssl
from pathlib import Path

from faxgw.gateway.documents import page_differences
from faxgw.sip.fax_call import FaxCallOptions, T38Policy

from tests.helpers.pages import make_document
from tests.helpers.sip import Pair

FAST = FaxCallOptions(t38=T38Policy.AUTO, paced=False)


async def test_fax_over_tcp(tmp_path: Path) -> None:
    make_document(tmp_path / "tx.tif", 1)
    async with Pair(tmp_path, FAST, {"tcp": True}) as pair:
        host, port = pair.callee.transport.addresses["TCP"]
        sent = await pair.send(tmp_path / "tx.tif", target=f"sip:555@{host}:{port};transport=tcp")
        received = await pair.received
    assert sent.status == received.status == "success"
    assert page_differences(tmp_path / "tx.tif", tmp_path / "rx.tif") == [0]


async def test_fax_over_tls(tmp_path: Path, certificate: tuple[Path, Path]) -> None:
    key, cert = certificate
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    client = ssl.create_default_context(cafile=str(cert))  # trust only our throwaway certificate
    make_document(tmp_path / "tx.tif", 1)
    config = {"tls_context": server, "tls_client_context": client}
    async with Pair(tmp_path, FAST, config) as pair:
        host, port = pair.callee.transport.addresses["TLS"]
        sent = await pair.send(tmp_path / "tx.tif", target=f"sip:555@{host}:{port};transport=tls")
        received = await pair.received
    assert sent.status == received.status == "success"
    assert page_differences(tmp_path / "tx.tif", tmp_path / "rx.tif") == [0]
