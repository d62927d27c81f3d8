"""What several nodes rely on the store for, on real databases: claims that never hand a fax to two nodes,
limits (call slots) that hold when nodes take them at once, leases that are kept or lost, the sweep for a
dead node's faxes, and notifications from one node to the others (PostgreSQL)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from faxgw.gateway.database import FAX_DUE, FAX_EVENT
from faxgw.gateway.domain import EventType, FaxStatus
from faxgw.gateway.store import FaxRecord, Slot, Store
from faxgw.gateway.store.postgres import PostgresDatabase

NODES = 3


def fax(number: int, status: FaxStatus = FaxStatus.QUEUED, **changes: object) -> FaxRecord:
    now = time.time()
    record = FaxRecord(f"fx_{number}", "acme", "outbound", "+15550100", f"+1555{number:04}", status, now, now)
    for name, value in changes.items():
        setattr(record, name, value)
    return record


@contextlib.asynccontextmanager
async def nodes(where: str | Path, count: int = NODES) -> AsyncIterator[list[Store]]:
    """``count`` stores on one database, as ``count`` gateway nodes would have."""
    stores = [Store(PostgresDatabase(where) if isinstance(where, str) else where) for _ in range(count)]
    for store in stores:
        await store.open()
    try:
        await stores[0].create_tenant("acme", "acme")
        yield stores
    finally:
        for store in stores:
            await store.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> str | Path:
    if request.param == "postgresql":
        return str(request.getfixturevalue("postgres_url"))
    return tmp_path / "shared.sqlite"


async def test_nodes_claiming_at_once_each_get_other_faxes(where: str | Path) -> None:
    async with nodes(where) as stores:
        for number in range(60):
            await stores[0].add_fax(fax(number))
        claimed: Counter[str] = Counter()

        async def claim(node: int) -> None:
            while got := await stores[node].claim_due(f"node{node}", time.time(), 30, 4):
                claimed.update(f.id for f in got)

        await asyncio.gather(*(claim(node) for node in range(NODES)))
        assert len(claimed) == 60 and set(claimed.values()) == {1}


async def test_a_limit_holds_when_nodes_take_slots_at_once(where: str | Path) -> None:
    async with nodes(where) as stores:
        now = time.time()
        wanted = [Slot("from:+15550100", 3), Slot("to:+15550200", 5)]
        taken = await asyncio.gather(
            *(
                stores[i % NODES].take_slots(f"node{i % NODES}", f"fx_{i}", wanted, now, now + 30)
                for i in range(24)
            )
        )
        assert taken.count(None) == 3  # the tightest limit
        assert set(taken) == {None, "from:+15550100"}
        holders = [f"fx_{i}" for i, full in enumerate(taken) if full is None]
        # All or none: a refused taker holds no slot of the other name either.
        again = await stores[1].take_slots("node1", "fx_other", [Slot("to:+15550200", 4)], now, now + 30)
        assert again is None  # 3 held + this one = 4
        await stores[2].release_slots("elsewhere", holders[0])  # taken on another node: not its to give back
        assert await stores[0].take_slots("node0", "fx_next", wanted, now, now + 30) == "from:+15550100"
        owner = f"node{int(holders[0].removeprefix('fx_')) % NODES}"
        await stores[2].release_slots(owner, holders[0])
        assert await stores[0].take_slots("node0", "fx_next", wanted, now, now + 30) is None


async def test_slots_of_a_dead_node_lapse_with_its_lease_and_renewed_ones_stay(where: str | Path) -> None:
    async with nodes(where, 2) as (alive, dead):
        now = time.time()
        await alive.add_fax(fax(1, lease_owner="alive", lease_until=now + 30))
        slot = [Slot("trunk:carrier", 2)]
        assert await alive.take_slots("alive", "fx_1", slot, now, now + 30) is None
        assert await dead.take_slots("dead", "fx_2", slot, now, now + 30) is None
        assert await alive.take_slots("alive", "fx_3", slot, now, now + 30) == "trunk:carrier"
        # 40 s on, the dead node renewed nothing; the live one renewed its fax and so its slot.
        assert await alive.renew_leases("alive", ["fx_1"], now + 70) == []
        later = now + 40
        assert await alive.take_slots("alive", "fx_3", slot, later, later + 30) is None
        assert await dead.take_slots("dead", "fx_4", slot, later, later + 30) == "trunk:carrier"


async def test_a_calls_per_second_slot_just_lapses(where: str | Path) -> None:
    async with nodes(where, 2) as stores:
        now = time.time()

        def cps(at: float) -> list[Slot]:
            return [Slot("cps:carrier", 2, lapse=at + 1)]

        assert await stores[0].take_slots("node0", "fx_1", cps(now), now, now + 30) is None
        assert await stores[1].take_slots("node1", "fx_2", cps(now), now + 0.5, now + 30) is None
        assert await stores[0].take_slots("node0", "fx_3", cps(now), now + 0.6, now + 30) == "cps:carrier"
        await stores[0].release_slots("node0", "fx_1")  # a call start is not given back when its call ends
        assert await stores[0].take_slots("node0", "fx_3", cps(now), now + 0.7, now + 30) == "cps:carrier"
        assert await stores[0].take_slots("node0", "fx_3", cps(now), now + 1.1, now + 30) is None


async def test_a_lease_another_node_took_is_reported_lost(where: str | Path) -> None:
    async with nodes(where, 2) as (first, second):
        await first.add_fax(fax(1))
        await first.add_fax(fax(2))
        now = time.time()
        assert len(await first.claim_due("first", now, 30, 10)) == 2
        # The first node stalled past its lease; the second took fx_1 over.
        assert [f.id for f in await second.claim_due("second", now + 31, 30, 1)] == ["fx_1"]
        assert await first.renew_leases("first", ["fx_1", "fx_2"], now + 60) == ["fx_1"]
        kept = await first.get_fax("fx_2")
        assert kept is not None and kept.lease_until == now + 60


async def test_the_sweep_takes_a_dead_nodes_running_faxes_once_and_never_a_live_ones(
    where: str | Path,
) -> None:
    async with nodes(where) as stores:
        now = time.time()
        await stores[0].add_fax(fax(1, FaxStatus.SENDING, lease_owner="dead", lease_until=now - 1))
        await stores[0].add_fax(fax(2, FaxStatus.SENDING, lease_owner="live", lease_until=now + 30))
        await stores[0].add_fax(fax(3, FaxStatus.SUCCESS, lease_owner=None, lease_until=None))
        await stores[0].add_fax(
            fax(4, FaxStatus.IN_PROGRESS, direction="inbound", lease_owner="dead", lease_until=now - 1)
        )
        running = [FaxStatus.PROCESSING, FaxStatus.SENDING, FaxStatus.IN_PROGRESS]
        swept = await asyncio.gather(
            *(stores[i].claim_stranded(f"node{i}", now, 30, running, own=False) for i in range(NODES))
        )
        taken = sorted(f.id for faxes in swept for f in faxes)
        assert taken == ["fx_1", "fx_4"]
        # The live node restarting takes back its own at once, lease or not.
        back = await stores[0].claim_stranded("live", now, 30, running, own=True)
        assert [f.id for f in back] == ["fx_2"]


async def test_notifications_reach_the_other_nodes_when_the_write_commits(postgres_url: str) -> None:
    writer, reader = Store(PostgresDatabase(postgres_url)), Store(PostgresDatabase(postgres_url))
    heard: dict[str, list[str]] = {FAX_DUE: [], FAX_EVENT: []}
    for channel, payloads in heard.items():
        reader.listen(channel, payloads.append)
    await writer.open()
    await reader.open()
    try:
        await writer.create_tenant("acme", "acme")
        queued = await writer.add_fax(fax(1))
        await writer.add_fax(fax(2, FaxStatus.SUCCESS))  # not due: nobody needs waking
        await writer.add_event(queued, EventType.QUEUED, {})
        await writer.update_fax("fx_1", lease_owner=None)  # given back: due again
        deadline = time.monotonic() + 5
        while (len(heard[FAX_DUE]), len(heard[FAX_EVENT])) != (2, 1) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert heard == {FAX_DUE: ["fx_1", "fx_1"], FAX_EVENT: ["fx_1"]}
        with pytest.raises(RuntimeError, match="before open"):
            reader.listen(FAX_DUE, print)
    finally:
        await writer.close()
        await reader.close()


async def test_nodes_starting_at_once_configure_a_tenant_once(where: str | Path) -> None:
    """Every node makes the configuration's tenants and keys at start: together, none fails on another's."""
    async with nodes(where) as stores:
        keys = {"token-beta": ["read", "edit"]}
        for _ in range(2):  # and again at the next start, when they exist
            await asyncio.gather(*(store.configure_tenant("beta", "Beta", keys) for store in stores))
        tenant = await stores[1].get_tenant("beta")
        assert tenant is not None and tenant.name == "Beta"
        key = await stores[2].api_key("token-beta")
        assert key is not None and key.tenant_id == "beta" and key.scopes == {"read", "edit"}
