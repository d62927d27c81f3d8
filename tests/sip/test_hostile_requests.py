"""Requests a hostile or broken peer sends, over a real UDP socket on 127.0.0.1, to a user agent that
answers fax calls: each gets a final response that says what is wrong, and each transaction, dialog and
call ends by itself afterwards (RFC 3261 8.2, 14.2, 17.2)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from faxgw.sip.message import SipResponse

from tests.helpers.hostile import FAST, Answering, Leg, Sink, answering, audio_sdp, t38_sdp
from tests.helpers.rawsip import RawSip

LOCALHOST = "127.0.0.1"
#: Long enough for Timer H/J/L (64*T1 = 1.28 s here) and an unACKed call to end, with room for a slow CI.
DRAIN = 5.0


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[Answering]:
    async with answering(tmp_path) as running:
        yield running


@pytest.fixture
def raw() -> AsyncIterator[RawSip]:
    peer = RawSip(LOCALHOST)
    yield peer
    peer.close()


@pytest.fixture
def sink() -> AsyncIterator[Sink]:
    media = Sink()
    yield media
    media.close()


def leg(raw: RawSip, gateway: Answering) -> Leg:
    return Leg(raw.host, raw.port, gateway.address)


async def established(raw: RawSip, gateway: Answering, call: Leg, sdp: bytes) -> SipResponse:
    """INVITE, 200, ACK: a call the gateway has answered."""
    raw.socket.sendto(call.request("INVITE", body=sdp), gateway.address)
    ok = await raw.final(5.0)
    assert ok.status == 200, ok
    call.to_tag = ok.to_address.tag
    raw.socket.sendto(call.request("ACK", cseq=call.cseq), gateway.address)
    return ok


BAD_SDP = b"v=0\r\nthis is not SDP\r\n"
VIDEO_SDP = b"v=0\r\no=- 4242 3 IN IP4 127.0.0.1\r\nc=IN IP4 127.0.0.1\r\nm=video 4000 RTP/AVP 31\r\n"


@pytest.mark.parametrize(
    ("changes", "status", "reason"),
    [
        ({"contact": "<garbage"}, 400, "Contact"),
        ({"contact": "*"}, 400, "Contact"),
        ({"contact": "<tel:+15550100>"}, 400, "Contact"),
        ({"contact": "<sip:fax@127.0.0.1:99999>"}, 400, "Contact"),
        ({"contact": "<sip:fax@127.0.0.1:0>"}, 400, "Contact"),
        ({"contact": "<sip:a@127.0.0.1>, <sip:b@127.0.0.1>"}, 400, "Contact"),
        ({"headers": (("Record-Route", "<sip:proxy@[::1>;lr"),)}, 400, "Record-Route"),
        ({"body": BAD_SDP}, 400, "SDP"),
        ({"body": b"v=0\r\ns=-\r\nm=audio 4000 RTP/AVP 0\r\n"}, 400, "o= line"),
        ({"body": b"\xff\xfe not text"}, 400, "SDP"),
        ({"body": b"hello", "content_type": "text/plain"}, 415, "text/plain"),
        # Readable but nothing we can use: the media layer's 488 (this one was answered before too).
        ({"body": VIDEO_SDP}, 488, ""),
    ],
    ids=[
        "contact-garbage",
        "contact-star",
        "contact-tel",
        "contact-port-99999",
        "contact-port-0",
        "contact-two",
        "record-route-garbage",
        "sdp-garbage",
        "sdp-no-origin",
        "sdp-not-utf8",
        "body-not-sdp",
        "sdp-unusable",
    ],
)
async def test_a_bad_invite_is_answered_and_leaves_nothing(
    gateway: Answering, raw: RawSip, sink: Sink, changes: dict, status: int, reason: str
) -> None:
    call = leg(raw, gateway)
    raw.socket.sendto(call.request("INVITE", **{"body": audio_sdp(sink.port), **changes}), gateway.address)
    final = await raw.final(2.0)
    assert final.status == status
    assert reason in final.reason
    if status == 415:
        assert final.headers.get("Accept") == "application/sdp"
    # No ACK from us: Timer H ends the transaction all the same.
    assert await gateway.drained(DRAIN) == dict.fromkeys(gateway.leftovers(), 0)
    assert sink.drain() == (0, 0)  # and no media went to the address the INVITE named


async def test_a_bad_reinvite_is_answered_and_the_call_stays_as_it_was(
    gateway: Answering, raw: RawSip, sink: Sink
) -> None:
    call = leg(raw, gateway)
    await established(raw, gateway, call, audio_sdp(sink.port))
    [incoming] = gateway.calls
    assert incoming.dialog is not None
    target, remote_sdp = incoming.dialog.remote_target, incoming.remote_sdp

    refused = []
    for changes in (
        {"body": BAD_SDP},
        {"body": audio_sdp(sink.port, version=2), "contact": "<garbage"},
        {"body": audio_sdp(sink.port, version=2), "contact": "<tel:+15550100>"},
        {"body": b"<xml/>", "content_type": "application/xml"},
        {"body": VIDEO_SDP},
    ):
        raw.socket.sendto(call.request("INVITE", **changes), gateway.address)
        response = await raw.final(2.0)
        refused.append(response.status)
        raw.socket.sendto(call.request("ACK", cseq=call.cseq), gateway.address)
    assert refused == [400, 400, 400, 415, 488]
    assert (incoming.dialog.remote_target, incoming.remote_sdp) == (target, remote_sdp)

    # The call is still up: an in-dialog OPTIONS is answered, and our BYE ends it normally.
    raw.socket.sendto(call.request("OPTIONS"), gateway.address)
    assert (await raw.final(2.0)).status == 200
    raw.socket.sendto(call.request("BYE"), gateway.address)
    assert (await raw.final(2.0)).status == 200
    assert await gateway.drained(DRAIN) == dict.fromkeys(gateway.leftovers(), 0)
    [outcome] = gateway.outcomes
    assert outcome.hangup_cause == "remote_bye"


@pytest.mark.parametrize("offer", [audio_sdp, t38_sdp], ids=["g711", "t38"])
async def test_an_invite_never_acked_sends_no_media_and_ends(
    gateway: Answering, raw: RawSip, sink: Sink, offer
) -> None:
    """Reflection: an INVITE whose SDP names a third party (the sink) and is never ACKed. The 200 goes
    back to the sender; the media must not go to the sink, and Timer H (64*T1) ends the call."""
    call = leg(raw, gateway)
    invite = call.request("INVITE", body=offer(sink.port))
    raw.socket.sendto(invite, gateway.address)
    assert (await raw.final(2.0)).status == 200
    started = asyncio.get_running_loop().time()
    assert await gateway.drained(DRAIN) == dict.fromkeys(gateway.leftovers(), 0)
    assert asyncio.get_running_loop().time() - started < FAST.timeout + 1.0
    [outcome] = gateway.outcomes
    assert outcome.hangup_cause == "no_ack"
    datagrams, octets = sink.drain()
    assert (datagrams, octets) == (0, 0), f"{octets} octets of media for an INVITE of {len(invite)}"
