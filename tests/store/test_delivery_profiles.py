"""What the store keeps of learned delivery (``delivery_profiles``): per destination and trunk, across a
reopen of the file, and a database of schema 6 brought to the column it lacks."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from faxgw.gateway.store import DeliveryProfile, Store
from faxgw.gateway.store.schema import MIGRATIONS

DESTINATION = "+15550199"


async def test_a_profile_survives_a_reopen_and_is_kept_per_destination_and_trunk(tmp_path: Path) -> None:
    stepped = DeliveryProfile(
        t38=False, ecm=True, max_rate=9600, failures=2, succeeded_at=None, reason="T.38 refused with 488"
    )
    worked = DeliveryProfile(t38=True, ecm=False, max_rate=14400, failures=0, succeeded_at=1700000000.5)
    store = Store(tmp_path / "faxgw.sqlite")
    await store.open()
    try:
        await store.save_delivery_profile(DESTINATION, "a", stepped)
        await store.save_delivery_profile(DESTINATION, "b", worked)
        await store.save_delivery_profile("+15550111", "a", worked)
    finally:
        await store.close()

    again = Store(tmp_path / "faxgw.sqlite")
    await again.open()
    try:
        assert await again.delivery_profiles(DESTINATION, ["a", "b", "c"]) == {"a": stepped, "b": worked}
        assert await again.delivery_profiles("+15550111", ["a", "b"]) == {"a": worked}
        assert await again.delivery_profiles(DESTINATION, []) == {}
        # Saving again replaces what was there: one profile per destination and trunk.
        recovered = DeliveryProfile(t38=False, ecm=True, max_rate=9600, succeeded_at=1700000100.0)
        await again.save_delivery_profile(DESTINATION, "a", recovered)
        assert await again.delivery_profiles(DESTINATION, ["a"]) == {"a": recovered}
        rows = await again.database.thread.run(
            lambda db: db.execute("SELECT count(*) FROM delivery_profiles WHERE trunk = 'a'").fetchone()[0]
        )
        assert rows == 2
    finally:
        await again.close()


async def test_a_database_of_schema_6_gains_the_reason_and_keeps_its_profiles(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path, isolation_level=None) as old:
        for number, script in enumerate(MIGRATIONS[:6], start=1):
            old.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")
        old.execute(
            "INSERT INTO delivery_profiles (destination, trunk, t38, ecm, max_rate, failures, succeeded_at,"
            " updated_at) VALUES (?, 'a', 0, 1, 9600, 1, NULL, 1.0)",
            (DESTINATION,),
        )
    old.close()
    store = Store(path)
    await store.open()
    try:
        assert await store.delivery_profiles(DESTINATION, ["a"]) == {
            "a": DeliveryProfile(t38=False, ecm=True, max_rate=9600, failures=1)
        }
    finally:
        await store.close()
