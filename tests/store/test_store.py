"""The store on both databases, real ones: SQLite files and a PostgreSQL 15 of the tests' own (the ``store``
fixture runs each test on both): schema, keys, tenant isolation, leases, events. What only one of them has
(WAL, SQLite's query plans) is tested on it alone."""

from __future__ import annotations

import socket
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path

import pytest
from faxgw.gateway.domain import EventType, FaxStatus
from faxgw.gateway.store import AttemptRecord, FaxOrder, FaxQuery, FaxRecord, Store, StoreClosed
from faxgw.gateway.store.postgres import PostgresDatabase
from faxgw.gateway.store.schema import MIGRATIONS

from tests.helpers.sip import free_port
from tests.helpers.store import opened


def fax(tenant_id: str, number: int, **changes) -> FaxRecord:
    now = time.time()
    record = FaxRecord(
        id=f"fx_{number}",
        tenant_id=tenant_id,
        direction="outbound",
        from_number="+15550100",
        to_number=f"+1555020{number}",
        status="queued",
        created_at=now + number,
        updated_at=now,
    )
    for name, value in changes.items():
        setattr(record, name, value)
    return record


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    where: str | Path = tmp_path / "faxgw.sqlite"
    if request.param == "postgresql":
        where = request.getfixturevalue("postgres_url")
    async with opened(where) as store:
        yield store


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[Store]:
    async with opened(tmp_path / "faxgw.sqlite") as store:
        yield store


async def sql(store: Store, statement: str) -> list[tuple]:
    """What ``statement`` reads, run as the store runs its own SQL."""
    return await store.database.run(
        lambda db: [tuple(dict(row).values()) for row in db.execute(statement).fetchall()]
    )


async def test_schema_is_migrated_once_and_in_wal_mode(tmp_path: Path) -> None:
    async with opened(tmp_path / "db.sqlite") as first:
        assert await first.schema_version() == len(MIGRATIONS)
        await first.create_tenant("acme", "acme")
    async with opened(tmp_path / "db.sqlite") as again:  # opening again migrates nothing and loses nothing
        assert await sql(again, "PRAGMA journal_mode") == [("wal",)]
        assert await again.schema_version() == len(MIGRATIONS)
        assert await again.get_tenant("acme") is not None


async def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    connection = sqlite3.connect(path)
    connection.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    connection.close()
    store = Store(path)
    with pytest.raises(RuntimeError, match="newer than this gateway"):
        await store.open()
    with pytest.raises(StoreClosed, match="did not open"):  # and nothing of it is left running
        await store.get_tenant("acme")


async def test_api_keys_are_kept_hashed(store: Store) -> None:
    tenant = await store.create_tenant("acme")
    key, token = await store.create_api_key(tenant.id, {"read", "edit"})
    assert await store.api_key(token) == key
    assert await store.api_key(token + "x") is None
    [(stored,)] = await sql(store, "SELECT token_sha256 FROM api_keys")
    assert token not in stored


async def test_a_tenant_sees_only_its_own_faxes(store: Store) -> None:
    acme, other = await store.create_tenant("acme"), await store.create_tenant("other")
    await store.add_fax(
        fax(acme.id, 1, file_ids=["fl_1"], request={"options": {"retry": {"count": 2}}}, t38=True)
    )
    got = await store.get_fax("fx_1", acme.id)
    assert got is not None and got.file_ids == ["fl_1"] and got.request["options"]["retry"]["count"] == 2
    assert got.t38 is True
    assert await store.get_fax("fx_1", other.id) is None
    assert await store.query_faxes(other.id, FaxQuery()) == ([], 0)


async def test_listing_filters_and_pages(store: Store) -> None:
    tenant = await store.create_tenant("acme")
    for number in range(5):
        await store.add_fax(fax(tenant.id, number, status="success" if number % 2 else "queued"))
    page, total = await store.query_faxes(tenant.id, FaxQuery(limit=2, offset=1))
    assert total == 5 and [f.id for f in page] == ["fx_3", "fx_2"]  # newest first
    successes, total = await store.query_faxes(tenant.id, FaxQuery(statuses={"success"}))
    assert total == 2 and {f.id for f in successes} == {"fx_1", "fx_3"}


async def ids(result: Awaitable[tuple[list[FaxRecord], int]]) -> tuple[list[str], int]:
    faxes, total = await result
    return [f.id for f in faxes], total


