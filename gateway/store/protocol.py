"""What the service and the jobs need of a store, as a protocol: ``Store`` is one, on SQLite or PostgreSQL
(``gateway.database``); tests wrap it to watch what the jobs do.

Every method is a coroutine: a store never blocks the event loop it is called from (``Store`` runs its
SQL off the loop). Each call is atomic: what must change together (claiming due faxes, taking call slots,
a subscription replacing others) is one call, never a transaction held open across calls.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol, Unpack

from faxgw.gateway.domain import EventType, FaxStatus
from faxgw.gateway.store.records import (
    ApiKey,
    AttemptChanges,
    AttemptRecord,
    DeliveryProfile,
    EventRecord,
    FaxChanges,
    FaxQuery,
    FaxRecord,
    FileRecord,
    Slot,
    Subscription,
    Tenant,
)


class FaxStore(Protocol):
    async def open(self) -> None:
        """Connect and bring the schema up to date; before any other call."""

    async def close(self) -> None:
        """Let calls under way finish, then refuse any other (``StoreClosed``) and disconnect."""

    # -- tenants and keys
    async def create_tenant(self, name: str, tenant_id: str | None = None) -> Tenant: ...

    async def get_tenant(self, tenant_id: str) -> Tenant | None: ...

    async def create_api_key(
        self, tenant_id: str, scopes: Iterable[str], token: str | None = None
    ) -> tuple[ApiKey, str]: ...

    async def api_key(self, token: str) -> ApiKey | None: ...

    async def configure_tenant(self, tenant_id: str, name: str, keys: Mapping[str, Iterable[str]]) -> None:
        """The configuration's tenant and keys exist (made once, whichever node starts first)."""

    # -- files
    async def add_file(self, record: FileRecord) -> FileRecord: ...

    async def get_file(self, tenant_id: str, file_id: str) -> FileRecord | None: ...

    async def get_files(self, tenant_id: str, file_ids: Sequence[str]) -> list[FileRecord]:
        """The tenant's files of ``file_ids`` that exist, in that order (a repeated id: repeated)."""

    async def delete_file(self, tenant_id: str, file_id: str) -> FileRecord | None:
        """The tenant's file forgotten; its record (None: it had none such)."""

    # -- faxes
    async def add_fax(self, fax: FaxRecord) -> FaxRecord: ...

    async def add_faxes(
        self, faxes: Sequence[FaxRecord], event_type: EventType, payloads: Sequence[dict[str, Any]]
    ) -> list[EventRecord]:
        """New faxes with their first events, in one call (``add_fax`` and ``add_event`` each)."""

    async def get_fax(self, fax_id: str, tenant_id: str | None = None) -> FaxRecord | None: ...

    async def fax_and_attempts(
        self, fax_id: str, tenant_id: str
    ) -> tuple[FaxRecord, list[AttemptRecord]] | None:
        """The tenant's fax and its attempts, first first, in one call; None: it has no such fax."""

    async def query_faxes(self, tenant_id: str, query: FaxQuery) -> tuple[list[FaxRecord], int]: ...

    async def update_fax(self, fax_id: str, **changes: Unpack[FaxChanges]) -> None: ...

    async def cancel_fax(self, fax_id: str, description: str) -> FaxRecord | None:
        """Cancelled if still pending (its lease given back); None if it had finished."""

    async def amend_fax(
        self, fax_id: str, comment: dict[str, Any] | None, dialect: str | None, fields: dict[str, Any]
    ) -> FaxRecord | None:
        """Its comment and ``dialect``'s fields changed, atomically; None: no such fax."""

    async def delete_fax(self, fax_id: str) -> None: ...

    async def claim_due(self, owner: str, now: float, lease: float, limit: int) -> list[FaxRecord]: ...

    async def claim_stranded(
        self, owner: str, now: float, lease: float, statuses: Iterable[FaxStatus], *, own: bool
    ) -> list[FaxRecord]: ...

    async def renew_leases(self, owner: str, fax_ids: Sequence[str], until: float) -> list[str]: ...

    # -- limits across every node
    async def take_slots(
        self, owner: str, holder: str, wanted: Sequence[Slot], now: float, until: float
    ) -> str | None: ...

    async def release_slots(self, owner: str, holder: str) -> None: ...

    # -- news from other nodes (gateway.database: FAX_DUE, FAX_EVENT)
    def listen(self, channel: str, callback: Callable[[str], None]) -> None:
        """``callback(payload)`` for each notification on ``channel`` from any node (before ``open``)."""

    # -- attempts
    async def add_attempt(self, attempt: AttemptRecord) -> None: ...

    async def update_attempt(self, fax_id: str, number: int, **changes: Unpack[AttemptChanges]) -> None: ...

    async def attempts(self, fax_id: str) -> list[AttemptRecord]: ...

    # -- what was learned about reaching each destination, per trunk (gateway.jobs.delivery)
    async def delivery_profiles(
        self, destination: str, trunks: Iterable[str]
    ) -> dict[str, DeliveryProfile]: ...

    async def save_delivery_profile(self, destination: str, trunk: str, profile: DeliveryProfile) -> None: ...

    # -- events
    async def add_event(
        self, fax: FaxRecord, event_type: EventType, payload: dict[str, Any]
    ) -> EventRecord: ...

    async def events(self, fax_id: str, after_seq: int = 0) -> list[EventRecord]: ...

    # -- webhook subscriptions
    async def add_subscription(
        self,
        tenant_id: str,
        format: str,
        url: str,
        events: Iterable[str] = (),
        secret: str | None = None,
        *,
        replace: bool = False,
    ) -> Subscription: ...

    async def subscriptions(self, tenant_id: str, format: str | None = None) -> list[Subscription]: ...

    async def delete_subscription(self, tenant_id: str, subscription_id: str) -> bool: ...
