"""The embedded store: one SQLite file in WAL mode (readers never wait for the writer).

Every method is a coroutine whose SQL runs in the store's connection thread (``gateway.sqlite_thread``):
a statement waiting for the disk or for another process's write lock (``busy_timeout``) never stops the
event loop. Each method is one call in that thread, so writes that must stay together, and those several
gateway processes could race for (claiming due faxes), run in one ``BEGIN IMMEDIATE`` ... ``COMMIT``.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import secrets
import sqlite3
import time
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Unpack

from faxgw.gateway.domain import EventType, FaxStatus
from faxgw.gateway.sqlite_thread import SqliteThread, in_thread
from faxgw.gateway.store.records import (
    ApiKey,
    AttemptChanges,
    AttemptRecord,
    DeliveryProfile,
    EventRecord,
    FaxChanges,
    FaxQuery,
    FaxRecord,
    FileRecord,
    Subscription,
    Tenant,
)
from faxgw.gateway.store.schema import migrate

_JSON_FIELDS = {"file_ids", "request", "legs"}
_BOOL_FIELDS = {"t38", "ecm"}
_STATUS_FIELDS = {"status", "error_code"}  # faxes' and attempts': a FaxStatus, stored as its value
_FAX_COLUMNS = [f.name for f in dataclasses.fields(FaxRecord)]
_ATTEMPT_COLUMNS = [f.name for f in dataclasses.fields(AttemptRecord)]
_PROFILE_COLUMNS = [f.name for f in dataclasses.fields(DeliveryProfile)]
#: The columns an update may set, in the order the records declare them (and only those).
_FAX_CHANGES = tuple(FaxChanges.__annotations__)
_ATTEMPT_CHANGES = tuple(AttemptChanges.__annotations__)


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def connect(path: str) -> sqlite3.Connection:
    """The store's connection to the file at ``path``, its schema brought up to date (``migrate``)."""
    # isolation_level=None: we say where transactions start (BEGIN IMMEDIATE) ourselves.
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("PRAGMA busy_timeout=5000")
        migrate(db)
    except BaseException:
        db.close()
        raise
    return db


