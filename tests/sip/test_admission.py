"""Admission control in the user agent (sip.admission) over real UDP on loopback.

The callee trusts 127.0.0.1 only; 127.0.0.2 is a stranger who may authenticate with digest. Calls that
get through reach ``on_invite``, which answers 486: so 486 means "admitted".
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from faxgw.sip.admission import Admission, RateLimit
from faxgw.sip.auth import Challenge, DigestClient, DigestServer
from faxgw.sip.call import IncomingCall
from faxgw.sip.ua import UaConfig, UserAgent

from tests.helpers.clock import FakeClock
from tests.helpers.rawsip import RawSip

STRANGER = "127.0.0.2"
ADMITTED = 486


@pytest.fixture
async def callee(clock: FakeClock) -> AsyncIterator[UserAgent]:
    digest = DigestServer("faxgw", {"carrier": "s3cret"}.get, "SHA-256", "MD5", clock=clock)
    admission = Admission(["127.0.0.1/32"], digest=digest)

    def busy(call: IncomingCall) -> None:
        call.reject(ADMITTED)

    ua = UserAgent(UaConfig(host="127.0.0.1", admission=admission), on_invite=busy)
    await ua.start()
    yield ua
    ua.close()


@pytest.fixture
async def stranger() -> AsyncIterator[RawSip]:
    raw = RawSip(STRANGER)
    yield raw
    raw.close()


async def challenges(raw: RawSip, callee: UserAgent) -> dict[str, Challenge]:
    raw.request("INVITE", callee.address)
    response = await raw.final()
    assert response.status == 401
    parsed = [Challenge.parse(value) for value in response.headers.get_all("WWW-Authenticate")]
    return {challenge.algorithm: challenge for challenge in parsed}


async def invite_with(raw: RawSip, callee: UserAgent, authorization: str) -> int:
    raw.request("INVITE", callee.address, headers={"Authorization": authorization})
    return (await raw.final()).status


def answer(challenge: Challenge, callee: UserAgent, password: str = "s3cret") -> str:
    host, port = callee.address
    uri = f"sip:+15550199@{host}:{port}"
    return DigestClient("carrier", password).authorization(challenge, "INVITE", uri)


@pytest.mark.parametrize("algorithm", ["SHA-256", "MD5"])
async def test_digest_admits_a_stranger_in_either_algorithm(
    callee: UserAgent, stranger: RawSip, algorithm: str
) -> None:
    challenge = (await challenges(stranger, callee))[algorithm]
    assert challenge.qop == ("auth",) and not challenge.stale
    assert await invite_with(stranger, callee, answer(challenge, callee, "wrong")) == 403
    assert await invite_with(stranger, callee, answer(challenge, callee)) == ADMITTED


async def test_an_expired_nonce_is_challenged_again_as_stale(
    callee: UserAgent, stranger: RawSip, clock: FakeClock
) -> None:
    challenge = (await challenges(stranger, callee))["SHA-256"]
    clock.now += 301
    stranger.request("INVITE", callee.address, headers={"Authorization": answer(challenge, callee)})
    response = await stranger.final()
    assert response.status == 401
    fresh = [Challenge.parse(value) for value in response.headers.get_all("WWW-Authenticate")]
    assert [(c.algorithm, c.stale) for c in fresh] == [("SHA-256", True), ("MD5", True)]
    assert fresh[0].nonce != challenge.nonce
    assert await invite_with(stranger, callee, answer(fresh[0], callee)) == ADMITTED


async def test_a_replayed_authorization_is_refused(callee: UserAgent, stranger: RawSip) -> None:
    authorization = answer((await challenges(stranger, callee))["SHA-256"], callee)
    assert await invite_with(stranger, callee, authorization) == ADMITTED
    assert await invite_with(stranger, callee, authorization) == 403  # a new INVITE, the same nc


async def test_trusted_network_needs_no_credentials_and_register_is_refused(callee: UserAgent) -> None:
    trunk = RawSip("127.0.0.1")
    try:
        trunk.request("INVITE", callee.address)
        assert (await trunk.final()).status == ADMITTED
        trunk.request("REGISTER", callee.address)
        assert (await trunk.final()).status == 403
        trunk.request("OPTIONS", callee.address)
        assert (await trunk.final()).status == 200
    finally:
        trunk.close()


async def test_without_credentials_configured_a_stranger_gets_403(stranger: RawSip) -> None:
    ua = UserAgent(UaConfig(host="127.0.0.1", admission=Admission(["127.0.0.1/32"])), on_invite=print)
    await ua.start()
    try:
        stranger.request("INVITE", ua.address)
        response = await stranger.final()
        assert (response.status, response.headers.get("WWW-Authenticate")) == (403, None)
    finally:
        ua.close()


def test_rate_limit_refills_and_forgets_idle_sources(clock: FakeClock) -> None:
    limit = RateLimit(2.0, 3, clock=clock)
    assert [limit.take("192.0.2.1") for _ in range(4)] == [0, 0, 0, 0.5]
    clock.now += 0.5
    assert limit.take("192.0.2.1") == 0  # one token came back
    for n in range(10_000):  # a flood from ever new addresses, each refilled by the time it is pruned
        clock.now += 0.01
        limit.take(f"10.{n // 65536}.{n // 256 % 256}.{n % 256}")
    assert len(limit._buckets) <= 4097
