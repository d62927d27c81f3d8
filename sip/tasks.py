"""Background tasks with an owner: the one way this code base starts a task it does not await then and
there. Each task is kept until it ends (the event loop itself holds tasks only weakly, so an unkept
task can vanish mid-way), its failure is logged with what it was (an exception in a task nobody
awaits is otherwise seen only when the task is garbage collected, if ever), and the owner cancels
what is left when it closes. It lives in ``sip``, the lowest layer, so the gateway uses it too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


class Tasks:
    """The background tasks of one owner; ``what`` names them in the log (a callable when the name is
    known only later, e.g. a call's Call-ID)."""

    def __init__(self, log: logging.Logger, what: str | Callable[[], str]) -> None:
        self._log = log
        self._what = what
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, work: Awaitable[T]) -> asyncio.Task[T]:
        task: asyncio.Task[T] = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def __len__(self) -> int:
        """How many are still running."""
        return len(self._tasks)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            what = self._what if isinstance(self._what, str) else self._what()
            self._log.error("%s failed: %r", what, error, exc_info=error)

    def cancel_all(self) -> None:
        """Ask every task still running to stop (for an owner whose close() cannot wait)."""
        for task in list(self._tasks):
            task.cancel()

    async def cancel(self) -> None:
        """Cancel every task still running and wait until they have all ended."""
        tasks = list(self._tasks)
        self.cancel_all()
        await asyncio.gather(*tasks, return_exceptions=True)
