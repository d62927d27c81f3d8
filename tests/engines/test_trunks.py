"""The native engine's trunks, live: failover by the trunk's answer, OPTIONS keep-alive, max_calls,
calls_per_second, a trunk's hosts in order, its own credentials and registration.

The engine runs in the test's event loop on 127.0.0.1; each trunk's far side is a user agent of ours that
answers every INVITE with one status, or SIPp (a digest-checking peer we did not write).
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from faxgw.gateway.config import Config
from faxgw.gateway.demo import free_port
from faxgw.gateway.engines.base import (
    CallResult,
    InboundCall,
    InboundDecision,
    LegResult,
    OutboundCall,
    Refusal,
    Route,
)
from faxgw.gateway.engines.native import NativeEngine
from faxgw.gateway.peers import TrunkConfig
from faxgw.sip.call import IncomingCall
from faxgw.sip.ua import UaConfig, UserAgent

from tests.helpers.pages import make_document
from tests.helpers.sip import LOCALHOST, Sipp

NUMBER = "+15557000"


class Far:
    """A trunk's far side: answers every INVITE with ``status`` after ``delay`` seconds."""

    def __init__(self, status: int, delay: float = 0.0, port: int = 0) -> None:
        self.status, self.delay, self.port = status, delay, port
        self.invites: list[IncomingCall] = []
        self.ua: UserAgent | None = None

    async def start(self) -> Far:
        self.ua = UserAgent(UaConfig(host=LOCALHOST, port=self.port), on_invite=self._invite)
        await self.ua.start()
        self.port = self.ua.address[1]
        return self

    def _invite(self, call: IncomingCall) -> None:
        self.invites.append(call)
        asyncio.get_running_loop().call_later(self.delay, call.reject, self.status)

    @property
    def host(self) -> str:
        return f"{LOCALHOST}:{self.port}"

    def close(self) -> None:
        if self.ua is not None:
            self.ua.close()


@pytest.fixture
async def far() -> AsyncIterator[Callable[..., Awaitable[Far]]]:
    started: list[Far] = []

    async def start(status: int, delay: float = 0.0, port: int = 0) -> Far:
        peer = await Far(status, delay, port).start()
        started.append(peer)
        return peer

    yield start
    for peer in started:
        peer.close()


async def _refuse(call: InboundCall) -> InboundDecision:
    return Refusal(403)


async def _ignore(call: InboundCall, result: CallResult) -> None:
    pass


@pytest.fixture
async def engines(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[NativeEngine]]]:
    """Starts a NativeEngine with the trunks given; closed at the end."""
    started: list[NativeEngine] = []

    async def start(*trunks: TrunkConfig) -> NativeEngine:
        config = Config(
            data_dir=tmp_path / "var",
            sip_host=LOCALHOST,
            sip_port=free_port(socket.SOCK_DGRAM),
            unpaced_t38=True,
            trunks=trunks,
        )
        engine = NativeEngine(config)
        started.append(engine)
        await engine.start(_refuse, _ignore)
        return engine

    yield start
    for engine in started:
        await engine.close()


@pytest.fixture
def document(tmp_path: Path) -> Path:
    path = tmp_path / "one-page.tif"
    make_document(path, 1)
    return path


def trunk(name: str, *hosts: str, **settings: object) -> TrunkConfig:
    return TrunkConfig(name, hosts, **{"keepalive": 0, **settings})  # type: ignore[arg-type]


async def send(engine: NativeEngine, document: Path, *routes: Route) -> CallResult:
    call = OutboundCall("fx_1", "+15550100", NUMBER, document, routes=routes)
    return await engine.send(call, lambda page: None)


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


@pytest.mark.parametrize(
    ("status", "fails_over"),
    [
        (503, True),  # the trunk fails as a trunk: the next one is tried
        (500, True),
        (408, True),
        (403, True),
        (486, False),  # the callee's own answers: another trunk reaches the same callee
        (600, False),
        (480, False),
        (404, False),
        (484, False),
        (603, False),
    ],
)
async def test_only_a_trunks_own_failure_fails_over(
    far: Callable[..., Awaitable[Far]],
    engines: Callable[..., Awaitable[NativeEngine]],
    document: Path,
    status: int,
    fails_over: bool,
) -> None:
    first, second = await far(status), await far(486)
    engine = await engines(trunk("a", first.host), trunk("b", second.host))
    result = await send(engine, document, Route("a"), Route("b"))
    assert len(first.invites) == 1 and len(second.invites) == int(fails_over)
    assert result.legs[0].via == "a" and result.legs[0].sip_code == status
    assert result.legs[0].failed_over is fails_over
    assert len(result.legs) == 1 + int(fails_over)
    assert result.sip_code == (486 if fails_over else status)


