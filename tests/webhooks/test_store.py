"""The outbox and delivery log on both databases: SQLite (with both ways Python opens a connection) and a
real PostgreSQL, where several processes (nodes) share it."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from faxgw.gateway.database import Database
from faxgw.gateway.store.postgres import PostgresDatabase
from faxgw.gateway.store.sqlite import SqliteDatabase
from faxgw.gateway.webhooks import DeliveryStatus, DeliveryStore, Outcome

from tests.helpers.clock import FakeClock
from tests.helpers.loop import LOCK_HELD, MOST_STALL, longest_stall, write_lock_held

URL = "https://example.test/hooks"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["sqlite-autocommit", "sqlite-legacy-transactions", "postgresql"])
async def database(
    request: pytest.FixtureRequest, connect: Callable[..., Awaitable[SqliteDatabase]]
) -> AsyncIterator[Callable[[], Awaitable[Database]]]:
    """Opens the test's database, each time as another process (node) would; closes every one."""
    if request.param != "postgresql":
        yield functools.partial(connect, autocommit=request.param == "sqlite-autocommit")
        return
    url, opened = request.getfixturevalue("postgres_url"), []

    async def open_postgres() -> Database:
        opened.append(PostgresDatabase(url))
        await opened[-1].open()
        return opened[-1]

    yield open_postgres
    for database in opened:
        await database.close()


@pytest.fixture
async def store(database: Callable[[], Awaitable[Database]], clock: FakeClock) -> DeliveryStore:
    return DeliveryStore(await database(), clock=clock)


async def enqueue(
    store: DeliveryStore, event_id: str = "evt_1", url: str = URL, fax_id: str = "fax_1"
) -> int:
    return await store.enqueue(
        event_id, fax_id, "tenant_1", url, b'{"id":"%s"}' % event_id.encode(), event_type="queued"
    )


async def test_enqueue_is_idempotent_per_event_and_url(store: DeliveryStore, clock: FakeClock) -> None:
    first = await enqueue(store)
    assert await enqueue(store) == first
    clock.advance(10)
    assert await store.enqueue("evt_1", "fax_1", "tenant_1", URL, b"other", event_type="queued") == first
    assert (await store.get(first)).body == b'{"id":"evt_1"}'
    assert await enqueue(store, url="https://other.test/") != first
    assert len(await store.due(clock(), 10)) == 2
    # Still one delivery after it was delivered: enqueueing again does not send it again.
    await store.record_attempt(
        first, status_code=200, error=None, duration=0.1, succeeded=True, next_attempt_at=None
    )
    assert await enqueue(store) == first
    assert (await store.get(first)).status is DeliveryStatus.DELIVERED
    assert [delivery.url for delivery in await store.due(clock(), 10)] == ["https://other.test/"]


async def test_enqueue_is_on_disk_before_it_returns(
    store: DeliveryStore, database: Callable[[], Awaitable[Database]]
) -> None:
    delivery_id = await enqueue(store)
    other_process = DeliveryStore(await database())
    assert (await other_process.get(delivery_id)).event_id == "evt_1"


async def test_due_respects_time_order_and_limit(store: DeliveryStore, clock: FakeClock) -> None:
    start = clock()
    late = await store.enqueue(
        "evt_late", "fax_1", "t", URL, b"{}", event_type="queued", not_before=start + 60
    )
    early = await enqueue(store, "evt_early")
    soon = await store.enqueue(
        "evt_soon", "fax_1", "t", URL, b"{}", event_type="queued", not_before=start + 5
    )
    assert [d.id for d in await store.due(start, 10)] == [early]
    assert [d.id for d in await store.due(start + 5, 10)] == [early, soon]
    assert [d.id for d in await store.due(start + 60, 2)] == [early, soon]
    assert [d.id for d in await store.due(start + 60, 10)] == [early, soon, late]
    assert await store.next_due_at() == start


async def test_attempts_move_a_delivery_on_and_fill_the_log(store: DeliveryStore, clock: FakeClock) -> None:
    delivery_id = await enqueue(store)
    t0 = clock()
    outcome = await store.record_attempt(
        delivery_id, status_code=503, error="HTTP 503", duration=0.5, succeeded=False, next_attempt_at=t0 + 5
    )
    assert outcome is Outcome.RETRY
    assert await store.due(t0, 10) == []
    assert await store.next_due_at() == t0 + 5
    clock.advance(5)
    outcome = await store.record_attempt(
        delivery_id,
        status_code=None,
        error="ConnectError",
        duration=0.01,
        succeeded=False,
        next_attempt_at=t0 + 15,
    )
    assert outcome is Outcome.RETRY
    clock.advance(10)
    assert (
        await store.record_attempt(
            delivery_id, status_code=204, error=None, duration=0.2, succeeded=True, next_attempt_at=None
        )
        is Outcome.DELIVERED
    )
    delivery = await store.get(delivery_id)
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.DELIVERED, 3)
    assert await store.next_due_at() is None
    log = await store.log_for_fax("fax_1")
    assert [(a.attempt, a.status_code, a.error, a.outcome) for a in log] == [
        (1, 503, "HTTP 503", Outcome.RETRY),
        (2, None, "ConnectError", Outcome.RETRY),
        (3, 204, None, Outcome.DELIVERED),
    ]
    assert [a.attempted_at for a in log] == [t0 - 0.5, t0 + 5 - 0.01, t0 + 15 - 0.2]
    assert {(a.event_id, a.event_type, a.url, a.delivery_id) for a in log} == {
        ("evt_1", "queued", URL, delivery_id)
    }
    with pytest.raises(ValueError):
        await store.record_attempt(
            delivery_id, status_code=200, error=None, duration=0, succeeded=True, next_attempt_at=None
        )
    with pytest.raises(KeyError):
        await store.record_attempt(
            12345, status_code=200, error=None, duration=0, succeeded=True, next_attempt_at=None
        )


