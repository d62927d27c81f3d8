"""The embedded database: one SQLite file in WAL mode (readers never wait for the writer), one process.

Every call runs in the file's connection thread (``gateway.sqlite_thread``): a statement waiting for the
disk or for another connection's write lock (``busy_timeout``) never stops the event loop. The thread runs
calls one at a time, so ``Db.lock`` needs nothing more, and ``Db.transaction`` is ``BEGIN IMMEDIATE``: it
takes the write lock up front, against another process on the same file too.

Nothing crosses to other processes: ``notify`` and ``listen`` do nothing. Several nodes share work on
PostgreSQL (``gateway.store.postgres``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from faxgw.gateway.database import Rows
from faxgw.gateway.sqlite_thread import SqliteThread
from faxgw.gateway.store.schema import migrate
from faxgw.sip.tasks import Tasks

T = TypeVar("T")


#: The connection's settings. WAL: readers never wait for the writer. synchronous=NORMAL: a commit is in the
#: WAL file (the kernel's page cache) when COMMIT returns, so a crash or kill of the process loses nothing
#: committed; the WAL is synced to the disk at each checkpoint, so a power cut or a crash of the operating
#: system may lose the last commits (never the file's consistency). FULL would sync the WAL at every commit:
#: a disk flush per API request. wal_autocheckpoint: the WAL's pages before the writing connection moves
#: them into the database itself (SQLite's default, 1,000, made the store's thread stop for a checkpoint and
#: its two disk flushes every few hundred API requests, every request waiting behind it): a bound only,
#: the checkpointer (``CHECKPOINT_INTERVAL``) keeps the WAL far below it.
PRAGMAS = (
    "journal_mode=WAL",
    "synchronous=NORMAL",
    "foreign_keys=ON",
    "busy_timeout=5000",
    "wal_autocheckpoint=20000",
)
#: Seconds between the checkpointer's passes: its own thread and connection move what the WAL holds into
#: the database file (PASSIVE: it never waits for, nor stops, the store's reads and writes). Often, so that
#: each pass is small: at 1 s, under 1,000 writes a second, a commit of the store's thread stopped for 30 to
#: 50 ms about once a second (the WAL grown by a second of writes, and its flush), and every API request
#: waited behind it (bench/rest_api.py: POST p99 62 ms; at 0.25 s such a commit takes 10 to 25 ms, p99 40).
CHECKPOINT_INTERVAL = 0.25

log = logging.getLogger("gateway.store")


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


def _checkpoint_connection(path: str) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA synchronous=NORMAL")  # as the store's: flushes at each checkpoint
    return db


def _checkpoint(db: sqlite3.Connection) -> None:
    db.execute("PRAGMA wal_checkpoint(PASSIVE)")


class SqliteDatabase:
    """The ``Database`` of one SQLite file; ``thread`` owns its connection, ``checkpointer`` another that
    moves the WAL into the file (off the store's thread, which the API's requests wait for)."""

    def __init__(self, path: str | Path, connect: Callable[[str], sqlite3.Connection] = connect) -> None:
        self.path = str(path)
        self.thread = SqliteThread(functools.partial(connect, self.path), name=f"store {self.path}")
        self.checkpointer = SqliteThread(
            functools.partial(_checkpoint_connection, self.path), name=f"checkpoints {self.path}"
        )
        self._checkpoints = Tasks(log, f"WAL checkpoints of {self.path}")

    async def open(self) -> None:
        await self.thread.start()  # first: it creates the file and its schema
        await self.checkpointer.start()
        self._checkpoints.spawn(self._checkpoint_every(CHECKPOINT_INTERVAL))

    async def close(self) -> None:
        await self._checkpoints.cancel()
        await self.checkpointer.close()
        await self.thread.close()

    async def _checkpoint_every(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.checkpointer.run(_checkpoint)
            except sqlite3.Error:  # the disk full or away for a moment: the next pass tries again
                log.exception("checkpoint of %s failed", self.path)

    async def run(self, work: Callable[[SqliteDb], T]) -> T:
        return await self.thread.run(lambda connection: work(SqliteDb(connection)))

    async def schema_version(self) -> int:
        return await self.thread.run(lambda db: int(db.execute("PRAGMA user_version").fetchone()[0]))

    def listen(self, channel: str, callback: Callable[[str], None]) -> None:
        """Nothing comes: one process per file, and it knows what it did."""
