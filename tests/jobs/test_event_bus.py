"""Live listeners (SSE) hear every event of their fax, whichever node records it: gateway nodes' EventBuses on
one real PostgreSQL, each on a store of its own (its own pool and LISTEN connection), as ``faxgw serve``
processes have them. Each listener gets each event once, in the order of seq, with none missing: events
recorded on its own node come at once, another node's on its notification, read from the store."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

from faxgw.gateway.database import FAX_EVENT
from faxgw.gateway.domain import EventType, FaxStatus
from faxgw.gateway.jobs.events import EventBus
from faxgw.gateway.store import EventRecord, FaxRecord, Store
from faxgw.gateway.store.postgres import PostgresDatabase

from tests.helpers import postgres

PAGE = EventType.PAGE_RECEIVED


class CountedStore:
    """A node's store, counting its reads of events and the FAX_EVENT notifications it hears."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.reads: list[str] = []
        self.heard: list[str] = []
        store.listen(FAX_EVENT, self.heard.append)

    async def events(self, fax_id: str, after_seq: int = 0) -> list[EventRecord]:
        self.reads.append(fax_id)
        return await self._store.events(fax_id, after_seq)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


@contextlib.asynccontextmanager
async def node(url: str) -> AsyncIterator[tuple[CountedStore, EventBus]]:
    """One gateway node's store and event bus (built before the store opens, as the Gateway does)."""
    store = CountedStore(Store(PostgresDatabase(url)))
    bus = EventBus(store, None)  # type: ignore[arg-type]
    await store.open()
    try:
        yield store, bus
    finally:
        await bus.close()
        await store.close()


async def new_fax(store: CountedStore, number: int) -> FaxRecord:
    if await store.get_tenant("acme") is None:
        await store.create_tenant("acme", "acme")
    now = time.time()
    status = FaxStatus.IN_PROGRESS
    return await store.add_fax(
        FaxRecord(f"fx_{number}", "acme", "inbound", "+15550100", "+15551", status, now, now)
    )


async def take(queue: asyncio.Queue[EventRecord], count: int, timeout: float = 10) -> list[EventRecord]:
    """The next ``count`` events of ``queue``, then a look for any more (there must be none)."""
    async with asyncio.timeout(timeout):
        got = [await queue.get() for _ in range(count)]
    await asyncio.sleep(0.3)  # time for a duplicate to arrive, if one were coming
    while not queue.empty():
        got.append(queue.get_nowait())
    return got


async def test_a_listener_hears_another_nodes_events_and_its_own_each_once_in_order(
    postgres_url: str,
) -> None:
    async with node(postgres_url) as (store_a, bus_a), node(postgres_url) as (_, bus_b):
        fax = await new_fax(store_a, 1)
        started = await bus_b.publish(fax, EventType.RECEIVING_STARTED)
        queue = bus_a.listen(fax.id)  # the stored one first
        for page in (1, 2):
            await bus_b.publish(fax, PAGE, {"page": page})
        await bus_a.publish(fax, PAGE, {"page": 3})  # this node's own: at once
        await bus_b.publish(fax, EventType.RECEIVED)
        got = await take(queue, 5)
        stored = await store_a.events(fax.id)
    assert [event.seq for event in got] == [event.seq for event in stored]
    assert [(event.type, event.payload.get("page")) for event in got] == [
        (EventType.RECEIVING_STARTED, None),
        (PAGE, 1),
        (PAGE, 2),
        (PAGE, 3),
        (EventType.RECEIVED, None),
    ]
    assert got[0].id == started.id


async def test_events_recorded_at_once_on_two_nodes_reach_every_listener_once_in_order(
    postgres_url: str,
) -> None:
    """Node A's own events (pushed at once) interleave with node B's (read on notification): a listener
    that lacks B's event before one of A's must not be given A's first, nor miss B's."""
    async with node(postgres_url) as (store_a, bus_a), node(postgres_url) as (_, bus_b):
        fax = await new_fax(store_a, 1)
        first = bus_a.listen(fax.id)
        late: list[asyncio.Queue[EventRecord]] = []

        async def record(bus: EventBus, name: str) -> None:
            for page in range(1, 26):
                await bus.publish(fax, PAGE, {"page": page, "by": name})
                if name == "a" and page == 10:
                    late.append(bus_a.listen(fax.id, after_seq=(await store_a.events(fax.id))[5].seq))

        await asyncio.gather(record(bus_a, "a"), record(bus_b, "b"))
        stored = await store_a.events(fax.id)
        from_first = await take(first, 50)
        from_late = await take(late[0], 44)
    assert [event.seq for event in from_first] == [event.seq for event in stored]
    assert [event.seq for event in from_late] == [event.seq for event in stored[6:]]
    assert {event.payload["by"] for event in stored} == {"a", "b"}


async def test_one_faxs_events_recorded_at_once_by_two_nodes_form_one_chain(postgres_url: str) -> None:
    """Each event names the one before it (``previous``): what a listener checks to know it missed none.
    Without the fax's lock, two inserts at once both name the same one."""
    async with node(postgres_url) as (store_a, _), node(postgres_url) as (store_b, _):
        fax = await new_fax(store_a, 1)
        recorded = await asyncio.gather(
            *(store.add_event(fax, PAGE, {"page": n}) for n in range(40) for store in (store_a, store_b))
        )
        stored = await store_a.events(fax.id)
    chain = [0] + [event.seq for event in stored[:-1]]
    assert [event.previous for event in stored] == chain
    assert sorted((event.seq, event.previous) for event in recorded) == list(
        zip([event.seq for event in stored], chain, strict=True)
    )


async def test_after_the_database_connection_comes_back_listened_faxes_are_read(
    postgres_url: str, postgres_cluster: postgres.Cluster
) -> None:
    """Events recorded while a node's LISTEN connection was down reach its listeners when it is back."""
    async with node(postgres_url) as (store_a, bus_a), node(postgres_url) as (_, bus_b):
        fax = await new_fax(store_a, 1)
        queue = bus_a.listen(fax.id)
        await bus_b.publish(fax, EventType.RECEIVING_STARTED)
        assert len(await take(queue, 1)) == 1
        database = postgres_url.rsplit("/", 1)[1]
        # Every LISTEN connection to the test's database (both nodes'); A's takes 0.5 s to come back.
        postgres_cluster.sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            f" WHERE datname = '{database}' AND query LIKE 'LISTEN%'"
        )
        await bus_b.publish(fax, PAGE, {"page": 1})
        await bus_b.publish(fax, EventType.RECEIVED)
        got = await take(queue, 2)
    assert [event.type for event in got] == [PAGE, EventType.RECEIVED]


async def test_no_reads_for_faxes_nobody_listens_to(postgres_url: str) -> None:
    async with node(postgres_url) as (store_a, bus_a), node(postgres_url) as (store_b, bus_b):
        quiet, watched = await new_fax(store_b, 1), await new_fax(store_b, 2)
        for page in range(10):
            await bus_b.publish(quiet, PAGE, {"page": page})
        queue = bus_a.listen(watched.id)
        await bus_b.publish(watched, EventType.RECEIVING_STARTED)
        await take(queue, 1)
        async with asyncio.timeout(5):
            while store_a.heard.count(quiet.id) < 10:
                await asyncio.sleep(0.02)
    assert quiet.id not in store_a.reads  # heard ten times, never read
    assert set(store_a.reads) == {watched.id}
    assert store_b.reads == []  # B publishes, nobody listens there