async def test_giving_up_marks_failed(store: DeliveryStore, clock: FakeClock) -> None:
    delivery_id = await enqueue(store)
    outcome = await store.record_attempt(
        delivery_id, status_code=404, error="HTTP 404", duration=0.1, succeeded=False, next_attempt_at=None
    )
    assert outcome is Outcome.FAILED
    assert (await store.get(delivery_id)).status is DeliveryStatus.FAILED
    assert await store.due(clock() + 10**6, 10) == []
    assert [a.outcome for a in await store.log_for_fax("fax_1")] == [Outcome.FAILED]


async def test_log_is_per_fax(store: DeliveryStore) -> None:
    for fax_id, event_id in (("fax_a", "evt_1"), ("fax_b", "evt_2"), ("fax_a", "evt_3")):
        delivery_id = await enqueue(store, event_id, fax_id=fax_id)
        await store.record_attempt(
            delivery_id, status_code=200, error=None, duration=0, succeeded=True, next_attempt_at=None
        )
    assert [a.event_id for a in await store.log_for_fax("fax_a")] == ["evt_1", "evt_3"]
    assert [d.event_id for d in await store.deliveries_for_fax("fax_b")] == ["evt_2"]
    assert await store.log_for_fax("fax_none") == []


async def test_claim_is_a_lease_only_one_taker_gets(store: DeliveryStore, clock: FakeClock) -> None:
    delivery_id = await enqueue(store)
    now = clock()
    assert await store.claim(delivery_id, now, now + 15)
    assert not await store.claim(delivery_id, now, now + 15)
    assert await store.due(now + 14, 10) == []
    # The claimant died: after the lease the delivery is due again.
    assert [d.id for d in await store.due(now + 15, 10)] == [delivery_id]
    assert await store.claim(delivery_id, now + 15, now + 30)


async def test_claims_at_once_by_several_processes_give_a_delivery_to_one(
    database: Callable[[], Awaitable[Database]], clock: FakeClock
) -> None:
    nodes = [DeliveryStore(await database(), clock=clock) for _ in range(6)]
    for round in range(5):
        delivery_id = await enqueue(nodes[0], f"evt_{round}")
        now = clock()
        taken = await asyncio.gather(*(node.claim(delivery_id, now, now + 15) for node in nodes))
        assert taken.count(True) == 1


async def test_attempts_recorded_at_once_by_two_processes_each_count(
    database: Callable[[], Awaitable[Database]], clock: FakeClock
) -> None:
    """A node that took over a delivery after the other's lease ran out, both recording at once: two
    attempts, numbered 1 and 2, never one counted over the other."""
    first, second = DeliveryStore(await database(), clock=clock), DeliveryStore(await database(), clock=clock)
    retry = {"status_code": 503, "error": "HTTP 503", "duration": 0.1, "succeeded": False}
    ids = [await enqueue(first, f"evt_{n}") for n in range(20)]
    await asyncio.gather(
        *(
            node.record_attempt(delivery_id, next_attempt_at=clock() + 5, **retry)  # type: ignore[arg-type]
            for delivery_id in ids
            for node in (first, second)
        )
    )
    for delivery_id in ids:
        assert (await first.get(delivery_id)).attempts == 2
    log = await first.log_for_fax("fax_1")
    assert sorted((a.delivery_id, a.attempt) for a in log) == [(i, n) for i in ids for n in (1, 2)]


async def test_a_write_waiting_for_another_process_lock_does_not_stop_the_event_loop(
    connect: Callable[..., Awaitable[SqliteDatabase]], db_path: Path
) -> None:
    """SQLite: another connection holds the write lock for 1.5 s: the enqueue waits for it in the store's
    thread while the loop keeps ticking (run on the loop, sqlite3 stopped it for the whole wait)."""
    store = DeliveryStore(await connect())
    with write_lock_held(db_path, LOCK_HELD):
        started = time.monotonic()
        delivery_id, stall = await longest_stall(enqueue(store))
        waited = time.monotonic() - started
    assert waited > LOCK_HELD / 2  # it did wait for the lock
    assert stall < MOST_STALL, f"the event loop stood still for {stall:.3f} s"
    assert (await store.get(delivery_id)).event_id == "evt_1"
