"""Transactions and the transport against a raw UDP socket on 127.0.0.1: retransmission timers,
absorbed retransmissions, the ACK for a failure, and Via received/rport (RFC 3261 17, 18; RFC 3581)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

import pytest
from faxgw.sip.call import CallError, IncomingCall
from faxgw.sip.message import SipRequest, SipResponse, new_branch, response_to
from faxgw.sip.sdp import audio_offer
from faxgw.sip.ua import UaConfig, UserAgent

from tests.helpers.rawsip import FAST, RawPeer
from tests.helpers.sip import LOCALHOST


@pytest.fixture
async def peer() -> AsyncIterator[RawPeer]:
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_datagram_endpoint(RawPeer, local_addr=(LOCALHOST, 0))
    yield protocol
    assert protocol.transport is not None
    protocol.transport.close()


async def user_agent(**kwargs) -> UserAgent:
    ua = UserAgent(UaConfig(host=LOCALHOST, timers=FAST), **kwargs)
    await ua.start()
    return ua


def request_text(
    method: str,
    port: int,
    ua_port: int,
    *,
    branch: str,
    cseq: int = 1,
    to_tag: str = "",
    via_host: str = LOCALHOST,
    call_id: str = "raw-call-1",
) -> str:
    return (
        f"{method} sip:555@{LOCALHOST}:{ua_port} SIP/2.0\n"
        f"Via: SIP/2.0/UDP {via_host}:{port};branch={branch};rport\n"
        f"From: <sip:raw@{LOCALHOST}:{port}>;tag=raw1\n"
        f"To: <sip:555@{LOCALHOST}:{ua_port}>{to_tag}\n"
        f"Call-ID: {call_id}\nCSeq: {cseq} {method}\nMax-Forwards: 70\nContent-Length: 0\n\n"
    )


def offer():
    return audio_offer(LOCALHOST, 40000, session_id=1, version=1)


@pytest.mark.slow  # real timers to timeout, ~4 s
async def test_invite_client_retransmits_with_doubling_intervals_then_times_out(peer: RawPeer) -> None:
    ua = await user_agent()
    try:
        call = ua.call(f"sip:555@{LOCALHOST}:{peer.port}", offer())
        connect = asyncio.ensure_future(call.connect(ring_timeout=30))
        arrivals = [when for when, _ in await peer.collect(FAST.timeout + 0.5)]
        with pytest.raises(CallError) as failure:
            await connect
    finally:
        ua.close()
    assert failure.value.status == 408  # Timer B, made locally (RFC 3261 17.1.1.2)
    # Timer A: T1, 2*T1, 4*T1, ... until Timer B (64*T1): 7 transmissions in all.
    assert 6 <= len(arrivals) <= 8
    gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
    for shorter, longer in itertools.pairwise(gaps):
        assert longer == pytest.approx(2 * shorter, rel=0.35)


@pytest.mark.slow  # real timers to timeout, ~4 s
async def test_non_invite_client_retransmits_capped_at_t2(peer: RawPeer) -> None:
    ua = await user_agent()
    try:
        options = asyncio.ensure_future(ua.options(f"sip:555@{LOCALHOST}:{peer.port}"))
        arrivals = [when for when, _ in await peer.collect(FAST.timeout + 0.5)]
        response = await options
    finally:
        ua.close()
    assert response.status == 408  # Timer F
    gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
    assert gaps[0] == pytest.approx(FAST.t1, rel=0.5)
    assert max(gaps) <= FAST.t2 * 1.3  # Timer E doubles but never beyond T2
    assert len(arrivals) >= 15


async def test_failure_is_acked_by_the_transaction(peer: RawPeer) -> None:
    ua = await user_agent()
    try:
        call = ua.call(f"sip:555@{LOCALHOST}:{peer.port}", offer())
        connect = asyncio.ensure_future(call.connect(ring_timeout=30))
        invite = await peer.next("INVITE")
        busy = bytes(response_to(invite, 486, to_tag="uas-tag"))
        peer.send(busy, ua.address[1])
        ack = await peer.next("ACK")
        peer.send(busy, ua.address[1])  # as if our ACK got lost: the 486 again must get another ACK
        second_ack = await peer.next("ACK")
        with pytest.raises(CallError):
            await connect
    finally:
        ua.close()
    # RFC 3261 17.1.1.3: same branch and Request-URI, To with the response's tag, CSeq number with ACK.
    for acknowledgement in (ack, second_ack):
        assert isinstance(acknowledgement, SipRequest) and acknowledgement.method == "ACK"
        assert acknowledgement.vias[0].branch == invite.vias[0].branch
        assert acknowledgement.uri == invite.uri
        assert acknowledgement.to_address.tag == "uas-tag"
        assert acknowledgement.cseq == (invite.cseq[0], "ACK")


async def test_a_2xx_that_comes_again_gets_another_ack(peer: RawPeer) -> None:
    """RFC 6026 7.2 / RFC 3261 13.2.2.4: while our INVITE transaction is Accepted (Timer M), each
    retransmitted 2xx means the peer lost our ACK, and the UA sends it again (a peer that never gets it
    hangs up after 64*T1: a fax on a lossy network lost that way)."""
    ua = await user_agent()
    try:
        call = ua.call(f"sip:555@{LOCALHOST}:{peer.port}", offer())
        connect = asyncio.ensure_future(call.connect(ring_timeout=30))
        invite = await peer.next("INVITE")
        ok = response_to(invite, 200, to_tag="uas-tag")
        ok.headers.add("Contact", f"<sip:555@{LOCALHOST}:{peer.port}>")
        ok.headers.add("Content-Type", "application/sdp")
        ok.body = bytes(audio_offer(LOCALHOST, 40002, session_id=2, version=1))
        peer.send(bytes(ok), ua.address[1])
        await connect
        first_ack = await peer.next("ACK")
        acks = [first_ack]
        for _ in range(2):  # the 200 again, well inside Timer M (64*T1)
            peer.send(bytes(ok), ua.address[1])
            acks.append(await peer.next("ACK"))
    finally:
        ua.close()
    for ack in acks:
        assert ack.cseq == (invite.cseq[0], "ACK")
        assert ack.to_address.tag == "uas-tag"
        assert ack.vias[0].branch != invite.vias[0].branch  # end to end, not the transaction's


async def test_server_retransmits_failure_until_ack_and_absorbs_repeated_invites(peer: RawPeer) -> None:
    offered: list[IncomingCall] = []

    def busy(call: IncomingCall) -> None:
        offered.append(call)
        call.reject(486)

    ua = await user_agent(on_invite=busy)
    try:
        branch = new_branch()
        invite = request_text("INVITE", peer.port, ua.address[1], branch=branch)
        peer.send(invite, ua.address[1])
        peer.send(invite, ua.address[1])  # a retransmission: same transaction, no second call
        first = await peer.collect(0.5)
        statuses = [message.status for _, message in first if isinstance(message, SipResponse)]
        assert statuses[0] == 100 and statuses.count(486) >= 3  # Timer G kept resending the 486
        to_tag = next(m for _, m in first if isinstance(m, SipResponse) and m.status == 486).to_address.tag
        peer.send(
            request_text("ACK", peer.port, ua.address[1], branch=branch, to_tag=f";tag={to_tag}"),
            ua.address[1],
        )
        await asyncio.sleep(0.05)
        after_ack = await peer.collect(0.6)
    finally:
        ua.close()
    assert len(offered) == 1
    assert not after_ack, "the 486 must stop once the ACK arrives"


async def test_response_follows_received_and_rport(peer: RawPeer) -> None:
    """A request whose Via names an address we cannot reach (a phone behind NAT) is answered to
    where it came from, and the Via says so (RFC 3581)."""
    ua = await user_agent()
    try:
        peer.send(
            request_text("OPTIONS", 5999, ua.address[1], branch=new_branch(), via_host="192.0.2.10"),
            ua.address[1],
        )
        _, response = await asyncio.wait_for(peer.received.get(), 2)
    finally:
        ua.close()
    assert isinstance(response, SipResponse) and response.status == 200
    via = response.vias[0]
    assert (via.host, via.received, via.params.get("rport")) == ("192.0.2.10", LOCALHOST, str(peer.port))


async def test_unknown_dialog_gets_481(peer: RawPeer) -> None:
    ua = await user_agent()
    try:
        peer.send(
            request_text("BYE", peer.port, ua.address[1], branch=new_branch(), to_tag=";tag=nope"),
            ua.address[1],
        )
        _, response = await asyncio.wait_for(peer.received.get(), 2)
    finally:
        ua.close()
    assert isinstance(response, SipResponse) and response.status == 481
