"""Pages reported by an engine: its page callback only enqueues; one task records them, in order.

An engine calls its page handler from the media path (SpanDSP's page-complete callback in the native engine,
a message from the media process, an AMI event for Asterisk). Recording a page there (the fax's row, an
event row, the tenant's subscriptions, webhook bodies) held that path for as long as the database took:
with ``busy_timeout`` up to 5 s of every call's 20 ms media. So a handler puts the page on this queue and
returns, and ``run`` records pages one at a time in the order they came; a call's end awaits ``drained``
before it writes how the fax ended, so the final status always follows the fax's page events.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from faxgw.gateway.engines.base import PageHandler, PageTransferred
from faxgw.sip.tasks import Tasks

log = logging.getLogger("gateway.pages")

#: Records one page of one fax (the store, its event, webhooks): awaited by the queue's task, never called by
#: a callback.
PageRecorder = Callable[[PageTransferred], Awaitable[None]]


@dataclass(frozen=True)
class _Page:
    fax_id: str
    record: PageRecorder
    page: PageTransferred


class PageQueue:
    def __init__(self) -> None:
        # Unbounded: an entry is a few bytes, and a full queue could only stall the media or lose a page.
        self._queue: asyncio.Queue[_Page | asyncio.Future[None]] = asyncio.Queue()
        # The task only ends by cancellation; anything else would leave pages unrecorded: it says so.
        self._tasks = Tasks(log, "the page recorder")
        self._task: asyncio.Task[None] | None = None

    def handler(self, fax_id: str, record: PageRecorder) -> PageHandler:
        """The page callback an engine gets for a call of fax ``fax_id``: it queues the page and returns."""

        def on_page(page: PageTransferred) -> None:
            self._queue.put_nowait(_Page(fax_id, record, page))

        return on_page

    async def drained(self) -> None:
        """Return once every page queued before this call is recorded."""
        if self._task is None or self._task.done():  # nobody would ever record them: say so, do not hang
            raise RuntimeError("the page queue is not running (PageQueue.start)")
        marker: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(marker)  # FIFO: the task reaches it after those pages
        await marker

    def start(self) -> None:
        self._task = self._tasks.spawn(self._run())

    async def stop(self) -> None:
        """Record what is queued, then end the task (call it once no engine reports pages any more)."""
        if self._task is None:
            return
        if not self._task.done():
            await self.drained()
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._task = None

    async def _run(self) -> None:
        while True:
            item = await self._queue.get()
            if isinstance(item, asyncio.Future):
                if not item.done():  # its waiter may have been cancelled
                    item.set_result(None)
                continue
            try:
                await item.record(item.page)
            except Exception:  # one page not recorded must not stop the pages after it
                log.exception("fax %s: page %d not recorded", item.fax_id, item.page.page)
