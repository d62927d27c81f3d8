"""The ``FaxStore`` in SQL, on either database (``gateway.database``): SQLite, the embedded default,
or PostgreSQL when several gateway nodes share the work.

Every method is a coroutine whose SQL runs off the event loop, as one unit (``in_database``): writes that
must stay together, and those several nodes race for (claiming due faxes, taking call slots), are one call.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import secrets
import threading
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar, Unpack

from faxgw.gateway.database import FAX_DUE, FAX_EVENT, Database, Db, Row, in_database, placeholders
from faxgw.gateway.domain import PENDING, EventType, FaxStatus
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
    Slot,
    Subscription,
    Tenant,
)
from faxgw.gateway.store.sqlite import SqliteDatabase

_JSON_FIELDS = {"file_ids", "request", "legs", "diagnostics"}
_BOOL_FIELDS = {"t38", "ecm"}
_STATUS_FIELDS = {"status", "error_code"}  # faxes' and attempts': a FaxStatus, stored as its value
_FAX_COLUMNS = [f.name for f in dataclasses.fields(FaxRecord)]
_ATTEMPT_COLUMNS = [f.name for f in dataclasses.fields(AttemptRecord)]
_PROFILE_COLUMNS = [f.name for f in dataclasses.fields(DeliveryProfile)]
_FILE_COLUMNS = [f.name for f in dataclasses.fields(FileRecord)]
#: The columns an update may set, in the order the records declare them (and only those).
_FAX_CHANGES = tuple(FaxChanges.__annotations__)
_ATTEMPT_CHANGES = tuple(AttemptChanges.__annotations__)
#: A listing without a limit: the largest LIMIT both databases take.
_NO_LIMIT = 2**63 - 1
#: The seq of the event before an ``events`` row of the same fax, 0 for its first (index events_fax).
_PREVIOUS_EVENT = (
    "(SELECT COALESCE(MAX(p.seq), 0) FROM events p WHERE p.fax_id = events.fax_id AND p.seq < events.seq)"
)


class _Randomness:
    """The operating system's random bytes (os.urandom, as uuid4 reads them), fetched 4 KiB at a time. Each
    os.urandom call lets go of the GIL, and under API load the store's thread takes it: getting it back
    cost ~80 us per id, several ids per request."""

    def __init__(self, chunk: int = 4096) -> None:
        self._chunk = chunk
        self._bytes = b""
        self._lock = threading.Lock()  # ids are made on the event loop and in the store's thread
        os.register_at_fork(after_in_child=self._forget)  # a forked child never repeats its parent's

    def _forget(self) -> None:
        self._bytes = b""
        self._lock = threading.Lock()

    def take(self, count: int) -> bytes:
        with self._lock:
            if len(self._bytes) < count:
                self._bytes = os.urandom(self._chunk)
            taken, self._bytes = self._bytes[:count], self._bytes[count:]
        return taken


_RANDOM = _Randomness()


def new_id(prefix: str) -> str:
    """``prefix`` and 80 random bits in hex (20 characters)."""
    return f"{prefix}_{_RANDOM.take(10).hex()}"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


P = ParamSpec("P")
T = TypeVar("T")


def _changes_subscriptions(
    method: Callable[Concatenate[Store, P], Coroutine[Any, Any, T]],
) -> Callable[Concatenate[Store, P], Coroutine[Any, Any, T]]:
    """A store method that writes webhook subscriptions: what the store keeps of them is read again after."""

    @functools.wraps(method)
    async def call(self: Store, /, *args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await method(self, *args, **kwargs)
        finally:
            self._subscriptions_change()

    return call


class Store:
    """The ``FaxStore`` on ``database`` (a path: an SQLite file). ``open()`` before use (it connects and
    migrates), ``close()`` at the end; the webhook outbox (``gateway.webhooks.DeliveryStore``) shares its
    ``database``."""

    def __init__(self, database: Database | str | Path) -> None:
        self.database: Database = SqliteDatabase(database) if isinstance(database, str | Path) else database
        # Every event of every fax asks for its tenant's subscriptions. On SQLite (one process per file)
        # what this store wrote is all there is, so they are kept here, by tenant, until it changes them;
        # PostgreSQL's nodes change them under each other: read each time there.
        self._subscriptions: dict[str, list[Subscription]] | None = (
            {} if isinstance(self.database, SqliteDatabase) else None
        )
        self._subscriptions_changed = 0  # a read that began before a change must not keep what it read

    async def open(self) -> None:
        await self.database.open()

    async def close(self) -> None:
        await self.database.close()

    async def schema_version(self) -> int:
        return await self.database.schema_version()

    def listen(self, channel: str, callback: Callable[[str], None]) -> None:
        self.database.listen(channel, callback)

    # -- tenants and keys -------------------------------------------------------------------------
    @in_database
    def create_tenant(self, db: Db, name: str, tenant_id: str | None = None) -> Tenant:
        tenant = Tenant(tenant_id or new_id("tn"), name, time.time())
        db.execute("INSERT INTO tenants VALUES (?, ?, ?)", (tenant.id, tenant.name, tenant.created_at))
        return tenant

    @in_database
    def get_tenant(self, db: Db, tenant_id: str) -> Tenant | None:
        row = db.execute("SELECT * FROM tenants WHERE id = ?", (tenant_id,)).fetchone()
        return Tenant(**row) if row else None

    @in_database
    def create_api_key(
        self, db: Db, tenant_id: str, scopes: Iterable[str], token: str | None = None
    ) -> tuple[ApiKey, str]:
        """A new key; the token is returned once and only its hash is kept."""
        token = token or f"fgw_{secrets.token_urlsafe(32)}"
        key = ApiKey(new_id("key"), tenant_id, frozenset(scopes), time.time())
        db.execute(
            "INSERT INTO api_keys (id, tenant_id, token_sha256, scopes, created_at) VALUES (?, ?, ?, ?, ?)",
            (key.id, tenant_id, _hash(token), ",".join(sorted(key.scopes)), key.created_at),
        )
        return key, token

    @in_database
    def configure_tenant(self, db: Db, tenant_id: str, name: str, keys: Mapping[str, Iterable[str]]) -> None:
        """Tenant ``tenant_id`` and its keys (token: scopes), as the configuration names them, exist: made
        by whichever node comes first when several start at once, left as they are after (a key revoked
        stays revoked)."""
        now = time.time()
        db.execute("INSERT INTO tenants VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING", (tenant_id, name, now))
        for token, scopes in keys.items():
            db.execute(
                "INSERT INTO api_keys (id, tenant_id, token_sha256, scopes, created_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (token_sha256) DO NOTHING",
                (new_id("key"), tenant_id, _hash(token), ",".join(sorted(scopes)), now),
            )

    @in_database
    def api_key(self, db: Db, token: str) -> ApiKey | None:
        row = db.execute(
            "SELECT * FROM api_keys WHERE token_sha256 = ? AND revoked_at IS NULL", (_hash(token),)
        ).fetchone()
        if row is None:
            return None
        return ApiKey(
            row["id"], row["tenant_id"], frozenset(filter(None, row["scopes"].split(","))), row["created_at"]
        )

    # -- files --------------------------------------------------------------------------------------
    @in_database
    def add_file(self, db: Db, record: FileRecord) -> FileRecord:
        db.execute(
            f"INSERT INTO files ({', '.join(_FILE_COLUMNS)}) VALUES ({placeholders(len(_FILE_COLUMNS))})",
            dataclasses.astuple(record),
        )
        return record

    @in_database
    def get_file(self, db: Db, tenant_id: str, file_id: str) -> FileRecord | None:
        row = db.execute(
            "SELECT * FROM files WHERE id = ? AND tenant_id = ?", (file_id, tenant_id)
        ).fetchone()
        return FileRecord(**row) if row else None

    @in_database
    def get_files(self, db: Db, tenant_id: str, file_ids: Sequence[str]) -> list[FileRecord]:
        """One read for a request's files (``get_file`` each would be a call to the database each)."""
        distinct = list(dict.fromkeys(file_ids))
        if not distinct:
            return []
        rows = db.execute(
            f"SELECT * FROM files WHERE tenant_id = ? AND id IN ({placeholders(len(distinct))})",
            [tenant_id, *distinct],
        ).fetchall()
        found = {row["id"]: FileRecord(**row) for row in rows}
        return [found[file_id] for file_id in file_ids if file_id in found]

    @in_database
    def delete_file(self, db: Db, tenant_id: str, file_id: str) -> FileRecord | None:
        row = db.execute(
            "DELETE FROM files WHERE id = ? AND tenant_id = ? RETURNING *", (file_id, tenant_id)
        ).fetchone()
        return FileRecord(**row) if row else None

    # -- faxes ----------------------------------------------------------------------------------------
    @in_database
    def add_fax(self, db: Db, fax: FaxRecord) -> FaxRecord:
        _add_fax(db, fax)
        return fax

    @in_database
    def add_faxes(
        self, db: Db, faxes: Sequence[FaxRecord], event_type: EventType, payloads: Sequence[dict[str, Any]]
    ) -> list[EventRecord]:
        """New faxes, each with its first event (of ``event_type``, with its payload), in one call to the
        database: what ``add_fax`` and then ``add_event`` for each would store (a request's faxes)."""
        events = []
        with db.transaction():  # all or none, and one commit
            for fax, payload in zip(faxes, payloads, strict=True):
                _add_fax(db, fax)
                # No other writer knows the fax before this commits: its first event needs no lock, and
                # none comes before it.
                events.append(_insert_event(db, fax, event_type, payload, previous=0))
        return events

    @in_database
    def get_fax(self, db: Db, fax_id: str, tenant_id: str | None = None) -> FaxRecord | None:
        """A fax by id; with ``tenant_id`` only if it belongs to that tenant (a key sees its own only)."""
        return _get_fax(db, fax_id, tenant_id)

    @in_database
    def fax_and_attempts(
        self, db: Db, fax_id: str, tenant_id: str
    ) -> tuple[FaxRecord, list[AttemptRecord]] | None:
        """``get_fax`` and ``attempts`` in one call to the database (what ``GET /v1/faxes/{id}`` shows)."""
        fax = _get_fax(db, fax_id, tenant_id)
        return None if fax is None else (fax, _attempts(db, fax_id))

    @in_database
    def query_faxes(self, db: Db, tenant_id: str, query: FaxQuery) -> tuple[list[FaxRecord], int]:
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
            # IN () is SQLite's, not PostgreSQL's: no status at all matches nothing.
            where.append(f"status IN ({placeholders(len(statuses))})" if statuses else "1 = 0")
            args += statuses
        if query.exclude_statuses:
            excluded = sorted(query.exclude_statuses)
            where.append(f"status NOT IN ({placeholders(len(excluded))})")
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
        counted = db.execute(f"SELECT COUNT(*) AS total FROM faxes WHERE {clause}", args).fetchone()
        total = counted["total"] if counted else 0
        rows = db.execute(
            f"SELECT * FROM faxes WHERE {clause} ORDER BY {query.order.value} {direction}, id {direction}"
            " LIMIT ? OFFSET ?",
            [*args, _NO_LIMIT if query.limit is None else query.limit, query.offset],
        ).fetchall()
        return [_fax(row) for row in rows], total

    @in_database
    def update_fax(self, db: Db, fax_id: str, **changes: Unpack[FaxChanges]) -> None:
        assignments, values = _assignments("fax", _FAX_CHANGES, changes)
        assignments.append("updated_at = ?")
        db.execute(f"UPDATE faxes SET {', '.join(assignments)} WHERE id = ?", [*values, time.time(), fax_id])
        if changes.get("status") == FaxStatus.QUEUED or (
            "lease_owner" in changes and not changes["lease_owner"]
        ):
            db.notify(FAX_DUE, fax_id)  # queued again, or given back: maybe due for another node

    @in_database
    def cancel_fax(self, db: Db, fax_id: str, description: str) -> FaxRecord | None:
        """``fax_id`` cancelled if it is still pending, in one statement (no node settles it meanwhile); the
        fax as it is now, or None when it had already finished. Its lease is given back: the node sending
        it finds the lease gone at its next renewal and stops the call (``jobs.leases``)."""
        pending, now = [status.value for status in PENDING], time.time()
        row = db.execute(
            "UPDATE faxes SET status = ?, error_code = ?, error_description = ?, completed_at = ?,"
            " updated_at = ?, lease_owner = NULL, lease_until = NULL"
            f" WHERE id = ? AND status IN ({placeholders(len(pending))}) RETURNING *",
            [FaxStatus.CANCELLED, FaxStatus.CANCELLED, description, now, now, fax_id, *pending],
        ).fetchone()
        return _fax(row) if row else None

    @in_database
    def amend_fax(
        self, db: Db, fax_id: str, comment: dict[str, Any] | None, dialect: str | None, fields: dict[str, Any]
    ) -> FaxRecord | None:
        """Change what a client may change of a fax after it was sent: its comment (``request.comment``)
        and the fields ``dialect`` keeps with it (merged into ``request.dialects.<dialect>``). One
        transaction under the fax's lock: two amendments at once both stand. None: no such fax."""
        with db.transaction():
            db.lock(f"fax {fax_id}")
            row = db.execute("SELECT request FROM faxes WHERE id = ?", (fax_id,)).fetchone()
            if row is None:
                return None
            request = json.loads(row["request"])
            if comment is not None:
                request["comment"] = comment
            if dialect is not None:
                request.setdefault("dialects", {}).setdefault(dialect, {}).update(fields)
            changed = db.execute(
                "UPDATE faxes SET request = ?, comment_text = ?, updated_at = ? WHERE id = ? RETURNING *",
                (json.dumps(request), _comment_text(request), time.time(), fax_id),
            ).fetchone()
            return _fax(changed) if changed else None

    @in_database
    def delete_fax(self, db: Db, fax_id: str) -> None:
        db.execute("DELETE FROM faxes WHERE id = ?", (fax_id,))
        db.execute("DELETE FROM events WHERE fax_id = ?", (fax_id,))

    @in_database
    def claim_due(self, db: Db, owner: str, now: float, lease: float, limit: int) -> list[FaxRecord]:
        """Take up to ``limit`` outbound faxes that are due and not leased by a live worker, oldest due first.

        The lease is what makes a crash safe: a fax whose worker died becomes claimable again when the
        lease runs out, and the one that claims it knows an attempt may have been under way. Nodes
        claiming at once each get other faxes (SKIP LOCKED), none waits for another.
        """
        # status, direction and COALESCE(next_attempt_at, 0) are written out as the partial index of queued
        # faxes (faxes_queue) has them: it then gives the due faxes in order, and the LIMIT stops its read.
        rows = db.execute(
            "UPDATE faxes SET lease_owner = ?, lease_until = ?, updated_at = ? WHERE id IN ("
            " SELECT id FROM faxes WHERE status = 'queued' AND direction = 'outbound'"
            " AND COALESCE(next_attempt_at, 0) <= ? AND (lease_until IS NULL OR lease_until < ?)"
            f" ORDER BY COALESCE(next_attempt_at, 0), created_at LIMIT ?{db.skip_locked}) RETURNING *",
            (owner, now + lease, now, now, now, limit),
        ).fetchall()
        faxes = [_fax(row) for row in rows]
        return sorted(faxes, key=lambda fax: (fax.next_attempt_at or 0, fax.created_at))

    @in_database
    def claim_stranded(
        self, db: Db, owner: str, now: float, lease: float, statuses: Iterable[FaxStatus], *, own: bool
    ) -> list[FaxRecord]:
        """Take the faxes in a running state (``statuses``) whose worker is gone: their lease ran out, or
        (``own``: at start-up) it was this node's before it restarted. The caller settles each."""
        # Written out (our own words, checked to be statuses): the partial index of running faxes serves them.
        running = ", ".join(f"'{FaxStatus(status).value}'" for status in statuses)
        gone = "(lease_until IS NULL OR lease_until < ?)"
        if own:
            whose, args = f"(lease_owner = ? OR {gone})", [owner, now]
        else:  # this node's own faxes are alive while it runs: their leases are renewed here
            whose, args = f"(lease_owner IS NULL OR lease_owner <> ?) AND {gone}", [owner, now]
        rows = db.execute(
            "UPDATE faxes SET lease_owner = ?, lease_until = ?, updated_at = ? WHERE id IN ("
            f" SELECT id FROM faxes WHERE status IN ({running}) AND {whose}{db.skip_locked}) RETURNING *",
            [owner, now + lease, now, *args],
        ).fetchall()
        return sorted((_fax(row) for row in rows), key=lambda fax: fax.created_at)

    @in_database
    def renew_leases(self, db: Db, owner: str, fax_ids: Sequence[str], until: float) -> list[str]:
        """Keep ``owner``'s leases on ``fax_ids``, and the call slots they hold, until ``until``; returns
        those ids whose lease ``owner`` no longer has (another node took the fax: stop working on it)."""
        if not fax_ids:
            return []
        marks = placeholders(len(fax_ids))
        with db.transaction():
            kept = db.execute(
                f"UPDATE faxes SET lease_until = ? WHERE lease_owner = ? AND id IN ({marks}) RETURNING id",
                [until, owner, *fax_ids],
            ).fetchall()
            db.execute(
                f"UPDATE call_slots SET until = ? WHERE owner = ? AND holder IN ({marks})",
                [until, owner, *fax_ids],
            )
        renewed = {row["id"] for row in kept}
        return [fax_id for fax_id in fax_ids if fax_id not in renewed]

    # -- call slots: limits that hold across every node (a number's calls, a destination's, a trunk's) --
    @in_database
    def take_slots(
        self,
        db: Db,
        owner: str,
        holder: str,
        wanted: Sequence[Slot],
        now: float,
        until: float,
    ) -> str | None:
        """Take one slot of each of ``wanted`` for ``holder`` until ``until``, all or none: None when taken,
        else the name whose ``limit`` slots are all held (nothing taken then).

        A slot no longer held lapses at ``until`` (renewed with its holder's lease, ``renew_leases``), so a
        node that died frees its slots with its leases; a ``Slot.lapse`` one is nobody's and just lapses
        then (a call start counted for a second). Names are locked in sorted order: two nodes taking the
        same names never wait for each other in a circle.
        """
        with db.transaction():
            for slot in sorted(wanted):
                db.lock(f"slot {slot.name}")
                db.execute("DELETE FROM call_slots WHERE name = ? AND until < ?", (slot.name, now))
                row = db.execute(
                    "SELECT COUNT(*) AS held FROM call_slots WHERE name = ?", (slot.name,)
                ).fetchone()
                if row is not None and row["held"] >= slot.limit:
                    return slot.name
            for slot in wanted:
                held = (holder, until) if slot.lapse is None else ("", slot.lapse)
                db.execute(
                    "INSERT INTO call_slots (name, holder, owner, until) VALUES (?, ?, ?, ?)",
                    (slot.name, held[0], owner, held[1]),
                )
        return None

    @in_database
    def release_slots(self, db: Db, owner: str, holder: str) -> None:
        """Give back every slot ``holder`` took on node ``owner`` (a fax another node took over may already
        hold slots there under the same holder: they stay)."""
        db.execute("DELETE FROM call_slots WHERE holder = ? AND owner = ?", (holder, owner))

    # -- attempts ---------------------------------------------------------------------------------------
    @in_database
    def add_attempt(self, db: Db, attempt: AttemptRecord) -> None:
        values = [_encode(name, getattr(attempt, name)) for name in _ATTEMPT_COLUMNS]
        db.execute(
            f"INSERT INTO attempts ({', '.join(_ATTEMPT_COLUMNS)}) VALUES ({placeholders(len(values))})",
            values,
        )

    @in_database
    def update_attempt(self, db: Db, fax_id: str, number: int, **changes: Unpack[AttemptChanges]) -> None:
        assignments, values = _assignments("attempt", _ATTEMPT_CHANGES, changes)
        if assignments:
            db.execute(
                f"UPDATE attempts SET {', '.join(assignments)} WHERE fax_id = ? AND number = ?",
                [*values, fax_id, number],
            )

    @in_database
    def attempts(self, db: Db, fax_id: str) -> list[AttemptRecord]:
        return _attempts(db, fax_id)

    # -- delivery profiles --------------------------------------------------------------------------------
    @in_database
    def delivery_profiles(
        self, db: Db, destination: str, trunks: Iterable[str]
    ) -> dict[str, DeliveryProfile]:
        """What was learned about faxing ``destination`` through each of ``trunks``, by trunk; a trunk
        with nothing learned yet is not in it."""
        names = list(dict.fromkeys(trunks))
        if not names:
            return {}
        rows = db.execute(
            f"SELECT trunk, {', '.join(_PROFILE_COLUMNS)} FROM delivery_profiles"
            f" WHERE destination = ? AND trunk IN ({placeholders(len(names))})",
            [destination, *names],
        ).fetchall()
        return {
            row["trunk"]: DeliveryProfile(**{name: _decode(name, row[name]) for name in _PROFILE_COLUMNS})
            for row in rows
        }

    @in_database
    def save_delivery_profile(self, db: Db, destination: str, trunk: str, profile: DeliveryProfile) -> None:
        """Keep ``profile`` as what is known about faxing ``destination`` through ``trunk`` (replacing it)."""
        columns = ["destination", "trunk", *_PROFILE_COLUMNS, "updated_at"]
        values = [
            destination,
            trunk,
            *(_encode(n, getattr(profile, n)) for n in _PROFILE_COLUMNS),
            time.time(),
        ]
        replaced = ", ".join(f"{column} = excluded.{column}" for column in columns[2:])
        db.execute(
            f"INSERT INTO delivery_profiles ({', '.join(columns)}) VALUES ({placeholders(len(values))})"
            f" ON CONFLICT (destination, trunk) DO UPDATE SET {replaced}",
            values,
        )

    # -- events ------------------------------------------------------------------------------------------
    @in_database
    def add_event(
        self, db: Db, fax: FaxRecord, event_type: EventType, payload: dict[str, Any]
    ) -> EventRecord:
        # One writer of the fax's events at a time (two nodes may record one fax's events at once): its
        # events then commit in the order of their seq, so a reader that has seen seq n never sees a
        # smaller one appear later, and each event knows the one before it (``previous``).
        db.lock(f"events {fax.id}")
        # Under that lock the fax's last event so far is the one before. Asked apart, not as a subquery
        # in RETURNING: SQLite scans the whole events table for one there (2 ms a POST at 40,000 events).
        row = db.execute(
            "SELECT COALESCE(MAX(seq), 0) AS previous FROM events WHERE fax_id = ?", (fax.id,)
        ).fetchone()
        assert row is not None  # an aggregate gives a row
        return _insert_event(db, fax, event_type, payload, row["previous"])

    @in_database
    def events(self, db: Db, fax_id: str, after_seq: int = 0) -> list[EventRecord]:
        rows = db.execute(
            f"SELECT *, {_PREVIOUS_EVENT} AS previous FROM events WHERE fax_id = ? AND seq > ? ORDER BY seq",
            (fax_id, after_seq),
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
                row["previous"],
            )
            for row in rows
        ]

    # -- webhook subscriptions ---------------------------------------------------------------------------
    @_changes_subscriptions
    @in_database
    def add_subscription(
        self,
        db: Db,
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
        with db.transaction():
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
        return subscription

    async def subscriptions(self, tenant_id: str, format: str | None = None) -> list[Subscription]:
        """The tenant's standing webhooks (of ``format``), oldest first."""
        if self._subscriptions is None:
            return await self._read_subscriptions(tenant_id, format)
        known = self._subscriptions.get(tenant_id)
        if known is None:
            changed = self._subscriptions_changed
            known = await self._read_subscriptions(tenant_id)
            if changed == self._subscriptions_changed:
                self._subscriptions[tenant_id] = known
        return [subscription for subscription in known if format in (None, subscription.format)]

    def _subscriptions_change(self) -> None:
        if self._subscriptions is not None:
            self._subscriptions.clear()
            self._subscriptions_changed += 1

    @in_database
    def _read_subscriptions(self, db: Db, tenant_id: str, format: str | None = None) -> list[Subscription]:
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

    @_changes_subscriptions
    @in_database
    def delete_subscription(self, db: Db, tenant_id: str, subscription_id: str) -> bool:
        """False if the tenant has no such subscription."""
        cursor = db.execute(
            "DELETE FROM webhook_subscriptions WHERE id = ? AND tenant_id = ?", (subscription_id, tenant_id)
        )
        return cursor.rowcount == 1


def _add_fax(db: Db, fax: FaxRecord) -> None:
    fax.comment_text = _comment_text(fax.request)  # derived here, never set apart from the comment
    values = [_encode(name, getattr(fax, name)) for name in _FAX_COLUMNS]
    db.execute(
        f"INSERT INTO faxes ({', '.join(_FAX_COLUMNS)}) VALUES ({placeholders(len(_FAX_COLUMNS))})", values
    )
    due = fax.next_attempt_at is None or fax.next_attempt_at <= time.time()
    if fax.direction == "outbound" and fax.status == FaxStatus.QUEUED and due:
        # An idle node takes it now, not at its next poll (which finds a fax for later in time).
        db.notify(FAX_DUE, fax.id)


def _insert_event(
    db: Db, fax: FaxRecord, event_type: EventType, payload: dict[str, Any], previous: int
) -> EventRecord:
    """The fax's next event, ``previous`` the seq of the one before it (0: none)."""
    event_id, now = new_id("evt"), time.time()
    row = db.execute(
        "INSERT INTO events (id, fax_id, tenant_id, type, payload, created_at) VALUES (?, ?, ?, ?, ?, ?)"
        " RETURNING seq",
        (event_id, fax.id, fax.tenant_id, event_type, json.dumps(payload), now),
    ).fetchone()
    assert row is not None  # an INSERT ... RETURNING gives a row
    db.notify(FAX_EVENT, fax.id)  # other nodes' live listeners (SSE) read it from here
    return EventRecord(row["seq"], event_id, fax.id, fax.tenant_id, event_type, payload, now, previous)


def _get_fax(db: Db, fax_id: str, tenant_id: str | None) -> FaxRecord | None:
    query, args = "SELECT * FROM faxes WHERE id = ?", [fax_id]
    if tenant_id is not None:
        query += " AND tenant_id = ?"
        args.append(tenant_id)
    row = db.execute(query, args).fetchone()
    return _fax(row) if row else None


def _attempts(db: Db, fax_id: str) -> list[AttemptRecord]:
    rows = db.execute("SELECT * FROM attempts WHERE fax_id = ? ORDER BY number", (fax_id,)).fetchall()
    return [AttemptRecord(**_decoded(row)) for row in rows]


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


def _comment_text(request: Mapping[str, Any]) -> str:
    comment = request.get("comment")
    return str(comment.get("text") or "") if isinstance(comment, dict) else ""


def _fax(row: Row) -> FaxRecord:
    return FaxRecord(**_decoded(row))


def _decoded(row: Row) -> dict[str, Any]:
    return {key: _decode(key, value) for key, value in dict(row).items()}
