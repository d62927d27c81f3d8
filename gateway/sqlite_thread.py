"""One SQLite connection owned by a thread of its own: coroutines hand it work and await the result.

sqlite3 blocks. A statement waits for the disk, and a write waits up to ``busy_timeout`` for another
connection's write lock; run on the event loop, that wait stops the loop and every API request, the job
loop and the webhooks with it. So every access to a database goes through one thread that owns its
connection, as aiosqlite does: ``run(work)`` queues ``work(connection)`` and returns its result as an
awaitable. The thread runs calls one at a time in the order they came, so statements that must stay
atomic (a ``BEGIN IMMEDIATE`` ... ``COMMIT``) are one call, and nothing of another call runs between them.

``gateway.store.sqlite`` runs the stores' SQL (``gateway.database.in_database``) here.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable
from typing import Any, TypeVar

#: Every connection thread's name starts with this (tests check that none is left behind).
THREAD_NAME = "faxgw-sqlite"

T = TypeVar("T")

_Work = Callable[[sqlite3.Connection], Any]
#: A call: the caller's loop, the future it awaits there, the work.
_Call = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", _Work]


class StoreClosed(RuntimeError):
    """A call to a database whose connection thread is not running (not started, closed, or its
    connection failed to open): the call was not made."""


class SqliteThread:
    """The thread that owns one sqlite3 connection; ``connect`` opens it, in that thread."""

    def __init__(self, connect: Callable[[], sqlite3.Connection], name: str = "") -> None:
        self._connect = connect
        self._name = f"{THREAD_NAME} {name}".strip()
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        # Taking a call and refusing calls once the thread ends happen under this lock, so that no call
        # is queued after the thread stopped reading the queue (it would wait forever).
        self._lock = threading.Lock()
        self._accepting = False
        self._why_closed = "not started"
        self._thread: threading.Thread | None = None
        self._ended: concurrent.futures.Future[None] = concurrent.futures.Future()

    async def start(self) -> None:
        """Start the thread and open the connection in it; raises what opening raised (the thread has
        ended then). Calls made while it opens run once it is open."""
        if self._thread is not None:
            raise RuntimeError(f"{self._name} was started already")
        opened: concurrent.futures.Future[None] = concurrent.futures.Future()
        with self._lock:
            self._accepting = True
        self._thread = threading.Thread(target=self._serve, args=(opened,), name=self._name, daemon=True)
        self._thread.start()
        # Shielded: a start cancelled half way still ends with a thread that close() stops.
        try:
            await asyncio.shield(asyncio.wrap_future(opened))
        except Exception:
            await self.close()  # it did not open: the thread is ending, and has ended when this raises
            raise

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """``work(connection)`` run in the thread, after every call queued before it; its result or its
        exception. Cancelled before the thread took it, it is not run."""
        # The loop's own future, settled through call_soon_threadsafe: a concurrent.futures.Future and
        # asyncio.wrap_future cost the loop more than most calls' SQL.
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        with self._lock:
            if not self._accepting:
                raise StoreClosed(f"{self._name}: {self._why_closed}")
            self._calls.put((loop, future, work))
        return await future

    async def close(self) -> None:
        """Take no more calls (they raise StoreClosed); run those queued, close the connection and end
        the thread. Safe to call more than once, or without start()."""
        with self._lock:
            if self._accepting:
                self._accepting = False
                self._why_closed = "closed"
                self._calls.put(None)  # after every call taken: they run first
        if self._thread is None:
            return
        await asyncio.shield(asyncio.wrap_future(self._ended))
        self._thread.join()  # it returns right after _ended is set

    def _serve(self, opened: concurrent.futures.Future[None]) -> None:
        try:
            try:
                connection = self._connect()
            except BaseException as error:
                self._refuse_calls(f"the connection did not open: {error!r}")
                opened.set_exception(error)
                return
            opened.set_result(None)
            try:
                while (call := self._calls.get()) is not None:
                    loop, future, work = call
                    if future.cancelled():
                        continue  # its caller stopped waiting before it ran
                    try:
                        result = work(connection)
                    except BaseException as error:
                        _settle(loop, future, None, error)
                    else:
                        _settle(loop, future, result, None)
            finally:
                self._refuse_calls("closed")
                connection.close()
        finally:
            self._ended.set_result(None)

    def _refuse_calls(self, why: str) -> None:
        """From now on a call raises StoreClosed; one queued but never run gets it too."""
        with self._lock:
            self._accepting = False
            self._why_closed = why
        while True:
            try:
                call = self._calls.get_nowait()
            except queue.Empty:
                return
            if call is not None:
                _settle(call[0], call[1], None, StoreClosed(f"{self._name}: {why}"))


def _settle(
    loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any], result: Any, error: BaseException | None
) -> None:
    """Give ``future`` its result or error on its loop (from the thread)."""

    def settle() -> None:
        if future.done():  # cancelled meanwhile
            return
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)

    with contextlib.suppress(RuntimeError):  # its loop is closed: nobody waits any more
        loop.call_soon_threadsafe(settle)