async def test_a_trunks_hosts_are_tried_in_order_before_the_next_trunk(
    far: Callable[..., Awaitable[Far]], engines: Callable[..., Awaitable[NativeEngine]], document: Path
) -> None:
    refusing, busy = await far(503), await far(486)
    engine = await engines(trunk("a", refusing.host, busy.host), trunk("b", f"{LOCALHOST}:9"))
    result = await send(engine, document, Route("a"), Route("b"))
    assert result.legs == (
        LegResult("a", 503, f"503 Service Unavailable at {refusing.host}", failed_over=True),
        LegResult("a", 486, f"486 Busy Here at {busy.host}", failed_over=False),
    )


async def test_a_trunk_that_stops_answering_options_is_skipped_until_it_answers_again(
    far: Callable[..., Awaitable[Far]], engines: Callable[..., Awaitable[NativeEngine]], document: Path
) -> None:
    port = free_port(socket.SOCK_DGRAM)  # nothing listens there yet
    busy = await far(486)
    engine = await engines(trunk("a", f"{LOCALHOST}:{port}", keepalive=0.3), trunk("b", busy.host))
    state = engine.trunks.get("a")
    assert state is not None
    await until(lambda: not state.up)  # the first ping went unanswered

    started = time.monotonic()
    result = await send(engine, document, Route("a"), Route("b"))
    # Skipped at once: no INVITE waited for its 32 s timeout.
    assert time.monotonic() - started < 5
    assert result.legs == (
        LegResult("a", None, "down (no answer to OPTIONS)", failed_over=True),
        LegResult("b", 486, "486 Busy Here", failed_over=False),
    )

    back = await far(486, port=port)  # the trunk answers OPTIONS again (a 200 from its user agent)
    await until(lambda: state.up)
    result = await send(engine, document, Route("a"), Route("b"))
    assert [leg.via for leg in result.legs] == ["a"] and len(back.invites) == 1


async def test_a_trunk_at_max_calls_is_skipped(
    far: Callable[..., Awaitable[Far]], engines: Callable[..., Awaitable[NativeEngine]], document: Path
) -> None:
    slow, busy = await far(486, delay=1.0), await far(486)
    engine = await engines(trunk("a", slow.host, max_calls=1), trunk("b", busy.host))
    first = asyncio.ensure_future(send(engine, document, Route("a"), Route("b")))
    await until(lambda: len(slow.invites) == 1)  # the first call rings on trunk a
    second = await send(engine, document, Route("a"), Route("b"))
    assert second.legs == (
        LegResult("a", None, "at max_calls (1)", failed_over=True),
        LegResult("b", 486, "486 Busy Here", failed_over=False),
    )
    assert [leg.via for leg in (await first).legs] == ["a"]
    state = engine.trunks.get("a")
    assert state is not None and state.calls == 0  # both calls ended: trunk a is free again
    third = await send(engine, document, Route("a"), Route("b"))
    assert [leg.via for leg in third.legs] == ["a"]


async def test_calls_over_calls_per_second_wait_briefly_else_go_to_the_next_trunk(
    far: Callable[..., Awaitable[Far]], engines: Callable[..., Awaitable[NativeEngine]], document: Path
) -> None:
    a, b = await far(486), await far(486)
    engine = await engines(
        trunk("a", a.host, calls_per_second=2.0),  # 2 at once, then one every 0.5 s
        trunk("slow", b.host, calls_per_second=0.25),  # 1 at once, then one every 4 s
    )
    vias = []
    started = time.monotonic()
    for _ in range(3):
        vias.append([leg.via for leg in (await send(engine, document, Route("a"))).legs])
    # The third call waited for its token (about 0.5 s, under a second) and stayed on trunk a.
    assert vias == [["a"], ["a"], ["a"]] and len(a.invites) == 3
    assert time.monotonic() - started >= 0.3

    await send(engine, document, Route("slow"), Route("a"))
    over = await send(engine, document, Route("slow"), Route("a"))
    # A 4 s wait is too long: the call goes to the next trunk at once.
    assert over.legs[0] == LegResult("slow", None, "over calls_per_second (0.25)", failed_over=True)
    assert over.legs[1].via == "a" and len(b.invites) == 1


async def test_each_trunk_answers_a_challenge_with_its_own_credentials(
    sipp: Sipp, engines: Callable[..., Awaitable[NativeEngine]], document: Path
) -> None:
    peer = await sipp.start("uas_challenge.xml")  # checks alice/secret, answers, hangs up after 1 s
    engine = await engines(trunk("a", f"{LOCALHOST}:{peer.port}", username="alice", password="secret"))
    assert engine.ua is not None and engine.ua.config.username is None  # the user agent has none
    result = await send(engine, document, Route("a"))
    assert result.legs == (LegResult("a", 200, "answered", failed_over=False),)
    assert await peer.finished() == 0, peer.errors()


async def test_a_trunk_with_register_registers_with_its_credentials(
    sipp: Sipp, engines: Callable[..., Awaitable[NativeEngine]]
) -> None:
    peer = await sipp.start("uas_register.xml")  # challenges, grants 2 s, wants the refresh authenticated
    await engines(trunk("a", f"{LOCALHOST}:{peer.port}", username="alice", password="secret", register=True))
    assert await peer.finished(timeout=15) == 0, peer.errors()
