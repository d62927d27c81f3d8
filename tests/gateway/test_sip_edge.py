"""The gateway's SIP edge on real sockets: who may call it, and how many.

The trunk of the test gateway is 127.0.0.1 (itself); a stranger calls from 127.0.0.2.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import os
import resource
import socket
import sqlite3
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from faxgw.gateway.config import Config
from faxgw.gateway.demo import free_port
from faxgw.sip.auth import Challenge
from faxgw.sip.call import CallError, IncomingCall, OutgoingCall
from faxgw.sip.fax_call import FaxCallOptions, FaxOutcome, receive_fax, send_fax
from faxgw.sip.media import RtpEndpoint, UdptlEndpoint
from faxgw.sip.sdp import audio_offer
from faxgw.sip.transaction import Timers
from faxgw.sip.ua import RegistrationError, UaConfig, UserAgent

from tests.helpers.gateway import RECEIVER, SENDER, Running, gateway_config, start_running
from tests.helpers.pages import make_document
from tests.helpers.rawsip import RawSip

ROOT = Path(__file__).resolve().parents[2]
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


# -- item: how many ---------------------------------------------------------------------------------


@pytest.fixture
def media_sink() -> Iterator[int]:
    """A UDP port our test calls name in their SDP: whatever media the gateway sends lands here."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind(("127.0.0.1", 0))
        yield sink.getsockname()[1]


async def hold_call(ua: UserAgent, running: Running, media_port: int) -> OutgoingCall:
    """An answered call to the gateway that sends no fax: it holds a channel until we hang up."""
    target = f"sip:{RECEIVER}@127.0.0.1:{running.gateway.config.sip_port}"
    offer = audio_offer("127.0.0.1", media_port, session_id=1, version=1)
    call = ua.call(target, offer, caller="+15557777")
    await call.connect()
    return call


@pytest.mark.slow  # real calls held open, ~3 s
async def test_inbound_calls_count_against_channels(tmp_path: Path, document: Path, media_sink: int) -> None:
    # The trunk is a receiver of our own, so an outbound fax does not come back in as a second call.
    received: asyncio.Future[FaxOutcome] = asyncio.get_running_loop().create_future()

    async def receive(call: IncomingCall) -> None:
        received.set_result(await receive_fax(call, tmp_path / "rx.tif", options=FAST))

    trunk = UserAgent(UaConfig(host="127.0.0.1"), on_invite=lambda call: call.spawn(receive(call)))
    await trunk.start()
    config = dataclasses.replace(
        gateway_config(tmp_path / "var"), channels=1, trunk=f"127.0.0.1:{trunk.address[1]}"
    )
    caller = await user_agent("127.0.0.1")
    raw = RawSip("127.0.0.1")
    try:
        async for running in start_running(config):
            held = await hold_call(caller, running, media_sink)
            raw.request("INVITE", ("127.0.0.1", config.sip_port))  # a second call: no channel left
            busy = await raw.final()
            assert busy.status == 503 and int(busy.headers.get("Retry-After") or 0) > 0
            file_id = await running.upload(ROOT / "samples" / "sample.pdf")
            sent = await running.client.post(
                "/v1/faxes",
                json={"from": SENDER, "to": ["+15550123"], "files": [file_id], "return_ids": True},
            )
            fax_id = next(iter(sent.json()["ids"].values()))
            await asyncio.sleep(1.5)  # three turns of the due loop
            waiting = (await running.client.get(f"/v1/faxes/{fax_id}")).json()
            assert waiting["status"] == "queued", "the inbound call holds the only channel"
            hung_up = time.time()
            await held.hangup()
            fax = await running.final(fax_id)
            assert fax["status"] == "success"
            assert (await running.gateway.store.attempts(fax_id))[0].started_at >= hung_up
            assert (await received).status == "success"
    finally:
        raw.close()
        caller.close()
        trunk.close()


