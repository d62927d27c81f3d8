"""The webhook outbox and delivery log, in the gateway's database (SQLite or PostgreSQL).

An event is written to the outbox before it is first sent, so a crash between the two loses nothing:
the next process finds it pending and sends it (at least once). Every attempt appends a row to the log,
which is what an operator (or the API) shows when a customer asks "did you call my webhook?".

Several nodes share one outbox (PostgreSQL): a delivery is sent by the node that claims it (a lease), and
each write that sets when a delivery falls due tells the other nodes when (``WEBHOOK_DUE``, on commit), so
a node that dies with a delivery in hand is relieved by another once its lease runs out.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from faxgw.gateway.database import WEBHOOK_DUE, Database, Db, Row, in_database


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"  # gave up: a permanent refusal, or max_attempts used


class Outcome(enum.StrEnum):
    """What one attempt led to."""

    DELIVERED = "delivered"
    RETRY = "retry"
    FAILED = "failed"


@dataclass(frozen=True)
class Delivery:
    """One event on its way to one URL."""

    id: int
    event_id: str
    event_type: str
    fax_id: str
    tenant_id: str
    url: str
    body: bytes
    status: DeliveryStatus
    attempts: int
    next_attempt_at: float
    created_at: float
    format: str = "native"


#: What ``due()`` hands out: deliveries whose status is pending.
PendingDelivery = Delivery


@dataclass(frozen=True)
class DeliveryAttempt:
    """One line of a fax's delivery log."""

    delivery_id: int
    event_id: str
    event_type: str
    url: str
    attempt: int  # 1 for the first
    attempted_at: float
    duration: float
    status_code: int | None  # None: no HTTP response (refused, dropped, timed out)
    error: str | None
    outcome: Outcome


_DELIVERY_COLUMNS = (
    "id, event_id, event_type, fax_id, tenant_id, url, body, status, attempts, next_attempt_at, created_at,"
    " format"
)


def _delivery(row: Row) -> Delivery:
    return Delivery(
        row["id"],
        row["event_id"],
        row["event_type"],
        row["fax_id"],
        row["tenant_id"],
        row["url"],
        bytes(row["body"]),
        DeliveryStatus(row["status"]),
        row["attempts"],
        row["next_attempt_at"],
        row["created_at"],
        row["format"],
    )


class Outbox(Protocol):
    """What the dispatcher needs of an outbox: ``DeliveryStore`` (on SQLite or PostgreSQL) is one. Every
    method is a coroutine: none may block the event loop."""

    async def enqueue(
        self,
        event_id: str,
        fax_id: str,
        tenant_id: str,
        url: str,
        body: bytes,
        *,
        event_type: str,
        not_before: float | None = None,
        format: str = "native",
    ) -> int: ...

    async def get(self, delivery_id: int) -> Delivery: ...

    async def due(self, now: float, limit: int) -> list[Delivery]: ...

    async def next_due_at(self) -> float | None: ...

    async def claim(self, delivery_id: int, now: float, until: float) -> bool: ...

    async def record_attempt(
        self,
        delivery_id: int,
        *,
        status_code: int | None,
        error: str | None,
        duration: float,
        succeeded: bool,
        next_attempt_at: float | None,
        attempted_at: float | None = None,
    ) -> Outcome: ...


