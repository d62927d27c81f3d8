"""What a 2xx to ``POST /v1/faxes`` promises: the fax and its documents are stored, and a crash of the
process right after the answer loses neither. The SQLite store runs WAL with ``synchronous=NORMAL`` (the
README says so): every commit is in the WAL file when COMMIT returns."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
from pathlib import Path

import httpx
import pytest
from faxgw.gateway.demo import free_port
from faxgw.gateway.store import sqlite
from faxgw.gateway.store.sqlite import SqliteDatabase

from tests.helpers.gateway import EDIT, SENDER
from tests.helpers.pages import make_document
from tests.helpers.serve_process import start_gateway, wait_api, write_config

WAL_BOUND = "wal_autocheckpoint"
#: Faxes posted at once; the process is killed as soon as the first answer comes.
AT_ONCE = 16


async def test_store_pragmas_are_what_the_readme_says(tmp_path: Path) -> None:
    database = SqliteDatabase(tmp_path / "faxgw.sqlite")
    await database.open()
    try:
        settings = await database.thread.run(
            lambda db: {
                name: db.execute(f"PRAGMA {name}").fetchone()[0]
                for name in (
                    "journal_mode",
                    "synchronous",
                    "foreign_keys",
                    "busy_timeout",
                    "wal_autocheckpoint",
                )
            }
        )
    finally:
        await database.close()
    # synchronous 1 is NORMAL (2 FULL: a disk flush per commit, per API request).
    assert settings == {
        "journal_mode": "wal",
        "synchronous": 1,
        "foreign_keys": 1,
        "busy_timeout": 5000,
        WAL_BOUND: 20000,
    }
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert "synchronous=NORMAL" in readme


async def test_the_checkpointer_moves_the_wal_into_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Off the store's thread: the store's own connection would checkpoint only at 20,000 pages."""
    monkeypatch.setattr(sqlite, "CHECKPOINT_INTERVAL", 0.05)
    path = tmp_path / "faxgw.sqlite"
    database = SqliteDatabase(path)
    await database.open()
    try:
        before = path.stat().st_size
        await database.thread.run(lambda db: db.execute("CREATE TABLE blobs (data BLOB)"))
        for _ in range(200):  # 1.6 MB in 200 commits: 400-odd pages, far below the store's own bound
            await database.thread.run(lambda db: db.execute("INSERT INTO blobs VALUES (?)", (bytes(8000),)))
        async with asyncio.timeout(10):
            while path.stat().st_size < before + 1_000_000:
                await asyncio.sleep(0.05)
    finally:
        await database.close()


def test_posted_faxes_survive_a_kill_right_after_the_answer(tmp_path: Path) -> None:
    document = tmp_path / "one.tif"
    make_document(document, 1)
    config, data_dir = tmp_path / "faxgw.toml", tmp_path / "var"
    api_port = free_port(socket.SOCK_STREAM)
    write_config(config, data_dir, api_port, free_port(socket.SOCK_DGRAM))
    gateway = start_gateway(config, tmp_path / "serve.log")
    try:
        headers = {"Authorization": f"Bearer {EDIT}"}
        with httpx.Client(base_url=f"http://127.0.0.1:{api_port}", headers=headers, timeout=30) as client:
            wait_api(client)
            uploaded = client.post("/v1/files", files={"file": ("one.tif", document.read_bytes())})
            assert uploaded.status_code == 201, uploaded.text
        file_id = uploaded.json()["id"]
        answered = asyncio.run(post_then_kill(api_port, headers, file_id, gateway.pid))
    finally:
        gateway.kill()
        gateway.wait()
    assert gateway.returncode == -signal.SIGKILL  # killed, not stopped: nothing was flushed at exit
    assert answered  # at least the first answer came before the kill

    db = sqlite3.connect(data_dir / "faxgw.sqlite")
    stored = dict(db.execute("SELECT id, to_number FROM faxes").fetchall())
    events = {fax for (fax,) in db.execute("SELECT fax_id FROM events WHERE type = 'queued'")}
    path = db.execute("SELECT path FROM files WHERE id = ?", (file_id,)).fetchone()[0]
    db.close()
    for fax_id, to in answered.items():
        assert stored.get(fax_id) == to
        assert fax_id in events
    assert Path(path).read_bytes() == document.read_bytes()


async def post_then_kill(port: int, headers: dict[str, str], file_id: str, pid: int) -> dict[str, str]:
    """``AT_ONCE`` faxes posted at once, scheduled far ahead; SIGKILL to ``pid`` the moment the first 201
    arrives. The faxes answered 201 (id -> destination)."""
    answered: dict[str, str] = {}
    killed = False

    async def post(client: httpx.AsyncClient, n: int) -> None:
        nonlocal killed
        to = f"+1555030{n:04d}"
        body = {
            "from": SENDER,
            "to": [to],
            "files": [file_id],
            "send_time": "2099-01-01 00:00:00 +0000",
            "return_ids": True,
        }
        try:
            response = await client.post("/v1/faxes", json=body)
        except httpx.TransportError:
            return  # cut by the kill: no promise was made
        assert response.status_code == 201, response.text
        answered[response.json()["ids"][to]] = to
        if not killed:
            killed = True
            os.kill(pid, signal.SIGKILL)

    limits = httpx.Limits(max_connections=AT_ONCE)
    base_url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base_url, headers=headers, limits=limits, timeout=30) as client:
        await asyncio.gather(*(post(client, n) for n in range(AT_ONCE)))
    return answered
