"""The job layer on several nodes sharing one database (a real PostgreSQL, and an SQLite file shared the same
way): leases kept alive by the heartbeat and lost to another node, the sweep that settles a dead node's
faxes and resumes them, limits (call slots) that hold across nodes, idle nodes woken by NOTIFY.

Each node is the real job layer (OutboundJobs, InboundJobs, Leases, PageQueue, EventBus) on a store of its
own; the engine is a stand-in at the engine interface (``Line``), so that a call's pages and its end come
exactly when a test wants them. tests/cluster/test_cluster.py runs the same across real nodes and calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path

import pytest
from faxgw.gateway.config import Config, NumberConfig, RouteConfig
from faxgw.gateway.domain import FaxStatus
from faxgw.gateway.engines import CallStatus
from faxgw.gateway.engines.base import CallResult, InboundCall, OutboundCall, PageHandler, PageTransferred
from faxgw.gateway.jobs import outbound as outbound_module
from faxgw.gateway.jobs.channels import Channels
from faxgw.gateway.jobs.events import EventBus
from faxgw.gateway.jobs.inbound import InboundJobs
from faxgw.gateway.jobs.leases import Leases
from faxgw.gateway.jobs.outbound import OutboundJobs
from faxgw.gateway.jobs.pages import PageQueue
from faxgw.gateway.peers import TrunkConfig
from faxgw.gateway.store import FaxQuery, FaxRecord, Store, database

from tests.helpers.pages import make_document

SENDER, OTHER_SENDER, DID = "+15550100", "+15550101", "+15550199"
#: Short leases, so that a dead node's faxes come back within seconds (load_config allows 3 s at least).
LEASE = 3.0


@dataclasses.dataclass
class Call:
    node: str
    fax_id: str
    number: str
    to: str
    first_page: int
    started: float
    ended: float | None = None
    cancelled: bool = False


class Line:
    """At the engine interface, for every node: each call takes ``page_time`` per page and reports it; a call
    to a number in ``stall`` stops after that page and never ends by itself (its node hangs, or dies)."""

    def __init__(self, pages: int = 1, page_time: float = 0.0) -> None:
        self.pages, self.page_time = pages, page_time
        self.stall: dict[str, int] = {}  # destination -> the page after which its call hangs
        self.calls: list[Call] = []

    def on(self, node: str) -> NodeLine:
        return NodeLine(self, node)


@dataclasses.dataclass
class NodeLine:
    line: Line
    node: str

    async def send(self, call: OutboundCall, on_page: PageHandler) -> CallResult:
        record = Call(self.node, call.fax_id, call.from_number, call.to_number, call.first_page, time.time())
        self.line.calls.append(record)
        try:
            for page in range(call.first_page, self.line.pages + 1):
                await asyncio.sleep(self.line.page_time)
                on_page(PageTransferred(page, call.document, sending=True))
                if self.line.stall.get(call.to_number) == page:
                    await asyncio.Event().wait()
        except asyncio.CancelledError:
            record.cancelled = True
            raise
        finally:
            record.ended = time.time()
        sent = self.line.pages - call.first_page + 1
        return CallResult(
            CallStatus.SUCCESS, 200, None, 0, "OK", sent, sent, True, 14400, True, DID, f"call-{call.fax_id}"
        )


@dataclasses.dataclass
class Node:
    name: str
    store: Store
    leases: Leases
    outbound: OutboundJobs
    inbound: InboundJobs
    pages: PageQueue
    tasks: list[asyncio.Task[None]]

    def die(self) -> None:
        """Stop as a SIGKILL would, as far as the others can tell: no more renewals, claims or sweeps (its
        calls hang, as in ``Line.stall``); nothing is given back or settled."""
        for task in self.tasks:
            task.cancel()


def node_config(tmp_path: Path, name: str, **settings: object) -> Config:
    config = Config(
        data_dir=tmp_path / name,
        node=name,
        lease=LEASE,
        numbers=(NumberConfig(SENDER, 1), NumberConfig(OTHER_SENDER, 1)),
        routes=(RouteConfig(DID, "acme"),),
        trunks=(TrunkConfig("carrier", ("127.0.0.1:5060",)),),
    )
    return dataclasses.replace(config, **settings)  # type: ignore[arg-type]


@pytest.fixture(params=["postgresql", "sqlite"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> str | None:
    """A PostgreSQL database's URL, or None: an SQLite file every node opens (one machine)."""
    return str(request.getfixturevalue("postgres_url")) if request.param == "postgresql" else None