async def test_new_invites_are_rate_limited_per_source(tmp_path: Path) -> None:
    config = dataclasses.replace(gateway_config(tmp_path / "var"), invite_rate=0.5, invite_burst=3)
    trunk, stranger = RawSip("127.0.0.1"), RawSip(STRANGER)
    try:
        async for _running in start_running(config):
            statuses, retry_after = [], []
            for _ in range(5):
                trunk.request("INVITE", ("127.0.0.1", config.sip_port), user="+15550000")  # not our DID
                response = await trunk.final()
                statuses.append(response.status)
                retry_after.append(response.headers.get("Retry-After"))
            assert statuses == [404, 404, 404, 503, 503]
            assert retry_after[3:] == ["2", "2"]  # one token every 2 s
            # Another source has its own bucket (and, being a stranger, is refused on other grounds).
            stranger.request("INVITE", ("127.0.0.1", config.sip_port))
            assert (await stranger.final()).status == 403
    finally:
        trunk.close()
        stranger.close()


@pytest.fixture
async def in_process(tmp_path: Path) -> AsyncIterator[Running]:
    """The native engine in the test's own process, where the test can make its media sockets fail."""
    config = dataclasses.replace(gateway_config(tmp_path / "var"), media_process=False)
    async for started in start_running(config):
        yield started