class DeliveryStore:
    """Outbox and log in ``database`` (the gateway's store's), opened and closed by its owner. Every method
    is a coroutine: its SQL runs off the event loop (``in_database``).

    The tables are the store's (``gateway.store.schema``, migrations 2 and 3). Every method that
    writes commits before returning ("persisted" means on disk, not in an open transaction).
    """

    def __init__(self, database: Database, *, clock: Callable[[], float] = time.time) -> None:
        self.database = database
        self._clock = clock

    @in_database
    def enqueue(
        self,
        db: Db,
        event_id: str,
        fax_id: str,
        tenant_id: str,
        url: str,
        body: bytes,
        *,
        event_type: str,
        not_before: float | None = None,
        format: str = "native",
    ) -> int:
        """The id of the delivery of ``event_id`` to ``url``, created pending if there is none yet.

        Idempotent: enqueueing the same (event id, URL) again, even after it was delivered or given up,
        returns the existing delivery and changes nothing (the first body stays the one sent).
        """
        now = self._clock()
        due = now if not_before is None else not_before
        with db.transaction():
            inserted = db.execute(
                "INSERT INTO webhook_deliveries (event_id, event_type, fax_id, tenant_id, url, body,"
                " next_attempt_at, created_at, updated_at, format) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (event_id, url) DO NOTHING",
                (event_id, event_type, fax_id, tenant_id, url, body, due, now, now, format),
            )
            if inserted.rowcount == 1:
                db.notify(WEBHOOK_DUE, repr(due))
            row = db.execute(
                "SELECT id FROM webhook_deliveries WHERE event_id = ? AND url = ?", (event_id, url)
            ).fetchone()
        assert row is not None  # inserted just now, or there before
        return int(row["id"])

    @in_database
    def get(self, db: Db, delivery_id: int) -> Delivery:
        row = db.execute(
            f"SELECT {_DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = ?", (delivery_id,)
        ).fetchone()
        if row is None:
            raise KeyError(delivery_id)
        return _delivery(row)

    @in_database
    def due(self, db: Db, now: float, limit: int) -> list[Delivery]:
        """Pending deliveries whose next attempt is due, oldest due first."""
        rows = db.execute(
            f"SELECT {_DELIVERY_COLUMNS} FROM webhook_deliveries"
            " WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?",
            (now, limit),
        ).fetchall()
        return [_delivery(row) for row in rows]

    @in_database
    def next_due_at(self, db: Db) -> float | None:
        """When the earliest pending delivery falls due (None if nothing is pending)."""
        row = db.execute(
            "SELECT MIN(next_attempt_at) AS due FROM webhook_deliveries WHERE status = 'pending'"
        ).fetchone()
        return row["due"] if row else None

    @in_database
    def pending(self, db: Db) -> int:
        """How many deliveries wait in the outbox (due or not yet), every node's: it is shared."""
        row = db.execute("SELECT COUNT(*) AS n FROM webhook_deliveries WHERE status = 'pending'").fetchone()
        return int(row["n"]) if row else 0

    @in_database
    def claim(self, db: Db, delivery_id: int, now: float, until: float) -> bool:
        """Take a due delivery for one attempt: pushes its next attempt to ``until`` (a lease).

        False if it is no longer pending and due, i.e. someone else took it. If the process dies in the
        middle of the attempt, the lease runs out and the delivery is sent again: at least once.
        """
        with db.transaction():
            # One statement: of nodes claiming at once, the first to update the row has it; the others
            # find it no longer due when they get to the row (PostgreSQL re-reads it after the lock).
            cursor = db.execute(
                "UPDATE webhook_deliveries SET next_attempt_at = ?, updated_at = ?"
                " WHERE id = ? AND status = 'pending' AND next_attempt_at <= ?",
                (until, now, delivery_id, now),
            )
            if cursor.rowcount == 1:
                db.notify(WEBHOOK_DUE, repr(until))  # due again then, should this node die with it
        return cursor.rowcount == 1

    @in_database
    def record_attempt(
        self,
        db: Db,
        delivery_id: int,
        *,
        status_code: int | None,
        error: str | None,
        duration: float,
        succeeded: bool,
        next_attempt_at: float | None,
        attempted_at: float | None = None,
    ) -> Outcome:
        """Log one attempt and move the delivery on.

        ``succeeded`` marks it delivered; otherwise ``next_attempt_at`` schedules another attempt, and
        None means give up (marked failed). Raises KeyError for an unknown delivery and ValueError for one
        that is no longer pending.
        """
        now = self._clock()
        if succeeded:
            outcome = Outcome.DELIVERED
        elif next_attempt_at is not None:
            outcome = Outcome.RETRY
        else:
            outcome = Outcome.FAILED
        status = DeliveryStatus.PENDING if outcome is Outcome.RETRY else DeliveryStatus(outcome.value)
        with db.transaction():
            # Counted in the one UPDATE that checks it is pending: two nodes recording at once (one took
            # over after the other's lease ran out) each get an attempt number of their own.
            row = db.execute(
                "UPDATE webhook_deliveries SET status = ?, attempts = attempts + 1,"
                " next_attempt_at = COALESCE(?, next_attempt_at), updated_at = ?"
                " WHERE id = ? AND status = 'pending' RETURNING attempts",
                (status.value, next_attempt_at, now, delivery_id),
            ).fetchone()
            if row is None:
                found = db.execute(
                    "SELECT status FROM webhook_deliveries WHERE id = ?", (delivery_id,)
                ).fetchone()
                if found is None:
                    raise KeyError(delivery_id)
                raise ValueError(f"webhook delivery {delivery_id} is already {found['status']}")
            attempt = row["attempts"]
            db.execute(
                "INSERT INTO webhook_attempts (delivery_id, attempt, attempted_at, duration, status_code,"
                " error, outcome) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    delivery_id,
                    attempt,
                    now - duration if attempted_at is None else attempted_at,
                    duration,
                    status_code,
                    error,
                    outcome.value,
                ),
            )
        return outcome

    @in_database
    def deliveries_for_fax(self, db: Db, fax_id: str) -> list[Delivery]:
        rows = db.execute(
            f"SELECT {_DELIVERY_COLUMNS} FROM webhook_deliveries WHERE fax_id = ? ORDER BY id", (fax_id,)
        ).fetchall()
        return [_delivery(row) for row in rows]

    @in_database
    def log_for_fax(self, db: Db, fax_id: str) -> list[DeliveryAttempt]:
        """Every attempt at every webhook of a fax, in the order they were made."""
        rows = db.execute(
            "SELECT a.delivery_id, d.event_id, d.event_type, d.url, a.attempt, a.attempted_at, a.duration,"
            " a.status_code, a.error, a.outcome FROM webhook_attempts a"
            " JOIN webhook_deliveries d ON d.id = a.delivery_id WHERE d.fax_id = ? ORDER BY a.id",
            (fax_id,),
        ).fetchall()
        return [
            DeliveryAttempt(
                row["delivery_id"],
                row["event_id"],
                row["event_type"],
                row["url"],
                row["attempt"],
                row["attempted_at"],
                row["duration"],
                row["status_code"],
                row["error"],
                Outcome(row["outcome"]),
            )
            for row in rows
        ]
