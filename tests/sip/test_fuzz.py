"""A seeded mutation fuzzer against a running user agent that answers fax calls, over UDP on 127.0.0.1.

Valid INVITE, OPTIONS, BYE, CANCEL, ACK, INFO, REGISTER requests and, inside calls it set up first,
re-INVITEs (to T.38 and back), UPDATE, INFO, OPTIONS and BYE are spoiled a few ways each: bytes
flipped, inserted or cut, lines dropped, doubled, swapped or cut short, header values and SDP lines
swapped for ones real peers get wrong. Then:

- every request that parses well enough to be answered gets a final response (our own parser says
  which: a request, or a broken one from which a 400 can still be addressed - RFC 3261 21.4.1);
- no traceback is logged;
- transactions, dialogs and calls drain to none once their timers have run (64*T1 = 1.28 s here);
- the memory the user agent's code holds (tracemalloc: what was allocated with a frame of faxgw.sip on
  the stack) comes back to what it was after a warm-up round. Only that code's: the process is the whole
  test session's, and other threads (servers and readers of earlier tests) allocate meanwhile.

Only the values that route traffic are kept away from random bytes: the top Via (where responses go),
Contact and Record-Route (where in-dialog requests go) and the SDP c=/m= lines (where media goes) are
changed only to broken values or to our own sockets, so nothing else on this machine is sent to.

Requests go out with at most WINDOW of them unanswered (a flood is another test's subject).
``FAXGW_SIP_FUZZ_MESSAGES`` (default 5000, about 20 s) and ``FAXGW_SIP_FUZZ_SEED`` run it bigger or
differently; a failure names the seed.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import random
import re
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import faxgw.sip
import pytest
from faxgw.sip.message import SipParseError, SipRequest, SipResponse, new_branch, parse_message, response_to
from faxgw.sip.transport import bad_request_response

from tests.helpers.hostile import FAST, Answering, Leg, Sink, answering, audio_sdp, t38_sdp

LOCALHOST = "127.0.0.1"
MESSAGES = int(os.environ.get("FAXGW_SIP_FUZZ_MESSAGES", "5000"))
SEED = int(os.environ.get("FAXGW_SIP_FUZZ_SEED", "3261"))
#: Messages per round; each round sets up CALLS calls, fuzzes, then hangs them up.
ROUND = 250
CALLS = 3
#: Requests in flight at most.
WINDOW = 16
#: Python keeps some caches (regular expressions, free lists, the selector's maps) that grow a little in a
#: first use; a leak of a transaction or call per message would be megabytes here.
MEMORY_SLACK = 512 * 1024
#: Frames kept per allocation: enough to find faxgw.sip under the stdlib calls it makes.
FRAMES = 12
#: What counts as the user agent's memory: allocations with one of its frames on the stack.
USER_AGENT = tracemalloc.Filter(True, str(Path(faxgw.sip.__file__).parent / "*"), all_frames=True)

Key = tuple[str, str]  # (top Via branch, CSeq method): what identifies a response's request here


class Mutator:
    """Spoils a message a few ways, never pointing its routing values anywhere but at our sockets."""

    def __init__(self, rng: random.Random, sink: int, peer: int) -> None:
        self.rng = rng
        # Values for the lines that route traffic: broken ones, or our own sockets.
        self.contacts = [
            "<garbage",
            "*",
            "<tel:+15550100>",
            f"<sip:x@{LOCALHOST}:99999>",
            f"<sip:x@{LOCALHOST}:0>",
            f"<sip:x@{LOCALHOST}:{peer}>, <sip:y@{LOCALHOST}:{peer}>",
            f"<sip:x@{LOCALHOST}:{peer};transport=tcp>",
            f'"\\"" <sip:x@{LOCALHOST}:{peer}>',
            "<sip:x@[::1>",
            "<>",
            "",
            f"sip:x@{LOCALHOST}:{peer};expires=-1",
        ]
        self.routes = ["<garbage", f"<sip:{LOCALHOST}:0;lr>", "<sip:x@[::1>", "", "*"]
        self.sdp_routing = [
            f"m=audio {sink} RTP/AVP 0",
            f"m=audio {sink} RTP/AVP",
            f"m=audio {sink} RTP/AVP 96 97 98",
            f"m=image {sink} udptl t38",
            f"m=image {sink} UDPTL T38",
            "m=image 0 udptl t38",
            "m=audio 0 RTP/AVP 0",
            f"m=audio {sink}/2 RTP/AVP 0",
            "m=audio 99999 RTP/AVP 0",
            "m=audio -1 RTP/AVP 0",
            "m=audio x RTP/AVP 0",
            "m=",
            "m=video 4000 RTP/AVP 31",
            "c=IN IP4 0.0.0.0",
            f"c=IN IP4 {LOCALHOST}/127",
            "c=IN IP6 ::1",
            "c=IN",
            "c=",
            "c=IN IP4",
        ]
        self.sdp_lines = [
            "a=T38FaxMaxDatagram:1",
            "a=T38FaxMaxDatagram:0",
            "a=T38FaxMaxDatagram:99999999999999999999",
            "a=T38FaxMaxDatagram",
            "a=T38FaxVersion:-1",
            "a=T38MaxBitRate:abc",
            "a=T38FaxRateManagement:nonsense",
            "a=T38FaxUdpEC:t38UDPFEC",
            "a=rtpmap:0 PCMU/0",
            "a=rtpmap:999 PCMU/8000",
            "a=rtpmap:",
            "a=ptime:1e400",
            "a=ptime:-20",
            "a=sendonly",
            "a=inactive",
            "a=fmtp:101 0-999999",
            "a=",
            "o=- 1 1 IN IP4",
            "o=- x y IN IP4 127.0.0.1",
            "v=1",
            "t=",
            "b=AS:-1",
            "x",
            "=",
            "a=" + "A" * 3000,
        ]
        self.headers = [
            "Content-Length: 99999",
            "Content-Length: -1",
            "Content-Length: 0",
            "Content-Type: multipart/mixed;boundary=x",
            "Content-Type: application/sdp;charset=utf-16",
            "Content-Type:",
            "CSeq: 1 BYE",
            "CSeq: 99999999999 INVITE",
            "CSeq: -1 INVITE",
            "Call-ID: ",
            "Call-ID: a b",
            "From: <garbage",
            "To: <sip:x@[::1>",
            "To: <sip:x@127.0.0.1>;tag=",
            "Session-Expires: 1",
            "Session-Expires: abc;refresher=uas",
            "Session-Expires: 99999999999999999999",
            "Min-SE: -5",
            "Max-Forwards: 0",
            "Max-Forwards: abc",
            "Require: 100rel, precondition",
            "Supported: timer, timer, timer",
            "Expires: -1",
            'Authorization: Digest username="x", nonce=""',
            "Proxy-Require: foo",
            "Timestamp: abc",
            "X-Big: " + "B" * 4000,
            "no colon here",
            " folded continuation",
            ": no name",
            "Via:",
        ]
        self.tokens = [
            b"\x00",
            b"\xff",
            b"\xc3(",
            b"%",
            b"%zz",
            b"<",
            b">",
            b";",
            b",",
            b'"',
            b":",
            b"@",
            b"[",
            b"\t",
            b"\r",
            b"\n",
            b"\r\n",
            b" ",
            b"9" * 12,
            b"-1",
            b"A" * 1000,
        ]

    def mutate(self, message: bytes) -> bytes:
        head, _, body = message.partition(b"\r\n\r\n")
        headers = head.split(b"\r\n")
        sdp = body.split(b"\r\n") if body else []
        for _ in range(self.rng.randint(1, 3)):
            self.rng.choice(self._operations(bool(sdp)))(headers, sdp)
        data = b"\r\n".join(headers) + b"\r\n\r\n" + b"\r\n".join(sdp)
        if self.rng.random() < 0.05:  # cut short, but never before the top Via
            keep = len(headers[0]) + len(headers[1]) + 4
            data = data[: self.rng.randint(keep, len(data))]
        return data

    def _operations(self, has_sdp: bool) -> list[Callable[[list[bytes], list[bytes]], None]]:
        operations = [
            self._spoil_bytes,
            self._spoil_bytes,
            self._drop_line,
            self._double_line,
            self._swap_lines,
            self._inject_header,
            self._inject_header,
            self._reroute,
        ]
        return [*operations, self._spoil_sdp, self._spoil_sdp] if has_sdp else operations

    @staticmethod
    def _routing(line: bytes) -> bool:
        name = line.split(b":", 1)[0].strip().lower()
        return name in (b"via", b"v", b"contact", b"m", b"record-route", b"route") or line[:2] in (
            b"c=",
            b"m=",
        )

    def _free_lines(self, lines: list[bytes], first: int) -> list[int]:
        return [i for i in range(first, len(lines)) if not self._routing(lines[i])]

    def _pick(self, headers: list[bytes], sdp: list[bytes]) -> tuple[list[bytes], int] | None:
        """A line that random bytes may touch: not the request line's successor (the top Via), not a
        routing line."""
        choices = [(headers, i) for i in self._free_lines(headers, 0) if i != 1]
        choices += [(sdp, i) for i in self._free_lines(sdp, 0)]
        return self.rng.choice(choices) if choices else None

    def _spoil_bytes(self, headers: list[bytes], sdp: list[bytes]) -> None:
        picked = self._pick(headers, sdp)
        if picked is None:
            return
        lines, index = picked
        line = bytearray(lines[index])
        at = self.rng.randint(0, len(line))
        kind = self.rng.randrange(4)
        if kind == 0 and line:
            line[min(at, len(line) - 1)] = self.rng.randrange(256)
        elif kind == 1:
            line[at:at] = self.rng.choice(self.tokens)
        elif kind == 2:
            del line[at : at + self.rng.randint(1, 20)]
        else:
            line[at:at] = line[at : at + self.rng.randint(1, 40)] * self.rng.randint(1, 50)
        lines[index] = bytes(line)

    def _drop_line(self, headers: list[bytes], sdp: list[bytes]) -> None:
        lines = self.rng.choice([headers, sdp]) if sdp else headers
        candidates = [i for i in range(len(lines)) if lines is sdp or i > 1]
        if candidates:
            del lines[self.rng.choice(candidates)]

    def _double_line(self, headers: list[bytes], sdp: list[bytes]) -> None:
        lines = self.rng.choice([headers, sdp]) if sdp else headers
        index = self.rng.randrange(1 if lines is headers else 0, len(lines)) if len(lines) > 1 else 0
        lines.insert(index + 1, lines[index])

    def _swap_lines(self, headers: list[bytes], sdp: list[bytes]) -> None:
        lines = self.rng.choice([headers, sdp]) if sdp else headers
        free = [i for i in self._free_lines(lines, 2 if lines is headers else 0)]
        if len(free) >= 2:
            a, b = self.rng.sample(free, 2)
            lines[a], lines[b] = lines[b], lines[a]

    def _inject_header(self, headers: list[bytes], sdp: list[bytes]) -> None:
        line = self.rng.choice(self.headers).encode()
        name = line.split(b":", 1)[0]
        same = [i for i in range(2, len(headers)) if headers[i].split(b":", 1)[0] == name]
        if same and self.rng.random() < 0.7:
            headers[self.rng.choice(same)] = line
        else:
            headers.insert(self.rng.randint(2, len(headers)), line)

    def _reroute(self, headers: list[bytes], sdp: list[bytes]) -> None:
        if self.rng.random() < 0.7:
            line = b"Contact: " + self.rng.choice(self.contacts).encode()
            contacts = [i for i in range(2, len(headers)) if headers[i].lower().startswith(b"contact:")]
            if contacts:
                headers[contacts[0]] = line
                return
        else:
            line = b"Record-Route: " + self.rng.choice(self.routes).encode()
        headers.insert(self.rng.randint(2, len(headers)), line)

    def _spoil_sdp(self, headers: list[bytes], sdp: list[bytes]) -> None:
        if self.rng.random() < 0.5:
            line = self.rng.choice(self.sdp_routing).encode()
            same = [i for i, old in enumerate(sdp) if old[:2] == line[:2]]
        else:
            line = self.rng.choice(self.sdp_lines).encode()
            same = [i for i, old in enumerate(sdp) if old.split(b":", 1)[0] == line.split(b":", 1)[0]]
        if same and self.rng.random() < 0.7:
            sdp[self.rng.choice(same)] = line
        else:
            sdp.insert(self.rng.randint(1, max(len(sdp) - 1, 1)), line)


class FuzzPeer(asyncio.DatagramProtocol):
    """The fuzzer's socket: records final responses by (branch, CSeq method) and answers the user
    agent's own requests (its T.38 offer: 488, stay on audio; BYE and the rest: 200)."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.finals: dict[Key, int] = {}
        self.waiting: dict[Key, asyncio.Future[SipResponse]] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    @property
    def port(self) -> int:
        assert self.transport is not None
        return self.transport.get_extra_info("sockname")[1]

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        if not data.startswith(b"SIP/2.0 "):
            request = SipRequest.parse(data)  # the user agent's own requests are well-formed
            if request.method != "ACK":
                status = 488 if request.method == "INVITE" else 200
                self.send(bytes(response_to(request, status)), addr)
            return
        status = int(data[8:11])
        key = response_key(data)  # a 400 echoes the broken request's lines: not always parseable
        if status < 200 or key is None:
            return
        self.finals.setdefault(key, status)
        waiter = self.waiting.pop(key, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(SipResponse.parse(data))

    def send(self, data: bytes, target: tuple[str, int]) -> None:
        assert self.transport is not None
        self.transport.sendto(data, target)

    async def ask(self, data: bytes, key: Key, target: tuple[str, int]) -> SipResponse:
        future = asyncio.get_running_loop().create_future()
        self.waiting[key] = future
        self.send(data, target)
        return await asyncio.wait_for(future, 5.0)


_BRANCH = re.compile(rb"^Via:[^\r\n]*?;branch=([^;,\s]+)", re.M)
_CSEQ = re.compile(rb"^CSeq:[ \t]*[0-9]+[ \t]+(\S+)", re.M)


def response_key(response: bytes) -> Key | None:
    """(top Via branch, CSeq method) of a response, read from its lines as they are."""
    branch, cseq = _BRANCH.search(response), _CSEQ.search(response)
    if branch is None or cseq is None:
        return None
    return branch.group(1).decode("latin-1"), cseq.group(1).decode("latin-1")


def expected_final(data: bytes) -> Key | None:
    """The response our own parser says this datagram must get, by ``response_key``; None for an ACK,
    a response, or a request so broken that no response could be addressed from it."""
    try:
        message = parse_message(data)
    except SipParseError as error:
        response = bad_request_response(data, str(error))
        return None if response is None else response_key(response)
    if isinstance(message, SipResponse) or message.method == "ACK":
        return None
    return response_key(bytes(response_to(message, 500)))


class Fuzzer:
    def __init__(self, gateway: Answering, peer: FuzzPeer, sink: Sink, rng: random.Random) -> None:
        self.gateway = gateway
        self.peer = peer
        self.sink = sink
        self.rng = rng
        self.mutator = Mutator(rng, sink.port, peer.port)
        #: This round's requests that must get a final response, by the key of that response.
        self.expected: dict[Key, bytes] = {}
        self.answered = 0
        self.sent = 0

    def leg(self) -> Leg:
        return Leg(LOCALHOST, self.peer.port, self.gateway.address)

    async def call(self) -> Leg:
        """A call set up properly (INVITE, 200, ACK), for in-dialog requests to spoil."""
        leg = self.leg()
        branch = new_branch()
        ok = await self.peer.ask(
            leg.request("INVITE", body=audio_sdp(self.sink.port), branch=branch),
            (branch, "INVITE"),
            self.gateway.address,
        )
        assert ok.status == 200, ok
        leg.to_tag = ok.to_address.tag
        self.peer.send(leg.request("ACK", cseq=leg.cseq), self.gateway.address)
        return leg

    def valid(self, calls: list[Leg]) -> bytes:
        """A valid request to spoil: out of dialog, or inside one of ``calls``."""
        sink = self.sink.port
        if calls and self.rng.random() < 0.5:
            leg = self.rng.choice(calls)
            method = self.rng.choice(
                ["INVITE", "INVITE", "INVITE", "UPDATE", "INFO", "OPTIONS", "BYE", "ACK"]
            )
            if method == "INVITE":
                body = self.rng.choice(
                    [t38_sdp(sink, leg.cseq + 2), audio_sdp(sink, version=leg.cseq + 2), audio_sdp(sink), b""]
                )
                return leg.request("INVITE", body=body)
            return leg.request(method, cseq=leg.cseq if method == "ACK" else None)
        leg = self.leg()
        method = self.rng.choice(
            ["INVITE", "INVITE", "INVITE", "OPTIONS", "BYE", "CANCEL", "ACK", "INFO", "REGISTER"]
        )
        if method == "INVITE":
            body = self.rng.choice([audio_sdp(sink), t38_sdp(sink, 1), t38_sdp(sink, 1, "1")])
            return leg.request("INVITE", body=body)
        return leg.request(method)

    async def send(self, data: bytes) -> None:
        await self._room()
        key = expected_final(data)
        if key is not None:
            self.expected[key] = data
        self.peer.send(data, self.gateway.address)
        self.sent += 1

    async def round(self, messages: int) -> None:
        calls = [await self.call() for _ in range(CALLS)]
        for _ in range(messages):
            await self.send(self.mutator.mutate(self.valid(calls)))
        for leg in calls:  # whatever the fuzzing left of them
            await self.send(leg.request("BYE"))

    async def _room(self) -> None:
        """Flow control: at most WINDOW requests unanswered, so that no socket buffer overflows (UDP
        drops what does not fit, and a lost request is not the user agent's fault). A flood is
        another test's subject."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 2.0
        while len(self.missing()) >= WINDOW and loop.time() < deadline:
            await asyncio.sleep(0.002)

    def missing(self) -> set[Key]:
        return self.expected.keys() - self.peer.finals.keys()

    async def unanswered(self, timeout: float) -> list[bytes]:
        """Wait up to ``timeout`` s for this round's final responses; the requests still without one.
        Then the next round starts afresh."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.missing() and loop.time() < deadline:
            await asyncio.sleep(0.05)
        missing = [self.expected[key] for key in self.missing()]
        self.answered += len(self.expected) - len(missing)
        self.expected.clear()
        self.peer.finals.clear()
        self.sink.drain()
        return missing


def user_agent_memory() -> tracemalloc.Snapshot:
    """What the user agent's code holds now, garbage collected first."""
    gc.collect()
    return tracemalloc.take_snapshot().filter_traces([USER_AGENT])


def growth(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot) -> tuple[int, str]:
    """Bytes held more in ``after``, and where the most of them were allocated (for the failure)."""
    grown = sum(stat.size for stat in after.statistics("filename")) - sum(
        stat.size for stat in before.statistics("filename")
    )
    top = after.compare_to(before, "traceback")[:3]
    return grown, "\n\n".join(f"{stat}\n" + "\n".join(stat.traceback.format(limit=FRAMES)) for stat in top)


@pytest.mark.slow
async def test_mutated_requests_are_answered_and_leave_nothing_behind(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    drain = 10 * FAST.timeout
    loop = asyncio.get_running_loop()
    _, peer = await loop.create_datagram_endpoint(FuzzPeer, local_addr=(LOCALHOST, 0))
    sink = Sink()
    tracemalloc.start(FRAMES)
    try:
        async with answering(tmp_path) as gateway:
            fuzzer = Fuzzer(gateway, peer, sink, random.Random(SEED))
            nothing_left = dict.fromkeys(gateway.leftovers(), 0)
            # Warm-up: first-use caches fill, then the baseline is taken with everything drained.
            await fuzzer.round(ROUND)
            assert await fuzzer.unanswered(drain) == [], f"seed {SEED}"
            assert await gateway.drained(drain) == nothing_left, f"seed {SEED}"
            gateway.calls.clear()  # the harness's own records, not the user agent's
            gateway.outcomes.clear()
            baseline = user_agent_memory()

            while fuzzer.sent < MESSAGES:
                await fuzzer.round(ROUND)
                missing = await fuzzer.unanswered(drain)
                assert missing == [], (
                    f"seed {SEED}: {len(missing)} without a final response, e.g. {missing[0]!r}"
                )
            assert await gateway.drained(drain) == nothing_left, f"seed {SEED}"
            calls = len(gateway.calls)
            gateway.calls.clear()
            gateway.outcomes.clear()
            grown, where = growth(baseline, user_agent_memory())
    finally:
        tracemalloc.stop()
        assert peer.transport is not None
        peer.transport.close()
        sink.close()
    print(f"{fuzzer.sent} messages, {fuzzer.answered} final responses, {calls} calls, {grown:+} bytes traced")
    tracebacks = [r.getMessage() for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert tracebacks == [], f"seed {SEED}"
    assert calls > 0 and fuzzer.answered > MESSAGES / 2  # the mutations left most requests answerable
    assert grown < MEMORY_SLACK, f"seed {SEED}: {grown} bytes more after {fuzzer.sent} messages:\n{where}"
