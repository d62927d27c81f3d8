"""The dispatcher against a real HTTP receiver on 127.0.0.1: signing, retries, giving up, crashes."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable

import pytest
from faxgw.gateway.store.sqlite import SqliteDatabase
from faxgw.gateway.webhooks import (
    EVENT_ID_HEADER,
    DeliveryStatus,
    DeliveryStore,
    Outcome,
    RetryPolicy,
    WebhookDispatcher,
    event_body,
    verify,
)

from tests.helpers.clock import FakeClock
from tests.helpers.webhooks import DROP, FAST, HANG, SECRET, Receiver, Reply, logged, wait_until

Build = Callable[..., WebhookDispatcher]
Connect = Callable[..., Awaitable[SqliteDatabase]]


async def submit(dispatcher: WebhookDispatcher, url: str, event_id: str = "evt_1", **options: object) -> None:
    options.setdefault("event_type", "delivered")
    await dispatcher.submit(event_id, "fax_1", "tenant_1", url, {"pages": 2}, **options)  # type: ignore[arg-type]


async def test_event_arrives_at_once_signed_over_the_bytes_sent(
    receiver: Receiver, store: DeliveryStore, make_dispatcher: Build
) -> None:
    dispatcher = make_dispatcher(store)
    await submit(dispatcher, receiver.url, created_at=1_700_000_000.0)
    [request] = receiver.requests
    assert request.request_line == "POST /hooks/fax HTTP/1.1"
    assert request.valid
    assert verify(request.body, request.headers, SECRET)
    assert request.headers[EVENT_ID_HEADER.lower()] == "evt_1"
    assert request.headers["content-type"] == "application/json"
    assert abs(int(request.headers["x-faxgw-timestamp"]) - time.time()) < 5
    assert request.body == event_body("evt_1", "delivered", "fax_1", {"pages": 2}, 1_700_000_000.0)
    assert json.loads(request.body)["created_at"] == "2023-11-14T22:13:20.000Z"
    [attempt] = await store.log_for_fax("fax_1")
    assert (attempt.attempt, attempt.status_code, attempt.outcome) == (1, 200, Outcome.DELIVERED)
    assert (attempt.event_id, attempt.event_type, attempt.url) == ("evt_1", "delivered", receiver.url)


async def test_receiver_with_another_secret_refuses_and_is_not_retried(
    receiver: Receiver, store: DeliveryStore, make_dispatcher: Build
) -> None:
    receiver.default = Reply(401, body=b"bad signature")
    dispatcher = make_dispatcher(store, secret="whsec_wrong")
    await submit(dispatcher, receiver.url)
    [request] = receiver.requests
    assert not request.valid
    assert verify(request.body, request.headers, "whsec_wrong")
    [attempt] = await store.log_for_fax("fax_1")
    assert (attempt.status_code, attempt.error, attempt.outcome) == (
        401,
        "HTTP 401",  # the receiver's answer ("bad signature") is not the tenant's to read
        Outcome.FAILED,
    )


async def test_fails_twice_then_delivered_on_third_attempt_after_backoff(
    receiver: Receiver, store: DeliveryStore, make_dispatcher: Build
) -> None:
    receiver.script = [Reply(500, body=b"database down"), DROP]
    dispatcher = make_dispatcher(store)
    # The loop starts with nothing to do; submit() has to wake it for the retries.
    runner = asyncio.create_task(dispatcher.run())
    await asyncio.sleep(0.02)
    await submit(dispatcher, receiver.url)
    requests = await receiver.wait_for(3)
    await wait_until(lambda: logged(store, lambda log: len(log) == 3))
    await asyncio.sleep(0.05)
    assert len(receiver.requests) == 3
    assert all(request.valid for request in requests)
    assert {request.headers["x-faxgw-event-id"] for request in requests} == {"evt_1"}
    assert len({request.body for request in requests}) == 1
    # FAST: 0.05 s after the first failure, 0.1 s after the second.
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(requests)]
    assert 0.05 <= gaps[0] < 0.05 + 0.5
    assert 0.10 <= gaps[1] < 0.10 + 0.5
    log = await store.log_for_fax("fax_1")
    assert [(a.attempt, a.status_code, a.outcome) for a in log] == [
        (1, 500, Outcome.RETRY),
        (2, None, Outcome.RETRY),
        (3, 200, Outcome.DELIVERED),
    ]
    assert log[0].error == "HTTP 500"
    assert log[1].error == "RemoteProtocolError"
    assert (await store.deliveries_for_fax("fax_1"))[0].status is DeliveryStatus.DELIVERED
    await dispatcher.stop()
    assert runner.done()


@pytest.mark.parametrize("status", [408, 429, 503])
async def test_passing_trouble_is_retried_on_schedule(
    status: int, receiver: Receiver, connect: Connect, make_dispatcher: Build
) -> None:
    clock = FakeClock()
    store = DeliveryStore(await connect(), clock=clock)
    receiver.script = [Reply(status)]
    dispatcher = make_dispatcher(store, clock=clock, policy=RetryPolicy(initial_delay=30))
    await submit(dispatcher, receiver.url)
    assert await dispatcher.deliver_due() == 0
    clock.advance(29.9)
    assert await dispatcher.deliver_due() == 0
    clock.advance(0.1)
    assert await dispatcher.deliver_due() == 1
    assert len(receiver.requests) == 2
    assert [a.outcome for a in await store.log_for_fax("fax_1")] == [Outcome.RETRY, Outcome.DELIVERED]


async def test_retry_after_stretches_the_delay(
    receiver: Receiver, connect: Connect, make_dispatcher: Build
) -> None:
    clock = FakeClock()
    store = DeliveryStore(await connect(), clock=clock)
    receiver.script = [Reply(429, headers=(("Retry-After", "120"),))]
    dispatcher = make_dispatcher(store, clock=clock, policy=RetryPolicy(initial_delay=5))
    await submit(dispatcher, receiver.url)
    clock.advance(119)
    assert await dispatcher.deliver_due() == 0
    clock.advance(1)
    assert await dispatcher.deliver_due() == 1


async def test_not_found_is_not_retried(
    receiver: Receiver, store: DeliveryStore, make_dispatcher: Build, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.default = Reply(404, body=b"no such hook")
    dispatcher = make_dispatcher(store)
    with caplog.at_level(logging.INFO, logger="gateway.webhooks"):
        await submit(dispatcher, receiver.url)
    await asyncio.sleep(FAST.initial_delay * 2)
    assert await dispatcher.deliver_due() == 0
    assert len(receiver.requests) == 1
    [attempt] = await store.log_for_fax("fax_1")
    assert (attempt.status_code, attempt.outcome) == (404, Outcome.FAILED)
    assert (await store.deliveries_for_fax("fax_1"))[0].status is DeliveryStatus.FAILED
    [record] = [r for r in caplog.records if r.name == "gateway.webhooks"]
    assert record.levelno == logging.ERROR
    assert "fax fax_1" in record.getMessage()
    assert "event evt_1" in record.getMessage()
    assert "giving up" in record.getMessage()


async def test_max_attempts_gives_up_and_marks_failed(
    receiver: Receiver, store: DeliveryStore, make_dispatcher: Build
) -> None:
    receiver.default = Reply(502)
    policy = RetryPolicy(initial_delay=0.02, factor=1.5, max_delay=0.05, max_attempts=4, timeout=2)
    dispatcher = make_dispatcher(store, policy=policy)
    runner = asyncio.create_task(dispatcher.run())
    await submit(dispatcher, receiver.url)
    await receiver.wait_for(4)
    await wait_until(lambda: logged(store, lambda log: len(log) == 4))
    await asyncio.sleep(0.2)
    assert len(receiver.requests) == 4
    log = await store.log_for_fax("fax_1")
    assert [(a.attempt, a.outcome) for a in log] == [
        (1, Outcome.RETRY),
        (2, Outcome.RETRY),
        (3, Outcome.RETRY),
        (4, Outcome.FAILED),
    ]
    assert log[-1].error == "HTTP 502; gave up after 4 attempts"
    assert (await store.deliveries_for_fax("fax_1"))[0].status is DeliveryStatus.FAILED
    await dispatcher.stop()
    await asyncio.wait_for(runner, 1)


async def test_timeout_and_refused_connection_are_retried_not_raised(
    receiver: Receiver, store: DeliveryStore, make_dispatcher: Build
) -> None:
    receiver.script = [HANG]
    dispatcher = make_dispatcher(store, policy=RetryPolicy(initial_delay=60, timeout=0.2))
    started = time.monotonic()
    await submit(dispatcher, receiver.url)
    assert time.monotonic() - started < 1.5
    await receiver.stop()
    await submit(dispatcher, receiver.url, event_id="evt_2")
    log = await store.log_for_fax("fax_1")
    assert [(a.event_id, a.status_code, a.outcome) for a in log] == [
        ("evt_1", None, Outcome.RETRY),
        ("evt_2", None, Outcome.RETRY),
    ]
    assert log[0].error == "timed out after 0.2 s"
    assert "ConnectError" in (log[1].error or "")


async def test_bad_url_is_logged_and_given_up_without_raising(
    store: DeliveryStore, make_dispatcher: Build
) -> None:
    dispatcher = make_dispatcher(store)
    await submit(dispatcher, "ftp://example.test/hook")
    [attempt] = await store.log_for_fax("fax_1")
    assert attempt.outcome is Outcome.FAILED
    assert (attempt.error or "").startswith("bad webhook URL")


async def test_submitting_the_same_event_twice_sends_it_once(
    receiver: Receiver, store: DeliveryStore, make_dispatcher: Build
) -> None:
    dispatcher = make_dispatcher(store)
    await submit(dispatcher, receiver.url)
    await submit(dispatcher, receiver.url)
    assert len(receiver.requests) == 1
    assert len(await store.log_for_fax("fax_1")) == 1


async def test_crash_in_mid_request_means_sent_again_and_deduplicated_by_id(
    receiver: Receiver, connect: Connect, make_dispatcher: Build
) -> None:
    # The receiver has the event but the process dies before the answer is recorded.
    receiver.script = [HANG]
    first_store = DeliveryStore(await connect())
    first = make_dispatcher(first_store)
    submitting = asyncio.create_task(submit(first, receiver.url))
    await receiver.wait_for(1)
    submitting.cancel()
    await asyncio.gather(submitting, return_exceptions=True)
    await first.stop()
    assert await first_store.log_for_fax("fax_1") == []

    # A new process on the same file; by the time it runs, the dead one's lease has run out.
    later = FakeClock(time.time() + 60)
    second_store = DeliveryStore(await connect(), clock=later)
    second = make_dispatcher(second_store, clock=later)
    assert await second.deliver_due() == 1
    assert len(receiver.requests) == 2
    seen = {request.headers["x-faxgw-event-id"] for request in receiver.requests if request.valid}
    assert seen == {"evt_1"}
    assert [(a.attempt, a.outcome) for a in await second_store.log_for_fax("fax_1")] == [
        (1, Outcome.DELIVERED)
    ]


async def test_events_left_pending_are_sent_when_the_next_process_starts(
    receiver: Receiver, connect: Connect, make_dispatcher: Build
) -> None:
    # Persisted, then the process died before the first attempt.
    body = event_body("evt_9", "received", "fax_1", {"pages": 1}, time.time())
    dead = DeliveryStore(await connect())
    await dead.enqueue("evt_9", "fax_1", "tenant_1", receiver.url, body, event_type="received")

    dispatcher = make_dispatcher(DeliveryStore(await connect()))
    runner = asyncio.create_task(dispatcher.run())
    [request] = await receiver.wait_for(1)
    assert request.body == body
    assert request.valid
    await dispatcher.stop()
    assert runner.done()


async def test_run_survives_a_failing_pass(
    receiver: Receiver, store: DeliveryStore, make_dispatcher: Build, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver.script = [Reply(500)]
    dispatcher = make_dispatcher(store)
    await submit(dispatcher, receiver.url)
    real_due = store.due
    calls = 0

    async def flaky_due(now: float, limit: int) -> list:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise sqlite3.OperationalError("database is locked")
        return await real_due(now, limit)

    monkeypatch.setattr(store, "due", flaky_due)
    runner = asyncio.create_task(dispatcher.run())
    await receiver.wait_for(2)

    async def delivered() -> bool:
        return (await store.deliveries_for_fax("fax_1"))[0].status is DeliveryStatus.DELIVERED

    await wait_until(delivered)
    assert calls >= 2
    assert not runner.done()


async def test_stop_ends_run(store: DeliveryStore, make_dispatcher: Build) -> None:
    dispatcher = make_dispatcher(store)
    runner = asyncio.create_task(dispatcher.run())
    await asyncio.sleep(0.01)
    with pytest.raises(RuntimeError):
        await dispatcher.run()
    await dispatcher.stop()
    assert runner.done()
    assert runner.result() is None
    # Stopped for good: run() after stop() returns at once.
    await asyncio.wait_for(dispatcher.run(), 1)


async def test_stop_before_run_got_going(store: DeliveryStore, make_dispatcher: Build) -> None:
    dispatcher = make_dispatcher(store)
    runner = asyncio.create_task(dispatcher.run())
    await dispatcher.stop()
    await asyncio.wait_for(runner, 1)
