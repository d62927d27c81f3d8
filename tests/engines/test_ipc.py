"""The gateway <-> media process wire format: every message survives the trip, and nothing but one of
our messages is taken: any other bytes are an ``IpcError`` saying what is wrong, never another exception."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest
from faxgw.gateway.engines import ipc
from faxgw.gateway.engines.base import (
    Bridge,
    CallResult,
    InboundCall,
    LegResult,
    OutboundCall,
    PageTransferred,
    Refusal,
    Route,
)
from faxgw.sip.fax_terms import CallStatus, T38Policy
from hypothesis import given, settings
from hypothesis import strategies as st

RESULT = CallResult(
    CallStatus.PARTIAL, 200, "remote_bye", 50, "T.30 said so", 1, 2, True, 14400, None, "", "c@h"
)
ROUTES = (Route("carrier-a", t38=T38Policy.AUDIO, ecm=False, max_rate=9600), Route("ata1", device=True))
LEGS = (LegResult("carrier-a", 503, "503 Service Unavailable", True), LegResult("b", 200, "answered", False))
MESSAGES: list[ipc.Message] = [
    ipc.Send(1, OutboundCall("fx_1", "+15550100", "sip:+1@127.0.0.1:5", Path("/var/fx_1/doc.tif"), 2)),
    ipc.Cancel(2),
    ipc.Accept(3, Path("/var/fx_2/received.tif")),
    ipc.Refuse(4, Refusal(503, 2)),
    ipc.Refuse(5, Refusal(404)),
    ipc.Ready("127.0.0.1", 5060),
    ipc.StartFailed("sip_tls_cert: no such file", config=True),
    ipc.Page(6, PageTransferred(2, Path("/var/fx_1/doc.tif"), sending=True)),
    ipc.Sent(7, RESULT),
    ipc.Sent(8, CallResult.failed("gateway_error", "no trunk")),
    ipc.Offer(9, InboundCall("+15550199", "", "c@h")),
    ipc.Received(10, RESULT),
    ipc.Send(11, OutboundCall("fx_3", "+1", "+2", Path("/d.tif"), routes=ROUTES)),
    ipc.Sent(12, CallResult(**{**RESULT.__dict__, "legs": LEGS, "t38_refused": 488})),
    ipc.Offer(13, InboundCall("+15550199", "201", "c@h", device="ata1")),
    ipc.Relay(14, Bridge(ROUTES, to_number="+15550199", from_number="+15550100")),
]


def reader(data: bytes) -> asyncio.StreamReader:
    stream = asyncio.StreamReader()
    stream.feed_data(data)
    stream.feed_eof()
    return stream


@pytest.mark.parametrize("message", MESSAGES, ids=lambda message: type(message).__name__)
async def test_every_message_survives_the_trip(message: ipc.Message) -> None:
    stream = reader(ipc.encode(message) * 2)
    assert await ipc.read(stream) == message
    assert await ipc.read(stream) == message
    assert await ipc.read(stream) is None  # closed between frames: the end, not an error


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"\xff\xfe", "not UTF-8 JSON"),
        (b"{", "not UTF-8 JSON"),
        (b"[" * 5000 + b"]" * 5000, "not UTF-8 JSON"),
        (b'{"type": "Cancel", "ref": 1' + b"0" * 5000 + b"}", "not UTF-8 JSON"),
        (b"[1]", "not a JSON object"),
        (b'{"ref": 1}', "unknown message type None"),
        (b'{"type": "Message", "ref": 1}', "unknown message type 'Message'"),
        (b'{"type": "__class__"}', "unknown message type '__class__'"),
        (b'{"type": "Cancel"}', "Cancel: fields [], expected ['ref']"),
        (b'{"type": "Cancel", "ref": 1, "pid": 1}', "Cancel: fields ['pid', 'ref'], expected ['ref']"),
        (b'{"type": "Cancel", "ref": true}', "Cancel.ref: expected int, got bool"),
        (b'{"type": "Cancel", "ref": 1.0}', "Cancel.ref: expected int, got float"),
        (b'{"type": "Accept", "ref": 1, "document": null}', "Accept.document: expected str, got NoneType"),
        (b'{"type": "Refuse", "ref": 1, "refusal": 404}', "Refuse.refusal: expected an object"),
        (
            b'{"type": "Refuse", "ref": 1, "refusal": {"status": 404, "retry_after": "2"}}',
            "Refuse.refusal.retry_after: expected int, got str",
        ),
    ],
)
def test_a_body_that_is_not_one_of_our_messages_is_refused_saying_why(body: bytes, error: str) -> None:
    with pytest.raises(ipc.IpcError) as refused:
        ipc.decode(body)
    assert error in str(refused.value)


def test_a_call_status_arrives_as_the_enum_and_an_unknown_one_is_refused() -> None:
    (sent,) = [message for message in MESSAGES if isinstance(message, ipc.Sent) and message.ref == 7]
    decoded = ipc.decode(ipc.encode(sent)[4:])
    assert isinstance(decoded, ipc.Sent) and decoded.result.status is CallStatus.PARTIAL
    body = ipc.encode(sent)[4:].replace(b'"partial"', b'"won"')
    with pytest.raises(ipc.IpcError, match=r"Sent\.result\.status: 'won' is not a CallStatus"):
        ipc.decode(body)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"\x00\x00", "closed inside a frame's length"),
        (b"\x00\x00\x00\x00", "frame length 0 outside"),
        ((ipc.MAX_FRAME + 1).to_bytes(4, "big"), f"frame length {ipc.MAX_FRAME + 1} outside"),
        (b"\xff\xff\xff\xff" + b"{}" * 10, "frame length 4294967295 outside"),
        (ipc.encode(ipc.Cancel(1))[:-1], "closed inside a frame of"),
    ],
)
async def test_a_broken_frame_is_refused_saying_why(data: bytes, error: str) -> None:
    with pytest.raises(ipc.IpcError) as refused:
        await ipc.read(reader(data))
    assert error in str(refused.value)


def test_a_message_too_big_for_a_frame_is_not_sent() -> None:
    with pytest.raises(ipc.IpcError, match="over 65536"):
        ipc.encode(ipc.Accept(1, Path("x" * ipc.MAX_FRAME)))


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300))
def test_random_bodies_raise_nothing_but_ipc_errors(body: bytes) -> None:
    with contextlib.suppress(ipc.IpcError):
        ipc.decode(body)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(MESSAGES), st.data())
def test_spoiled_frames_raise_nothing_but_ipc_errors(message: ipc.Message, data: st.DataObject) -> None:
    frame = bytearray(ipc.encode(message))
    for _ in range(data.draw(st.integers(1, 4))):
        frame[data.draw(st.integers(4, len(frame) - 1))] = data.draw(st.integers(0, 255))
    with contextlib.suppress(ipc.IpcError):
        ipc.decode(bytes(frame[4:]))
