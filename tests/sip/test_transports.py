"""A fax over SIP/TCP and over SIP/TLS between our endpoints (RFC 3261 18, 26.2) on 127.0.0.1."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

from faxgw.gateway.documents import page_differences
from faxgw.sip.fax_call import FaxCallOptions, T38Policy
from faxgw.sip.transport import UDP_RECEIVE_BUFFER, TransportLayer

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


async def test_the_udp_socket_holds_a_burst_of_invites() -> None:
    # A trunk that starts a few hundred calls at once sends as many INVITEs in a few milliseconds; the
    # kernel's default buffer (~200 KB, some 90 datagrams) dropped the rest, and each dropped INVITE
    # delayed its call by 0.5 s or more of retransmissions. The buffer is what we ask, up to the cap.
    transport = TransportLayer(lambda *_: None)
    await transport.listen_udp("127.0.0.1")
    try:
        assert transport._udp is not None and transport._udp.transport is not None
        sock = transport._udp.transport.get_extra_info("socket")
        cap = int(Path("/proc/sys/net/core/rmem_max").read_text())
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) >= min(UDP_RECEIVE_BUFFER, cap)
    finally:
        transport.close()
