"""The gateway's SIP edge on real sockets: who may call it, and how many.

The trunk of the test gateway is 127.0.0.1 (itself); a stranger calls from 127.0.0.2.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from sip.auth import Challenge
from sip.fax_call import FaxCallOptions, FaxOutcome, send_fax
from sip.transaction import Timers
from sip.ua import RegistrationError, UaConfig, UserAgent
from tests.fax.conftest import make_document
from tests.sip.raw import RawSip

from .conftest import RECEIVER, Running, gateway_config, start_running

STRANGER = "127.0.0.2"
FAST = FaxCallOptions(paced=False)


@pytest.fixture
def document(tmp_path: Path) -> Path:
    path = tmp_path / "one-page.tif"
    make_document(path, 1)
    return path


async def user_agent(host: str, **config: object) -> UserAgent:
    ua = UserAgent(UaConfig(host=host, timers=Timers(t1=0.05), **config))  # type: ignore[arg-type]
    await ua.start()
    return ua


async def fax_from(host: str, running: Running, document: Path, **config: object) -> FaxOutcome:
    ua = await user_agent(host, **config)
    try:
        target = f"sip:{RECEIVER}@127.0.0.1:{running.gateway.config.sip_port}"
        return await send_fax(ua, target, document, options=FAST, caller="+15557777")
    finally:
        ua.close()


async def inbound_faxes(running: Running) -> list[dict]:
    response = await running.client.get("/v1/faxes", params={"direction": "inbound"})
    return response.json()["faxes"]


@pytest.fixture
async def with_credentials(tmp_path: Path) -> AsyncIterator[Running]:
    config = dataclasses.replace(
        gateway_config(tmp_path / "var"), inbound_username="carrier", inbound_password="s3cret"
    )
    async for started in start_running(config):
        yield started


@pytest.fixture
async def dropping(tmp_path: Path) -> AsyncIterator[Running]:
    config = dataclasses.replace(gateway_config(tmp_path / "var"), sip_untrusted="drop")
    async for started in start_running(config):
        yield started


@pytest.fixture
def raw_stranger() -> Iterator[RawSip]:
    raw = RawSip(STRANGER)
    yield raw
    raw.close()


# -- item: who may call -------------------------------------------------------------------------------


async def test_a_stranger_cannot_fax_into_an_inbox(running: Running, document: Path) -> None:
    outcome = await fax_from(STRANGER, running, document)
    assert (outcome.status, outcome.sip_code) == ("rejected", 403)
    assert await inbound_faxes(running) == []
    # The trunk (127.0.0.1) still gets in.
    trusted = await fax_from("127.0.0.1", running, document)
    assert trusted.status == "success"
    assert (await running.final(await running.inbound()))["status"] == "success"


async def test_options_answered_and_register_refused(running: Running) -> None:
    target = f"sip:127.0.0.1:{running.gateway.config.sip_port}"
    for host in (STRANGER, "127.0.0.1"):
        ua = await user_agent(host)
        try:
            assert (await ua.options(target)).status == 200
            with pytest.raises(RegistrationError) as refused:
                await ua.register(target)
            assert refused.value.status == 403
        finally:
            ua.close()


async def test_a_stranger_with_the_inbound_credentials_gets_in(
    with_credentials: Running, document: Path
) -> None:
    running = with_credentials
    wrong = await fax_from(STRANGER, running, document, username="carrier", password="guess")
    assert (wrong.status, wrong.sip_code) == ("rejected", 403)
    nothing = await fax_from(STRANGER, running, document)  # no credentials: the 401 stays unanswered
    assert (nothing.status, nothing.sip_code) == ("rejected", 401)
    assert await inbound_faxes(running) == []
    # With the right ones the whole call works, its in-dialog requests (T.38 re-INVITE, BYE) included.
    outcome = await fax_from(STRANGER, running, document, username="carrier", password="s3cret")
    assert (outcome.status, outcome.t38) == ("success", True)
    fax = await running.final(await running.inbound())
    assert (fax["status"], fax["from"]) == ("success", "+15557777")


async def test_the_challenge_offers_sha256_and_md5_with_qop_auth(
    with_credentials: Running, raw_stranger: RawSip
) -> None:
    raw_stranger.request("INVITE", ("127.0.0.1", with_credentials.gateway.config.sip_port))
    response = await raw_stranger.final()
    assert response.status == 401
    challenges = [Challenge.parse(value) for value in response.headers.get_all("WWW-Authenticate")]
    assert [(c.algorithm, c.qop, c.realm) for c in challenges] == [
        ("SHA-256", ("auth",), "faxgw"),
        ("MD5", ("auth",), "faxgw"),
    ]


async def test_drop_mode_answers_strangers_nothing_but_options(
    dropping: Running, raw_stranger: RawSip
) -> None:
    gateway = ("127.0.0.1", dropping.gateway.config.sip_port)
    for method in ("INVITE", "REGISTER", "MESSAGE"):
        raw_stranger.request(method, gateway)
    assert await raw_stranger.responses(1.0) == []
    raw_stranger.request("OPTIONS", gateway)
    assert [response.status for response in await raw_stranger.responses(0.5)] == [200]
    assert await inbound_faxes(dropping) == []
