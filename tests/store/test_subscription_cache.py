"""A tenant's webhook subscriptions, asked for at every event of every fax: read once on SQLite (one process
per file) and kept until this store changes them; read every time on PostgreSQL, where other nodes change
them."""

from __future__ import annotations

from pathlib import Path

import pytest
from faxgw.gateway.store import Store

from tests.helpers.store import opened


def reads(store: Store, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tenants whose subscriptions are read from the database from now on."""
    read_tenants: list[str] = []
    read = store._read_subscriptions

    async def counted(tenant_id: str, format: str | None = None) -> list:
        read_tenants.append(tenant_id)
        return await read(tenant_id, format)

    monkeypatch.setattr(store, "_read_subscriptions", counted)
    return read_tenants


async def test_sqlite_reads_them_once_until_they_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with opened(tmp_path / "faxgw.sqlite") as store:
        await store.create_tenant("A", "ta")
        await store.create_tenant("B", "tb")
        counted = reads(store, monkeypatch)
        hook = await store.add_subscription("ta", "faxplus", "https://a.example/hook")
        assert [s.id for s in await store.subscriptions("ta")] == [hook.id]
        assert [s.id for s in await store.subscriptions("ta", "faxplus")] == [hook.id]
        assert await store.subscriptions("ta", "dropbox") == []
        assert await store.subscriptions("tb") == []
        assert counted == ["ta", "tb"]

        other = await store.add_subscription("ta", "dropbox", "https://a.example/cb", replace=True)
        assert [s.id for s in await store.subscriptions("ta")] == [hook.id, other.id]
        assert await store.delete_subscription("ta", hook.id)
        assert [s.id for s in await store.subscriptions("ta")] == [other.id]
        assert counted == ["ta", "tb", "ta", "ta"]


async def test_postgresql_reads_them_every_time(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    async with opened(postgres_url) as store:
        await store.create_tenant("A", "ta")
        counted = reads(store, monkeypatch)
        await store.add_subscription("ta", "faxplus", "https://a.example/hook")
        for _ in range(3):
            assert len(await store.subscriptions("ta")) == 1
        assert counted == ["ta", "ta", "ta"]
