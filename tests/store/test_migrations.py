"""Migrations are fixed texts: what a database in the field ran under a number is what the code says.

A migration built from another module's constants (or an f-string) changes whenever that module does, and
a database migrated before the change would silently differ from one migrated after it.
"""

from __future__ import annotations

import ast
import sqlite3
from pathlib import Path

import faxgw.gateway.store.schema as schema_module
import faxgw.gateway.store.schema_postgres as postgres_schema_module
import psycopg
import pytest
from faxgw.gateway.store import FaxQuery, Store
from faxgw.gateway.store.schema import MIGRATIONS
from faxgw.gateway.webhooks import DeliveryStore

#: A file as migrations 1 to 3 of the code before issue 11 left it, with a row in every table.
VERSION_3 = Path(__file__).parent / "data" / "schema_v3.sql"


def _source(module: object = schema_module) -> ast.Module:
    return ast.parse(Path(module.__file__).read_text())  # type: ignore[attr-defined]


@pytest.mark.parametrize("module", [schema_module, postgres_schema_module], ids=["sqlite", "postgresql"])
def test_every_migration_is_a_plain_string_literal(module: object) -> None:
    migrations = module.MIGRATIONS  # type: ignore[attr-defined]
    (listed,) = [
        node.value
        for node in ast.walk(_source(module))
        if isinstance(node, ast.AnnAssign)
        and isinstance(node.target, ast.Name)
        and node.target.id == "MIGRATIONS"
    ]
    assert isinstance(listed, ast.List) and len(listed.elts) == len(migrations)
    not_literal = [ast.unparse(e)[:60] for e in listed.elts if not isinstance(e, ast.Constant)]
    assert not not_literal, f"migrations built at run time: {not_literal}"
    assert all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in listed.elts)


@pytest.mark.parametrize("module", [schema_module, postgres_schema_module], ids=["sqlite", "postgresql"])
def test_the_schema_imports_nothing_of_the_gateway(module: object) -> None:
    imported = [
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(_source(module))
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    ]
    assert not [name for name in imported if name and name.startswith("faxgw")], imported


def _schema(connection: sqlite3.Connection) -> list[tuple[str, str, str]]:
    """Every table and index as SQLite keeps it, whitespace aside (it keeps the CREATE text as written)."""
    rows = connection.execute(
        "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY type, name"
    ).fetchall()
    return [(kind, name, " ".join(sql.split())) for kind, name, sql in rows]


async def test_a_database_migrated_by_the_old_code_opens_and_ends_as_a_new_one(tmp_path: Path) -> None:
    old = tmp_path / "old.sqlite"
    with sqlite3.connect(old) as connection:
        connection.executescript(VERSION_3.read_text())
    connection.close()
    store, new = Store(old), Store(tmp_path / "new.sqlite")
    await store.open()
    await new.open()
    try:
        assert await store.schema_version() == len(MIGRATIONS)
        # Its rows are all there and readable through today's code.
        fax = await store.get_fax("fx_old", "acme")
        assert fax is not None
        assert (fax.status, fax.webhook_format, fax.pages_transferred) == ("success", "telnyx", 2)
        assert await store.query_faxes("acme", FaxQuery(direction="outbound")) == ([fax], 1)
        assert [a.status for a in await store.attempts("fx_old")] == ["success"]
        assert [e.id for e in await store.events("fx_old")] == ["evt_old"]
        assert [s.id for s in await store.subscriptions("acme", "faxplus")] == ["hook_old"]
        deliveries = DeliveryStore(store.database)
        assert [(d.format, d.status.value) for d in await deliveries.deliveries_for_fax("fx_old")] == [
            ("telnyx", "delivered")
        ]
        assert [a.status_code for a in await deliveries.log_for_fax("fx_old")] == [200]
        # Same tables, columns and indexes as a database made by today's migrations from nothing.
        assert await store.database.thread.run(_schema) == await new.database.thread.run(_schema)
    finally:
        await store.close()
        await new.close()


def test_migrations_one_to_three_still_mean_what_the_old_code_ran(tmp_path: Path) -> None:
    """Run today's first three on an empty file: the schema is the one the old code left (the fixture)."""
    today = sqlite3.connect(tmp_path / "today.sqlite", isolation_level=None)
    for number, script in enumerate(MIGRATIONS[:3], start=1):
        today.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")
    old = sqlite3.connect(tmp_path / "old.sqlite")
    old.executescript(VERSION_3.read_text())
    assert _schema(today) == _schema(old)
    today.close()
    old.close()


def _sqlite_tables(connection: sqlite3.Connection) -> dict[str, list[str]]:
    tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return {
        table: sorted(row[1] for row in connection.execute(f"PRAGMA table_info({table})"))
        for table in tables
        if not table.startswith("sqlite_")
    }


def _sqlite_indexes(connection: sqlite3.Connection) -> set[str]:
    """Named indexes (not those SQLite makes for primary keys and UNIQUE)."""
    rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
    return {name for (name,) in rows if not name.startswith("sqlite_autoindex")}


def test_both_databases_are_migrated_to_the_same_tables_columns_and_indexes(
    tmp_path: Path, postgres_url: str
) -> None:
    """Migration n means the same on both: the same number of them, and what they leave agrees."""
    assert len(postgres_schema_module.MIGRATIONS) == len(MIGRATIONS)
    lite = sqlite3.connect(tmp_path / "lite.sqlite", isolation_level=None)
    schema_module.migrate(lite)
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        assert postgres_schema_module.migrate(connection) == len(MIGRATIONS)
        assert postgres_schema_module.migrate(connection) == len(MIGRATIONS)  # again: nothing to do
        columns = connection.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public'"
        ).fetchall()
        indexes = connection.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = 'public'"
        ).fetchall()
    postgres_tables: dict[str, list[str]] = {}
    for table, column in columns:
        postgres_tables.setdefault(table, []).append(column)
    postgres_tables.pop("faxgw_schema")  # where PostgreSQL keeps the version (SQLite: PRAGMA user_version)
    assert {table: sorted(names) for table, names in postgres_tables.items()} == _sqlite_tables(lite)
    # Named indexes agree; PostgreSQL also names its primary keys' and unique constraints' (*_pkey, *_key).
    named = {name for (name,) in indexes if not name.endswith(("_pkey", "_key"))}
    assert named == _sqlite_indexes(lite)
    lite.close()
