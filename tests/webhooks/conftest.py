"""Fixtures for webhook tests: SQLite stores and dispatchers (the receivers are tests/conftest.py's)."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from faxgw.gateway.store.sqlite import SqliteDatabase
from faxgw.gateway.webhooks import DeliveryStore, WebhookDispatcher

from tests.helpers.webhooks import FAST, RECEIVERS, SECRET, open_database


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "gateway.sqlite3"


@pytest.fixture
async def connect(db_path: Path) -> AsyncIterator[Callable[..., Awaitable[SqliteDatabase]]]:
    """Opens the test database as a gateway process would, tables migrated, each time in a connection
    thread of its own (another process, to the database); closes every one."""
    opened: list[SqliteDatabase] = []

    async def open_connection(autocommit: bool = True) -> SqliteDatabase:
        opened.append(SqliteDatabase(db_path, functools.partial(open_database, autocommit=autocommit)))
        await opened[-1].open()
        return opened[-1]

    yield open_connection
    for thread in opened:
        await thread.close()


@pytest.fixture
async def store(connect: Callable[[], Awaitable[SqliteDatabase]]) -> DeliveryStore:
    return DeliveryStore(await connect())


@pytest.fixture
async def make_dispatcher() -> AsyncIterator[Callable[..., WebhookDispatcher]]:
    """Builds dispatchers and stops every one at the end of the test (stop() may run twice)."""
    made: list[WebhookDispatcher] = []

    def build(store: DeliveryStore, **options: object) -> WebhookDispatcher:
        options.setdefault("policy", FAST)
        options.setdefault("addresses", RECEIVERS)
        dispatcher = WebhookDispatcher(store, options.pop("secret", SECRET), **options)  # type: ignore[arg-type]
        made.append(dispatcher)
        return dispatcher

    yield build
    for dispatcher in made:
        await dispatcher.stop()