@contextlib.asynccontextmanager
async def cluster(
    where: str | None, tmp_path: Path, line: Line, count: int, channels: int = 4, **settings: object
) -> AsyncIterator[list[Node]]:
    """``count`` nodes sharing ``where``, each running its heartbeat and its outbound loop."""
    nodes: list[Node] = []
    try:
        for index in range(count):
            name = f"node{index}"
            config = node_config(tmp_path, name, **settings)
            store = Store(database(where, tmp_path / "shared.sqlite", 4))
            leases, pages, events = Leases(store, name, LEASE), PageQueue(), EventBus(store, None)
            lines = Channels(channels)  # inbound and outbound calls together
            outbound = OutboundJobs(config, store, line.on(name), events, lines, pages, leases)  # type: ignore[arg-type]
            inbound = InboundJobs(
                config,
                store,
                events,
                lines,
                pages,
                leases=leases,
                on_queued=outbound.wake,
                settle_bridged=outbound.settle_bridged,
            )
            await store.open()  # after OutboundJobs: it listens for due faxes
            if index == 0:
                await store.create_tenant("acme", "acme")
            pages.start()
            tasks = [asyncio.create_task(leases.run()), asyncio.create_task(outbound.run())]
            nodes.append(Node(name, store, leases, outbound, inbound, pages, tasks))
        yield nodes
    finally:
        for node in nodes:
            node.die()
            await node.outbound.stop()
            await asyncio.gather(*node.tasks, *node.outbound._running.values(), return_exceptions=True)
            await node.pages.stop()
            await node.store.close()


_numbers = itertools.count()


async def submit(
    store: Store, tmp_path: Path, to: str, *, pool: Sequence[str] = (SENDER,), retry: int = 0, pages: int = 1
) -> str:
    now = time.time()
    fax = FaxRecord(
        f"fx_{next(_numbers)}",
        "acme",
        "outbound",
        pool[0],
        to,
        FaxStatus.QUEUED,
        now,
        now,
        document=str(tmp_path / "document.tif"),  # the stand-in engine reads nothing
        pages_total=pages,
        request={
            "from_pool": list(pool),
            "options": {"retry": {"count": retry, "delay": 0}, "partially_sent_retry": True},
        },
    )
    await store.add_fax(fax)
    return fax.id


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.05)


async def calls(line: Line, count: int = 1) -> None:
    async def placed() -> bool:
        return len(line.calls) >= count

    await until(placed, 10)


async def fax_of(store: Store, fax_id: str) -> FaxRecord:
    fax = await store.get_fax(fax_id)
    assert fax is not None
    return fax


async def finished(store: Store, fax_ids: Sequence[str], timeout: float = 30.0) -> list[FaxRecord]:
    async def all_done() -> bool:
        return all([(await fax_of(store, fax_id)).completed_at is not None for fax_id in fax_ids])

    await until(all_done, timeout)
    return [await fax_of(store, fax_id) for fax_id in fax_ids]


async def the_inbound_fax(store: Store) -> FaxRecord:
    (fax,), _ = await store.query_faxes("acme", FaxQuery(direction="inbound"))
    return fax


def most_at_once(calls: Sequence[Call]) -> int:
    """The largest number of ``calls`` up at one moment."""
    moments = sorted([(call.started, 1) for call in calls] + [(call.ended or 0, -1) for call in calls])
    up = most = 0
    for _, change in moments:  # an end sorts before a start at the same moment
        up += change
        most = max(most, up)
    return most


# -- limits across nodes --------------------------------------------------------------------------------


