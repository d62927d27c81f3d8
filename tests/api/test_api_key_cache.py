"""An API key is read from the store once per ``KEY_CACHE_SECONDS``, not at every request (and once per
request even when the body's bound and the route both ask): a key revoked in the database stops working
within that time. Unknown tokens are read every time."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest
from faxgw.gateway import service
from faxgw.gateway.store import ApiKey, SqliteDatabase, Store

from tests.helpers.gateway import EDIT, gateway_config, start_running

#: The cache's time in this test (the default is 10 s).
TRUSTED = 1.0


def count_reads(store: Store, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tokens the store is asked for from now on."""
    asked: list[str] = []
    read = store.api_key

    async def api_key(token: str) -> ApiKey | None:
        asked.append(token)
        return await read(token)

    monkeypatch.setattr(store, "api_key", api_key)
    return asked


def revoke_every_key(database: SqliteDatabase) -> None:
    """Behind the gateway's back, as an operator's SQL would."""
    db = sqlite3.connect(database.path)
    with db:
        db.execute("UPDATE api_keys SET revoked_at = ?", (time.time(),))
    db.close()


async def test_a_key_is_read_once_then_trusted_until_it_lapses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "KEY_CACHE_SECONDS", TRUSTED)
    async for running in start_running(gateway_config(tmp_path)):
        store = running.gateway.store
        assert isinstance(store, Store) and isinstance(store.database, SqliteDatabase)
        asked = count_reads(store, monkeypatch)
        # A POST with a body: the body's bound and the route both need the key, and read it once.
        posted = await running.client.post("/v1/faxes", json={"from": "x", "to": [], "files": []})
        assert posted.status_code == 400
        for _ in range(3):
            assert (await running.client.get("/v1/faxes")).status_code == 200
        assert asked == [EDIT]

        revoke_every_key(store.database)
        assert (await running.client.get("/v1/faxes")).status_code == 200  # trusted until it lapses
        await asyncio.sleep(TRUSTED + 0.1)
        assert (await running.client.get("/v1/faxes")).status_code == 401
        assert (await running.client.get("/v1/faxes")).status_code == 401
        assert asked == [EDIT, EDIT, EDIT]  # a token without a key is read every time
