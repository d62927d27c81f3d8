"""Where faxes, files, tenants, keys, attempts and events are kept: SQLite (WAL) by default."""

from faxgw.gateway.store.records import (
    ApiKey,
    AttemptRecord,
    EventRecord,
    FaxOrder,
    FaxQuery,
    FaxRecord,
    FileRecord,
    Subscription,
    Tenant,
)
from faxgw.gateway.store.sqlite import Store, new_id

__all__ = [
    "ApiKey",
    "AttemptRecord",
    "EventRecord",
    "FaxOrder",
    "FaxQuery",
    "FaxRecord",
    "FileRecord",
    "Store",
    "Subscription",
    "Tenant",
    "new_id",
]