async def test_every_filter_is_applied_in_sql_with_the_total_of_all_pages(store: Store) -> None:
    acme, other = await store.create_tenant("acme"), await store.create_tenant("other")
    base = 1_700_000_000.0
    for number in range(10):
        await store.add_fax(
            fax(
                acme.id,
                number,
                direction="inbound" if number % 2 else "outbound",
                status=("queued", "sending", "success", "failed_user_busy")[number % 4],
                from_number=f"+1555010{number % 3}",
                to_number=f"+1555020{number % 2}",
                created_at=base + number,
                updated_at=base + 100 - number,  # updated in the other order
            )
        )
    await store.add_fax(fax(other.id, 99, created_at=base + 5))
    query = store.query_faxes
    assert await ids(query(acme.id, FaxQuery(direction="inbound", limit=2))) == (["fx_9", "fx_7"], 5)
    assert await ids(query(acme.id, FaxQuery(statuses={"queued", "sending"}, limit=None))) == (
        ["fx_9", "fx_8", "fx_5", "fx_4", "fx_1", "fx_0"],
        6,
    )
    assert await ids(query(acme.id, FaxQuery(exclude_statuses={"queued", "sending"}, offset=2))) == (
        ["fx_3", "fx_2"],
        4,
    )
    assert await ids(query(acme.id, FaxQuery(statuses=()))) == ([], 0)
    assert await ids(query(acme.id, FaxQuery(from_number="+15550101"))) == (["fx_7", "fx_4", "fx_1"], 3)
    assert await ids(query(acme.id, FaxQuery(to_number="+15550200", direction="outbound", limit=1))) == (
        ["fx_8"],
        5,
    )
    # Telnyx's created_at bounds, strict and not.
    assert await ids(query(acme.id, FaxQuery(created_gt=base + 2, created_lte=base + 4))) == (
        ["fx_4", "fx_3"],
        2,
    )
    assert await ids(query(acme.id, FaxQuery(created_gte=base + 2, created_lt=base + 4))) == (
        ["fx_3", "fx_2"],
        2,
    )
    # Fax.Plus's sort: by last update, oldest first.
    assert await ids(query(acme.id, FaxQuery(order=FaxOrder.UPDATED, descending=False, limit=3))) == (
        ["fx_9", "fx_8", "fx_7"],
        10,
    )
    assert await ids(query(acme.id, FaxQuery(descending=False, limit=2))) == (["fx_0", "fx_1"], 10)
    assert await ids(query(other.id, FaxQuery())) == (["fx_99"], 1)


async def test_ties_in_the_order_are_broken_by_id_so_pages_neither_repeat_nor_skip(store: Store) -> None:
    tenant = await store.create_tenant("acme")
    for number in range(7):
        await store.add_fax(fax(tenant.id, number, created_at=1000.0))  # one created_at for all
    listed = [
        fax_id
        for offset in (0, 3, 6)
        for fax_id in (await ids(store.query_faxes(tenant.id, FaxQuery(limit=3, offset=offset))))[0]
    ]
    assert listed == [f"fx_{n}" for n in range(6, -1, -1)]


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"direction": "sideways"}, ValueError),
        ({"limit": -1}, ValueError),
        ({"offset": -1}, ValueError),
        ({"offset": 2**63}, ValueError),
        ({"statuses": "success"}, TypeError),
    ],
)
def test_a_query_the_store_cannot_run_is_refused_with_a_clear_error(changes: dict, error: type) -> None:
    with pytest.raises(error, match=r"direction|limit|offset|statuses"):
        FaxQuery(**changes)


@pytest.mark.parametrize(
    "query",
    [
        FaxQuery(),
        FaxQuery(direction="inbound", created_gte=1.0, created_lt=2.0),
        FaxQuery(to_number="+15550200", created_gt=1.0),
        FaxQuery(from_number="+15550100", descending=False),
        FaxQuery(statuses={"queued", "sending"}),
        FaxQuery(order=FaxOrder.UPDATED, exclude_statuses={"queued"}),
    ],
)
async def test_a_listing_reads_its_page_through_an_index(sqlite_store: Store, query: FaxQuery) -> None:
    """The filters and the order come from one index, so a page costs its rows, not the tenant's faxes:
    no full scan, and no sort of everything that matched."""
    store = sqlite_store
    captured: list[str] = []
    await store.database.thread.run(lambda db: db.set_trace_callback(captured.append))
    await store.query_faxes("acme", query)
    await store.database.thread.run(lambda db: db.set_trace_callback(None))
    select = next(statement for statement in captured if statement.startswith("SELECT * FROM faxes"))
    plan = [row[3] for row in await sql(store, f"EXPLAIN QUERY PLAN {select}")]
    assert plan and all(step.startswith("SEARCH faxes USING INDEX faxes_tenant_") for step in plan), plan


