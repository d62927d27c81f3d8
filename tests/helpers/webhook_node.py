"""A gateway node's webhook dispatcher in a process of its own, for a test to kill: it submits one event to a
receiver through the outbox on a PostgreSQL, then waits to be killed.

    python -m tests.helpers.webhook_node DATABASE_URL RECEIVER_URL EVENT_ID TIMEOUT
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys

from faxgw.gateway.domain import EventType
from faxgw.gateway.store.postgres import PostgresDatabase
from faxgw.gateway.webhooks import DeliveryStore, WebhookDispatcher

from tests.helpers.webhooks import FAST, RECEIVERS, SECRET


async def main(database_url: str, url: str, event_id: str, timeout: float) -> None:
    database = PostgresDatabase(database_url)
    await database.open()
    policy = dataclasses.replace(FAST, timeout=timeout)
    dispatcher = WebhookDispatcher(DeliveryStore(database), SECRET, policy, addresses=RECEIVERS)
    await dispatcher.submit(event_id, "fax_1", "tenant_1", url, {"pages": 1}, event_type=EventType.DELIVERED)
    await asyncio.Event().wait()


if __name__ == "__main__":
    database_url, url, event_id, timeout = sys.argv[1:]
    asyncio.run(main(database_url, url, event_id, float(timeout)))
