"""Fixtures for webhook tests: SQLite stores and dispatchers (the receivers are tests/conftest.py's)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from faxgw.gateway.webhooks import DeliveryStore, WebhookDispatcher

from tests.helpers.webhooks import FAST, RECEIVERS, SECRET, open_database


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "gateway.sqlite3"


@pytest.fixture
def connect(db_path: Path) -> Iterator[Callable[..., sqlite3.Connection]]:
    """Opens the test database as a gateway process would, tables migrated; closes every connection."""
    opened: list[sqlite3.Connection] = []

    def open_connection(autocommit: bool = True) -> sqlite3.Connection:
        opened.append(open_database(db_path, autocommit=autocommit))
        return opened[-1]

    yield open_connection
    for connection in opened:
        connection.close()


@pytest.fixture
def store(connect: Callable[[], sqlite3.Connection]) -> DeliveryStore:
    return DeliveryStore(connect())


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