async def test_the_due_loop_reads_the_queue_through_its_index_in_order(sqlite_store: Store) -> None:
    """Each poll costs the faxes it claims, not the queue: however many faxes wait for a later time, the
    claim reads the queue's index from the first due one and stops at its limit (no sort of them all)."""
    store = sqlite_store
    tenant = await store.create_tenant("acme")
    later = time.time() + 86400
    for number in range(3):
        await store.add_fax(fax(tenant.id, number, next_attempt_at=later - number))
    await store.add_fax(fax(tenant.id, 7))  # due now: no next_attempt_at
    captured: list[str] = []
    await store.database.thread.run(lambda db: db.set_trace_callback(captured.append))
    claimed = await store.claim_due("node", time.time(), lease=30, limit=2)
    await store.database.thread.run(lambda db: db.set_trace_callback(None))
    assert [f.id for f in claimed] == ["fx_7"]
    claim = next(statement for statement in captured if statement.startswith("UPDATE faxes"))
    plan = [row[3] for row in await sql(store, f"EXPLAIN QUERY PLAN {claim}")]
    assert any(step.startswith("SEARCH faxes USING INDEX faxes_queue (<expr><") for step in plan), plan
    assert not any("TEMP B-TREE" in step for step in plan), plan
    # A day on: fx_7's lease ran out (it is claimed again, first: due since always), then the earliest due.
    assert [f.id for f in await store.claim_due("node", later + 1, lease=30, limit=2)] == ["fx_7", "fx_2"]


