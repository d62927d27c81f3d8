"""A store opened for a test, on SQLite or PostgreSQL."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from faxgw.gateway.store import Store
from faxgw.gateway.store.postgres import PostgresDatabase


@contextlib.asynccontextmanager
async def opened(where: str | Path) -> AsyncIterator[Store]:
    """The store on an SQLite file (a path) or a PostgreSQL database (a URL)."""
    store = Store(PostgresDatabase(where) if isinstance(where, str) else where)
    await store.open()
    try:
        yield store
    finally:
        await store.close()
