"""The mail outbox, in the gateway's database (SQLite or PostgreSQL): a mail is stored whole (envelope and
RFC 5322 message) before it is first sent, so neither a refusing server nor a restart loses it; each row
keeps its state, attempts and last error, which is what an operator looks at when a mail did not come.

Several nodes share it: a mail is sent by the node that claims it (``claimed_until``, a lease), and one that
dies with a mail in hand is relieved once the lease runs out.
"""

from __future__ import annotations

import enum
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from faxgw.gateway.database import Database, Db, Row, in_database

_COLUMNS = "id, fax_id, kind, sender, recipients, message, status, attempts, next_attempt_at, last_error"


class MailStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # refused for good (5xx), or every retry used


@dataclass(frozen=True)
class Mail:
    id: str  # the event it was made for, and what it is: sending it twice is storing it once
    fax_id: str
    kind: str  # "fax" (a received fax) | "outcome" (of a fax that came by e-mail)
    sender: str
    recipients: tuple[str, ...]
    message: bytes
    status: MailStatus = MailStatus.PENDING
    attempts: int = 0
    next_attempt_at: float = 0.0
    last_error: str | None = None


def _mail(row: Row) -> Mail:
    return Mail(
        row["id"],
        row["fax_id"],
        row["kind"],
        row["sender"],
        tuple(json.loads(row["recipients"])),
        row["message"].encode("latin-1"),
        MailStatus(row["status"]),
        row["attempts"],
        row["next_attempt_at"],
        row["last_error"],
    )


class MailOutbox:
    """Opened after the store (whose database it shares); every method is a coroutine: its SQL runs off the
    event loop (``in_database``) and commits before returning."""

    def __init__(self, database: Database, *, clock: Callable[[], float] = time.time) -> None:
        self.database = database
        self._clock = clock

    @in_database
    def add(self, db: Db, mail: Mail) -> bool:
        """Store ``mail`` pending, due now; False (and nothing changed) if its id is stored already."""
        now = self._clock()
        with db.transaction():
            added = db.execute(
                "INSERT INTO mail_outbox (id, fax_id, kind, sender, recipients, message, next_attempt_at,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
                (
                    mail.id,
                    mail.fax_id,
                    mail.kind,
                    mail.sender,
                    json.dumps(list(mail.recipients)),
                    mail.message.decode("latin-1"),
                    now,
                    now,
                    now,
                ),
            )
        return added.rowcount == 1

    @in_database
    def get(self, db: Db, mail_id: str) -> Mail | None:
        row = db.execute(f"SELECT {_COLUMNS} FROM mail_outbox WHERE id = ?", (mail_id,)).fetchone()
        return None if row is None else _mail(row)

    @in_database
    def for_fax(self, db: Db, fax_id: str) -> list[Mail]:
        rows = db.execute(
            f"SELECT {_COLUMNS} FROM mail_outbox WHERE fax_id = ? ORDER BY created_at, id", (fax_id,)
        ).fetchall()
        return [_mail(row) for row in rows]

    @in_database
    def unsent(self, db: Db, limit: int) -> list[Mail]:
        """What an operator looks at (``faxgw mail-queue``): pending mails, the next due first, then failed
        ones, the last to fail first; at most ``limit``."""
        rows = db.execute(
            f"SELECT {_COLUMNS} FROM mail_outbox WHERE status <> 'sent' ORDER BY status = 'failed',"
            " CASE WHEN status = 'failed' THEN -next_attempt_at ELSE next_attempt_at END, id LIMIT ?",
            (limit,),
        ).fetchall()
        return [_mail(row) for row in rows]

    @in_database
    def claim_due(self, db: Db, limit: int, lease: float) -> list[Mail]:
        """Up to ``limit`` pending mails due now and not in another node's hands, now in ours for ``lease``
        seconds."""
        now = self._clock()
        claimed = []
        with db.transaction():
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM mail_outbox WHERE status = 'pending' AND next_attempt_at <= ?"
                " AND claimed_until <= ? ORDER BY next_attempt_at, id LIMIT ?",
                (now, now, limit),
            ).fetchall()
            for row in rows:
                taken = db.execute(
                    "UPDATE mail_outbox SET claimed_until = ? WHERE id = ? AND claimed_until <= ?",
                    (now + lease, row["id"], now),
                )
                if taken.rowcount == 1:
                    claimed.append(_mail(row))
        return claimed

    @in_database
    def next_due_at(self, db: Db) -> float | None:
        row = db.execute(
            "SELECT MIN(next_attempt_at) AS due FROM mail_outbox WHERE status = 'pending'"
        ).fetchone()
        return None if row is None or row["due"] is None else float(row["due"])

    @in_database
    def record(self, db: Db, mail_id: str, status: MailStatus, error: str | None, retry_at: float) -> None:
        """The outcome of one attempt: ``status`` (pending again: due at ``retry_at``), and its error."""
        now = self._clock()
        with db.transaction():
            db.execute(
                "UPDATE mail_outbox SET status = ?, attempts = attempts + 1, last_error = ?,"
                " next_attempt_at = ?, claimed_until = 0, updated_at = ? WHERE id = ?",
                (status.value, error, retry_at, now, mail_id),
            )
