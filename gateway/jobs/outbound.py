"""Sending faxes: the due-fax loop, the number pool and call limits, attempts and retries, and
settling what a dead process or node left in flight.

A fax goes queued -> processing (documents to TIFF-F, once) -> sending (attempt n) -> success |
partially_sent | failed_*, with a retry putting it back to queued with a later ``next_attempt_at``.

Several nodes share the queue: each claims due faxes for itself (``Store.claim_due``), holds them by a
lease its heartbeat renews (``jobs.leases``) and the call slots of each attempt (``jobs.slots``), and
every ``lease / 2`` seconds sweeps up the faxes of a node whose leases ran out (it died): they are
settled as a restarted node settles its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from pathlib import Path

from faxgw.gateway.config import Config
from faxgw.gateway.database import FAX_DUE
from faxgw.gateway.documents import ConversionError, CoverPage, convert
from faxgw.gateway.domain import EventType, FaxStatus
from faxgw.gateway.engines import Resolution
from faxgw.gateway.engines.base import CallResult, Engine, OutboundCall, PageTransferred
from faxgw.gateway.jobs import status as st
from faxgw.gateway.jobs.channels import Channels
from faxgw.gateway.jobs.delivery import Learned
from faxgw.gateway.jobs.destinations import DestinationRefused, dialable
from faxgw.gateway.jobs.events import EventBus
from faxgw.gateway.jobs.leases import Leases
from faxgw.gateway.jobs.pages import PageQueue
from faxgw.gateway.jobs.relay import origin
from faxgw.gateway.jobs.routing import routes_for
from faxgw.gateway.jobs.simulated import simulated_send
from faxgw.gateway.jobs.slots import NumberPicker
from faxgw.gateway.metrics import Metrics
from faxgw.gateway.store import AttemptRecord, FaxRecord, FaxStore
from faxgw.sip.tasks import Tasks

log = logging.getLogger("gateway.jobs")

POLL = 0.5
#: A fax whose call slots are all held elsewhere (its numbers, its destination or its trunk at their
#: limits) is given back and not claimed again for this long: no node spins on it meanwhile.
SLOTS_WAIT = POLL


class OutboundJobs:
    def __init__(
        self,
        config: Config,
        store: FaxStore,
        engine: Engine,
        events: EventBus,
        channels: Channels,
        pages: PageQueue,
        leases: Leases,
        metrics: Metrics | None = None,
    ) -> None:
        self.config = config
        self.metrics = metrics or Metrics()
        self.store = store
        self.engine = engine
        self.events = events
        self.channels = channels  # shared with inbound calls
        self.pages = pages
        self.leases = leases  # shared with inbound calls
        self.node = config.node
        self.numbers = NumberPicker(config, store, config.node)
        # A fax another node queued or gave back: an idle node takes it now, not at its next poll.
        store.listen(FAX_DUE, lambda _: self.wake())
        self._attempts = Tasks(log, "fax attempt")
        self._running: dict[str, asyncio.Task] = {}  # by fax id
        self._wake = asyncio.Event()
        self._stopping = False
        self._draining = False  # claim no more faxes; the attempts under way go on

    # -- life ----------------------------------------------------------------------------------
    def wake(self) -> None:
        """A fax became due (submitted, or its retry time came): look now, not at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        await self.settle_stranded(own=True)
        swept = time.monotonic()
        while not self._stopping:
            try:
                if time.monotonic() - swept >= self.config.lease / 2:
                    swept = time.monotonic()
                    await self.settle_stranded(own=False)
                await self._start_due()
            except Exception:  # the database away for a moment: look again at the next poll
                log.exception("the outbound loop failed; trying again")
            with contextlib.suppress(TimeoutError):  # the poll also catches retries coming due
                await asyncio.wait_for(self._wake.wait(), POLL)
            self._wake.clear()

    def drain(self) -> None:
        """Claim no more faxes (the node is stopping): other nodes, or this one started again, send them."""
        self._draining = True

    async def cancelled(self, fax: FaxRecord) -> None:
        """``fax`` was cancelled (``Store.cancel_fax``): its attempt on this node, if any, stops now (its
        call is hung up), and its end is told as any fax's."""
        self.leases.drop(fax.id)
        if (task := self._running.get(fax.id)) is not None:
            task.cancel()
        await self._publish_end(fax)

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        for task in list(self._running.values()):
            task.cancel()

    # -- recovery --------------------------------------------------------------------------------
    async def settle_stranded(self, *, own: bool) -> None:
        """Faxes a dead process left running: settle each with what is known, never resend blindly. At
        start-up (``own``) this node's own from before it restarted; then, every ``lease / 2`` seconds, any
        other node's whose leases ran out (that node died).

        Pages confirmed by the far end are recorded as they go (``pages_transferred``), so a call cut
        by a crash after its last page is a success, not a fax to send again.
        """
        stranded = await self.store.claim_stranded(
            self.node, time.time(), self.config.lease, st.RUNNING, own=own
        )
        for fax in stranded:
            if not own:
                log.warning(
                    "fax %s: its node stopped renewing its lease while %s: settled here", fax.id, fax.status
                )
            if fax.direction == "inbound":
                status = FaxStatus.PARTIALLY_RECEIVED if fax.pages_transferred else FaxStatus.FAILED
                await self._finish(fax, status, status, "The gateway stopped during the call.")
            elif fax.status == FaxStatus.PROCESSING and fax.document is None and origin(fax) is not None:
                # A device's fax being relayed: its call died with this process, and the fax with it.
                failed = FaxStatus.FAILED
                await self._finish(fax, failed, failed, "The gateway stopped while the device was sending.")
            elif fax.status == FaxStatus.PROCESSING:
                await self.store.update_fax(
                    fax.id, status=FaxStatus.QUEUED, lease_owner=None, lease_until=None
                )
            else:
                await self._settle_cut_call(fax)

    async def _settle_cut_call(self, fax: FaxRecord) -> None:
        """A fax whose call was cut when its node stopped: the pages the far end confirmed count."""
        await self.store.update_attempt(
            fax.id,
            fax.attempts_made,
            ended_at=time.time(),
            status=FaxStatus.FAILED_INTERNAL_PROCESS_ERROR,
            pages_sent=fax.pages_transferred,
        )
        if fax.pages_total and fax.pages_transferred >= fax.pages_total:
            await self._finish(fax, FaxStatus.SUCCESS, None, None)
            return
        status = (
            FaxStatus.PARTIALLY_SENT if fax.pages_transferred else FaxStatus.FAILED_INTERNAL_PROCESS_ERROR
        )
        await self._retry_or_finish(
            fax, status, status, "The gateway stopped during the call.", fax.pages_transferred
        )

    # -- the due loop -----------------------------------------------------------------------------
    async def _start_due(self) -> None:
        free = self.channels.free
        if free <= 0 or self._draining:
            return
        for fax in await self.store.claim_due(self.node, time.time(), self.config.lease, free):
            if not self.channels.take():  # an inbound call took the last channel: another node may send it
                await self._give_back(fax)
                continue
            task = self._attempts.spawn(self._attempt(fax))
            self._running[fax.id] = task
            self.leases.hold(fax.id, task.cancel)  # if another node takes the fax, this attempt stops
            task.add_done_callback(functools.partial(self._done, fax.id))

    def _done(self, fax_id: str, _: asyncio.Future[None]) -> None:
        self._running.pop(fax_id, None)
        self.channels.release()
        self._wake.set()

    async def _give_back(self, fax: FaxRecord, wait: float = 0.0) -> None:
        """Nothing attempted: the fax is queued for any node, at once or after ``wait`` seconds."""
        self.leases.drop(fax.id)
        await self.store.update_fax(
            fax.id,
            status=FaxStatus.QUEUED,
            next_attempt_at=time.time() + wait if wait else fax.next_attempt_at,
            lease_owner=None,
            lease_until=None,
        )

    # -- one attempt --------------------------------------------------------------------------------
    async def _attempt(self, fax: FaxRecord) -> None:
        try:
            if fax.document is None and not await self._process(fax):
                return
            fax = await self.store.get_fax(fax.id) or fax
            if fax.test:
                await self._simulate(fax)
                return
            try:  # checked again at every attempt: the policy or the name's addresses may have changed
                destination = await dialable(self.config, fax.tenant_id, fax.to_number)
                routes = routes_for(self.config, destination)  # the trunks (or device), as configured
            except DestinationRefused as error:
                refused = FaxStatus.FAILED_DESTINATION_NOT_SUPPORTED
                await self._finish(fax, refused, refused, str(error))
                return
            # The routes as what was learned about this destination says to use them (jobs.delivery).
            learned = await Learned.load(
                self.store, destination, routes, memory_days=self.config.learned_delivery_days
            )
            pool = fax.request.get("from_pool") or [fax.from_number]
            now = time.time()
            number = await self.numbers.take(
                fax.id, pool, fax.to_number, learned.routes, now, now + self.config.lease
            )
            if number is None:  # its numbers, its destination or its trunk are busy on some node
                await self._give_back(fax, SLOTS_WAIT)
                return
            try:
                fax, attempt = await self._begin_attempt(fax, number)
                document = Path(fax.document or "")
                call = OutboundCall(
                    fax.id, number, destination, document, fax.first_page, routes=learned.routes
                )
                result = await self.engine.send(
                    call, self.pages.handler(fax.id, functools.partial(self._page_sent, fax))
                )
            finally:  # the call is over: its slots go back before the fax is settled (and taken up again)
                await self.store.release_slots(self.node, fax.id)
            await self.pages.drained()  # its pages are recorded before how the attempt ended
            await self._settle(fax, attempt, result, summary=await learned.learn(result))
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug must not leave the fax "sending" forever
            log.exception("fax %s: attempt failed unexpectedly", fax.id)
            await self.pages.drained()
            failed = FaxStatus.FAILED_INTERNAL_PROCESS_ERROR
            await self._retry_or_finish(fax, failed, failed, "The gateway failed during the call.", 0)

    async def _begin_attempt(self, fax: FaxRecord, number: str) -> tuple[FaxRecord, int]:
        """The fax is ``sending`` its next attempt, from ``number``: recorded and told."""
        attempt = fax.attempts_made + 1
        log.info("fax %s: attempt %d from %s on node %s", fax.id, attempt, number, self.node)
        await self.store.update_fax(
            fax.id, status=FaxStatus.SENDING, from_number=number, attempts_made=attempt
        )
        await self.store.add_attempt(AttemptRecord(fax.id, attempt, time.time(), from_number=number))
        fax = await self.store.get_fax(fax.id) or fax
        started = {"attempt": attempt, "first_page": fax.first_page}
        await self.events.publish(fax, EventType.SENDING_STARTED, started)
        return fax, attempt

    async def _simulate(self, fax: FaxRecord) -> None:
        """A test fax's attempt: as a real one, but its call is ``jobs.simulated``'s (no number taken)."""
        fax, attempt = await self._begin_attempt(fax, fax.from_number)
        call = OutboundCall(fax.id, fax.from_number, fax.to_number, Path(fax.document or ""), fax.first_page)
        on_page = self.pages.handler(fax.id, functools.partial(self._page_sent, fax))
        result = await simulated_send(call, fax.pages_total or 0, on_page)
        await self.pages.drained()
        await self._settle(fax, attempt, result, summary="A test fax: nothing was dialled.")

    async def _process(self, fax: FaxRecord) -> bool:
        """Documents -> one validated TIFF-F, once per fax; a bad document fails the fax at once."""
        await self.store.update_fax(fax.id, status=FaxStatus.PROCESSING)
        directory = self.config.data_dir / "faxes" / fax.id
        directory.mkdir(parents=True, exist_ok=True)
        sources = [
            Path(file.path)
            for file_id in fax.file_ids
            if (file := await self.store.get_file(fax.tenant_id, file_id)) is not None
        ]
        if fax.request.get("reused_document"):
            sources.append(Path(fax.request["reused_document"]))  # from_fax: after the uploaded files
        cover = fax.request.get("cover_page")
        try:
            document = await asyncio.to_thread(
                convert,
                sources,
                directory / "document.tif",
                resolution=Resolution.from_name(fax.resolution),
                cover=CoverPage(
                    name_to=cover["name_to"],
                    name_from=cover["name_from"],
                    subject=cover.get("subject", ""),
                    message=cover.get("message", ""),
                    flags=frozenset(cover.get("flags", [])),
                )
                if cover
                else None,
                processes=self.config.convert_processes or None,
            )
        except ConversionError as error:
            await self._finish(fax, error.code, error.code, error.message)
            return False
        if document.pages > self.config.max_pages:
            too_long = FaxStatus.FAILED_PAGE_COUNT_LIMIT_EXCEEDED
            limit = self.config.max_pages
            why = f"The document has {document.pages} pages: a fax may have {limit} at most."
            await self._finish(fax, too_long, too_long, why)
            return False
        await self.store.update_fax(fax.id, document=str(document.path), pages_total=document.pages)
        processed = await self.store.get_fax(fax.id) or fax
        await self.events.publish(processed, EventType.MEDIA_PROCESSED, {"pages": document.pages})
        return True

    async def _page_sent(self, fax: FaxRecord, page: PageTransferred) -> None:
        """Record a page the far end confirmed (from the page queue's task), at once: if the process dies
        now, recovery knows this page went across."""
        if not self.leases.holds(fax.id):  # another node took the fax: what it recorded stands
            return
        await self.store.update_fax(fax.id, pages_transferred=page.page)
        await self.events.publish(fax, EventType.PAGE_SENT, {"page": page.page})

    async def _settle(
        self, fax: FaxRecord, attempt: int, result: CallResult, *, summary: str | None = None
    ) -> None:
        status, code, description = st.outbound_status(result)
        sent_up_to = fax.first_page - 1 + result.pages
        media = result.diagnostics.media
        self.metrics.call_ended("outbound", status, t38=result.t38, pages=result.pages, media=media)
        await self.store.update_attempt(fax.id, attempt, **st.ended_attempt(result, status, summary))
        await self.store.update_fax(
            fax.id,
            remote_station_id=result.remote_ident or None,
            t38=result.t38,
            bit_rate=result.bit_rate,
            ecm=result.ecm,
            pages_transferred=sent_up_to,
        )
        fax = await self.store.get_fax(fax.id) or fax
        if status == FaxStatus.SUCCESS:
            await self._finish(fax, FaxStatus.SUCCESS, None, None)
        elif st.permanent(result):  # a wrong number, a refusal, no fax machine: another try cannot help
            await self._finish(fax, status, code, description)
        else:
            await self._retry_or_finish(fax, status, code, description, sent_up_to)

    async def settle_bridged(self, fax: FaxRecord, result: CallResult, summary: str) -> None:
        """A device's call relayed in real time ended: its fax is settled as its one attempt (never retried:
        the fax machine on the line saw how it went). The document's length is what the callee was told."""
        await self.store.update_fax(fax.id, pages_total=result.pages_expected or result.pages)
        fax = await self.store.get_fax(fax.id) or fax
        await self._settle(fax, 1, result, summary=summary)

    async def _retry_or_finish(
        self,
        fax: FaxRecord,
        status: FaxStatus,
        code: FaxStatus | None,
        description: str | None,
        sent_up_to: int,
    ) -> None:
        options = fax.request.get("options", {})
        retry = options.get("retry", {})
        attempts_allowed = 1 + int(retry.get("count", 0))
        self.leases.drop(fax.id)  # before its lease is given back below
        if st.retryable(status) and fax.attempts_made < attempts_allowed:
            resume = options.get("partially_sent_retry") and status == FaxStatus.PARTIALLY_SENT
            first_page = sent_up_to + 1 if resume else 1
            await self.store.update_fax(
                fax.id,
                status=FaxStatus.QUEUED,
                error_code=code,
                error_description=description,
                next_attempt_at=time.time() + float(retry.get("delay", 0)),
                first_page=first_page,
                lease_owner=None,
                lease_until=None,
            )
            retry = {"status": status, "next_first_page": first_page}
            await self.events.publish(fax, EventType.RETRY_SCHEDULED, retry)
            self._wake.set()
            return
        await self._finish(fax, status, code, description)

    async def _finish(
        self, fax: FaxRecord, status: FaxStatus, code: FaxStatus | None, description: str | None
    ) -> None:
        self.leases.drop(fax.id)  # before its lease is given back below
        await self.store.update_fax(
            fax.id,
            status=status,
            error_code=code,
            error_description=description,
            completed_at=time.time(),
            lease_owner=None,
            lease_until=None,
        )
        await self._publish_end(await self.store.get_fax(fax.id) or fax)

    async def _publish_end(self, fax: FaxRecord) -> None:
        """The event of a fax that has ended (delivered, or failed as its status says)."""
        self.metrics.faxes.labels("outbound", fax.status).inc()
        data = {"status": fax.status, "pages": fax.pages_transferred, "pages_total": fax.pages_total}
        if fax.error_code:
            data["error"] = {"code": fax.error_code, "description": fax.error_description}
        delivered = fax.status == FaxStatus.SUCCESS
        await self.events.publish(fax, EventType.DELIVERED if delivered else EventType.FAILED, data)
