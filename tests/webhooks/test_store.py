"""The outbox and delivery log in SQLite, with both ways Python opens a connection."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from faxgw.gateway.store.sqlite import SqliteDatabase
from faxgw.gateway.webhooks import DeliveryStatus, DeliveryStore, Outcome

from tests.helpers.clock import FakeClock
from tests.helpers.loop import LOCK_HELD, MOST_STALL, longest_stall, write_lock_held

URL = "https://example.test/hooks"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=[True, False], ids=["autocommit", "legacy-transactions"])
async def store(
    request: pytest.FixtureRequest, connect: Callable[..., Awaitable[SqliteDatabase]], clock: FakeClock
) -> DeliveryStore:
    return DeliveryStore(await connect(autocommit=request.param), clock=clock)


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
    store: DeliveryStore, connect: Callable[..., Awaitable[SqliteDatabase]]
) -> None:
    delivery_id = await enqueue(store)
    other_process = DeliveryStore(await connect())
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


async def test_a_write_waiting_for_another_process_lock_does_not_stop_the_event_loop(
    store: DeliveryStore, db_path: Path
) -> None:
    """Another connection holds the write lock for 1.5 s: the enqueue waits for it in the store's thread
    while the loop keeps ticking (run on the loop, sqlite3 stopped it for the whole wait)."""
    with write_lock_held(db_path, LOCK_HELD):
        started = time.monotonic()
        delivery_id, stall = await longest_stall(enqueue(store))
        waited = time.monotonic() - started
    assert waited > LOCK_HELD / 2  # it did wait for the lock
    assert stall < MOST_STALL, f"the event loop stood still for {stall:.3f} s"
    assert (await store.get(delivery_id)).event_id == "evt_1"
