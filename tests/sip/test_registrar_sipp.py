"""The registrar and device admission against SIPp playing an ATA: an implementation we did not write
registers, refreshes, unregisters and calls with digest (scenarios tests/sip/sipp/uac_*.xml)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from faxgw.sip.admission import Admission
from faxgw.sip.call import IncomingCall
from faxgw.sip.registrar import Account, Registrar
from faxgw.sip.ua import UaConfig, UserAgent

from tests.helpers.sip import LOCALHOST, Sipp, SippPeer

#: What on_invite answers an admitted call with: 486 means "got in".
ADMITTED = "486"


class Gateway:
    """A user agent with a registrar for ata1 (2 contacts at most, expiry from 1 s) that trusts 127.0.0.1
    as a trunk's network; the calls it is offered are kept and answered 486."""

    def __init__(self) -> None:
        self.registrar = Registrar("faxgw", {"ata1": Account("s3cret", 2, keepalive=0)}.get, min_expires=1)
        devices = {"ata1": "ata1", "+15550100": "ata1"}
        admission = Admission([f"{LOCALHOST}/32"], digest=self.registrar.digest, devices=devices)
        self.calls: list[IncomingCall] = []
        self.ua = UserAgent(
            UaConfig(host=LOCALHOST, admission=admission, registrar=self.registrar), on_invite=self._busy
        )

    def _busy(self, call: IncomingCall) -> None:
        self.calls.append(call)
        call.reject(int(ADMITTED))

    @property
    def target(self) -> str:
        host, port = self.ua.address
        return f"{host}:{port}"

    def ports(self) -> list[int | None]:
        """The ports of ata1's registered contacts (SIPp's own port when it registered)."""
        return sorted(binding.uri.port for binding in self.registrar.contacts("ata1"))


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    started = Gateway()
    await started.ua.start()
    yield started
    started.ua.close()


async def register(sipp: Sipp, gateway: Gateway, **keys: str) -> SippPeer:
    values = {"user": "ata1", "password": "s3cret", "expires": "60", "status": "200", **keys}
    return await sipp.start("uac_register.xml", target=gateway.target, keys=values)


async def test_an_ata_registers_with_the_right_password(sipp: Sipp, gateway: Gateway) -> None:
    peer = await register(sipp, gateway)
    assert await peer.finished() == 0, peer.errors()
    assert gateway.ports() == [peer.port]
    (binding,) = gateway.registrar.contacts("ata1")
    assert 58 <= binding.expires_at - time.monotonic() <= 60


async def test_a_wrong_password_gets_403_after_the_challenge(sipp: Sipp, gateway: Gateway) -> None:
    peer = await register(sipp, gateway, password="wrong", status="403")
    assert await peer.finished() == 0, peer.errors()  # 401 first, then 403: SIPp checked both
    assert gateway.ports() == []


@pytest.mark.slow  # waits out a 2 s registration
async def test_a_binding_is_gone_once_it_expires(sipp: Sipp, gateway: Gateway) -> None:
    peer = await register(sipp, gateway, expires="2")
    assert await peer.finished() == 0, peer.errors()
    assert gateway.ports() == [peer.port]
    await asyncio.sleep(2.2)
    assert gateway.ports() == []


@pytest.mark.slow  # 2 s between the REGISTER and its refresh, then past the first expiry
async def test_a_refresh_keeps_the_binding_past_its_first_expiry(sipp: Sipp, gateway: Gateway) -> None:
    contact = "<sip:ata1@[local_ip]:[local_port]>"
    keys = {"expires": "3", "pause": "2000", "contact2": contact, "expires2": "3"}
    peer = await sipp.start("uac_register_twice.xml", target=gateway.target, keys=keys)
    async with asyncio.timeout(5):
        while not gateway.ports():
            await asyncio.sleep(0.02)
    first_expiry = gateway.registrar.contacts("ata1")[0].expires_at
    assert await peer.finished() == 0, peer.errors()
    await asyncio.sleep(max(0.0, first_expiry + 0.5 - time.monotonic()))
    assert gateway.ports() == [peer.port]  # refreshed: 3 s from the second REGISTER
    assert gateway.registrar.contacts("ata1")[0].expires_at >= first_expiry + 1.5


@pytest.mark.parametrize(
    "contact2", ["<sip:ata1@[local_ip]:[local_port]>", "*"], ids=["Expires 0", "Contact *"]
)
async def test_an_ata_unregisters(sipp: Sipp, gateway: Gateway, contact2: str) -> None:
    keys = {"expires": "60", "pause": "0", "contact2": contact2, "expires2": "0"}
    peer = await sipp.start("uac_register_twice.xml", target=gateway.target, keys=keys)
    assert await peer.finished() == 0, peer.errors()
    assert gateway.ports() == []  # removed at once, 60 s before it would have expired


async def test_a_second_ata_on_the_account_is_a_second_contact(sipp: Sipp, gateway: Gateway) -> None:
    first = await register(sipp, gateway)
    assert await first.finished() == 0, first.errors()
    second = await register(sipp, gateway)
    assert await second.finished() == 0, second.errors()
    assert gateway.ports() == sorted([first.port, second.port])


async def test_a_device_invite_is_challenged_then_marked_as_the_device(sipp: Sipp, gateway: Gateway) -> None:
    # From 127.0.0.1 (a trusted network) but from the device's number: the first INVITE is challenged.
    keys = {"caller": "+15550100", "user": "ata1", "password": "s3cret", "status": ADMITTED}
    peer = await sipp.start("uac_device_invite.xml", target=gateway.target, keys=keys)
    assert await peer.finished() == 0, peer.errors()
    assert [call.authenticated_user for call in gateway.calls] == ["ata1"]


async def test_a_device_invite_with_a_wrong_password_is_refused(sipp: Sipp, gateway: Gateway) -> None:
    keys = {"caller": "+15550100", "user": "ata1", "password": "wrong", "status": "403"}
    peer = await sipp.start("uac_device_invite.xml", target=gateway.target, keys=keys)
    assert await peer.finished() == 0, peer.errors()
    assert gateway.calls == []
