"""The gateway's event loop (REST API, job loop, webhooks; and the media path when it runs in-process) keeps
running while its store waits for the database: the store's SQL runs in its own connection thread."""

from __future__ import annotations

from tests.helpers.gateway import Running
from tests.helpers.loop import LOCK_HELD, MOST_STALL, longest_stall, write_lock_held


async def test_an_upload_waiting_for_the_database_lock_does_not_stop_the_gateway_loop(
    running: Running,
) -> None:
    """Another process holds the write lock for 1.5 s while a client uploads a file: the upload is stored
    once the lock goes, and meanwhile the loop never stands still (on the loop, sqlite3 stopped it for the
    whole wait, and the job loop's claim of due faxes, a write too, did the same every 0.5 s)."""
    upload = running.client.post("/v1/files", files={"file": ("note.txt", b"Hello, fax.\n")})
    with write_lock_held(running.gateway.config.database, LOCK_HELD):
        response, stall = await longest_stall(upload)
    assert response.status_code == 201, response.text
    assert stall < MOST_STALL, f"the gateway's event loop stood still for {stall:.3f} s"
    [stored] = await running.gateway.files("acme", [response.json()["id"]])
    assert stored.name == "note.txt"