async def test_numbers_destinations_and_a_trunk_keep_their_limits_across_nodes(
    where: str | None, tmp_path: Path
) -> None:
    line = Line(pages=1, page_time=0.4)
    trunk = TrunkConfig("carrier", ("127.0.0.1:5060",), max_calls=3)
    numbers = (NumberConfig(SENDER, 2), NumberConfig(OTHER_SENDER, 2))
    # Two channels a node: no node alone can fill the trunk, so another node's poll always finds a call to
    # make (with SQLite nothing wakes the other nodes, and the node whose call just ended claims first).
    async with cluster(where, tmp_path, line, 3, channels=2, numbers=numbers, trunks=(trunk,)) as nodes:
        destinations = [f"+1555020{n % 4}" for n in range(12)]  # 4 destinations, 3 faxes each
        fax_ids = [
            await submit(nodes[n % 3].store, tmp_path, to, pool=(SENDER, OTHER_SENDER))
            for n, to in enumerate(destinations)
        ]
        faxes = await finished(nodes[0].store, fax_ids)
    assert [(fax.status, fax.attempts_made) for fax in faxes] == [(FaxStatus.SUCCESS, 1)] * 12
    assert len(line.calls) == 12
    for number in (SENDER, OTHER_SENDER):  # max_calls = 2 each, whichever node calls
        assert 0 < most_at_once([call for call in line.calls if call.number == number]) <= 2
    for to in set(destinations):  # calls_per_destination = 1: a fax machine takes one call at a time
        assert most_at_once([call for call in line.calls if call.to == to]) == 1
    assert 1 < most_at_once(line.calls) <= 3  # the trunk's max_calls, never passed
    assert len({call.node for call in line.calls}) > 1


async def test_a_trunks_calls_per_second_hold_across_nodes(where: str | None, tmp_path: Path) -> None:
    line = Line(pages=1)
    trunk = TrunkConfig("carrier", ("127.0.0.1:5060",), calls_per_second=2)
    numbers = (NumberConfig(SENDER, 10),)
    async with cluster(where, tmp_path, line, 2, numbers=numbers, trunks=(trunk,)) as nodes:
        fax_ids = [await submit(nodes[n % 2].store, tmp_path, f"+155503{n:02}") for n in range(6)]
        faxes = await finished(nodes[0].store, fax_ids)
    assert [fax.attempts_made for fax in faxes] == [1] * 6
    starts = sorted(call.started for call in line.calls)
    # Two starts per second at most: any third start comes a second after the first (less the time
    # between taking the slot and the call's start, which differs from fax to fax).
    assert min(later - earlier for earlier, later in zip(starts, starts[2:], strict=False)) > 0.75, starts


# -- leases, the heartbeat and the sweep ------------------------------------------------------------------


async def test_a_dead_nodes_fax_is_settled_by_another_and_resumed_after_the_confirmed_page(
    where: str | None, tmp_path: Path
) -> None:
    line = Line(pages=3)
    line.stall["+15550400"] = 1  # the first call gets page 1 across, then its node stops
    async with cluster(where, tmp_path, line, 2, channels=1) as nodes:
        fax_id = await submit(nodes[0].store, tmp_path, "+15550400", retry=1, pages=3)
        await calls(line)
        first = line.calls[0].node
        carrier = next(node for node in nodes if node.name == first)

        async def page_one_recorded() -> bool:  # confirmed, as far as the store knows, before the node dies
            return (await fax_of(carrier.store, fax_id)).pages_transferred == 1

        await until(page_one_recorded, 5)
        carrier.die()
        died = time.time()
        (fax,) = await finished(nodes[0].store, [fax_id], timeout=4 * LEASE)
        attempts = await nodes[0].store.attempts(fax_id)
    survivor = next(node.name for node in nodes if node is not carrier)
    assert [(call.node, call.first_page) for call in line.calls] == [(first, 1), (survivor, 2)]
    assert line.calls[1].started - died > LEASE * 0.9  # not before the dead node's lease ran out
    assert [(a.number, a.status, a.pages_sent) for a in attempts] == [
        (1, FaxStatus.FAILED_INTERNAL_PROCESS_ERROR, 1),
        (2, FaxStatus.SUCCESS, 2),
    ]
    assert (fax.status, fax.pages_transferred, fax.pages_total) == (FaxStatus.SUCCESS, 3, 3)


