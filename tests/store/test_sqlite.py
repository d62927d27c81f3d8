"""The SQLite store on real files: schema, keys, tenant isolation, leases, events."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from faxgw.gateway.store import AttemptRecord, FaxRecord, Store
from faxgw.gateway.store.schema import MIGRATIONS


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


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "faxgw.sqlite")


def test_schema_is_migrated_once_and_in_wal_mode(tmp_path: Path) -> None:
    first = Store(tmp_path / "db.sqlite")
    assert first.version == len(MIGRATIONS)
    first.close()
    again = Store(tmp_path / "db.sqlite")  # opening again migrates nothing and loses nothing
    assert again.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert again.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    connection = sqlite3.connect(path)
    connection.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    connection.close()
    with pytest.raises(RuntimeError, match="newer than this gateway"):
        Store(path)


def test_api_keys_are_kept_hashed(store: Store) -> None:
    tenant = store.create_tenant("acme")
    key, token = store.create_api_key(tenant.id, {"read", "edit"})
    assert store.api_key(token) == key
    assert store.api_key(token + "x") is None
    stored = store.db.execute("SELECT token_sha256 FROM api_keys").fetchone()[0]
    assert token not in stored


def test_a_tenant_sees_only_its_own_faxes(store: Store) -> None:
    acme, other = store.create_tenant("acme"), store.create_tenant("other")
    store.add_fax(fax(acme.id, 1, file_ids=["fl_1"], request={"options": {"retry": {"count": 2}}}, t38=True))
    got = store.get_fax("fx_1", acme.id)
    assert got is not None and got.file_ids == ["fl_1"] and got.request["options"]["retry"]["count"] == 2
    assert got.t38 is True
    assert store.get_fax("fx_1", other.id) is None
    assert store.list_faxes(other.id) == ([], 0)


def test_listing_filters_and_pages(store: Store) -> None:
    tenant = store.create_tenant("acme")
    for number in range(5):
        store.add_fax(fax(tenant.id, number, status="success" if number % 2 else "queued"))
    page, total = store.list_faxes(tenant.id, limit=2, offset=1)
    assert total == 5 and [f.id for f in page] == ["fx_3", "fx_2"]  # newest first
    successes, total = store.list_faxes(tenant.id, status="success")
    assert total == 2 and {f.id for f in successes} == {"fx_1", "fx_3"}


def test_due_faxes_are_claimed_once_until_the_lease_runs_out(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    node_a, node_b = Store(path), Store(path)  # two gateway processes sharing the file
    tenant = node_a.create_tenant("acme")
    now = time.time()
    node_a.add_fax(fax(tenant.id, 1))
    node_a.add_fax(fax(tenant.id, 2, next_attempt_at=now + 3600))  # a retry for later
    claimed = node_a.claim_due("a", now, lease=30, limit=10)
    assert [f.id for f in claimed] == ["fx_1"]
    assert node_b.claim_due("b", now, lease=30, limit=10) == []
    # Node a died: once its lease is over, node b may take the fax.
    assert [f.id for f in node_b.claim_due("b", now + 31, lease=30, limit=10)] == ["fx_1"]


def test_attempts_and_events_keep_their_order(store: Store) -> None:
    tenant = store.create_tenant("acme")
    record = store.add_fax(fax(tenant.id, 1))
    store.add_attempt(AttemptRecord(record.id, 1, started_at=1.0, from_number="+15550100"))
    store.update_attempt(record.id, 1, status="failed_user_busy", sip_code=486, t38=False)
    store.add_attempt(AttemptRecord(record.id, 2, started_at=2.0))
    attempts = store.attempts(record.id)
    assert [(a.number, a.status, a.sip_code, a.t38) for a in attempts] == [
        (1, "failed_user_busy", 486, False),
        (2, None, None, None),
    ]
    first = store.add_event(record, "queued", {"n": 1})
    second = store.add_event(record, "sending.started", {"n": 2})
    assert [e.type for e in store.events(record.id)] == ["queued", "sending.started"]
    assert [e.id for e in store.events(record.id, after_seq=first.seq)] == [second.id]
    store.delete_fax(record.id)
    assert (
        store.get_fax(record.id) is None and store.events(record.id) == [] and store.attempts(record.id) == []
    )
