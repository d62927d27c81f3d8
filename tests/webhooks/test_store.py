"""The outbox and delivery log in SQLite, with both ways Python opens a connection."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

import pytest
from faxgw.gateway.webhooks import DeliveryStatus, DeliveryStore, Outcome

from tests.helpers.clock import FakeClock

URL = "https://example.test/hooks"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=[True, False], ids=["autocommit", "legacy-transactions"])
def store(
    request: pytest.FixtureRequest, connect: Callable[..., sqlite3.Connection], clock: FakeClock
) -> DeliveryStore:
    return DeliveryStore(connect(autocommit=request.param), clock=clock)


def enqueue(store: DeliveryStore, event_id: str = "evt_1", url: str = URL, fax_id: str = "fax_1") -> int:
    return store.enqueue(
        event_id, fax_id, "tenant_1", url, b'{"id":"%s"}' % event_id.encode(), event_type="queued"
    )


def test_enqueue_is_idempotent_per_event_and_url(store: DeliveryStore, clock: FakeClock) -> None:
    first = enqueue(store)
    assert enqueue(store) == first
    clock.advance(10)
    assert store.enqueue("evt_1", "fax_1", "tenant_1", URL, b"other", event_type="queued") == first
    assert store.get(first).body == b'{"id":"evt_1"}'
    assert enqueue(store, url="https://other.test/") != first
    assert len(store.due(clock(), 10)) == 2
    # Still one delivery after it was delivered: enqueueing again does not send it again.
    store.record_attempt(
        first, status_code=200, error=None, duration=0.1, succeeded=True, next_attempt_at=None
    )
    assert enqueue(store) == first
    assert store.get(first).status is DeliveryStatus.DELIVERED
    assert [delivery.url for delivery in store.due(clock(), 10)] == ["https://other.test/"]


def test_enqueue_is_on_disk_before_it_returns(
    store: DeliveryStore, connect: Callable[..., sqlite3.Connection]
) -> None:
    delivery_id = enqueue(store)
    other_process = DeliveryStore(connect())
    assert other_process.get(delivery_id).event_id == "evt_1"


def test_due_respects_time_order_and_limit(store: DeliveryStore, clock: FakeClock) -> None:
    start = clock()
    late = store.enqueue("evt_late", "fax_1", "t", URL, b"{}", event_type="queued", not_before=start + 60)
    early = enqueue(store, "evt_early")
    soon = store.enqueue("evt_soon", "fax_1", "t", URL, b"{}", event_type="queued", not_before=start + 5)
    assert [d.id for d in store.due(start, 10)] == [early]
    assert [d.id for d in store.due(start + 5, 10)] == [early, soon]
    assert [d.id for d in store.due(start + 60, 2)] == [early, soon]
    assert [d.id for d in store.due(start + 60, 10)] == [early, soon, late]
    assert store.next_due_at() == start


def test_attempts_move_a_delivery_on_and_fill_the_log(store: DeliveryStore, clock: FakeClock) -> None:
    delivery_id = enqueue(store)
    t0 = clock()
    outcome = store.record_attempt(
        delivery_id, status_code=503, error="HTTP 503", duration=0.5, succeeded=False, next_attempt_at=t0 + 5
    )
    assert outcome is Outcome.RETRY
    assert store.due(t0, 10) == []
    assert store.next_due_at() == t0 + 5
    clock.advance(5)
    outcome = store.record_attempt(
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
        store.record_attempt(
            delivery_id, status_code=204, error=None, duration=0.2, succeeded=True, next_attempt_at=None
        )
        is Outcome.DELIVERED
    )
    delivery = store.get(delivery_id)
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.DELIVERED, 3)
    assert store.next_due_at() is None
    log = store.log_for_fax("fax_1")
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
        store.record_attempt(
            delivery_id, status_code=200, error=None, duration=0, succeeded=True, next_attempt_at=None
        )
    with pytest.raises(KeyError):
        store.record_attempt(
            12345, status_code=200, error=None, duration=0, succeeded=True, next_attempt_at=None
        )


def test_giving_up_marks_failed(store: DeliveryStore, clock: FakeClock) -> None:
    delivery_id = enqueue(store)
    outcome = store.record_attempt(
        delivery_id, status_code=404, error="HTTP 404", duration=0.1, succeeded=False, next_attempt_at=None
    )
    assert outcome is Outcome.FAILED
    assert store.get(delivery_id).status is DeliveryStatus.FAILED
    assert store.due(clock() + 10**6, 10) == []
    assert [a.outcome for a in store.log_for_fax("fax_1")] == [Outcome.FAILED]


def test_log_is_per_fax(store: DeliveryStore) -> None:
    for fax_id, event_id in (("fax_a", "evt_1"), ("fax_b", "evt_2"), ("fax_a", "evt_3")):
        delivery_id = enqueue(store, event_id, fax_id=fax_id)
        store.record_attempt(
            delivery_id, status_code=200, error=None, duration=0, succeeded=True, next_attempt_at=None
        )
    assert [a.event_id for a in store.log_for_fax("fax_a")] == ["evt_1", "evt_3"]
    assert [d.event_id for d in store.deliveries_for_fax("fax_b")] == ["evt_2"]
    assert store.log_for_fax("fax_none") == []


def test_claim_is_a_lease_only_one_taker_gets(store: DeliveryStore, clock: FakeClock) -> None:
    delivery_id = enqueue(store)
    now = clock()
    assert store.claim(delivery_id, now, now + 15)
    assert not store.claim(delivery_id, now, now + 15)
    assert store.due(now + 14, 10) == []
    # The claimant died: after the lease the delivery is due again.
    assert [d.id for d in store.due(now + 15, 10)] == [delivery_id]
    assert store.claim(delivery_id, now + 15, now + 30)
