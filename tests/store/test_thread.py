"""A database's connection thread (gateway/sqlite_thread.py): calls run there one at a time, in order, with
their results and errors; a call cancelled before its turn is not made; close runs what was queued, refuses
the rest with StoreClosed and ends the thread."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from faxgw.gateway.sqlite_thread import THREAD_NAME, SqliteThread, StoreClosed


def running(name: str) -> bool:
    return any(thread.name == f"{THREAD_NAME} {name}" for thread in threading.enumerate())


@pytest.fixture
async def thread(tmp_path: Path) -> AsyncIterator[SqliteThread]:
    opened = SqliteThread(functools.partial(sqlite3.connect, tmp_path / "t.sqlite", isolation_level=None))
    await opened.start()
    yield opened
    await opened.close()


def insert(number: int, db: sqlite3.Connection) -> int:
    db.execute("INSERT INTO t VALUES (?)", (number,))
    return number


async def test_calls_run_in_the_thread_in_order_with_their_results_and_errors(thread: SqliteThread) -> None:
    assert await thread.run(lambda db: threading.get_ident()) != threading.get_ident()
    await thread.run(lambda db: db.execute("CREATE TABLE t (n INTEGER PRIMARY KEY)"))
    numbers = list(range(50))
    assert await asyncio.gather(*(thread.run(functools.partial(insert, n)) for n in numbers)) == numbers
    assert (
        await thread.run(lambda db: [n for (n,) in db.execute("SELECT n FROM t ORDER BY rowid")]) == numbers
    )
    with pytest.raises(sqlite3.IntegrityError):
        await thread.run(functools.partial(insert, 7))
    assert await thread.run(lambda db: "still serving") == "still serving"


async def test_a_call_cancelled_before_its_turn_is_not_made(thread: SqliteThread) -> None:
    gate = threading.Event()
    made: list[str] = []
    busy = asyncio.ensure_future(thread.run(lambda db: gate.wait(5)))
    given_up = asyncio.ensure_future(thread.run(lambda db: made.append("cancelled call")))
    await asyncio.sleep(0)  # both queued, the first one running
    given_up.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await given_up
    gate.set()
    assert await busy
    await thread.run(lambda db: made.append("next call"))
    assert made == ["next call"]


async def test_close_runs_what_was_queued_refuses_the_rest_and_ends_the_thread(tmp_path: Path) -> None:
    thread = SqliteThread(functools.partial(sqlite3.connect, tmp_path / "t.sqlite"), name="closing")
    await thread.start()
    assert running("closing")
    gate = threading.Event()
    busy = asyncio.ensure_future(thread.run(lambda db: gate.wait(5)))
    queued = asyncio.ensure_future(thread.run(lambda db: "ran"))
    await asyncio.sleep(0)
    closing = asyncio.ensure_future(thread.close())
    await asyncio.sleep(0)
    with pytest.raises(StoreClosed, match="closing: closed"):
        await thread.run(lambda db: "too late")
    assert not closing.done()  # it waits for the calls taken before it
    gate.set()
    await closing
    assert await busy and await queued == "ran"
    assert not running("closing")
    with pytest.raises(StoreClosed):
        await thread.run(lambda db: "too late")
    await thread.close()  # again: nothing left to do


async def test_a_connection_that_does_not_open_fails_the_start_and_every_call(tmp_path: Path) -> None:
    thread = SqliteThread(functools.partial(sqlite3.connect, tmp_path / "no" / "such.sqlite"), name="broken")
    with pytest.raises(sqlite3.OperationalError):
        await thread.start()
    with pytest.raises(StoreClosed, match="did not open"):
        await thread.run(lambda db: None)
    await thread.close()
    assert not running("broken")


async def test_a_call_before_start_is_refused(tmp_path: Path) -> None:
    thread = SqliteThread(functools.partial(sqlite3.connect, tmp_path / "t.sqlite"))
    with pytest.raises(StoreClosed, match="not started"):
        await thread.run(lambda db: None)
    await thread.close()
