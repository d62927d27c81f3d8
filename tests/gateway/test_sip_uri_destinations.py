"""Telnyx ``to`` as a SIP URI: only for a tenant the operator allows (``sip_uri_destinations``), only to hosts
the address policy of document URLs allows, resolved once per check and dialled at the checked address.

The gateway faxes itself: ``sip:RECEIVER@127.0.0.1:<its port>`` comes back in as acme's inbound fax. A UDP
socket on 127.0.0.2 at the same port stands for a host the policy refuses: it must never hear an INVITE.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from faxgw.gateway.api.dialects.telnyx_ids import from_uuid
from faxgw.gateway.config import NumberConfig
from faxgw.gateway.store import FaxQuery

from tests.helpers.gateway import EDIT, OTHER, RECEIVER, SENDER, Running, gateway_config, start_running

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "sample.pdf"
OTHERS_NUMBER = "+15550300"


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    """acme may dial SIP URIs, "other" may not; the policy allows 127.0.0.1 only."""
    config = gateway_config(tmp_path / "var")
    acme, other = config.tenants
    config = dataclasses.replace(
        config,
        numbers=(*config.numbers, NumberConfig(OTHERS_NUMBER, 1, tenant="other")),
        tenants=(dataclasses.replace(acme, sip_uri_destinations=True), other),
        url_fetch_allow=("127.0.0.1/32",),
    )
    async for started in start_running(config):
        yield started


@pytest.fixture
def refused_host(running: Running) -> Iterator[socket.socket]:
    """A UDP socket on 127.0.0.2 at the gateway's SIP port: whatever is sent there is a policy breach."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as listener:
        listener.bind(("127.0.0.2", running.gateway.config.sip_port))
        listener.setblocking(False)
        yield listener


def heard(listener: socket.socket) -> list[bytes]:
    datagrams = []
    while True:
        try:
            datagrams.append(listener.recv(65536))
        except BlockingIOError:
            return datagrams


Answer = Callable[[], Awaitable[list[str]]]


@pytest.fixture
async def resolver(monkeypatch: pytest.MonkeyPatch) -> dict[str, Answer]:
    """Names -> what a lookup answers at the moment, for the running loop's getaddrinfo (other hosts
    resolve as usual)."""
    loop = asyncio.get_running_loop()
    real = loop.getaddrinfo
    names: dict[str, Answer] = {}

    async def getaddrinfo(host: Any, port: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        if host not in names:
            return await real(host, port, **kwargs)
        return [
            (socket.AF_INET, socket.SOCK_DGRAM, 17, "", (address, port or 0))
            for address in await names[host]()
        ]

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
    return names


async def telnyx_send(running: Running, to: str, token: str = EDIT) -> tuple[int, dict]:
    source = OTHERS_NUMBER if token == OTHER else SENDER
    async with running.as_key(token) as client:
        upload = await client.post("/v1/files", files={"file": (SAMPLE.name, SAMPLE.read_bytes())})
        body = {"connection_id": "c", "from": source, "to": to, "media_name": upload.json()["id"]}
        response = await client.post("/v2/faxes", json=body)
    return response.status_code, response.json()


def gateway_id(body: dict) -> str:
    """The native API's id of a fax Telnyx shows as a UUID (telnyx_ids)."""
    fax_id = from_uuid(body["data"]["id"])
    assert fax_id is not None, body
    return fax_id


async def test_only_a_tenant_the_operator_allows_dials_sip_uris(running: Running) -> None:
    port = running.gateway.config.sip_port
    status, body = await telnyx_send(running, f"sip:{RECEIVER}@127.0.0.1:{port}", OTHER)
    assert status == 403, body
    [error] = body["errors"]
    assert (error["title"], error["source"]) == ("Forbidden", {"pointer": "/to"})
    assert "this account may not send to SIP URIs: give an E.164 number" in error["detail"]


async def test_sip_uri_hosts_are_checked_like_document_urls(
    running: Running, refused_host: socket.socket
) -> None:
    port = running.gateway.config.sip_port
    refusals = {
        f"sip:{RECEIVER}@127.0.0.2:{port}": "127.0.0.2 is a loopback address this gateway does not call"
        " (allow it with url_fetch_allow)",
        f"sip:{RECEIVER}@169.254.169.254": "169.254.169.254 is a link-local address",
        f"sip:{RECEIVER}@127.0.0.1:{port};maddr=127.0.0.2": "may not carry headers or maddr",
        f"sips:{RECEIVER}@127.0.0.1:{port}": "no sips:, no TLS",
        f"sip:{RECEIVER}@127.0.0.1:{port}?Route=%3Csip:127.0.0.2%3E": "may not carry headers or maddr",
    }
    for to, reason in refusals.items():
        status, body = await telnyx_send(running, to)
        assert status == 422, (to, body)
        [error] = body["errors"]
        assert error["source"] == {"pointer": "/to"} and reason in error["detail"], (to, error)
    await asyncio.sleep(0.5)  # an INVITE would have left by now
    assert heard(refused_host) == []
    assert (await running.client.get("/v1/faxes")).json()["total"] == 0


async def test_a_name_is_dialled_at_the_address_that_was_checked(
    running: Running, refused_host: socket.socket, resolver: dict[str, Answer]
) -> None:
    """DNS rebinding: once the call is under way, the name answers a refused address. The call goes to the
    address checked before it, never to what a lookup of the engine's own would answer."""

    async def answer() -> list[str]:
        faxes, _ = await running.gateway.store.query_faxes("acme", FaxQuery(direction="outbound"))
        return ["127.0.0.2"] if any(fax.status == "sending" for fax in faxes) else ["127.0.0.1"]

    resolver["fax.example"] = answer
    port = running.gateway.config.sip_port
    status, body = await telnyx_send(running, f"sip:{RECEIVER}@fax.example:{port}")
    assert status == 202, body
    fax = await running.final(gateway_id(body))
    assert fax["status"] == "success", fax
    inbound = await running.client.get(f"/v1/faxes/{await running.inbound()}")
    assert inbound.json()["to"] == RECEIVER
    assert heard(refused_host) == []


async def test_an_address_refused_by_the_time_of_the_call_fails_the_fax_without_a_call(
    running: Running, refused_host: socket.socket, resolver: dict[str, Answer]
) -> None:
    # The name moves to a refused address once the fax is stored: after the check at submit time, before
    # the check the call makes.
    async def answer() -> list[str]:
        faxes, _ = await running.gateway.store.query_faxes("acme", FaxQuery(direction="outbound"))
        return ["127.0.0.2"] if faxes else ["127.0.0.1"]

    resolver["fax.example"] = answer
    port = running.gateway.config.sip_port
    status, body = await telnyx_send(running, f"sip:{RECEIVER}@fax.example:{port}")
    assert status == 202, body
    fax = await running.final(gateway_id(body))
    assert fax["status"] == "failed_destination_not_supported", fax
    assert fax["error"]["description"] == (
        "fax.example resolves to 127.0.0.2, a loopback address this gateway does not call"
        " (allow it with url_fetch_allow)"
    )
    assert fax["attempts"] == []
    await asyncio.sleep(0.2)
    assert heard(refused_host) == []
    faxes = (await running.client.get("/v1/faxes", params={"direction": "inbound"})).json()
    assert faxes["total"] == 0
