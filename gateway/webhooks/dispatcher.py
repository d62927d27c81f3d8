"""Sends stored webhook deliveries: at once when an event is submitted, then on the retry schedule.

At least once: a delivery leaves the outbox only after a 2xx was recorded, so a crash at any point means
the receiver may see an event again, never that it misses one; the event id lets it drop repeats.
Order is not guaranteed either (a retried ``page.sent`` may land after ``delivered``): receivers order
events by ``created_at``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx

from gateway.webhooks.policy import RetryPolicy, is_retryable, parse_retry_after
from gateway.webhooks.schema import event_body
from gateway.webhooks.signing import EVENT_ID_HEADER, sign
from gateway.webhooks.store import Delivery, DeliveryStatus, DeliveryStore, Outcome

log = logging.getLogger("gateway.webhooks")

USER_AGENT = "faxgw-webhooks/1"
#: How much of a refusing receiver's answer goes into the delivery log, to show the customer why.
ERROR_EXCERPT = 200
#: A claimed delivery is left alone for the attempt's timeout plus this, then counts as abandoned.
LEASE_MARGIN = 5.0


class WebhookDispatcher:
    """Delivers webhook events from a ``DeliveryStore`` with the signing secret and retry policy given.

    A receiver's failure never raises into the caller: it is logged (with the fax and event ids) and
    retried or given up according to the policy. What does raise is the caller's own mistake (an unknown
    event type, a payload JSON cannot hold) and a store that cannot persist the event.
    """

    def __init__(
        self,
        store: DeliveryStore,
        secret: str,
        policy: RetryPolicy | None = None,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
        *,
        batch_size: int = 100,
        concurrency: int = 10,
        rng: random.Random | None = None,
    ) -> None:
        self._store = store
        self._secret = secret
        self.policy = policy or RetryPolicy()
        # A client we create is ours to close; one handed in belongs to the caller.
        self._own_client = client is None
        self._client = client or httpx.AsyncClient(follow_redirects=False)
        self._clock = clock
        self._batch_size = batch_size
        self._slots = asyncio.Semaphore(concurrency)
        self._rng = rng
        self._wake = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None

    async def submit(
        self,
        event_id: str,
        fax_id: str,
        tenant_id: str,
        url: str,
        payload: dict[str, Any],
        *,
        event_type: str,
        created_at: float | datetime | None = None,
    ) -> None:
        """Persist the event for ``url``, then make the first attempt before returning.

        Submitting an event id again for the same URL is harmless: it is not stored or sent twice.
        """
        now = self._clock()
        body = event_body(event_id, event_type, fax_id, payload, now if created_at is None else created_at)
        delivery_id = self._store.enqueue(
            event_id, fax_id, tenant_id, url, body, event_type=event_type, not_before=now
        )
        delivery = self._store.get(delivery_id)
        if delivery.status is DeliveryStatus.PENDING and self._claim(delivery):
            await self._attempt(delivery)

    async def deliver_due(self) -> int:
        """One pass over the deliveries due now (up to ``batch_size``); returns how many were attempted."""
        now = self._clock()
        claimed = [delivery for delivery in self._store.due(now, self._batch_size) if self._claim(delivery)]
        results = await asyncio.gather(
            *(self._attempt(delivery) for delivery in claimed), return_exceptions=True
        )
        for delivery, result in zip(claimed, results, strict=True):
            if isinstance(result, asyncio.CancelledError):
                raise result
            if isinstance(result, BaseException):
                # The store failed to record the attempt; the lease makes it due again later.
                log.error(
                    "webhook fax %s event %s: attempt not recorded: %r",
                    delivery.fax_id,
                    delivery.event_id,
                    result,
                    exc_info=result,
                )
        return len(claimed)

    async def run(self) -> None:
        """Deliver due retries until ``stop()``: at start-up, whatever a previous process left pending."""
        if self._runner is not None:
            raise RuntimeError("this dispatcher is already running")
        self._runner = asyncio.current_task()
        try:
            while True:
                # Cleared before the pass, so a submit() during it makes the wait below return at once.
                self._wake.clear()
                try:
                    await self.deliver_due()
                    next_due = self._store.next_due_at()
                except Exception as error:
                    log.error("webhook dispatcher pass failed: %r", error, exc_info=error)
                    # Pause before the next pass, so a broken store is not hammered in a tight loop.
                    next_due = self._clock() + max(self.policy.initial_delay, 0.1)
                timeout = None if next_due is None else max(0.0, next_due - self._clock())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)
        finally:
            self._runner = None

    async def stop(self) -> None:
        """End ``run()`` now and close our HTTP client.

        An attempt cut short is not lost: its lease runs out and the next pass or process sends it again.
        """
        runner = self._runner
        if runner is not None and runner is not asyncio.current_task():
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
        if self._own_client:
            await self._client.aclose()

    def _claim(self, delivery: Delivery) -> bool:
        now = self._clock()
        return self._store.claim(delivery.id, now, now + self.policy.timeout + LEASE_MARGIN)

    async def _attempt(self, delivery: Delivery) -> Outcome:
        async with self._slots:
            started = self._clock()
            began = time.monotonic()
            status_code, error, retry_after, permanent = await self._post(delivery)
            duration = time.monotonic() - began
        attempt = delivery.attempts + 1
        succeeded = status_code is not None and 200 <= status_code <= 299
        next_attempt_at = None
        if not succeeded and not permanent and is_retryable(status_code):
            if self.policy.gives_up_after(attempt):
                error = f"{error}; gave up after {attempt} attempts"
            else:
                delay = self.policy.delay(attempt, self._rng)
                if retry_after is not None:
                    delay = min(max(delay, retry_after), self.policy.max_delay)
                next_attempt_at = self._clock() + delay
        outcome = self._store.record_attempt(
            delivery.id,
            status_code=status_code,
            error=error,
            duration=duration,
            succeeded=succeeded,
            next_attempt_at=next_attempt_at,
            attempted_at=started,
        )
        self._log(delivery, attempt, status_code, error, outcome, next_attempt_at)
        # A retry scheduled sooner than the sleeping run() expects must wake it.
        self._wake.set()
        return outcome

    async def _post(self, delivery: Delivery) -> tuple[int | None, str | None, float | None, bool]:
        """One POST: (status code, error text, Retry-After seconds, whether the error is permanent)."""
        headers = {
            **sign(delivery.body, self._secret, int(self._clock())),
            EVENT_ID_HEADER: delivery.event_id,
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
        }
        try:
            # httpx's timeout bounds each phase; asyncio.timeout bounds the whole attempt, so a receiver
            # trickling its answer a byte at a time cannot hold a delivery slot forever.
            async with (
                asyncio.timeout(self.policy.timeout),
                self._client.stream(
                    "POST", delivery.url, content=delivery.body, headers=headers, timeout=self.policy.timeout
                ) as response,
            ):
                if 200 <= response.status_code <= 299:
                    return response.status_code, None, None, False
                excerpt = await _read_excerpt(response)
                retry_after = parse_retry_after(response.headers.get("Retry-After"), self._clock())
                reason = f"HTTP {response.status_code}" + (f": {excerpt}" if excerpt else "")
                return response.status_code, reason, retry_after, False
        except (TimeoutError, httpx.TimeoutException):
            return None, f"timed out after {self.policy.timeout:g} s", None, False
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            return None, f"bad webhook URL: {exc}", None, True
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__, None, False
        except Exception as exc:
            # Anything else from the HTTP stack is still the receiver's side failing, not the caller's.
            return None, f"{type(exc).__name__}: {exc}", None, False

    def _log(
        self,
        delivery: Delivery,
        attempt: int,
        status_code: int | None,
        error: str | None,
        outcome: Outcome,
        next_attempt_at: float | None,
    ) -> None:
        where = (
            f"webhook fax {delivery.fax_id} event {delivery.event_id} ({delivery.event_type})"
            f" attempt {attempt}"
        )
        if outcome is Outcome.DELIVERED:
            log.info("%s: delivered to %s (HTTP %s)", where, delivery.url, status_code)
        elif outcome is Outcome.RETRY:
            assert next_attempt_at is not None
            wait = next_attempt_at - self._clock()
            log.warning("%s: %s failed: %s; retry in %.1f s", where, delivery.url, error, wait)
        else:
            log.error("%s: %s failed, giving up: %s", where, delivery.url, error)


async def _read_excerpt(response: httpx.Response) -> str:
    """The start of a response body, read no further than needed (a receiver may answer with a lot)."""
    chunks = bytearray()
    async for chunk in response.aiter_bytes():
        chunks += chunk
        if len(chunks) >= ERROR_EXCERPT:
            break
    return chunks[:ERROR_EXCERPT].decode("utf-8", "replace").strip()
