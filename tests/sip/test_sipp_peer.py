"""Our SIP user agent against SIPp, an independent implementation, one scenario per edge case."""

from __future__ import annotations

from pathlib import Path

import pytest
from faxgw.sip.auth import DigestClient
from faxgw.sip.fax_call import FaxCallOptions, T38Policy, send_fax
from faxgw.sip.ua import UaConfig, UserAgent

from tests.helpers.sip import LOCALHOST, Sipp


async def started(**config) -> UserAgent:
    ua = UserAgent(UaConfig(host=LOCALHOST, **config))
    await ua.start()
    return ua


@pytest.mark.parametrize(
    ("status", "reason", "expected"),
    [
        ("486", "Busy Here", "busy"),
        ("600", "Busy Everywhere", "busy"),
        ("480", "Temporarily Unavailable", "no_answer"),
        ("408", "Request Timeout", "no_answer"),
        ("404", "Not Found", "rejected"),
        ("603", "Decline", "rejected"),
    ],
)
async def test_final_responses_are_told_apart(
    sipp: Sipp, document: Path, status: str, reason: str, expected: str
) -> None:
    peer = await sipp.start("uas_reject.xml", keys={"status": status, "reason": reason})
    ua = await started()
    try:
        outcome = await send_fax(ua, peer.uri, document)
    finally:
        ua.close()
    assert (outcome.status, outcome.sip_code) == (expected, int(status))
    assert outcome.pages == 0
    assert await peer.finished() == 0, peer.errors()  # SIPp got our ACK for the failure


async def test_no_answer_is_cancelled(sipp: Sipp, document: Path) -> None:
    peer = await sipp.start("uas_ring_cancel.xml")
    ua = await started()
    try:
        outcome = await send_fax(ua, peer.uri, document, options=FaxCallOptions(ring_timeout=1.0))
    finally:
        ua.close()
    assert (outcome.status, outcome.sip_code, outcome.hangup_cause) == ("no_answer", 487, "no_answer")
    assert await peer.finished() == 0, peer.errors()  # CANCEL, 200, 487 and our ACK all as RFC 3261 9.1


@pytest.mark.parametrize("scenario", ["uas_challenge.xml", "uas_proxy_challenge.xml"], ids=["401", "407"])
async def test_digest_challenge_is_answered(sipp: Sipp, document: Path, scenario: str) -> None:
    peer = await sipp.start(scenario)
    ua = await started(username="alice", password="secret")
    try:
        outcome = await send_fax(ua, peer.uri, document, options=FaxCallOptions(t38=T38Policy.AUDIO))
    finally:
        ua.close()
    # SIPp verified the credentials, answered, and hung up a second later (no fax machine there).
    assert (outcome.sip_code, outcome.hangup_cause) == (200, "remote_bye")
    assert await peer.finished() == 0, peer.errors()


async def test_a_calls_own_credentials_answer_the_challenge(sipp: Sipp, document: Path) -> None:
    """A trunk's credentials go with each call to it: the user agent itself has none."""
    peer = await sipp.start("uas_challenge.xml")
    ua = await started()
    try:
        outcome = await send_fax(
            ua,
            peer.uri,
            document,
            options=FaxCallOptions(t38=T38Policy.AUDIO),
            credentials=DigestClient("alice", "secret"),
        )
    finally:
        ua.close()
    assert (outcome.sip_code, outcome.hangup_cause) == (200, "remote_bye")
    assert await peer.finished() == 0, peer.errors()


async def test_wrong_password_is_refused(sipp: Sipp, document: Path) -> None:
    peer = await sipp.start("uas_challenge.xml")
    ua = await started(username="alice", password="wrong")
    try:
        outcome = await send_fax(ua, peer.uri, document)
    finally:
        ua.close()
    assert (outcome.status, outcome.sip_code) == ("rejected", 403)
    assert await peer.finished() == 0, peer.errors()


@pytest.mark.slow  # SIPp in real time, ~4 s
async def test_t38_refused_with_488_stays_on_audio(sipp: Sipp, document: Path) -> None:
    peer = await sipp.start("uas_t38_refused.xml", rtp_echo=True)
    ua = await started()
    try:
        outcome = await send_fax(ua, peer.uri, document, options=FaxCallOptions(t38=T38Policy.T38))
    finally:
        ua.close()
    assert outcome.hangup_cause == "remote_bye" and not outcome.t38
    assert outcome.t38_refused == 488  # what refused it, for learned delivery to remember
    # SIPp echoed our G.711 for the three seconds after the 488: the audio fax session kept running.
    assert outcome.audio_packets_in >= 100
    assert outcome.t38_packets_in == 0
    assert await peer.finished() == 0, peer.errors()


@pytest.mark.slow  # SIPp in real time, ~4 s
async def test_session_refresh_during_t38_keeps_t38(sipp: Sipp, document: Path) -> None:
    peer = await sipp.start("uas_t38_refresh.xml")
    ua = await started()
    try:
        outcome = await send_fax(ua, peer.uri, document, options=FaxCallOptions(t38=T38Policy.T38))
    finally:
        ua.close()
    assert outcome.t38 and outcome.hangup_cause == "remote_bye" and outcome.t38_refused is None
    # SIPp checked that our 200 to its refresh still carries m=image: the media was not renegotiated.
    assert await peer.finished() == 0, peer.errors()


async def test_options_and_malformed_request(sipp: Sipp) -> None:
    ua = await started()
    host, port = ua.address
    try:
        peer = await sipp.start("uac_options_and_malformed.xml", target=f"{host}:{port}")
        assert await peer.finished() == 0, peer.errors()  # 200, then 400, then 200: still alive
    finally:
        ua.close()


async def test_register_with_digest_and_refresh(sipp: Sipp) -> None:
    peer = await sipp.start("uas_register.xml")
    ua = await started(username="alice", password="secret")
    try:
        registration = await ua.register(f"sip:{LOCALHOST}:{peer.port}", expires=60)
        assert registration.granted == 2  # the registrar's expires=2 wins over our 60
        # The refresh (due after 1 s) must answer a fresh challenge; SIPp fails the call otherwise.
        assert await peer.finished(timeout=10) == 0, peer.errors()
        assert registration.last_status == 200
    finally:
        ua.close()


async def test_register_with_a_registrations_own_credentials(sipp: Sipp) -> None:
    """A trunk's registration answers challenges with the trunk's credentials, refreshes included."""
    peer = await sipp.start("uas_register.xml")
    ua = await started(username="mallory", password="not-this-one")
    try:
        registration = await ua.register(
            f"sip:{LOCALHOST}:{peer.port}", expires=60, credentials=DigestClient("alice", "secret")
        )
        assert registration.aor.user == "alice"
        assert await peer.finished(timeout=10) == 0, peer.errors()
        assert registration.last_status == 200
    finally:
        ua.close()


@pytest.mark.slow  # SIPp in real time, ~4 s
async def test_peer_takes_the_call_back_from_t38_to_audio(sipp: Sipp, document: Path) -> None:
    peer = await sipp.start("uas_t38_then_audio.xml", rtp_echo=True)
    ua = await started()
    try:
        outcome = await send_fax(ua, peer.uri, document, options=FaxCallOptions(t38=T38Policy.T38))
    finally:
        ua.close()
    # SIPp accepted T.38, then re-INVITEd to PCMU and checked our 200 took audio back.
    assert outcome.hangup_cause == "remote_bye" and not outcome.t38
    assert outcome.audio_packets_in > 0  # its echo of our G.711 after the switch back
    assert await peer.finished() == 0, peer.errors()
