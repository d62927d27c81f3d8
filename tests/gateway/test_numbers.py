"""Numbers belong to tenants: ``from`` is one of the sending tenant's numbers (``Config.owner``), in every
dialect, each answering its own 403; ``no_number`` stays where the seeds allow it.

The test config: SENDER is acme's (its own ``tenant``), RECEIVER is acme's (its route), tenant "other" has
no number at all, and +15550111 is nobody's.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.helpers.gateway import OTHER, RECEIVER, SENDER, Running
from tests.helpers.webhooks import Receiver

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "sample.pdf"
NOBODYS = "+15550111"
#: Scheduled far ahead: accepted faxes wait instead of being dialled.
LATER = "2099-01-01 00:00:00 +0000"


async def upload(client: httpx.AsyncClient) -> str:
    response = await client.post("/v1/files", files={"file": (SAMPLE.name, SAMPLE.read_bytes())})
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def test_native_and_faxplus_refuse_a_number_that_is_not_the_tenants(running: Running) -> None:
    async with running.as_key(OTHER) as other:
        file_id = await upload(other)
        for path in ("/v1/faxes", "/v3/accounts/self/outbox"):
            for pool in (SENDER, f"no_number,{SENDER}"):
                body = {"from": pool, "to": [RECEIVER], "files": [file_id], "send_time": LATER}
                response = await other.post(path, json=body)
                assert response.status_code == 403, (path, response.text)
                assert response.json() == {
                    "error": "forbidden",
                    "description": f"from: {SENDER} is not one of your numbers",
                }
        assert (await other.get("/v1/faxes")).json()["total"] == 0
    file_id = await running.upload(SAMPLE)
    for pool in (NOBODYS, f"{SENDER},{NOBODYS}"):
        body = {"from": pool, "to": [RECEIVER], "files": [file_id], "send_time": LATER}
        response = await running.client.post("/v1/faxes", json=body)
        assert response.status_code == 403, response.text
        assert response.json()["description"] == f"from: {NOBODYS} is not one of your numbers"
    assert (await running.client.get("/v1/faxes")).json()["total"] == 0
    # Its own: SENDER by its tenant setting, RECEIVER through acme's route, no_number as the seed allows.
    for pool in (SENDER, RECEIVER, "no_number", f"NO_NUMBER,{SENDER},{RECEIVER}"):
        body = {"from": pool, "to": [RECEIVER], "files": [file_id], "send_time": LATER}
        response = await running.client.post("/v1/faxes", json=body)
        assert response.status_code == 201, (pool, response.text)


async def test_telnyx_refuses_another_tenants_number_before_fetching_media(
    running: Running, receiver: Receiver
) -> None:
    responses = []
    async with running.as_key(OTHER) as other:
        for client, source in ((other, SENDER), (running.client, NOBODYS)):
            body = {"connection_id": "c", "from": source, "to": RECEIVER, "media_url": receiver.url}
            responses.append((source, await client.post("/v2/faxes", json=body)))
    for source, response in responses:
        assert response.status_code == 403, response.text
        [error] = response.json()["errors"]
        assert (error["title"], error["source"]) == ("Forbidden", {"pointer": "/from"})
        assert f"{source} is not one of your numbers" in error["detail"]
    assert receiver.requests == []  # the media_url was never fetched


async def test_dropbox_refuses_another_tenants_sender_and_sends_without_one(
    running: Running, receiver: Receiver
) -> None:
    async with running.as_key(OTHER) as other:
        body = {"recipient": RECEIVER, "sender": SENDER, "file_urls": [receiver.url]}
        response = await other.post("/v3/fax/send", json=body)
    assert response.status_code == 403, response.text
    assert response.json() == {
        "error": {"error_msg": f"sender: {SENDER} is not one of your numbers", "error_name": "forbidden"}
    }
    assert receiver.requests == []
    # Without a sender (Dropbox's caller number is optional), the fax goes out without a number of ours.
    files = {"files[0]": (SAMPLE.name, SAMPLE.read_bytes())}
    response = await running.client.post("/v3/fax/send", data={"recipient": RECEIVER}, files=files)
    assert response.status_code == 200, response.text
    fax = response.json()["fax"]
    assert fax["sender"] == ""
    assert (await running.final(fax["fax_id"]))["status"] == "success"
