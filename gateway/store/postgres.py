"""PostgreSQL, for several gateway nodes sharing the work (``database_url = "postgresql://..."``).

psycopg 3 with a connection pool (psycopg_pool): each ``run`` takes a connection in a worker thread of our
own, runs the store's SQL there in one transaction and commits, so the event loop never waits for the
database and several calls go on at once. The nodes meet in the database: claims skip rows another node is
taking (``FOR UPDATE SKIP LOCKED``), limits are serialised on advisory locks (``Db.lock``), and NOTIFY, sent
when the writing transaction commits, wakes the others (``listen``: one connection per node, LISTENing).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import psycopg
from faxgw.gateway.database import Row, Rows
from faxgw.gateway.sqlite_thread import StoreClosed
from faxgw.gateway.store.schema_postgres import migrate
from faxgw.sip.tasks import Tasks
from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

log = logging.getLogger("gateway.store")

T = TypeVar("T")

#: Seconds to wait for the database when a node starts, and for a free connection in the pool.
CONNECT_TIMEOUT = 10.0
#: Longest pause between attempts to get the LISTEN connection back.
LISTEN_RETRY_MAX = 10.0


@functools.lru_cache(maxsize=512)
def _placeholders(statement: str) -> str:
    """The store's ``?`` placeholders as psycopg's ``%s`` (a literal ``%`` doubled first)."""
    return statement.replace("%", "%%").replace("?", "%s")


class PostgresDb:
    """A ``Db`` on a pooled psycopg connection, inside the transaction of one ``run``."""

    skip_locked = " FOR UPDATE SKIP LOCKED"

    def __init__(self, connection: psycopg.Connection[Row]) -> None:
        self.connection = connection

    def execute(self, statement: str, args: Sequence[Any] = ()) -> Rows:
        if not args:
            return self.connection.execute(statement.encode())  # nothing to bind: sent as written
        return self.connection.execute(_placeholders(statement).encode(), list(args))

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        with self.connection.transaction():  # a savepoint within the run's transaction
            yield

    def lock(self, name: str) -> None:
        self.connection.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (name,))

    def notify(self, channel: str, payload: str) -> None:
        self.connection.execute("SELECT pg_notify(%s, %s)", (channel, payload))


class PostgresDatabase:
    """The ``Database`` at ``url`` (a libpq connection string or ``postgresql://`` URL)."""

    def __init__(self, url: str, *, pool_size: int = 8) -> None:
        self.url = url
        self._pool: ConnectionPool[psycopg.Connection[Row]] = ConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            open=False,
            kwargs={"row_factory": dict_row},
            check=ConnectionPool.check_connection,  # a connection the server dropped is replaced, not used
            timeout=CONNECT_TIMEOUT,
            name="faxgw",
        )
        self._threads = concurrent.futures.ThreadPoolExecutor(pool_size, thread_name_prefix="faxgw-postgres")
        self._listeners: defaultdict[str, list[Callable[[str], None]]] = defaultdict(list)
        self._listening = Tasks(log, "PostgreSQL LISTEN")
        self._running: set[asyncio.Future[Any]] = set()
        self._accepting = False

    async def open(self) -> None:
        """Raises ConnectionError, saying where, when the database cannot be reached or refuses us."""
        try:
            await asyncio.get_running_loop().run_in_executor(self._threads, self._open)
        except (psycopg.OperationalError, PoolTimeout) as error:
            await asyncio.get_running_loop().run_in_executor(None, self._shut)
            raise ConnectionError(f"PostgreSQL at {self._where}: {error}".strip()) from None
        self._accepting = True
        if self._listeners:
            # Open once the LISTEN is in place: a notification sent after open() returns is heard.
            listening = asyncio.Event()
            self._listening.spawn(self._listen(listening))
            try:
                await asyncio.wait_for(listening.wait(), CONNECT_TIMEOUT)
            except TimeoutError:
                await self.close()
                raise ConnectionError(f"PostgreSQL at {self._where}: LISTEN not in place") from None

    def _open(self) -> None:
        with psycopg.connect(self.url, autocommit=True, connect_timeout=int(CONNECT_TIMEOUT)) as connection:
            migrate(connection)
        self._pool.open(wait=True, timeout=CONNECT_TIMEOUT)

    async def close(self) -> None:
        self._accepting = False
        await self._listening.cancel()
        if self._running:
            await asyncio.wait(self._running)
        await asyncio.get_running_loop().run_in_executor(None, self._shut)

    def _shut(self) -> None:
        self._threads.shutdown(wait=True)
        self._pool.close()

    async def run(self, work: Callable[[PostgresDb], T]) -> T:
        if not self._accepting:
            raise StoreClosed(f"PostgreSQL store {self._where}: not open")
        future = asyncio.get_running_loop().run_in_executor(self._threads, self._call, work)
        self._running.add(future)
        future.add_done_callback(self._running.discard)
        return await future

    def _call(self, work: Callable[[PostgresDb], T]) -> T:
        with self._pool.connection() as connection:  # commits when the work returns, rolls back if it raises
            return work(PostgresDb(connection))

    async def schema_version(self) -> int:
        row = await self.run(
            lambda db: db.execute("SELECT COALESCE(MAX(version), 0) AS version FROM faxgw_schema").fetchone()
        )
        return int(row["version"]) if row else 0

    def listen(self, channel: str, callback: Callable[[str], None]) -> None:
        if self._accepting:
            raise RuntimeError("listen() before open(): the LISTEN connection starts with the store")
        self._listeners[channel].append(callback)

    async def _listen(self, listening: asyncio.Event) -> None:
        """LISTEN on every channel asked for (``listening`` set once it is), and call back on each
        notification; a lost connection is made again (pausing longer each time), and every callback then
        hears ``""``: it may have missed news."""
        pause, reconnected = 0.5, False
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as connection:
                    for channel in self._listeners:
                        await connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
                    listening.set()
                    if reconnected:
                        for channel in self._listeners:
                            self._tell(channel, "")
                    pause = 0.5
                    async for note in connection.notifies():
                        self._tell(note.channel, note.payload)
            except psycopg.Error as error:
                log.warning(
                    "PostgreSQL %s: LISTEN connection lost (%s); again in %.1f s", self._where, error, pause
                )
            await asyncio.sleep(pause)
            pause, reconnected = min(pause * 2, LISTEN_RETRY_MAX), True

    def _tell(self, channel: str, payload: str) -> None:
        for callback in self._listeners.get(channel, ()):
            try:
                callback(payload)
            except Exception:  # one listener's bug must not stop the others' news
                log.exception("PostgreSQL notification on %s: a listener failed", channel)

    @property
    def _where(self) -> str:
        """The database's host and name, never its password."""
        info = psycopg.conninfo.conninfo_to_dict(self.url)
        return f"{info.get('host', 'localhost')}:{info.get('port', 5432)}/{info.get('dbname', '')}"
