"""Sends stored webhook deliveries: at once when an event is submitted, then on the retry schedule.

At least once: a delivery leaves the outbox only after a 2xx was recorded, so a crash at any point means
the receiver may see an event again, never that it misses one; the event id lets it drop repeats.
Order is not guaranteed either (a retried ``page.sent`` may land after ``delivered``): receivers order
events by ``created_at``.

Several nodes' dispatchers share one outbox (PostgreSQL): each delivery is attempted by the one that claims
it. The node that records an event attempts it at once; the others hear when a delivery falls due
(``heard``: ``WEBHOOK_DUE``) and look at it a lease later, so a node that died before or while sending it is
relieved by another (at least once), and a node that did not is not raced for its own.

Webhook URLs come from tenants, but the gateway posts from its own place in the network, so every attempt
goes through the address policy of ``gateway.netpolicy``: the host is resolved once, every address checked
(internal ones refused unless ``webhook_allow`` has them, ``webhook_deny`` always refused), and the POST goes
to a checked address with the name kept in ``Host`` and TLS SNI. A refused attempt is logged as refused and
not retried. Redirects are not followed. The delivery log, which tenants read, keeps the status code and a
short reason of ours, never the receiver's answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from faxgw.gateway.domain import EventType
from faxgw.gateway.metrics import Metrics
from faxgw.gateway.netpolicy import (
    Address,
    AddressPolicy,
    AddressRefused,
    Unresolvable,
    checked_addresses,
    send_pinned,
    url_host,
    url_problem,
)
from faxgw.gateway.webhooks.formats import SignedJson, WebhookFormat
from faxgw.gateway.webhooks.policy import RetryPolicy, is_retryable, parse_retry_after
from faxgw.gateway.webhooks.schema import event_body
from faxgw.gateway.webhooks.store import Delivery, Outbox, Outcome
from faxgw.sip.tasks import Tasks

log = logging.getLogger("gateway.webhooks")
#: How much of an answer is read for an envelope's acknowledgement beyond the acknowledgement itself.
ACKNOWLEDGEMENT_SLACK = 200
#: How the delivery log starts the reason of an attempt the address policy refused.
REFUSED = "refused: "
#: A claimed delivery is left alone for the attempt's timeout plus this, then counts as abandoned.
LEASE_MARGIN = 5.0


class WebhookDispatcher:
    """Delivers webhook events from an ``Outbox`` (``DeliveryStore``) with the signing secret and retry
    policy given.

    ``formats`` adds the envelopes other than ``native`` (signed with ``secret``) that deliveries may name
    (``gateway.webhooks.formats``). ``addresses`` is the policy of target addresses (default: no internal
    address, ``address_policy()``); ``trusted_urls`` are the operator's own (a route's ``webhook_url`` in
    the config), posted to wherever they lead except ``webhook_deny``.

    A receiver's failure never raises into the caller: it is logged (with the fax and event ids) and
    retried or given up according to the policy. What does raise is the caller's own mistake (an unknown
    event type, a payload JSON cannot hold) and a store that cannot persist the event.
    """

    def __init__(
        self,
        store: Outbox,
        secret: str,
        policy: RetryPolicy | None = None,
        clock: Callable[[], float] = time.time,
        *,
        batch_size: int = 100,
        concurrency: int = 10,
        rng: random.Random | None = None,
        formats: Mapping[str, WebhookFormat] | None = None,
        addresses: AddressPolicy | None = None,
        trusted_urls: Collection[str] = (),
        metrics: Metrics | None = None,
    ) -> None:
        self._store = store
        self.metrics = metrics or Metrics()  # counts failed attempts
        self._formats: dict[str, WebhookFormat] = {"native": SignedJson(secret), **(formats or {})}
        self.policy = policy or RetryPolicy()
        self.addresses = addresses or address_policy()
        self._trusted = frozenset(trusted_urls)
        # One TLS context for every attempt's client: loading the CA bundle is the costly part of a client.
        self._tls = httpx.create_ssl_context()
        self._clock = clock
        self._batch_size = batch_size
        self._slots = asyncio.Semaphore(concurrency)
        self._rng = rng
        self._wake = asyncio.Event()  # set when the next pass should come sooner than planned
        self._next_pass: float | None = None  # when run() makes its next pass (None: when woken)
        self._stopped = asyncio.Event()
        self._passes = Tasks(log, "webhook delivery pass")
        self._pass: asyncio.Future[float | None] | None = None
        self._running = False
        self._stopping = False

    async def submit(
        self,
        event_id: str,
        fax_id: str,
        tenant_id: str,
        url: str,
        payload: dict[str, Any],
        *,
        event_type: EventType,
        created_at: float | datetime | None = None,
    ) -> None:
        """Persist the event for ``url``, then make the first attempt before returning.

        Submitting an event id again for the same URL is harmless: it is not stored or sent twice.
        """
        now = self._clock()
        body = event_body(event_id, event_type, fax_id, payload, now if created_at is None else created_at)
        await self.submit_body(event_id, fax_id, tenant_id, url, body, event_type=event_type)

    async def submit_body(
        self,
        event_id: str,
        fax_id: str,
        tenant_id: str,
        url: str,
        body: bytes,
        *,
        event_type: str,
        format: str = "native",
    ) -> None:
        """Like ``submit()`` for a body already built in the envelope ``format`` names."""
        if format not in self._formats:
            raise ValueError(f"unknown webhook format {format!r}")
        delivery_id = await self._store.enqueue(
            event_id,
            fax_id,
            tenant_id,
            url,
            body,
            event_type=event_type,
            not_before=self._clock(),
            format=format,
        )
        # No attempt if it was already delivered, given up, waiting for its retry time or in flight.
        await self._attempt(delivery_id)

    async def deliver_due(self) -> int:
        """One pass over the deliveries due now (up to ``batch_size``); returns how many were attempted."""
        now = self._clock()
        due = await self._store.due(now, self._batch_size)
        results = await asyncio.gather(
            *(self._attempt(delivery.id) for delivery in due), return_exceptions=True
        )
        attempted = 0
        for delivery, result in zip(due, results, strict=True):
            if isinstance(result, asyncio.CancelledError):
                raise result
            if isinstance(result, BaseException):
                # The store failed to claim or to record; a lease taken runs out, the delivery is due again.
                log.error(
                    "webhook fax %s event %s: attempt failed in the store: %r",
                    delivery.fax_id,
                    delivery.event_id,
                    result,
                    exc_info=result,
                )
            elif result is not None:
                attempted += 1
        return attempted

    async def run(self) -> None:
        """Deliver due retries until ``stop()``: at start-up, whatever a previous process left pending.

        Returns normally once stopped; a pass that fails (a locked database, say) is logged and the loop
        goes on after a pause.
        """
        if self._running:
            raise RuntimeError("this dispatcher is already running")
        self._running = True
        self._stopped.clear()
        try:
            while not self._stopping:
                # Forgotten before the pass, which reads when the next delivery falls due; news heard
                # during it (``expect``) comes on top.
                self._next_pass = None
                # The pass runs as its own task so that stop() can cut it short without cancelling run().
                work = self._pass = self._passes.spawn(self._one_pass())
                try:
                    await asyncio.wait({work})
                finally:
                    work.cancel()  # no-op once done; stops the pass if run() itself is cancelled
                if self._stopping or work.cancelled():
                    break
                next_due = work.result()
                if next_due is not None:
                    self.expect(next_due)
                await self._until_next_pass()
        finally:
            self._pass = None
            self._running = False
            self._stopped.set()

    def expect(self, at: float) -> None:
        """Make a pass at ``at`` (seconds since the epoch), or before if one was planned sooner."""
        if self._next_pass is None or at < self._next_pass:
            self._next_pass = at
            self._wake.set()

    def heard(self, payload: str) -> None:
        """A ``WEBHOOK_DUE`` notification (``gateway.database``): a delivery, maybe another node's, falls due
        at the time it says. Its node sends it; this one looks a lease later, in case that node died (a
        claim says when its lease ends). "": the database connection came back, news may have been lost."""
        now = self._clock()
        try:
            due = float(payload)
        except ValueError:
            due = now
            if payload:
                log.warning("webhook due notification not understood: %r", payload)
        self.expect(max(due, now + self._lease) if payload else now)

    async def _until_next_pass(self) -> None:
        """Wait until the planned pass is due (or ``stop()``); ``expect`` may bring it forward meanwhile."""
        while not self._stopping:
            self._wake.clear()
            planned = self._next_pass
            if planned is not None and planned <= self._clock():
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._wake.wait(), None if planned is None else planned - self._clock()
                )

    @property
    def _lease(self) -> float:
        """How long a claimed delivery is left to its claimant."""
        return self.policy.timeout + LEASE_MARGIN

    async def _one_pass(self) -> float | None:
        """deliver_due(), then when the next delivery falls due (None: nothing pending)."""
        try:
            await self.deliver_due()
            return await self._store.next_due_at()
        except Exception as error:
            log.error("webhook dispatcher pass failed: %r", error, exc_info=error)
            # Pause before the next pass, so a broken store is not hammered in a tight loop.
            return self._clock() + max(self.policy.initial_delay, 0.1)

    async def stop(self) -> None:
        """End ``run()`` now; the dispatcher cannot be started again.

        An attempt cut short is not lost: its lease runs out and the next pass or process sends it again.
        """
        self._stopping = True
        self._wake.set()
        if self._pass is not None:
            self._pass.cancel()
        if self._running:
            await self._stopped.wait()

    async def _attempt(self, delivery_id: int) -> Outcome | None:
        """Claim the delivery and make one attempt; None if it was not ours to make (not pending and due).

        The claim is taken only once a slot is free: a lease must not run out while the attempt queues.
        """
        async with self._slots:
            now = self._clock()
            if not await self._store.claim(delivery_id, now, now + self._lease):
                return None
            delivery = await self._store.get(delivery_id)
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
        outcome = await self._store.record_attempt(
            delivery.id,
            status_code=status_code,
            error=error,
            duration=duration,
            succeeded=succeeded,
            next_attempt_at=next_attempt_at,
            attempted_at=started,
        )
        self._log(delivery, attempt, status_code, error, outcome, next_attempt_at)
        if outcome is not Outcome.DELIVERED:
            self.metrics.webhook_failures.labels(outcome.value).inc()
        if next_attempt_at is not None:
            self.expect(next_attempt_at)  # sooner, maybe, than the sleeping run() planned
        return outcome

    async def _post(self, delivery: Delivery) -> tuple[int | None, str | None, float | None, bool]:
        """One POST: (status code, error text, Retry-After seconds, whether the error is permanent)."""
        envelope = self._formats.get(delivery.format)
        if envelope is None:  # written by a gateway that knew more envelopes than this one
            return None, f"unknown webhook format {delivery.format!r}", None, True
        try:
            url = httpx.URL(delivery.url)
        except (httpx.InvalidURL, TypeError):
            return None, "bad webhook URL: not a valid URL", None, True
        problem = url_problem(url)
        if problem is not None:
            return None, f"bad webhook URL: it {problem}", None, True
        policy = self.addresses.trusting() if delivery.url in self._trusted else self.addresses
        body, headers = envelope.prepare(delivery, delivery.attempts + 1, int(self._clock()))
        try:
            # httpx's timeout bounds each phase; asyncio.timeout bounds the whole attempt (the lookup
            # included), so a receiver trickling its answer a byte at a time cannot hold a slot forever.
            async with asyncio.timeout(self.policy.timeout):
                try:
                    addresses = await checked_addresses(url_host(url), policy)
                except AddressRefused as error:  # checked when the URL was given; the name may have moved
                    return None, f"{REFUSED}{error}", None, True
                except Unresolvable as error:
                    return None, str(error), None, False
                return await self._send(url, addresses, body, headers, envelope.acknowledgement)
        except (TimeoutError, httpx.TimeoutException):
            return None, f"timed out after {self.policy.timeout:g} s", None, False
        except httpx.ConnectError as exc:  # the socket's or TLS's own words: ours, not the receiver's
            return None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__, None, False
        except Exception as exc:
            # Anything else from the HTTP stack is still the receiver's side failing, not the caller's. Its
            # name only: a protocol error's text can quote what the receiver sent.
            return None, type(exc).__name__, None, False

    async def _send(
        self,
        url: httpx.URL,
        addresses: list[Address],
        body: bytes,
        headers: dict[str, str],
        acknowledgement: bytes | None,
    ) -> tuple[int | None, str | None, float | None, bool]:
        # A client per attempt: see send_pinned (a pooled connection is keyed by address, not name).
        # trust_env=False: no proxy from the environment, which would resolve the name itself.
        async with httpx.AsyncClient(
            verify=self._tls, timeout=self.policy.timeout, trust_env=False
        ) as client:
            response = await send_pinned(client, "POST", url, addresses, headers=headers, content=body)
            try:
                status = response.status_code
                if not 200 <= status <= 299:
                    retry_after = parse_retry_after(response.headers.get("Retry-After"), self._clock())
                    return status, f"HTTP {status}", retry_after, False
                if acknowledgement is None or acknowledgement in await _read_start(
                    response, len(acknowledgement) + ACKNOWLEDGEMENT_SLACK
                ):
                    return status, None, None, False
                # Dropbox Sign's rule: a receiver that does not acknowledge is retried.
                return None, f"HTTP {status} without {acknowledgement.decode()!r} in the answer", None, False
            finally:
                await response.aclose()

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
        url = loggable_url(delivery.url)
        if outcome is Outcome.DELIVERED:
            log.info("%s: delivered to %s (HTTP %s)", where, url, status_code)
        elif outcome is Outcome.RETRY:
            assert next_attempt_at is not None
            wait = next_attempt_at - self._clock()
            log.warning("%s: %s failed: %s; retry in %.3g s", where, url, error, wait)
        else:
            log.error("%s: %s failed, giving up: %s", where, url, error)


def loggable_url(url: str) -> str:
    """The URL without user info, query or fragment: customers put access tokens there."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port is not None else ""
    except ValueError:
        return "<unparseable URL>"
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}{port}{parts.path}"


async def _read_start(response: httpx.Response, limit: int) -> bytes:
    """The start of a response body, read no further than needed (a receiver may answer with a lot)."""
    chunks = bytearray()
    async for chunk in response.aiter_bytes():
        chunks += chunk
        if len(chunks) >= limit:
            break
    return bytes(chunks[:limit])


def address_policy(allow: Iterable[str] = (), deny: Iterable[str] = ()) -> AddressPolicy:
    """The policy of webhook targets with the networks of ``webhook_allow`` and ``webhook_deny``."""
    return AddressPolicy.parse(allow, deny, setting="webhook", action="post webhooks to")