class Store:
    """The ``FaxStore`` on SQLite. ``open()`` before use (it connects and migrates, in the thread),
    ``close()`` at the end; the webhook outbox (``gateway.webhooks.DeliveryStore``) shares its ``thread``."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self.thread = SqliteThread(functools.partial(connect, self.path), name=f"store {self.path}")

    async def open(self) -> None:
        await self.thread.start()

    async def close(self) -> None:
        await self.thread.close()

    @in_thread
    def schema_version(self, db: sqlite3.Connection) -> int:
        return int(db.execute("PRAGMA user_version").fetchone()[0])

    # -- tenants and keys -------------------------------------------------------------------------
    @in_thread
    def create_tenant(self, db: sqlite3.Connection, name: str, tenant_id: str | None = None) -> Tenant:
        tenant = Tenant(tenant_id or new_id("tn"), name, time.time())
        db.execute("INSERT INTO tenants VALUES (?, ?, ?)", (tenant.id, tenant.name, tenant.created_at))
        return tenant

    @in_thread
    def get_tenant(self, db: sqlite3.Connection, tenant_id: str) -> Tenant | None:
        row = db.execute("SELECT * FROM tenants WHERE id = ?", (tenant_id,)).fetchone()
        return Tenant(**row) if row else None

    @in_thread
    def create_api_key(
        self, db: sqlite3.Connection, tenant_id: str, scopes: Iterable[str], token: str | None = None
    ) -> tuple[ApiKey, str]:
        """A new key; the token is returned once and only its hash is kept."""
        token = token or f"fgw_{secrets.token_urlsafe(32)}"
        key = ApiKey(new_id("key"), tenant_id, frozenset(scopes), time.time())
        db.execute(
            "INSERT INTO api_keys (id, tenant_id, token_sha256, scopes, created_at) VALUES (?, ?, ?, ?, ?)",
            (key.id, tenant_id, _hash(token), ",".join(sorted(key.scopes)), key.created_at),
        )
        return key, token

    @in_thread
    def api_key(self, db: sqlite3.Connection, token: str) -> ApiKey | None:
        row = db.execute(
            "SELECT * FROM api_keys WHERE token_sha256 = ? AND revoked_at IS NULL", (_hash(token),)
        ).fetchone()
        if row is None:
            return None
        return ApiKey(
            row["id"], row["tenant_id"], frozenset(filter(None, row["scopes"].split(","))), row["created_at"]
        )

    # -- files --------------------------------------------------------------------------------------
    @in_thread
    def add_file(self, db: sqlite3.Connection, record: FileRecord) -> FileRecord:
        db.execute("INSERT INTO files VALUES (?, ?, ?, ?, ?, ?, ?)", dataclasses.astuple(record))
        return record

    @in_thread
    def get_file(self, db: sqlite3.Connection, tenant_id: str, file_id: str) -> FileRecord | None:
        row = db.execute(
            "SELECT * FROM files WHERE id = ? AND tenant_id = ?", (file_id, tenant_id)
        ).fetchone()
        return FileRecord(**row) if row else None

    # -- faxes ----------------------------------------------------------------------------------------
    @in_thread
    def add_fax(self, db: sqlite3.Connection, fax: FaxRecord) -> FaxRecord:
        values = [_encode(name, getattr(fax, name)) for name in _FAX_COLUMNS]
        db.execute(
            f"INSERT INTO faxes ({', '.join(_FAX_COLUMNS)}) VALUES ({', '.join('?' * len(_FAX_COLUMNS))})",
            values,
        )
        return fax

    @in_thread
    def get_fax(self, db: sqlite3.Connection, fax_id: str, tenant_id: str | None = None) -> FaxRecord | None:
        """A fax by id; with ``tenant_id`` only if it belongs to that tenant (a key sees its own only)."""
        query, args = "SELECT * FROM faxes WHERE id = ?", [fax_id]
        if tenant_id is not None:
            query += " AND tenant_id = ?"
            args.append(tenant_id)
        row = db.execute(query, args).fetchone()
        return _fax(row) if row else None

    @in_thread
    def query_faxes(
        self, db: sqlite3.Connection, tenant_id: str, query: FaxQuery
    ) -> tuple[list[FaxRecord], int]:
        """One page of the tenant's faxes that ``query`` asks for, and how many match in all."""
        where: list[str] = ["tenant_id = ?"]
        args: list[str | float] = [tenant_id]
        # Column names are written here; only values come from the query.
        equal = (
            ("direction", query.direction),
            ("from_number", query.from_number),
            ("to_number", query.to_number),
        )
        for column, value in equal:
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if query.statuses is not None:
            statuses = sorted(query.statuses)
            where.append(f"status IN ({', '.join('?' * len(statuses))})")
            args += statuses
        if query.exclude_statuses:
            excluded = sorted(query.exclude_statuses)
            where.append(f"status NOT IN ({', '.join('?' * len(excluded))})")
            args += excluded
        bounds = (
            (">", query.created_gt),
            (">=", query.created_gte),
            ("<", query.created_lt),
            ("<=", query.created_lte),
        )
        for operator, bound in bounds:
            if bound is not None:
                where.append(f"created_at {operator} ?")
                args.append(bound)
        clause = " AND ".join(where)
        direction = "DESC" if query.descending else "ASC"
        total = db.execute(f"SELECT COUNT(*) FROM faxes WHERE {clause}", args).fetchone()[0]
        rows = db.execute(
            f"SELECT * FROM faxes WHERE {clause} ORDER BY {query.order.value} {direction}, id {direction}"
            " LIMIT ? OFFSET ?",
            [*args, -1 if query.limit is None else query.limit, query.offset],  # -1: no limit
        ).fetchall()
        return [_fax(row) for row in rows], total

    @in_thread
    def update_fax(self, db: sqlite3.Connection, fax_id: str, **changes: Unpack[FaxChanges]) -> None:
        assignments, values = _assignments("fax", _FAX_CHANGES, changes)
        assignments.append("updated_at = ?")
        db.execute(f"UPDATE faxes SET {', '.join(assignments)} WHERE id = ?", [*values, time.time(), fax_id])

    @in_thread
    def delete_fax(self, db: sqlite3.Connection, fax_id: str) -> None:
        db.execute("DELETE FROM faxes WHERE id = ?", (fax_id,))
        db.execute("DELETE FROM events WHERE fax_id = ?", (fax_id,))

    @in_thread
    def claim_due(
        self, db: sqlite3.Connection, owner: str, now: float, lease: float, limit: int
    ) -> list[FaxRecord]:
        """Take up to ``limit`` outbound faxes that are due and not leased by a live worker.

        The lease is what makes a crash safe: a fax whose worker died becomes claimable again when
        the lease runs out, and the one that claims it knows an attempt may have been under way.
        """
        db.execute("BEGIN IMMEDIATE")
        try:
            rows = db.execute(
                "SELECT * FROM faxes WHERE direction = 'outbound' AND status = ?"
                " AND COALESCE(next_attempt_at, 0) <= ? AND (lease_until IS NULL OR lease_until < ?)"
                " ORDER BY COALESCE(next_attempt_at, 0), created_at LIMIT ?",
                (FaxStatus.QUEUED, now, now, limit),
            ).fetchall()
            for row in rows:
                db.execute(
                    "UPDATE faxes SET lease_owner = ?, lease_until = ?, updated_at = ? WHERE id = ?",
                    (owner, now + lease, now, row["id"]),
                )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return [dataclasses.replace(_fax(row), lease_owner=owner, lease_until=now + lease) for row in rows]

    @in_thread
    def stranded(self, db: sqlite3.Connection, statuses: Iterable[FaxStatus]) -> list[FaxRecord]:
        """Faxes left in a running state (a process died): the start-up recovery settles them."""
        statuses = list(statuses)
        rows = db.execute(
            f"SELECT * FROM faxes WHERE status IN ({', '.join('?' * len(statuses))})", statuses
        ).fetchall()
        return [_fax(row) for row in rows]

    # -- attempts ---------------------------------------------------------------------------------------
    @in_thread
    def add_attempt(self, db: sqlite3.Connection, attempt: AttemptRecord) -> None:
        values = [_encode(name, getattr(attempt, name)) for name in _ATTEMPT_COLUMNS]
        db.execute(
            f"INSERT INTO attempts ({', '.join(_ATTEMPT_COLUMNS)}) VALUES ({', '.join('?' * len(values))})",
            values,
        )

    @in_thread
    def update_attempt(
        self, db: sqlite3.Connection, fax_id: str, number: int, **changes: Unpack[AttemptChanges]
    ) -> None:
        assignments, values = _assignments("attempt", _ATTEMPT_CHANGES, changes)
        if assignments:
            db.execute(
                f"UPDATE attempts SET {', '.join(assignments)} WHERE fax_id = ? AND number = ?",
                [*values, fax_id, number],
            )

    @in_thread
    def attempts(self, db: sqlite3.Connection, fax_id: str) -> list[AttemptRecord]:
        rows = db.execute("SELECT * FROM attempts WHERE fax_id = ? ORDER BY number", (fax_id,)).fetchall()
        return [AttemptRecord(**_decoded(row)) for row in rows]

    # -- delivery profiles --------------------------------------------------------------------------------
    @in_thread
    def delivery_profiles(
        self, db: sqlite3.Connection, destination: str, trunks: Iterable[str]
    ) -> dict[str, DeliveryProfile]:
        """What was learned about faxing ``destination`` through each of ``trunks``, by trunk; a trunk
        with nothing learned yet is not in it."""
        names = list(dict.fromkeys(trunks))
        if not names:
            return {}
        rows = db.execute(
            f"SELECT trunk, {', '.join(_PROFILE_COLUMNS)} FROM delivery_profiles"
            f" WHERE destination = ? AND trunk IN ({', '.join('?' * len(names))})",
            [destination, *names],
        ).fetchall()
        return {
            row["trunk"]: DeliveryProfile(**{name: _decode(name, row[name]) for name in _PROFILE_COLUMNS})
            for row in rows
        }

    @in_thread
    def save_delivery_profile(
        self, db: sqlite3.Connection, destination: str, trunk: str, profile: DeliveryProfile
    ) -> None:
        """Keep ``profile`` as what is known about faxing ``destination`` through ``trunk`` (replacing it)."""
        columns = ["destination", "trunk", *_PROFILE_COLUMNS, "updated_at"]
        values = [
            destination,
            trunk,
            *(_encode(n, getattr(profile, n)) for n in _PROFILE_COLUMNS),
            time.time(),
        ]
        db.execute(
            f"INSERT OR REPLACE INTO delivery_profiles ({', '.join(columns)})"
            f" VALUES ({', '.join('?' * len(values))})",
            values,
        )

    # -- events ------------------------------------------------------------------------------------------
    @in_thread
    def add_event(
        self, db: sqlite3.Connection, fax: FaxRecord, event_type: EventType, payload: dict[str, Any]
    ) -> EventRecord:
        event_id, now = new_id("evt"), time.time()
        cursor = db.execute(
            "INSERT INTO events (id, fax_id, tenant_id, type, payload, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (event_id, fax.id, fax.tenant_id, event_type, json.dumps(payload), now),
        )
        return EventRecord(cursor.lastrowid or 0, event_id, fax.id, fax.tenant_id, event_type, payload, now)

    @in_thread
    def events(self, db: sqlite3.Connection, fax_id: str, after_seq: int = 0) -> list[EventRecord]:
        rows = db.execute(
            "SELECT * FROM events WHERE fax_id = ? AND seq > ? ORDER BY seq", (fax_id, after_seq)
        ).fetchall()
        return [
            EventRecord(
                row["seq"],
                row["id"],
                row["fax_id"],
                row["tenant_id"],
                EventType(row["type"]),
                json.loads(row["payload"]),
                row["created_at"],
            )
            for row in rows
        ]

    # -- webhook subscriptions ---------------------------------------------------------------------------
    @in_thread
    def add_subscription(
        self,
        db: sqlite3.Connection,
        tenant_id: str,
        format: str,
        url: str,
        events: Iterable[str] = (),
        secret: str | None = None,
        *,
        replace: bool = False,
    ) -> Subscription:
        """A standing webhook for the tenant; ``replace`` first drops the tenant's others of that format
        (Dropbox has one callback URL per account)."""
        subscription = Subscription(
            new_id("hook"), tenant_id, format, url, tuple(events), secret, time.time()
        )
        db.execute("BEGIN IMMEDIATE")
        try:
            if replace:
                db.execute(
                    "DELETE FROM webhook_subscriptions WHERE tenant_id = ? AND format = ?",
                    (tenant_id, format),
                )
            db.execute(
                "INSERT INTO webhook_subscriptions (id, tenant_id, format, url, events, secret, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    subscription.id,
                    tenant_id,
                    format,
                    url,
                    json.dumps(list(subscription.events)),
                    secret,
                    subscription.created_at,
                ),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return subscription

    @in_thread
    def subscriptions(
        self, db: sqlite3.Connection, tenant_id: str, format: str | None = None
    ) -> list[Subscription]:
        query, args = "SELECT * FROM webhook_subscriptions WHERE tenant_id = ?", [tenant_id]
        if format is not None:
            query += " AND format = ?"
            args.append(format)
        rows = db.execute(query + " ORDER BY created_at, id", args).fetchall()
        return [
            Subscription(
                row["id"],
                row["tenant_id"],
                row["format"],
                row["url"],
                tuple(json.loads(row["events"])),
                row["secret"],
                row["created_at"],
            )
            for row in rows
        ]

    @in_thread
    def delete_subscription(self, db: sqlite3.Connection, tenant_id: str, subscription_id: str) -> bool:
        """False if the tenant has no such subscription."""
        cursor = db.execute(
            "DELETE FROM webhook_subscriptions WHERE id = ? AND tenant_id = ?", (subscription_id, tenant_id)
        )
        return cursor.rowcount == 1


