"""Bad requests through the real REST API: each gets the seed's status and code, never a 500, and
nothing is lost or sent. Keys see only their own tenant's faxes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.gateway import OTHER, READ_ONLY, RECEIVER, SENDER, Running

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def file_id(running: Running) -> str:
    return await running.upload(ROOT / "samples" / "sample.pdf")


def payload(file_id: str, **changes) -> dict:
    body = {"from": SENDER, "to": [RECEIVER], "files": [file_id]}
    body.update(changes)
    return body


@pytest.mark.parametrize(
    ("changes", "status", "code"),
    [
        ({"files": ["fl_x"] * 11}, 400, "too_many_files"),
        ({"to": [f"+1555{n:07d}" for n in range(4001)]}, 400, "too_many_destinations"),
        ({"to": ["5550199"]}, 400, "invalid_number_format"),
        ({"from": "+15550100,12"}, 400, "invalid_number_format"),
        ({"options": {"retry": {"count": 4}}}, 400, "invalid_request"),
        ({"options": {"retry": {"delay": 181}}}, 400, "invalid_request"),
        ({"send_time": "2026-12-01T10:00:00Z"}, 400, "invalid_request"),
        ({"send_time": "2026-02-30 10:00:00 +0000"}, 400, "invalid_request"),
        ({"cover_page": {"name_to": "A", "name_from": "B"}}, 400, "invalid_request"),
        ({"files": []}, 400, "invalid_request"),
        ({"colour": "blue"}, 400, "invalid_request"),
        ({"files": ["fl_unknown"]}, 404, "not_found"),
    ],
    ids=[
        "11-files",
        "4001-destinations",
        "bad-to",
        "bad-from-pool",
        "retry-count",
        "retry-delay",
        "send-time-format",
        "impossible-date",
        "cover-subject",
        "no-files",
        "unknown-field",
        "unknown-file",
    ],
)
async def test_bad_send_requests(
    running: Running, file_id: str, changes: dict, status: int, code: str
) -> None:
    response = await running.client.post("/v1/faxes", json=payload(file_id, **changes))
    assert response.status_code == status, response.text
    assert response.json()["error"] == code and response.json()["description"]
    assert (await running.client.get("/v1/faxes")).json()["total"] == 0  # nothing was queued


async def test_malformed_json_and_unsupported_upload(running: Running) -> None:
    response = await running.client.post(
        "/v1/faxes", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"
    upload = await running.client.post("/v1/files", files={"file": ("song.pdf", b"ID3\x03\x00" + bytes(500))})
    assert upload.status_code == 415
    assert upload.json()["error"] == "mimetype_not_supported"
    assert "failed_mimetype_not_supported" in upload.json()["description"]


async def test_keys_and_tenants(running: Running, file_id: str) -> None:
    sent = await running.client.post(
        "/v1/faxes", json=payload(file_id, send_time="2099-01-01 00:00:00 +0000", return_ids=True)
    )
    fax_id = sent.json()["ids"][RECEIVER]
    assert (await running.client.get(f"/v1/faxes/{fax_id}", headers={"Authorization": ""})).status_code == 401
    async with running.as_key("nonsense") as stranger:
        assert (await stranger.get("/v1/faxes")).status_code == 401
    async with running.as_key(READ_ONLY) as reader:
        assert (await reader.get(f"/v1/faxes/{fax_id}")).status_code == 200
        refused = await reader.post("/v1/faxes", json=payload(file_id))
        assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
        assert (await reader.delete(f"/v1/faxes/{fax_id}")).status_code == 403
    async with running.as_key(OTHER) as other:
        assert (await other.get(f"/v1/faxes/{fax_id}")).status_code == 404
        assert (await other.get("/v1/faxes")).json()["total"] == 0
        assert (await other.post("/v1/faxes", json=payload(file_id))).status_code == 404  # not its file
    assert (await running.client.get("/no/such/path")).json()["error"] == "not_found"


async def test_openapi_is_published(running: Running) -> None:
    spec = (await running.client.get("/openapi.json")).json()
    assert {"/v1/files", "/v1/faxes", "/v1/faxes/{fax_id}", "/v1/faxes/{fax_id}/events"} <= set(spec["paths"])
