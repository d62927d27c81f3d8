"""Whether an event loop keeps running while something waits on a database: a ticker that measures the
loop's longest stall, and another connection holding a SQLite file's write lock, as a second gateway
process (or an operator's sqlite3 shell) would."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

#: The ticker's period: the media path's order of time (a 20 ms packet), halved.
TICK = 0.01
#: How long tests hold a database's write lock from another connection ...
LOCK_HELD = 1.5
#: ... and the longest stall of the loop they accept meanwhile: a loop that waited for the lock stood
#: still for about LOCK_HELD; one that did not, for no more than a busy machine's scheduling (0.4 s seen
#: on 2 cores with other test runs beside): half of LOCK_HELD tells the two apart with room on both sides.
MOST_STALL = LOCK_HELD / 2


async def longest_stall(work: Awaitable[T]) -> tuple[T, float]:
    """``work``'s result, and the longest time a ``TICK`` ticker on this loop waited beyond its tick while
    ``work`` ran (about 0 for a loop that never stopped; the length of the block for one that did)."""
    stalls = [0.0]
    due = [time.monotonic() + TICK]  # when the ticker's next tick is due

    async def tick() -> None:
        while True:
            await asyncio.sleep(TICK)
            now = time.monotonic()
            stalls.append(now - due[0])
            due[0] = now + TICK

    ticker = asyncio.ensure_future(tick())
    try:
        await asyncio.sleep(0)  # the ticker is under way before the work starts
        result = await work
    finally:
        ticker.cancel()
        await asyncio.gather(ticker, return_exceptions=True)
    stalls.append(time.monotonic() - due[0])  # a tick still waiting when the work ended (a blocked loop's)
    return result, max(stalls)


@contextlib.contextmanager
def write_lock_held(path: str | Path, seconds: float) -> Iterator[None]:
    """Another connection to the database at ``path`` holds its write lock (``BEGIN IMMEDIATE``) for
    ``seconds`` from entry, in a thread of its own; the ``with`` waits for it to let go at the end."""
    taken = threading.Event()

    def hold() -> None:
        other = sqlite3.connect(path, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            taken.set()
            time.sleep(seconds)
            other.execute("COMMIT")
        finally:
            taken.set()
            other.close()

    holder = threading.Thread(target=hold, name="test write lock")
    holder.start()
    taken.wait()
    try:
        yield
    finally:
        holder.join()