async def test_a_failure_at_the_media_sockets_still_answers_and_settles(
    in_process: Running, media_sink: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What running out of file descriptors looks like to a call: its UDPTL socket cannot be opened."""
    running = in_process
    opened: list[RtpEndpoint] = []
    open_rtp = RtpEndpoint.open.__func__  # type: ignore[attr-defined]

    async def rtp(cls: type, *args: object, **kwargs: object) -> RtpEndpoint:
        endpoint = await open_rtp(cls, *args, **kwargs)
        opened.append(endpoint)
        return endpoint

    async def no_descriptors(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EMFILE, os.strerror(errno.EMFILE))

    monkeypatch.setattr(RtpEndpoint, "open", classmethod(rtp))
    monkeypatch.setattr(UdptlEndpoint, "open", no_descriptors)
    caller = await user_agent("127.0.0.1")
    try:
        with pytest.raises(CallError) as refused:
            await hold_call(caller, running, media_sink)
    finally:
        caller.close()
    assert refused.value.status == 503
    fax = await running.final(await running.inbound(), timeout=5)
    assert fax["status"] == "failed"
    assert "Too many open files" in fax["error"]["description"]
    assert opened and all(endpoint.transport.is_closing() for endpoint in opened)  # no half-open pair


FAXGW = Path(sys.executable).parent / "faxgw"
#: Descriptors the flooded gateway may hold: enough to start, far too few for the calls offered.
DESCRIPTORS = 128
FLOOD = 150


@pytest.fixture
def serve_with_few_descriptors(tmp_path: Path) -> Iterator[Config]:
    """``faxgw serve`` in a process of its own under RLIMIT_NOFILE = DESCRIPTORS, stopped by PID."""
    config = dataclasses.replace(
        gateway_config(tmp_path / "var"), channels=1000, invite_rate=1000.0, invite_burst=1000
    )
    text = f"""
data_dir = "{config.data_dir}"
api_port = {config.api_port}
sip_port = {config.sip_port}
trunk = "{config.trunk}"
channels = {config.channels}
invite_rate = {config.invite_rate}
invite_burst = {config.invite_burst}
[[routes]]
did = "{RECEIVER}"
tenant = "acme"
[[tenants]]
id = "acme"
"""
    (tmp_path / "faxgw.toml").write_text(text)

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (DESCRIPTORS, DESCRIPTORS))

    process = subprocess.Popen(
        [FAXGW, "serve", "--config", tmp_path / "faxgw.toml"],
        preexec_fn=limit,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "serve.log", "w"),  # noqa: SIM115  (closed with the process)
    )
    try:
        yield config
    finally:
        process.terminate()
        process.wait(timeout=30)


async def wait_for_sip(port: int) -> None:
    probe = RawSip("127.0.0.1")
    try:
        async with asyncio.timeout(30):
            while True:
                probe.request("OPTIONS", ("127.0.0.1", port))
                if any(response.status == 200 for response in await probe.responses(0.2)):
                    return
    finally:
        probe.close()


def inbound_statuses(database: Path) -> list[tuple[str, str | None]]:
    with contextlib.closing(sqlite3.connect(database)) as db:
        rows = db.execute("SELECT status, error_description FROM faxes WHERE direction = 'inbound'")
        return list(rows)


@pytest.mark.slow  # a real gateway process flooded, ~3 s
async def test_a_flood_of_invites_beyond_the_descriptors_is_answered_and_settled(
    serve_with_few_descriptors: Config, media_sink: int
) -> None:
    config = serve_with_few_descriptors
    await wait_for_sip(config.sip_port)
    caller = await user_agent("127.0.0.1")
    target = f"sip:{RECEIVER}@127.0.0.1:{config.sip_port}"
    calls: list[OutgoingCall] = []

    async def invite(n: int) -> int | None:
        await asyncio.sleep(n / 100)  # 100 INVITEs a second
        call = caller.call(target, audio_offer("127.0.0.1", media_sink, session_id=n, version=1))
        calls.append(call)
        try:
            await asyncio.wait_for(call.connect(), 20)
        except CallError as error:
            return error.status
        except TimeoutError:
            return None  # never answered
        return 200

    try:
        answers = await asyncio.gather(*(invite(n) for n in range(FLOOD)))
        assert None not in answers, f"{answers.count(None)} INVITEs never got a final response"
        assert set(answers) <= {200, 503}
        assert 200 in answers and 503 in answers, "the descriptor limit was reached, not before"
        await asyncio.gather(*(call.hangup() for call in calls))
        async with asyncio.timeout(30):
            while any(status == "in_progress" for status, _ in inbound_statuses(config.database)):
                await asyncio.sleep(0.2)
    finally:
        caller.close()
    faxes = inbound_statuses(config.database)
    assert len(faxes) >= answers.count(200)
    assert all(status.startswith("failed") for status, _ in faxes)  # no fax was sent on any of these calls
    assert any("Too many open files" in (reason or "") for _, reason in faxes)


# -- item: SIP over TCP and TLS -------------------------------------------------------------------------


async def test_a_fax_to_the_gateway_over_tcp(running: Running, document: Path) -> None:
    port = running.gateway.config.sip_port
    ua = await user_agent("127.0.0.1", tcp=True)
    try:
        target = f"sip:{RECEIVER}@127.0.0.1:{port};transport=tcp"
        outcome = await send_fax(ua, target, document, options=FAST, caller="+15557777")
    finally:
        ua.close()
    assert (outcome.status, outcome.sip_code) == ("success", 200)
    assert (await running.final(await running.inbound()))["status"] == "success"


async def test_a_fax_to_the_gateway_over_tls(
    tmp_path: Path,
    document: Path,
    certificate: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key, cert = certificate
    # The gateway's own TLS connections (its T.38 re-INVITE to the caller) verify against the default CAs:
    # here, only our throwaway certificate.
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    config = dataclasses.replace(
        gateway_config(tmp_path / "var"),
        sip_tls_port=free_port(socket.SOCK_STREAM),
        sip_tls_cert=cert,
        sip_tls_key=key,
    )
    # The caller listens on TLS too (the gateway's re-INVITE to T.38 comes back over it) and trusts only
    # our throwaway certificate.
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    client = ssl.create_default_context(cafile=str(cert))
    async for running in start_running(config):
        ua = await user_agent("127.0.0.1", tls_context=server, tls_client_context=client)
        try:
            target = f"sip:{RECEIVER}@127.0.0.1:{config.sip_tls_port};transport=tls"
            outcome = await send_fax(ua, target, document, options=FAST, caller="+15557777")
        finally:
            ua.close()
        assert (outcome.status, outcome.t38) == ("success", True)
        assert (await running.final(await running.inbound()))["status"] == "success"


def test_serve_says_what_is_wrong_with_a_tls_certificate(tmp_path: Path) -> None:
    (tmp_path / "faxgw.toml").write_text(
        f'data_dir = "{tmp_path}"\nsip_port = {free_port(socket.SOCK_DGRAM)}\n'
        f'sip_tls_port = {free_port(socket.SOCK_STREAM)}\nsip_tls_cert = "{tmp_path}/none.pem"\n'
        f'sip_tls_key = "{tmp_path}/none.key"\n'
    )
    result = subprocess.run(
        [FAXGW, "serve", "--config", tmp_path / "faxgw.toml"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: sip_tls_cert/sip_tls_key:") and "Traceback" not in result.stderr
