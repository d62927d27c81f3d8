"""Webhooks across gateway nodes: dispatchers of several nodes on one real PostgreSQL outbox, each with its
own pool and LISTEN connection as ``faxgw serve`` processes have, post to a real HTTP receiver. Each
webhook is delivered once, whichever node recorded it; one a node never got to, or was sending when it was
killed, is sent by another once its lease has run out."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator

from faxgw.gateway.database import WEBHOOK_DUE
from faxgw.gateway.domain import EventType
from faxgw.gateway.store.postgres import PostgresDatabase
from faxgw.gateway.webhooks import DeliveryStatus, DeliveryStore, WebhookDispatcher
from faxgw.gateway.webhooks.dispatcher import LEASE_MARGIN

from tests.helpers.sip import ROOT
from tests.helpers.webhooks import FAST, HANG, RECEIVERS, SECRET, Receiver, Reply

#: One attempt's bound: a delivery claimed is its node's for this plus LEASE_MARGIN.
POLICY = dataclasses.replace(FAST, timeout=1.0)
LEASE = POLICY.timeout + LEASE_MARGIN


@dataclasses.dataclass
class Node:
    outbox: DeliveryStore
    dispatcher: WebhookDispatcher


@contextlib.asynccontextmanager
async def node(url: str, *, dispatching: bool = True) -> AsyncIterator[Node]:
    """A node's outbox and dispatcher (running, hearing the others, unless not ``dispatching``)."""
    database = PostgresDatabase(url)
    outbox = DeliveryStore(database)
    dispatcher = WebhookDispatcher(outbox, SECRET, POLICY, addresses=RECEIVERS)
    if dispatching:
        database.listen(WEBHOOK_DUE, dispatcher.heard)  # as the Gateway wires it
    await database.open()
    runner = asyncio.create_task(dispatcher.run()) if dispatching else None
    try:
        yield Node(outbox, dispatcher)
    finally:
        await dispatcher.stop()
        if runner is not None:
            await runner
        await database.close()


def event_ids(receiver: Receiver) -> list[str]:
    return [json.loads(request.body)["id"] for request in receiver.requests]


async def all_delivered(outbox: DeliveryStore, fax_id: str, count: int, timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while True:
            deliveries = await outbox.deliveries_for_fax(fax_id)
            if len(deliveries) == count and all(d.status is DeliveryStatus.DELIVERED for d in deliveries):
                return
            await asyncio.sleep(0.05)


async def test_three_nodes_deliver_each_webhook_once_whichever_recorded_it(
    postgres_url: str, receiver: Receiver
) -> None:
    receiver.script = [Reply(503)] * 6  # retried, by whichever node claims the retry first
    async with node(postgres_url) as a, node(postgres_url) as b, node(postgres_url) as c:

        async def submit(which: Node, name: str) -> None:
            for n in range(10):
                await which.dispatcher.submit(
                    f"evt_{name}{n}", "fax_1", "t", receiver.url, {"n": n}, event_type=EventType.PAGE_SENT
                )

        await asyncio.gather(submit(a, "a"), submit(b, "b"), submit(c, "c"))
        await all_delivered(a.outbox, "fax_1", 30, timeout=15)
        sent = Counter(event_ids(receiver))
        deliveries = await a.outbox.deliveries_for_fax("fax_1")
        log = await a.outbox.log_for_fax("fax_1")
    assert len(sent) == 30
    answered = Counter(event_ids(receiver)[6:])  # after the six 503s, each was answered 200
    assert set(answered.values()) == {1}, "a webhook delivered twice"
    assert set(answered) == set(sent)
    assert {d.event_id: d.attempts for d in deliveries} == dict(sent)
    assert sorted((a.delivery_id, a.attempt) for a in log) == sorted(
        (d.id, n) for d in deliveries for n in range(1, d.attempts + 1)
    )


async def test_deliveries_a_node_wrote_but_never_sent_are_sent_by_another_after_a_lease(
    postgres_url: str, receiver: Receiver
) -> None:
    """The writing node dies between the outbox and its first attempt (here: it has no dispatcher). The
    others, idle, hear of the deliveries and leave them a lease to their node, then send each once."""
    async with node(postgres_url) as a, node(postgres_url):
        async with node(postgres_url, dispatching=False) as dead:
            written = time.monotonic()
            for n in range(5):
                await dead.outbox.enqueue(f"evt_{n}", "fax_2", "t", receiver.url, b"{}", event_type="queued")
        await all_delivered(a.outbox, "fax_2", 5, timeout=LEASE + 5)
    assert sorted(request.body for request in receiver.requests) == [b"{}"] * 5
    assert min(request.at for request in receiver.requests) - written >= LEASE - 0.5


async def test_a_delivery_whose_node_was_killed_while_sending_is_sent_by_another_after_its_lease(
    postgres_url: str, receiver: Receiver
) -> None:
    """A node (a process of its own) posts a webhook and is killed (SIGKILL) before the answer: the
    surviving node, idle all along, sends it once the dead node's lease has run out (at least once)."""
    receiver.script = [HANG]
    async with node(postgres_url) as survivor:
        dying = subprocess.Popen(
            [sys.executable, "-m", "tests.helpers.webhook_node", postgres_url, receiver.url, "evt_1", "2.0"],
            cwd=ROOT,
        )
        try:
            await receiver.wait_for(1, timeout=30)
            os.kill(dying.pid, signal.SIGKILL)  # in mid-request: its answer never comes
        finally:
            if dying.poll() is None:
                dying.kill()
            dying.wait()
        claimed = receiver.requests[0].at  # the dead node's lease began about now: 2.0 + LEASE_MARGIN
        await receiver.wait_for(2, timeout=2.0 + LEASE_MARGIN + 5)
        await all_delivered(survivor.outbox, "fax_1", 1, timeout=5)
        [delivery] = await survivor.outbox.deliveries_for_fax("fax_1")
        [attempt] = await survivor.outbox.log_for_fax("fax_1")
    assert event_ids(receiver) == ["evt_1", "evt_1"]
    assert receiver.requests[1].at - claimed >= 2.0 + LEASE_MARGIN - 0.5  # not before the lease ran out
    # The dead node logged nothing: the survivor's is attempt 1.
    assert (delivery.attempts, attempt.attempt, attempt.status_code) == (1, 1, 200)
