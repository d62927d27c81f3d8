"""A database as the stores' SQL sees it: SQLite (one file, one process) or PostgreSQL (several nodes).

The stores (``gateway.store.Store``, the webhook outbox) are written once, as plain synchronous SQL on a
``Db``: a connection that takes ``?`` placeholders and gives rows by column name, whichever database is
under it. A ``Database`` runs such work off the event loop (SQLite: in its connection's own thread;
PostgreSQL: in a worker thread with a connection from the pool) and hands back the result as an awaitable,
so no statement ever stops a loop that carries media or API requests.

Each ``run`` is one unit: PostgreSQL runs it in one transaction; SQLite runs it between other calls (one
thread, one call at a time) and ``Db.transaction()`` makes several statements atomic against other processes.

What a database cannot say in plain SQL is a ``Db`` method: ``lock`` (serialise on a name until the work
commits), ``skip_locked`` (leave rows another node is taking), ``notify`` (tell the other nodes, once the work
commits). On SQLite, one process at a time, they are what it needs: nothing, or an exclusive transaction.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

T = TypeVar("T")
P = ParamSpec("P")

Row = Mapping[str, Any]

#: Channels of ``Db.notify`` / ``Database.listen`` (PostgreSQL LISTEN/NOTIFY; nothing crosses on SQLite).
FAX_DUE = "faxgw_due"  # a fax became due to be sent (payload: its id)
FAX_EVENT = "faxgw_event"  # an event of a fax was recorded (payload: the fax's id)
WEBHOOK_DUE = "faxgw_webhook"  # a webhook delivery falls due (payload: when, seconds since the epoch)


class Rows(Protocol):
    """What a statement gave: its rows by column name, or how many rows it changed."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Row | None: ...

    def fetchall(self) -> Sequence[Row]: ...


class Db(Protocol):
    """One connection, inside one ``Database.run``."""

    #: " FOR UPDATE SKIP LOCKED" where rows other nodes are taking are left to them; "" on SQLite.
    skip_locked: str

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Rows:
        """``sql`` with ``?`` placeholders for ``args``; rows come back as mappings by column name."""

    def transaction(self) -> AbstractContextManager[None]:
        """The statements in the ``with`` commit together or not at all."""

    def lock(self, name: str) -> None:
        """Hold ``name`` (any string) against every other node until this work ends."""

    def notify(self, channel: str, payload: str) -> None:
        """Tell the nodes listening on ``channel``, when (and if) this work commits."""


class Database(Protocol):
    async def open(self) -> None:
        """Connect and bring the schema up to date; before any other call."""

    async def close(self) -> None:
        """Let calls under way finish, then refuse any other (``StoreClosed``) and disconnect."""

    async def run(self, work: Callable[[Db], T]) -> T:
        """``work(db)`` off the event loop, as one unit; its result or its exception."""

    async def schema_version(self) -> int: ...

    def listen(self, channel: str, callback: Callable[[str], None]) -> None:
        """``callback(payload)`` on the event loop for every notification on ``channel`` (before ``open``).
        After the database connection was lost and came back, each callback gets ``""``: something may have
        happened meanwhile."""


class OnDatabase(Protocol):
    """A store whose methods are SQL on a ``Db`` (``in_database``)."""

    @property
    def database(self) -> Database: ...


S = TypeVar("S", bound=OnDatabase)


def in_database(
    method: Callable[Concatenate[S, Db, P], T],
) -> Callable[Concatenate[S, P], Coroutine[Any, Any, T]]:
    """``method(self, db, ...)``, plain SQL on a ``Db``, as the coroutine ``method(self, ...)`` that runs it
    with ``self.database.run``: the whole method is one unit, so a transaction in it stays atomic."""

    @functools.wraps(method)
    async def call(self: S, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await self.database.run(lambda db: method(self, db, *args, **kwargs))

    return call


def placeholders(count: int) -> str:
    """``?, ?, ?`` for ``count`` values."""
    return ", ".join("?" * count)
