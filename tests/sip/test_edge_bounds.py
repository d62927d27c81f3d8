"""The SIP edge faces strangers: their TCP connections are bounded in number and cut when they stall or
idle, and the transactions a UDP flood opens are bounded too.

Real sockets on loopback against a real UserAgent; 127.0.0.2 and 127.0.0.3 stand for strangers, 127.0.0.1
for the trusted trunk. The bounds are lowered for the test where waiting out the real ones would be slow.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from faxgw.sip import transaction, transport
from faxgw.sip.admission import Admission
from faxgw.sip.message import SipResponse
from faxgw.sip.ua import UaConfig, UserAgent

from tests.helpers.rawsip import FAST, RawPeer

TRUNK = "127.0.0.1"


@pytest.fixture
async def ua() -> AsyncIterator[UserAgent]:
    agent = UserAgent(UaConfig(host="127.0.0.1", tcp=True, admission=Admission([f"{TRUNK}/32"])))
    await agent.start()
    try:
        yield agent
    finally:
        agent.close()


def _port(ua: UserAgent) -> int:
    return ua.transport.addresses["TCP"][1]


async def _connect(ua: UserAgent, source: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", _port(ua), local_addr=(source, 0))


def _options(source: str, n: int = 1, *, transport: str = "TCP", via_port: int = 5999) -> bytes:
    return (
        "OPTIONS sip:faxgw@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/{transport} {source}:{via_port};branch=z9hG4bK-bounds-{n}\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:probe@{source}>;tag=b{n}\r\n"
        "To: <sip:faxgw@127.0.0.1>\r\n"
        f"Call-ID: bounds-{n}@{source}\r\n"
        "CSeq: 1 OPTIONS\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


async def _answered(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, source: str, n: int) -> bool:
    """Whether an OPTIONS on this connection gets 200 (False: the connection was closed on us)."""
    try:
        writer.write(_options(source, n))
        await writer.drain()
        response = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)  # no body in these answers
    except (ConnectionError, OSError, asyncio.IncompleteReadError):
        return False
    return response.startswith(b"SIP/2.0 200")


async def _closed_within(reader: asyncio.StreamReader, seconds: float) -> bool:
    try:
        return await asyncio.wait_for(reader.read(), seconds) == b""
    except TimeoutError:
        return False
    except ConnectionError:
        return True


async def test_one_address_holds_a_bounded_number_of_connections(
    ua: UserAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transport, "MAX_CONNECTIONS_PER_ADDRESS", 4)
    held = [await _connect(ua, "127.0.0.2") for _ in range(4)]
    for n, (reader, writer) in enumerate(held):
        assert await _answered(reader, writer, "127.0.0.2", n)
    reader, writer = await _connect(ua, "127.0.0.2")
    assert await _closed_within(reader, 2), "a fifth connection from one address must be refused"
    other = await _connect(ua, "127.0.0.3")
    assert await _answered(*other, "127.0.0.3", 99), "another address still gets in"
    for _, w in [*held, (reader, writer), other]:
        w.close()


async def test_strangers_never_crowd_out_the_trunk(ua: UserAgent, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transport, "MAX_STRANGER_CONNECTIONS", 3)
    strangers = [await _connect(ua, source) for source in ("127.0.0.2", "127.0.0.3", "127.0.0.4")]
    refused = await _connect(ua, "127.0.0.5")
    assert await _closed_within(refused[0], 2)
    trunk = await _connect(ua, TRUNK)
    assert await _answered(*trunk, TRUNK, 1)
    for _, writer in [*strangers, refused, trunk]:
        writer.close()


async def test_a_silent_connection_is_closed(ua: UserAgent, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transport, "FIRST_MESSAGE_TIMEOUT", 0.5)
    reader, writer = await _connect(ua, "127.0.0.2")
    assert await _closed_within(reader, 3)
    writer.close()


async def test_a_byte_by_byte_sender_is_cut_off(ua: UserAgent, monkeypatch: pytest.MonkeyPatch) -> None:
    """Slowloris: bytes keep coming, but the message never completes in time."""
    monkeypatch.setattr(transport, "MESSAGE_TIMEOUT", 0.5)
    reader, writer = await _connect(ua, "127.0.0.2")
    started = time.monotonic()
    closed = False
    for byte in _options("127.0.0.2") * 10:
        try:
            writer.write(bytes([byte]))
            await writer.drain()
        except (ConnectionError, OSError):
            closed = True
            break
        if reader.at_eof():
            closed = True
            break
        await asyncio.sleep(0.05)
        if time.monotonic() - started > 5:
            break
    closed = closed or await _closed_within(reader, 1)
    assert closed and time.monotonic() - started < 3
    writer.close()


@pytest.mark.slow  # real SIP timing, ~4 s
async def test_keep_alives_and_whole_messages_keep_a_connection(
    ua: UserAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transport, "FIRST_MESSAGE_TIMEOUT", 0.5)
    monkeypatch.setattr(transport, "IDLE_TIMEOUT", 0.8)
    reader, writer = await _connect(ua, "127.0.0.2")
    for n in range(4):
        await asyncio.sleep(0.4)
        assert await _answered(reader, writer, "127.0.0.2", n)
    for _ in range(4):
        await asyncio.sleep(0.4)
        writer.write(b"\r\n\r\n")  # RFC 5626 4.4.1 keep-alive
        await writer.drain()
    assert await _answered(reader, writer, "127.0.0.2", 9)
    assert await _closed_within(reader, 3), "then, left idle, it is closed"
    writer.close()


@pytest.mark.slow  # real SIP timers, ~5 s
async def test_a_flood_of_requests_keeps_a_bounded_number_of_transactions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each answered request stays a transaction for Timer J; past the bound, 503 and nothing kept."""
    monkeypatch.setattr(transaction, "MAX_SERVER_TRANSACTIONS", 20)
    agent = UserAgent(UaConfig(host="127.0.0.1", timers=FAST))
    await agent.start()
    loop = asyncio.get_running_loop()
    _, peer = await loop.create_datagram_endpoint(RawPeer, local_addr=("127.0.0.1", 0))
    try:
        for n in range(30):
            peer.send(_options("127.0.0.1", n, transport="UDP", via_port=peer.port), agent.address[1])
        answers = [message for _, message in await peer.collect(1.0) if isinstance(message, SipResponse)]
        statuses = sorted(answer.status for answer in answers)
        assert statuses == [200] * 20 + [503] * 10
        assert all(a.headers.get("Retry-After") for a in answers if a.status == 503)
        assert len(agent.transactions) <= 20
        await asyncio.sleep(FAST.timeout + 0.5)  # Timer J: the answered ones end
        assert len(agent.transactions) == 0
        peer.send(_options("127.0.0.1", 99, transport="UDP", via_port=peer.port), agent.address[1])
        (_, again), *_ = await peer.collect(0.5)
        assert isinstance(again, SipResponse) and again.status == 200
    finally:
        assert peer.transport is not None
        peer.transport.close()
        agent.close()