def _assignments(
    what: str, columns: tuple[str, ...], changes: Mapping[str, Any]
) -> tuple[list[str], list[Any]]:
    """``column = ?`` and its value for each of the ``changes``, in the order of ``columns``; a name not in
    ``columns`` is a TypeError before any SQL: a statement's column names are ours, never a caller's."""
    unknown = changes.keys() - set(columns)
    if unknown:
        raise TypeError(f"a stored {what} has no field {', '.join(sorted(unknown))} to change")
    named = [column for column in columns if column in changes]
    return [f"{column} = ?" for column in named], [_encode(column, changes[column]) for column in named]


def _encode(name: str, value: Any) -> Any:
    if name in _JSON_FIELDS:
        return json.dumps(value)
    if name in _BOOL_FIELDS and value is not None:
        return int(value)
    return value


def _decode(name: str, value: Any) -> Any:
    if name in _JSON_FIELDS:
        return json.loads(value)
    if name in _BOOL_FIELDS and value is not None:
        return bool(value)
    if name in _STATUS_FIELDS and value is not None:
        return FaxStatus(value)
    return value


def _fax(row: sqlite3.Row) -> FaxRecord:
    return FaxRecord(**_decoded(row))


def _decoded(row: sqlite3.Row) -> dict[str, Any]:
    return {key: _decode(key, value) for key, value in dict(row).items()}
