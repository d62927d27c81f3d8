"""The gateway as one object: store, engine, jobs, events and webhooks wired together.

The REST API talks to this (and to nothing below it); ``faxgw serve`` and ``faxgw demo`` start it. What the
API names of the layers below (the store's records and queries, the jobs' webhook renderer types) it
imports from here too, as this module imports them.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import shutil
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from faxgw.gateway.config import Config, EngineKind
from faxgw.gateway.database import WEBHOOK_DUE
from faxgw.gateway.documents.detect import detect
from faxgw.gateway.documents.errors import ConversionError
from faxgw.gateway.domain import EventType, FaxStatus
from faxgw.gateway.engines.base import Engine, EngineStatus
from faxgw.gateway.engines.media_process import MediaProcessEngine
from faxgw.gateway.engines.native import NativeEngine
from faxgw.gateway.jobs.channels import Channels
from faxgw.gateway.jobs.destinations import DestinationRefused, dialable
from faxgw.gateway.jobs.events import EventBus, Renderer
from faxgw.gateway.jobs.events import Rendered as Rendered  # for the API's renderers
from faxgw.gateway.jobs.inbound import InboundJobs
from faxgw.gateway.jobs.leases import Leases
from faxgw.gateway.jobs.outbound import OutboundJobs
from faxgw.gateway.jobs.pages import PageQueue
from faxgw.gateway.jobs.status import RUNNING
from faxgw.gateway.mail import MailNotices, MailOutbox, MailSender
from faxgw.gateway.metrics import Metrics
from faxgw.gateway.netpolicy import AddressError, checked_url
from faxgw.gateway.store import (
    ApiKey,
    AttemptRecord,
    EventRecord,
    FaxQuery,
    FaxRecord,
    FaxStore,
    FileRecord,
    Store,
    Subscription,
    database,
    new_id,
)
from faxgw.gateway.store import FaxOrder as FaxOrder  # for the API's queries
from faxgw.gateway.webhooks import DeliveryStore, RetryPolicy, WebhookDispatcher, address_policy, keys
from faxgw.gateway.webhooks.formats import DropboxForm, SignedJson, TelnyxJson
from faxgw.sip.tasks import Tasks

log = logging.getLogger("gateway")

#: Seconds between looks at the calls still in flight while the gateway drains.
DRAIN_POLL = 0.1
#: Seconds an API key read from the store is trusted before it is read again (``Gateway.authenticate``).
KEY_CACHE_SECONDS = 10.0


@dataclass(frozen=True)
class NewFax:
    """A send request as the job layer needs it (each API dialect builds one)."""

    from_numbers: Sequence[str]
    to: Sequence[str]
    file_ids: Sequence[str]
    resolution: str = "fine"
    cover_page: dict[str, Any] | None = None
    options: dict[str, Any] | None = None
    comment: dict[str, Any] | None = None
    send_at: datetime | None = None
    webhook_url: str | None = None
    webhook_format: str = "native"  # the envelope of webhook_url's events (a dialect's, e.g. telnyx)
    from_fax_id: str | None = None  # resend/forward: that fax's pages follow the files
    #: What a dialect keeps with the fax to show it back (Telnyx's client_state, Dropbox's title, ...), by
    #: dialect name: stored with the fax, in the same write.
    dialect_fields: dict[str, dict[str, Any]] | None = None
    #: A test fax (Dropbox's ``test_mode``): it goes through every state and event, but nothing is dialled
    #: (``gateway.jobs.simulated``).
    test: bool = False


#: The seed's ``from`` for members without a fax number of their own (Fax.Plus; Dropbox without a sender): the
#: call goes out without a number of ours, so it is nobody's to refuse.
NO_NUMBER = "no_number"


class NotFound(LookupError):
    pass


class Refused(ValueError):
    """The request names something its tenant may not use; ``field`` is the request's (``from``, ``to``,
    ``webhook_url``). ``forbidden``: it is not the tenant's to use (another tenant's number: 403 in every
    dialect); otherwise an address the policy refuses (the dialect's answer to bad input)."""

    def __init__(self, field: str, message: str, *, forbidden: bool = False) -> None:
        super().__init__(message)
        self.field = field
        self.forbidden = forbidden


class Conflict(RuntimeError):
    pass


def _engine(config: Config) -> Engine:
    if config.engine is EngineKind.ASTERISK:
        from faxgw.gateway.engines.asterisk import AsteriskEngine  # panoramisk only when Asterisk is used

        return AsteriskEngine(config)
    if config.media_process:
        return MediaProcessEngine(config)
    return NativeEngine(config)


class Gateway:
    def __init__(self, config: Config, engine: Engine | None = None) -> None:
        self.config = config
        config.data_dir.mkdir(parents=True, exist_ok=True)
        # Opened by start(): it connects and migrates, off the loop.
        store = Store(database(config.database_url, config.database, config.database_pool))
        self.store: FaxStore = store
        self.deliveries = DeliveryStore(store.database)  # the outbox: the same database
        self.telnyx_key = keys.load_or_create(config.data_dir / keys.KEY_FILE)
        self.metrics = Metrics()  # this gateway's own registry (several gateways may share a process)
        self.webhooks = WebhookDispatcher(
            self.deliveries,
            config.webhook_secret,
            RetryPolicy(initial_delay=config.webhook_initial_delay, max_attempts=config.webhook_retries),
            formats={
                "faxplus": SignedJson(config.webhook_secret),
                "telnyx": TelnyxJson(self.telnyx_key),
                "dropbox": DropboxForm(),
            },
            addresses=address_policy(config.webhook_allow, config.webhook_deny),
            # A route's webhook_url is the operator's, not a tenant's: posted to wherever it leads.
            trusted_urls={route.webhook_url for route in config.routes if route.webhook_url},
            metrics=self.metrics,
        )
        # The outbox is shared by every node: each hears when another's deliveries fall due.
        self.store.listen(WEBHOOK_DUE, self.webhooks.heard)
        self.events = EventBus(self.store, self.webhooks)  # it listens for other nodes' events
        # Mail out ([mail]): received faxes and e-mailed faxes' outcomes, through an outbox in the database.
        self.mail_outbox = MailOutbox(store.database)
        self.mail = MailSender(config.mail, self.mail_outbox)
        if config.mail.sends:
            self.events.add_consumer(MailNotices(config, self.store, self.mail_outbox, self.mail).on_event)
        self.engine = engine or _engine(config)
        self.channels = Channels(config.channels)  # inbound and outbound calls together
        self.pages = PageQueue()  # engines' page callbacks only enqueue: its task records the pages
        self.leases = Leases(self.store, config.node, config.lease)  # of every fax this node works on
        self.outbound = OutboundJobs(
            config, self.store, self.engine, self.events, self.channels, self.pages, self.leases, self.metrics
        )
        self.inbound = InboundJobs(
            config,
            self.store,
            self.events,
            self.channels,
            self.pages,
            leases=self.leases,
            on_queued=self.outbound.wake,  # a device's relayed fax is due at once
            settle_bridged=self.outbound.settle_bridged,
            metrics=self.metrics,
        )
        self._tasks = Tasks(log, "the lease heartbeat, the outbound job loop or the webhook dispatcher")
        self._keys: dict[str, tuple[float, ApiKey]] = {}  # token -> (trusted until, monotonic; its key)

    async def start(self) -> None:
        await self.store.open()
        await self._bootstrap()
        self.pages.start()
        await self.engine.start(self.inbound.offer, self.inbound.done)
        self._tasks.spawn(self.leases.run())  # the heartbeat: before any fax is claimed
        self._tasks.spawn(self.outbound.run())
        self._tasks.spawn(self.webhooks.run())
        if self.config.mail.sends:
            self._tasks.spawn(self.mail.run())

    async def drain(self, timeout: float) -> bool:
        """Take no new work and let the calls in flight end, for up to ``timeout`` seconds: no more faxes
        claimed, new calls (and the edge's OPTIONS probes) answered 503. True when every call has ended
        (a channel is held until its fax is settled), False when time ran out first."""
        log.info(
            "draining: no new calls or claims; waiting up to %g s for %d call(s)", timeout, self.channels.busy
        )
        self.outbound.drain()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self.engine.drain()
                while self.channels.busy:
                    await asyncio.sleep(DRAIN_POLL)
        if self.channels.busy:
            log.warning("drained for %g s: %d call(s) still in flight are cut", timeout, self.channels.busy)
        return not self.channels.busy

    async def stop(self) -> None:
        await self.outbound.stop()
        await self.webhooks.stop()
        await self.mail.stop()
        await self.engine.close()
        await self.pages.stop()  # no engine reports pages now: record what it did, then the store may close
        await self._tasks.cancel()
        await self.events.close()
        await self.store.close()

    async def _bootstrap(self) -> None:
        """Tenants and keys named in the config exist (created once; tokens are stored hashed)."""
        for tenant in self.config.tenants:
            await self.store.configure_tenant(tenant.id, tenant.name or tenant.id, tenant.keys)

    # -- for the API: its only door to the store and the jobs. Every method that reads or writes the store
    # is a coroutine: the store's calls are awaited, never run on the event loop.
    async def authenticate(self, token: str) -> ApiKey | None:
        """The key of ``token``; a key found is trusted for ``KEY_CACHE_SECONDS`` without reading the store
        again (every request carries one: a read each cost a tenth of a request's time), so a key revoked
        in the database stops working within that time. Unknown tokens are read every time."""
        now = time.monotonic()
        cached = self._keys.get(token)
        if cached is not None and cached[0] > now:
            return cached[1]
        key = await self.store.api_key(token)
        if key is None:
            self._keys.pop(token, None)
        else:
            self._keys[token] = (now + KEY_CACHE_SECONDS, key)
        return key

    def add_webhook_renderer(self, format: str, renderer: Renderer) -> None:
        """Webhooks in envelope ``format`` (an API dialect's) are built by ``renderer``."""
        self.events.add_renderer(format, renderer)

    async def save_file(self, tenant_id: str, name: str, data: bytes) -> FileRecord:
        """Keep an upload (its type checked from the content); raises ConversionError if unsupported."""
        file_id = new_id("fl")
        directory = self.config.data_dir / "files" / tenant_id
        path = directory / file_id  # never the client's name: it is only shown back
        # Up to 150 MB written: off the event loop, which the media path shares.
        kind = await asyncio.to_thread(_keep_document, path, data)
        record = FileRecord(file_id, tenant_id, name, kind, len(data), str(path), time.time())
        return await self.store.add_file(record)

    async def delete_file(self, tenant_id: str, file_id: str) -> None:
        """Forget an upload no fax will use (a mail refused after some of its attachments were kept):
        its record, then its content."""
        record = await self.store.delete_file(tenant_id, file_id)
        if record is not None:
            await asyncio.to_thread(Path(record.path).unlink, missing_ok=True)

    async def files(self, tenant_id: str, file_ids: Sequence[str]) -> list[FileRecord]:
        """The tenant's files of ``file_ids`` that exist, in that order."""
        return await self.store.get_files(tenant_id, file_ids)

    async def submit(
        self, tenant_id: str, request: NewFax, files: Sequence[FileRecord] | None = None
    ) -> list[FaxRecord]:
        """One fax per destination, queued (or scheduled for ``send_at``). ``files``: the tenant's files of
        the request as the caller has just read them (``files``), so that they are not read twice.

        Raises ``Refused`` for a ``from`` number that is not the tenant's (``Config.owner``), a destination it
        may not dial (``gateway.jobs.destinations``) or a webhook URL the policy refuses, ``NotFound`` for a
        file or fax it does not have.
        """
        self.check_senders(tenant_id, request.from_numbers)
        await self.check_destinations(tenant_id, request.to)
        if request.webhook_url is not None:
            await self.check_webhook_url(request.webhook_url)
        if files is None:
            files = await self.files(tenant_id, request.file_ids)
        found = {record.id for record in files if record.tenant_id == tenant_id}
        for file_id in request.file_ids:
            if file_id not in found:
                raise NotFound(f"file {file_id} not found")
        reused = None  # from_fax: the document of an earlier fax, sent after the files
        if request.from_fax_id is not None:
            source = await self.fax(tenant_id, request.from_fax_id)
            if not source.document or not Path(source.document).exists():
                raise NotFound(f"fax {request.from_fax_id} has no pages to reuse")
            reused = source.document
        now = time.time()
        send_at = request.send_at.timestamp() if request.send_at else None
        faxes = []
        for destination in request.to:
            fax = FaxRecord(
                id=new_id("fx"),
                tenant_id=tenant_id,
                direction="outbound",
                from_number=request.from_numbers[0],
                to_number=destination,
                status=FaxStatus.QUEUED,
                created_at=now,
                updated_at=now,
                file_ids=list(request.file_ids),
                resolution=request.resolution,
                webhook_url=request.webhook_url,
                webhook_format=request.webhook_format,
                send_at=send_at,
                next_attempt_at=send_at,
                request={
                    "from_pool": list(request.from_numbers),
                    "options": request.options or {},
                    "cover_page": request.cover_page,
                    "comment": request.comment or {},
                    "reused_document": reused,
                    "dialects": request.dialect_fields or {},
                    "test": request.test,
                },
            )
            faxes.append(fax)
        await self.events.add_faxes(faxes, EventType.QUEUED, {"send_at": send_at})
        if send_at is None or send_at <= time.time():  # a fax for later: the loop's poll finds it in time
            self.outbound.wake()
        return faxes

    def check_senders(self, tenant_id: str, numbers: Sequence[str]) -> None:
        """Every number of a ``from`` pool is one of the tenant's (Fax.Plus: "One of your numbers")."""
        for number in numbers:
            if number != NO_NUMBER and self.config.owner(number) != tenant_id:
                raise Refused("from", f"{number} is not one of your numbers", forbidden=True)

    async def check_destinations(self, tenant_id: str, destinations: Sequence[str]) -> None:
        """Every destination is a number (through the trunk) or a SIP URI the tenant may dial."""
        for destination in destinations:
            try:
                await dialable(self.config, tenant_id, destination)
            except DestinationRefused as error:
                raise Refused("to", str(error), forbidden=error.forbidden) from None

    async def check_webhook_url(self, url: str, field: str = "webhook_url") -> None:
        """A tenant's webhook URL is http(s) and its host resolves to addresses the webhook policy allows
        (``webhook_allow``/``webhook_deny``); every attempt checks it again (``gateway.webhooks``)."""
        try:
            await checked_url(url, self.webhooks.addresses)
        except AddressError as error:
            raise Refused(field, str(error)) from None

    @property
    def telnyx_public_key(self) -> str:
        """What checks our Telnyx-style webhook signatures (the SDK's ``public_key``)."""
        return keys.public_key(self.telnyx_key)

    async def engine_status(self) -> EngineStatus:
        """The engine's trunks, devices and calls in progress now (the console and /metrics show them)."""
        return await self.engine.status()

    async def metrics_text(self) -> bytes:
        """/metrics in Prometheus's text format, the states read now: calls in progress, trunks up and
        registered devices (the engine's status), the webhook outbox's depth."""
        status = await self.engine_status()
        calls = collections.Counter((call.direction, call.mode, call.via) for call in status.calls)
        self.metrics.calls_now(calls)
        for trunk in status.trunks:
            self.metrics.trunk_up.labels(trunk.name).set(int(trunk.up))
        self.metrics.registered_devices.set(sum(1 for device in status.devices if device.contacts))
        self.metrics.webhook_queue.set(await self.deliveries.pending())
        return self.metrics.exposition()

    async def webhooks_log(self, fax_id: str) -> list:
        return await self.deliveries.log_for_fax(fax_id)

    async def fax(self, tenant_id: str, fax_id: str) -> FaxRecord:
        fax = await self.store.get_fax(fax_id, tenant_id)
        if fax is None:
            raise NotFound(f"fax {fax_id} not found")
        return fax

    async def fax_and_attempts(self, tenant_id: str, fax_id: str) -> tuple[FaxRecord, list[AttemptRecord]]:
        """``fax`` and ``attempts`` in one read of the store."""
        found = await self.store.fax_and_attempts(fax_id, tenant_id)
        if found is None:
            raise NotFound(f"fax {fax_id} not found")
        return found

    async def list_faxes(self, tenant_id: str, query: FaxQuery) -> tuple[list[FaxRecord], int]:
        """The page of the tenant's faxes that ``query`` asks for (filtered, sorted and paged by the store,
        never in Python), and how many match in all."""
        return await self.store.query_faxes(tenant_id, query)

    async def attempts(self, fax_id: str) -> list[AttemptRecord]:
        """The calls made for a fax so far, first first."""
        return await self.store.attempts(fax_id)

    async def fax_events(self, fax_id: str) -> list[EventRecord]:
        """The fax's events so far, in order."""
        return await self.store.events(fax_id)

    @asynccontextmanager
    async def watch(self, fax_id: str, after_seq: int = 0) -> AsyncIterator[asyncio.Queue[EventRecord]]:
        """The fax's events after ``after_seq`` (all by default): those stored, then each as any node records
        it, once each and in order, for the length of the ``async with``."""
        queue = self.events.listen(fax_id, after_seq)
        try:
            yield queue
        finally:
            self.events.unlisten(fax_id, queue)

    async def subscriptions(self, tenant_id: str, format: str) -> list[Subscription]:
        """The tenant's standing webhooks in envelope ``format``, oldest first."""
        return await self.store.subscriptions(tenant_id, format)

    async def subscribe(
        self,
        tenant_id: str,
        format: str,
        url: str,
        events: Sequence[str] = (),
        *,
        secret: str | None = None,
        replace: bool = False,
    ) -> Subscription:
        """A standing webhook of the tenant for every fax (``replace``: instead of its others of ``format``);
        check ``url`` with ``check_webhook_url`` first."""
        return await self.store.add_subscription(tenant_id, format, url, events, secret, replace=replace)

    async def unsubscribe(self, tenant_id: str, format: str, subscription_id: str | None = None) -> int:
        """Drop the tenant's standing webhooks of ``format`` (only ``subscription_id``, if given); returns
        how many."""
        dropped = 0
        for subscription in await self.store.subscriptions(tenant_id, format):
            if subscription_id in (None, subscription.id):
                dropped += await self.store.delete_subscription(tenant_id, subscription.id)
        return dropped

    async def cancel(self, tenant_id: str, fax_id: str) -> FaxRecord:
        """Stop a fax that has not finished: a queued one is never sent; a call under way is hung up (at
        once on this node, within a lease renewal on another: ``jobs.leases``). The fax stays, ``cancelled``.
        Raises ``Conflict`` when it has already finished, ``NotFound`` for no such fax."""
        fax = await self.fax(tenant_id, fax_id)
        if fax.direction != "outbound":
            raise Conflict(f"fax {fax_id} is being received, not sent: it cannot be cancelled")
        cancelled = await self.store.cancel_fax(fax.id, "Cancelled by the client.")
        if cancelled is None:
            raise Conflict(f"fax {fax_id} is {fax.status}: it has already finished")
        await self.outbound.cancelled(cancelled)
        return cancelled

    async def amend(
        self,
        tenant_id: str,
        fax_id: str,
        *,
        comment: dict[str, Any] | None = None,
        dialect: str | None = None,
        fields: dict[str, Any] | None = None,
    ) -> FaxRecord:
        """Change a fax's comment, or the fields ``dialect`` keeps with it (Fax.Plus's ``is_read``), at any
        time in its life; the fax as it is now. Raises ``NotFound`` for no such fax."""
        fax = await self.fax(tenant_id, fax_id)
        amended = await self.store.amend_fax(fax.id, comment, dialect, fields or {})
        if amended is None:  # deleted meanwhile
            raise NotFound(f"fax {fax_id} not found")
        return amended

    async def delete(self, tenant_id: str, fax_id: str) -> None:
        """Cancel a fax not yet sent, or delete a finished one and its files (not while its call is up)."""
        fax = await self.fax(tenant_id, fax_id)
        if fax.status in RUNNING:
            raise Conflict(f"fax {fax_id} is {fax.status}: wait for it to finish")
        await self.store.delete_fax(fax.id)
        # The fax's own directory: under data_dir, or under its inbound route's storage.
        directory = Path(fax.document).parent if fax.document else self.config.data_dir / "faxes" / fax.id
        if directory.name == fax.id:
            shutil.rmtree(directory, ignore_errors=True)


def _keep_document(path: Path, data: bytes) -> str:
    """Write an upload at ``path`` and tell its type from the content (ConversionError: not one we fax)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    try:
        return detect(path).value
    except ConversionError:
        path.unlink()
        raise
