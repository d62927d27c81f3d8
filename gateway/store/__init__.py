"""Where faxes, files, tenants, keys, attempts and events are kept: SQLite (WAL) by default, PostgreSQL when
several nodes share the work, behind the async ``FaxStore`` interface (the service and the jobs know only
that)."""

from __future__ import annotations

from pathlib import Path

from faxgw.gateway.database import Database
from faxgw.gateway.sqlite_thread import StoreClosed
from faxgw.gateway.store.protocol import FaxStore
from faxgw.gateway.store.records import (
    ApiKey,
    AttemptChanges,
    AttemptRecord,
    DeliveryProfile,
    EventRecord,
    FaxOrder,
    FaxQuery,
    FaxRecord,
    FileRecord,
    Slot,
    Subscription,
    Tenant,
)
from faxgw.gateway.store.sqlite import SqliteDatabase
from faxgw.gateway.store.store import Store, new_id


def database(url: str | None, sqlite_path: Path, pool_size: int = 8) -> Database:
    """PostgreSQL at ``url`` (several nodes), else the SQLite file at ``sqlite_path`` (embedded default)."""
    if url is not None:
        from faxgw.gateway.store.postgres import PostgresDatabase  # psycopg only when PostgreSQL is used

        return PostgresDatabase(url, pool_size=pool_size)
    return SqliteDatabase(sqlite_path)


__all__ = [
    "ApiKey",
    "AttemptChanges",
    "AttemptRecord",
    "Database",
    "DeliveryProfile",
    "EventRecord",
    "FaxOrder",
    "FaxQuery",
    "FaxRecord",
    "FaxStore",
    "FileRecord",
    "Slot",
    "Store",
    "StoreClosed",
    "Subscription",
    "Tenant",
    "database",
    "new_id",
]
