"""One dialect shape (gateway.api.dialect): every error of a dialect's routes in its own shape, the key
check's included; a dialect's fields stored with the fax in one write; listings filtered and paged by the
store; the app mounts the dialects it is given. Against a running gateway."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import telnyx
from dropbox_sign import FaxSendRequest
from faxgw.gateway.api import native
from faxgw.gateway.api.app import create_app
from faxgw.gateway.api.dialects import telnyx as telnyx_dialect
from faxgw.gateway.service import EventRecord, FaxRecord, Rendered, Subscription
from faxgw.gateway.store.schema import MIGRATIONS

from tests.helpers.dialects import SAMPLE, call, dropbox_fax, telnyx_client
from tests.helpers.gateway import READ_ONLY, RECEIVER, SENDER, Running, gateway_config, start_running

LATER = "2099-01-01 00:00:00 +0000"  # scheduled: queued faxes that no call takes away
TELNYX_KEY_ERRORS = {401: ("10009", "Authentication failed"), 403: ("10010", "Authorization failed")}


@pytest.mark.parametrize(
    ("token", "method", "path", "status"),
    [
        (None, "GET", "/v2/faxes", 401),
        ("not-a-key", "GET", "/v2/faxes/fx_1", 401),
        (READ_ONLY, "DELETE", "/v2/faxes/fx_1", 403),
    ],
)
async def test_telnyx_answers_a_bad_key_in_its_own_shape(
    running: Running, token: str | None, method: str, path: str, status: int
) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=running.base_url) as client:
        response = await client.request(method, path, headers=headers)
    assert response.status_code == status, response.text
    [error] = response.json()["errors"]
    assert (error["code"], error["title"]) == TELNYX_KEY_ERRORS[status], error
    assert error["detail"]
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_the_telnyx_sdk_reads_a_bad_key_as_its_own_errors(running: Running) -> None:
    with pytest.raises(telnyx.AuthenticationError) as unknown:
        await call(telnyx_client(running, "not-a-key").faxes.list)
    assert unknown.value.body["errors"][0]["code"] == "10009"  # type: ignore[index]
    with pytest.raises(telnyx.PermissionDeniedError) as read_only:
        await call(telnyx_client(running, READ_ONLY).faxes.delete, "fx_1")
    assert read_only.value.body["errors"][0]["code"] == "10010"  # type: ignore[index]


async def test_dropbox_fields_are_stored_with_the_fax(running: Running) -> None:
    """The fax is stored once, with its Dropbox title: already as it is queued (the first event), not
    written again afterwards."""
    seen: list[dict[str, Any]] = []

    async def probe(fax: FaxRecord, event: EventRecord, subscription: Subscription | None) -> Rendered | None:
        if event.type == "queued":
            seen.append(fax.request)
        return None  # nothing to send: it only looks

    running.gateway.add_webhook_renderer("probe", probe)
    await running.gateway.subscribe("acme", "probe", "http://127.0.0.1:9/")
    with SAMPLE.open("rb") as document:
        request = FaxSendRequest(recipient=RECEIVER, sender=SENDER, files=[document], title="Contract")
        sent = (await call(dropbox_fax(running).fax_send, request)).fax
    assert sent.title == "Contract" and sent.original_title == SAMPLE.name
    async with asyncio.timeout(5):
        while not seen:
            await asyncio.sleep(0.01)
    assert seen[0]["dialects"]["dropbox"] == {"title": "Contract", "original_title": SAMPLE.name}
    assert seen[0]["test"] is False  # test_mode is the fax's own (NewFax.test), not a Dropbox field


async def test_listings_are_filtered_and_paged(running: Running) -> None:
    file_id = await running.upload(SAMPLE)
    first = {"from": SENDER, "to": ["+15550301", "+15550302", "+15550303"], "files": [file_id]}
    response = await running.client.post("/v1/faxes", json={**first, "send_time": LATER})
    assert response.status_code == 201, response.text
    await asyncio.sleep(0.01)  # the second request's faxes are created later
    second = {"from": SENDER, "to": ["+15550301"], "files": [file_id], "send_time": LATER}
    assert (await running.client.post("/v1/faxes", json=second)).status_code == 201

    async def telnyx_list(**params: str) -> dict[str, Any]:
        response = await running.client.get("/v2/faxes", params=params)
        assert response.status_code == 200, response.text
        return response.json()

    to_301 = await telnyx_list(**{"filter[to][eq]": "+15550301", "page[size]": "1"})
    assert to_301["meta"] == {"page_number": 1, "page_size": 1, "total_pages": 2, "total_results": 2}
    newest = to_301["data"][0]
    page_2 = await telnyx_list(**{"filter[to][eq]": "+15550301", "page[size]": "1", "page[number]": "2"})
    assert [fax["to"] for fax in page_2["data"]] == ["+15550301"] and page_2["data"][0]["id"] != newest["id"]
    since = datetime.fromisoformat(newest["created_at"].replace("Z", "+00:00")).astimezone(UTC)
    later = await telnyx_list(**{"filter[created_at][gte]": since.isoformat()})
    assert [fax["id"] for fax in later["data"]] == [newest["id"]]
    assert (await telnyx_list(**{"filter[from][eq]": "+15550999"}))["meta"]["total_results"] == 0

    outbox = await running.client.get("/v3/accounts/self/outbox")
    assert len(outbox.json()["records"]) == 4  # Fax.Plus: every fax not sent yet, unpaged
    archived = await running.client.get("/v3/accounts/self/faxes")
    assert archived.json() == {"data": {"records": []}}  # and none of them among the finished ones

    listed = await call(dropbox_fax(running).fax_list, page=2, page_size=3)
    assert (listed.list_info.num_results, listed.list_info.num_pages, len(listed.faxes)) == (4, 2, 1)


async def test_the_app_mounts_the_dialects_it_is_given(running: Running) -> None:
    app = create_app(running.gateway, dialects=(native.DIALECT, telnyx_dialect.DIALECT))
    paths = app.openapi()["paths"]
    assert paths and all(path.startswith(("/v1/", "/v2/")) for path in paths), sorted(paths)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        assert (await client.get("/v3/fax/list")).status_code == 404  # Dropbox is not mounted
        assert (await client.get("/v2/faxes")).status_code == 401


async def test_dialect_fields_of_faxes_stored_before_survive_the_upgrade(tmp_path: Path) -> None:
    """A database of schema 4 kept Telnyx's fields in request.options.telnyx and Dropbox's in
    request.dropbox; migration 5 moves them where the dialects read them now."""
    config = gateway_config(tmp_path / "var")
    config.data_dir.mkdir(parents=True)
    telnyx_fields = {"connection_id": "conn-7", "client_state": "aGk=", "quality": "very_high"}
    old = {
        "fx_telnyx": {"options": {"retry": {"count": 0, "delay": 0}, "telnyx": telnyx_fields}},
        "fx_dropbox": {"options": {}, "dropbox": {"title": "Contract", "original_title": "a.pdf"}},
    }
    with sqlite3.connect(config.database) as connection:
        for number, script in enumerate(MIGRATIONS[:4], start=1):
            connection.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")
        connection.execute("INSERT INTO tenants (id, name, created_at) VALUES ('acme', 'ACME', 0)")
        for fax_id, request in old.items():
            connection.execute(
                "INSERT INTO faxes (id, tenant_id, direction, from_number, to_number, status, request,"
                " created_at, updated_at) VALUES (?, 'acme', 'outbound', ?, ?, 'success', ?, 1, 1)",
                (fax_id, SENDER, RECEIVER, json.dumps(request)),
            )
    connection.close()
    async for running in start_running(config):
        shown = (await running.client.get("/v2/faxes/fx_telnyx")).json()["data"]
        assert {name: shown[name] for name in telnyx_fields} == telnyx_fields
        fax = (await call(dropbox_fax(running).fax_get, "fx_dropbox")).fax
        assert (fax.title, fax.original_title) == ("Contract", "a.pdf")