async def test_due_faxes_are_claimed_once_until_the_lease_runs_out(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    async with opened(path) as node_a, opened(path) as node_b:  # two gateway processes sharing the file
        await claimed_once(node_a, node_b)


async def test_due_faxes_are_claimed_once_across_postgresql_nodes(postgres_url: str) -> None:
    async with opened(postgres_url) as node_a, opened(postgres_url) as node_b:
        await claimed_once(node_a, node_b)


async def claimed_once(node_a: Store, node_b: Store) -> None:
    tenant = await node_a.create_tenant("acme")
    now = time.time()
    await node_a.add_fax(fax(tenant.id, 1))
    await node_a.add_fax(fax(tenant.id, 2, next_attempt_at=now + 3600))  # a retry for later
    claimed = await node_a.claim_due("a", now, lease=30, limit=10)
    assert [f.id for f in claimed] == ["fx_1"]
    assert await node_b.claim_due("b", now, lease=30, limit=10) == []
    # Node a died: once its lease is over, node b may take the fax.
    assert [f.id for f in await node_b.claim_due("b", now + 31, lease=30, limit=10)] == ["fx_1"]


async def test_attempts_and_events_keep_their_order(store: Store) -> None:
    tenant = await store.create_tenant("acme")
    record = await store.add_fax(fax(tenant.id, 1))
    await store.add_attempt(AttemptRecord(record.id, 1, started_at=1.0, from_number="+15550100"))
    await store.update_attempt(record.id, 1, status="failed_user_busy", sip_code=486, t38=False)
    await store.add_attempt(AttemptRecord(record.id, 2, started_at=2.0))
    attempts = await store.attempts(record.id)
    assert [(a.number, a.status, a.sip_code, a.t38) for a in attempts] == [
        (1, "failed_user_busy", 486, False),
        (2, None, None, None),
    ]
    first = await store.add_event(record, EventType.QUEUED, {"n": 1})
    second = await store.add_event(record, EventType.SENDING_STARTED, {"n": 2})
    assert [e.type for e in await store.events(record.id)] == ["queued", "sending.started"]
    assert [e.id for e in await store.events(record.id, after_seq=first.seq)] == [second.id]
    await store.delete_fax(record.id)
    assert (
        await store.get_fax(record.id) is None
        and await store.events(record.id) == []
        and await store.attempts(record.id) == []
    )


async def test_new_faxes_and_their_first_events_are_stored_in_one_call(store: Store) -> None:
    tenant = await store.create_tenant("acme")
    faxes = [fax(tenant.id, 1), fax(tenant.id, 2)]
    first = await store.add_faxes(faxes, EventType.QUEUED, [{"n": 1}, {"n": 2}])
    assert [(e.fax_id, e.type, e.payload, e.previous) for e in first] == [
        ("fx_1", "queued", {"n": 1}, 0),
        ("fx_2", "queued", {"n": 2}, 0),
    ]
    assert [(await store.get_fax(f.id)) == f for f in faxes] == [True, True]
    assert [[e.id for e in await store.events(f.id)] for f in faxes] == [[first[0].id], [first[1].id]]
    after = await store.add_event(faxes[0], EventType.SENDING_STARTED, {})
    assert after.seq > first[0].seq and after.previous == first[0].seq  # the next event follows the first
    with pytest.raises(ValueError):  # a fax without its payload: nothing half stored
        await store.add_faxes([fax(tenant.id, 3), fax(tenant.id, 4)], EventType.QUEUED, [{}])
    assert await store.get_fax("fx_3") is None


async def test_statuses_and_events_read_back_as_the_domain_enums_and_are_stored_as_their_words(
    store: Store,
) -> None:
    tenant = await store.create_tenant("acme")
    record = await store.add_fax(fax(tenant.id, 1, status=FaxStatus.QUEUED))
    busy, t30 = FaxStatus.FAILED_USER_BUSY, FaxStatus.t30_failure(49)
    await store.update_fax(record.id, status=t30, error_code=t30)
    await store.add_attempt(AttemptRecord(record.id, 1, started_at=1.0))
    await store.update_attempt(record.id, 1, status=busy)
    got = await store.get_fax(record.id)
    assert got is not None and got.status is t30 and got.error_code is t30
    assert [attempt.status for attempt in await store.attempts(record.id)] == [busy]
    assert isinstance((await store.attempts(record.id))[0].status, FaxStatus)
    # The columns hold the words themselves, as before the enum: the database is a wire format too.
    assert await sql(store, "SELECT status, error_code FROM faxes") == [("failed_fs_49", "failed_fs_49")]
    assert await sql(store, "SELECT status FROM attempts") == [("failed_user_busy",)]
    assert (await store.query_faxes(tenant.id, FaxQuery(statuses=[t30])))[1] == 1
    await store.add_event(record, EventType.DELIVERED, {})
    assert [event.type for event in await store.events(record.id)] == [EventType.DELIVERED]
    assert isinstance((await store.events(record.id))[0].type, EventType)
    assert await sql(store, "SELECT type FROM events") == [("delivered",)]


async def test_an_update_sets_only_the_fields_a_stored_fax_may_change(store: Store) -> None:
    tenant = await store.create_tenant("acme")
    record = await store.add_fax(fax(tenant.id, 1))
    await store.update_fax(record.id, status="sending", t38=True, request={"options": {}}, lease_owner=None)
    got = await store.get_fax(record.id)
    assert got is not None and (got.status, got.t38, got.request) == ("sending", True, {"options": {}})
    assert got.updated_at > record.updated_at
    # Not an updatable field, or not a field at all: refused before any SQL is built from the name.
    for changes in ({"tenant_id": "other"}, {"status = 'success', tenant_id": "other"}):
        with pytest.raises(TypeError, match="has no field"):
            await store.update_fax(record.id, **changes)
    with pytest.raises(TypeError, match="has no field"):
        await store.update_attempt(record.id, 1, **{"started_at": 0.0})
    got = await store.get_fax(record.id)
    assert got is not None and (got.tenant_id, got.status) == (tenant.id, "sending")


async def test_a_postgresql_that_cannot_be_reached_is_a_clear_error_naming_it() -> None:
    url = f"postgresql://faxgw:secret-password@127.0.0.1:{free_port(socket.SOCK_STREAM)}/faxgw"
    store = Store(PostgresDatabase(url))
    with pytest.raises(ConnectionError, match=r"PostgreSQL at 127\.0\.0\.1:\d+/faxgw") as raised:
        await store.open()
    assert "secret-password" not in str(raised.value)
    with pytest.raises(StoreClosed):  # and it takes no calls
        await store.get_tenant("acme")


async def test_cancel_takes_a_pending_fax_only_and_gives_its_lease_back(store: Store) -> None:
    t1 = (await store.create_tenant("t1")).id
    await store.add_fax(fax(t1, 1, lease_owner="n1", lease_until=time.time() + 30))
    await store.add_fax(fax(t1, 2, status=FaxStatus.SUCCESS))
    cancelled = await store.cancel_fax("fx_1", "Cancelled by the client.")
    assert cancelled is not None and (cancelled.status, cancelled.lease_owner) == (FaxStatus.CANCELLED, None)
    assert cancelled.error_description == "Cancelled by the client."
    assert await store.cancel_fax("fx_1", "again") is None  # finished now
    assert await store.cancel_fax("fx_2", "too late") is None
    assert (await store.get_fax("fx_2")).status == FaxStatus.SUCCESS  # type: ignore[union-attr]


async def test_amendments_merge_and_the_comment_sorts(store: Store) -> None:
    t1 = (await store.create_tenant("t1")).id
    await store.add_fax(fax(t1, 1, request={"comment": {"text": "b"}, "dialects": {"d": {"a": 1}}}))
    await store.add_fax(fax(t1, 2, request={"comment": {"text": "c"}}))
    amended = await store.amend_fax("fx_1", {"text": "z"}, "d", {"b": 2})
    assert amended is not None and amended.request == {
        "comment": {"text": "z"},
        "dialects": {"d": {"a": 1, "b": 2}},
    }
    assert await store.amend_fax("fx_9", None, "d", {}) is None
    listed, _ = await store.query_faxes(t1, FaxQuery(order=FaxOrder.COMMENT, descending=False))
    assert [(f.id, f.comment_text) for f in listed] == [("fx_2", "c"), ("fx_1", "z")]
