"""The embedded database: one SQLite file in WAL mode (readers never wait for the writer), one process.

Every call runs in the file's connection thread (``gateway.sqlite_thread``): a statement waiting for the
disk or for another connection's write lock (``busy_timeout``) never stops the event loop. The thread runs
calls one at a time, so ``Db.lock`` needs nothing more, and ``Db.transaction`` is ``BEGIN IMMEDIATE``: it
takes the write lock up front, against another process on the same file too.

Nothing crosses to other processes: ``notify`` and ``listen`` do nothing. Several nodes share work on
PostgreSQL (``gateway.store.postgres``).
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from faxgw.gateway.database import Rows
from faxgw.gateway.sqlite_thread import SqliteThread
from faxgw.gateway.store.schema import migrate

T = TypeVar("T")


#: The connection's settings. WAL: readers never wait for the writer. synchronous=NORMAL: a commit is in the
#: WAL file (the kernel's page cache) when COMMIT returns, so a crash or kill of the process loses nothing
#: committed; the WAL is synced to the disk at each checkpoint, so a power cut or a crash of the operating
#: system may lose the last commits (never the file's consistency). FULL would sync the WAL at every commit:
#: a disk flush per API request.
PRAGMAS = ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=5000")


def connect(path: str) -> sqlite3.Connection:
    """The store's connection to the file at ``path``, its schema brought up to date (``migrate``)."""
    # isolation_level=None: we say where transactions start (BEGIN IMMEDIATE) ourselves.
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.row_factory = sqlite3.Row
        for pragma in PRAGMAS:
            db.execute(f"PRAGMA {pragma}")
        migrate(db)
    except BaseException:
        db.close()
        raise
    return db


class SqliteDb:
    """A ``Db`` on the thread's sqlite3 connection (``connection``: for what only SQLite has)."""

    skip_locked = ""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Rows:
        return self.connection.execute(sql, args)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        if self.connection.in_transaction:  # a connection opened outside autocommit (tests) has begun
            with self.connection:
                yield
            return
        self.connection.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.connection.execute("ROLLBACK")
            raise
        self.connection.execute("COMMIT")

    def lock(self, name: str) -> None:
        """Nothing to do: one thread runs every call of this process, and a transaction holds the file."""

    def notify(self, channel: str, payload: str) -> None:
        """Nobody to tell: one process per file."""


class SqliteDatabase:
    """The ``Database`` of one SQLite file; ``thread`` owns its connection."""

    def __init__(self, path: str | Path, connect: Callable[[str], sqlite3.Connection] = connect) -> None:
        self.path = str(path)
        self.thread = SqliteThread(functools.partial(connect, self.path), name=f"store {self.path}")

    async def open(self) -> None:
        await self.thread.start()

    async def close(self) -> None:
        await self.thread.close()

    async def run(self, work: Callable[[SqliteDb], T]) -> T:
        return await self.thread.run(lambda connection: work(SqliteDb(connection)))

    async def schema_version(self) -> int:
        return await self.thread.run(lambda db: int(db.execute("PRAGMA user_version").fetchone()[0]))

    def listen(self, channel: str, callback: Callable[[str], None]) -> None:
        """Nothing comes: one process per file, and it knows what it did."""
