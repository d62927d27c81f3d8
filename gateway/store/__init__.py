"""Where faxes, files, tenants, keys, attempts and events are kept: SQLite (WAL) by default, behind the
async ``FaxStore`` interface (the service and the jobs know only that)."""

from faxgw.gateway.sqlite_thread import StoreClosed
from faxgw.gateway.store.protocol import FaxStore
from faxgw.gateway.store.records import (
    ApiKey,
    AttemptRecord,
    DeliveryProfile,
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
    "DeliveryProfile",
    "EventRecord",
    "FaxOrder",
    "FaxQuery",
    "FaxRecord",
    "FaxStore",
    "FileRecord",
    "Store",
    "StoreClosed",
    "Subscription",
    "Tenant",
    "new_id",
]
