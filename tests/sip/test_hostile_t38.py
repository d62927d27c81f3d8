"""T.38 as a hostile or careless peer negotiates it, over real sockets on 127.0.0.1: an answer to our
T.38 offer that cannot be used, a T38FaxMaxDatagram too small for any IFP packet, and the end of T.38
by a re-INVITE that removes the stream (as Asterisk does)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from faxgw.sip.fax_call import FaxCallOptions, FaxMedia, T38Policy, send_fax
from faxgw.sip.message import response_to
from faxgw.sip.sdp import T38Params, negotiated_from_answer
from faxgw.sip.ua import UaConfig, UserAgent

from tests.helpers.hostile import FAST, Leg, Sink, answering, audio_sdp, next_request, reply, t38_sdp
from tests.helpers.rawsip import RawSip

LOCALHOST = "127.0.0.1"
DRAIN = 5.0
#: Between our own endpoints T.38 may run unpaced: a one-page fax in well under a second.
UNPACED = FaxCallOptions(paced=False, t38_offer_delay=0.05)


def tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


@pytest.fixture
async def caller() -> AsyncIterator[UserAgent]:
    ua = UserAgent(UaConfig(host=LOCALHOST, timers=FAST))
    await ua.start()
    yield ua
    ua.close()


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"v=0\r\nthis is not SDP\r\n",
        t38_sdp(4000).replace(b"a=T38FaxMaxDatagram:400", b"a=T38FaxMaxDatagram"),
        t38_sdp(4000).replace(b"c=IN IP4 127.0.0.1\r\n", b""),
    ],
    ids=["no-body", "garbage", "datagram-without-value", "no-address"],
)
async def test_an_unusable_answer_to_our_t38_offer_is_acked_then_the_call_ends(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, body: bytes
) -> None:
    caplog.set_level(logging.INFO)
    raw, sink = RawSip(LOCALHOST), Sink()
    try:
        async with answering(tmp_path) as gateway:
            call = Leg(raw.host, raw.port, gateway.address)
            raw.socket.sendto(call.request("INVITE", body=audio_sdp(sink.port)), gateway.address)
            ok = await raw.final(5.0)
            call.to_tag = ok.to_address.tag
            raw.socket.sendto(call.request("ACK", cseq=call.cseq), gateway.address)

            offer = await next_request(raw, "INVITE")  # the gateway (receiving, AUTO) offers T.38
            assert b"m=image" in offer.body
            reply(raw, offer, 200, body)
            await next_request(raw, "ACK")  # 13.2.2.4: the 2xx is ACKed whatever its body
            bye = await next_request(raw, "BYE")
            raw.socket.sendto(bytes(response_to(bye, 200)), gateway.address)
            assert await gateway.drained(DRAIN) == dict.fromkeys(gateway.leftovers(), 0)
            [outcome] = gateway.outcomes
    finally:
        raw.close()
        sink.close()
    assert (outcome.status, outcome.hangup_cause, outcome.t38) == ("failed", "local_bye", False)
    assert outcome.t30_text.startswith("unusable answer to our T.38 offer")
    assert tracebacks(caplog) == []


async def test_a_tiny_t38_max_datagram_is_clamped_and_the_fax_goes_through(
    tmp_path: Path, document: Path, caller: UserAgent, caplog: pytest.LogCaptureFixture
) -> None:
    # Both ends state T38FaxMaxDatagram:1 (our T38Params let a test say so): each must send anyway.
    tiny = FaxCallOptions(paced=False, t38_offer_delay=0.05, t38_params=T38Params(max_datagram=1))
    caplog.set_level(logging.WARNING, logger="sip.fax_call")
    async with answering(tmp_path, tiny) as gateway:
        host, port = gateway.address
        sent = await send_fax(caller, f"sip:555@{host}:{port}", document, options=tiny, ticker=gateway.ticker)
        assert await gateway.drained(DRAIN) == dict.fromkeys(gateway.leftovers(), 0)
        [received] = gateway.outcomes
    assert (sent.status, sent.t38, sent.pages) == ("success", True, 1)
    assert (received.status, received.t38, received.pages) == ("success", True, 1)
    clamped = [r.getMessage() for r in caplog.records if "T38FaxMaxDatagram 1 " in r.getMessage()]
    assert len(clamped) == 2, clamped  # one warning at each end
    assert tracebacks(caplog) == []


async def test_t38_removed_by_the_peer_is_answered_and_the_fax_stands(
    tmp_path: Path, document: Path, caller: UserAgent, caplog: pytest.LogCaptureFixture
) -> None:
    """Asterisk's way of ending T.38 that we started: once its fax is done, a re-INVITE with nothing
    but "m=image 0", then BYE. Played here by our own sending end, driven step by step."""
    caplog.set_level(logging.INFO)
    async with answering(
        tmp_path, FaxCallOptions(t38=T38Policy.AUTO, paced=False, t38_offer_delay=0.05)
    ) as gateway:
        host, port = gateway.address
        media = FaxMedia(
            host=LOCALHOST,
            sending=True,
            calling=True,
            path=document,
            options=UNPACED,
            ticker=gateway.ticker,
            on_event=None,
        )
        await media.open()
        try:
            call = caller.call(f"sip:555@{host}:{port}", media.audio_offer(), on_offer=media.on_offer)
            answer = await call.connect()
            media.call = call
            media.use(negotiated_from_answer(call.local_sdp, answer))
            completed = await asyncio.wait_for(asyncio.shield(media.completed), 30)
            assert completed.success and media.t38  # the gateway re-INVITEd to T.38 and got the page

            removal = media.t38_offer()
            removal.media[0].port, removal.media[0].attributes = 0, []
            answer = await call.reinvite(removal)  # 488 before: a removed stream was refused
            await call.hangup()
        finally:
            media.close()
        assert await gateway.drained(DRAIN) == dict.fromkeys(gateway.leftovers(), 0)
        [received] = gateway.outcomes
    # RFC 3264 8.2: the answer keeps the m= line, with port 0.
    assert [(m.media, m.port) for m in answer.media] == [("image", 0)]
    assert (received.status, received.pages, received.t38) == ("success", 1, True)
    assert received.hangup_cause == "remote_bye"
    assert tracebacks(caplog) == []