@pytest.mark.slow  # three leases of waiting, then a lease lost: ~13 s
async def test_a_live_nodes_calls_are_never_swept_and_a_lost_fax_stops_its_call(
    where: str | None, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    line = Line(pages=2)
    line.stall["+15550500"] = 1
    async with cluster(where, tmp_path, line, 2, channels=1) as nodes:
        fax_id = await submit(nodes[0].store, tmp_path, "+15550500", pages=2)
        await calls(line)
        sender = next(node for node in nodes if node.name == line.calls[0].node)
        other = next(node for node in nodes if node is not sender)
        # An inbound call in progress on the other node (its page 1 recorded), as an engine reports it.
        call = InboundCall(DID, "+15550600", "in-1")
        decision = await other.inbound.offer(call)
        assert isinstance(decision, tuple)
        make_document(decision[0], 1)  # as the engine writes it
        decision[1](PageTransferred(1, decision[0], sending=False))
        await asyncio.sleep(3 * LEASE)  # three leases long: renewed all along, swept by nobody
        outbound, inbound = await fax_of(other.store, fax_id), await the_inbound_fax(other.store)
        assert (outbound.status, outbound.lease_owner) == (FaxStatus.SENDING, sender.name)
        assert (inbound.status, inbound.lease_owner, inbound.pages_transferred) == (
            FaxStatus.IN_PROGRESS,
            other.name,
            1,
        )
        assert not line.calls[0].cancelled

        # The sender stalls for longer than a lease (no renewals): the other node takes its fax as a dead
        # node's, and when the sender renews again it learns so and stops the call.
        sender.tasks[0].cancel()
        with caplog.at_level(logging.WARNING, "gateway.leases"):
            (settled,) = await finished(other.store, [fax_id], timeout=4 * LEASE)
            assert settled.status == FaxStatus.PARTIALLY_SENT  # no retry asked: settled as it stood
            sender.tasks[0] = asyncio.create_task(sender.leases.run())

            async def cancelled() -> bool:
                return line.calls[0].cancelled

            await until(cancelled, 2 * LEASE)
        assert f"fax {fax_id}: lease lost to another node" in caplog.text
        assert (await fax_of(other.store, fax_id)).status == FaxStatus.PARTIALLY_SENT  # left as settled
        await other.inbound.done(call, _received(1))
        inbound = await the_inbound_fax(other.store)
        assert (inbound.status, inbound.lease_owner, inbound.lease_until) == (FaxStatus.SUCCESS, None, None)


async def test_a_dead_nodes_inbound_call_is_settled_by_another(where: str | None, tmp_path: Path) -> None:
    async with cluster(where, tmp_path, Line(), 2) as nodes:
        decision = await nodes[1].inbound.offer(InboundCall(DID, "+15550600", "in-2"))
        assert isinstance(decision, tuple)
        decision[1](PageTransferred(1, decision[0], sending=False))
        await nodes[1].pages.drained()
        nodes[1].die()

        async def settled() -> bool:
            return (await the_inbound_fax(nodes[0].store)).completed_at is not None

        await until(settled, 4 * LEASE)
        fax = await the_inbound_fax(nodes[0].store)
    assert (fax.status, fax.pages_transferred, fax.lease_owner) == (FaxStatus.PARTIALLY_RECEIVED, 1, None)


# -- waking idle nodes ------------------------------------------------------------------------------------


async def test_an_idle_node_takes_a_fax_another_node_queued_at_once(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outbound_module, "POLL", 60.0)  # the poll would be a minute away
    line = Line()
    async with cluster(postgres_url, tmp_path, line, 2) as nodes:
        nodes[0].die()  # node 0 only submits (as an API node would)
        await asyncio.sleep(0.5)  # node 1 has looked, found nothing, and waits
        submitted = time.time()
        await submit(nodes[0].store, tmp_path, "+15550700")
        await calls(line)
    assert line.calls[0].node == "node1"
    assert line.calls[0].started - submitted < 1.0


def _received(pages: int) -> CallResult:
    return CallResult(CallStatus.SUCCESS, 200, None, 0, "OK", pages, pages, True, 14400, True, SENDER, "in-1")
