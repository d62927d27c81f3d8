"""The Dropbox Fax dialect, driven by the official SDK (dropbox-sign), unmodified: only its host is ours."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from dropbox_sign import ApiException, FaxApi, FaxResponse, FaxResponseTransmission, FaxSendRequest
from faxgw.gateway.api.dialects import dropbox as dropbox_dialect

from tests.helpers.dialects import SAMPLE, call, dropbox_fax, fax
from tests.helpers.gateway import EDIT, READ_ONLY, RECEIVER, SENDER, Running


async def until_final(api: FaxApi, fax_id: str, timeout: float = 60) -> FaxResponse:
    """The fax once its one transmission is no longer ``transmitting``, polled through the SDK."""
    async with asyncio.timeout(timeout):
        while (found := (await call(api.fax_get, fax_id)).fax).transmissions[0].status_code == "transmitting":
            await asyncio.sleep(0.05)
    return found


async def test_send_get_list_download_delete(running: Running) -> None:
    api = dropbox_fax(running)
    with SAMPLE.open("rb") as document:
        request = FaxSendRequest(
            recipient=RECEIVER,
            sender=SENDER,
            files=[document],
            title="Quarterly report",
            cover_page_to="Accounts",
            cover_page_message="Two pages follow",
        )
        sent = (await call(api.fax_send, request)).fax
    assert sent.fax_id and sent.title == "Quarterly report" and sent.original_title == SAMPLE.name
    assert sent.sender == SENDER and sent.test_mode is False and sent.message == "Two pages follow"
    assert sent.files_url.endswith(f"/v3/fax/files/{sent.fax_id}")
    assert sent.final_copy_uri is None  # queued: nothing completed yet
    [transmission] = sent.transmissions
    assert transmission.recipient == RECEIVER and transmission.status_code in ("transmitting", "success")

    fax = await until_final(api, sent.fax_id)
    assert fax.transmissions[0].status_code == "success", fax
    assert isinstance(fax.transmissions[0].sent_at, int) and fax.created_at <= fax.transmissions[0].sent_at

    # The final copy: a link the client fetches with its own key (basic auth, as the SDK authenticates).
    assert fax.final_copy_uri == fax.files_url
    async with httpx.AsyncClient(auth=(EDIT, ""), timeout=30) as client:
        copy = await client.get(fax.final_copy_uri)
    assert copy.status_code == 200 and copy.content.startswith(b"%PDF")

    # A real fax was dialled: the receiver's copy (same tenant) is listed too. A page of one, then all.
    listed = await call(api.fax_list, page=1, page_size=1)
    assert listed.list_info.num_results == 2 and listed.list_info.page_size == 1 and len(listed.faxes) == 1
    everything = await call(api.fax_list)
    assert sent.fax_id in [f.fax_id for f in everything.faxes]
    assert everything.list_info.page == 1 and everything.list_info.page_size == 20

    pdf = await call(api.fax_files, sent.fax_id)
    data = pdf.read()  # the SDK answers with an io.BytesIO
    assert data.startswith(b"%PDF")

    assert await call(api.fax_delete, sent.fax_id) is None
    with pytest.raises(ApiException) as gone:
        await call(api.fax_get, sent.fax_id)
    assert gone.value.status == 404
    assert gone.value.data.error.error_name == "not_found"


async def test_bad_requests_in_dropbox_shape(running: Running) -> None:
    api = dropbox_fax(running)
    with SAMPLE.open("rb") as document, pytest.raises(ApiException) as bad:
        await call(api.fax_send, FaxSendRequest(recipient="not a number", files=[document]))
    assert bad.value.status == 400
    assert bad.value.data.error.error_name == "bad_request" and "recipient" in bad.value.data.error.error_msg

    with pytest.raises(ApiException) as unauthorized:
        await call(dropbox_fax(running, "wrong-token").fax_list)
    assert unauthorized.value.status == 401
    assert unauthorized.value.data.error.error_name == "unauthorized"

    with SAMPLE.open("rb") as document, pytest.raises(ApiException) as forbidden:
        await call(
            dropbox_fax(running, READ_ONLY).fax_send, FaxSendRequest(recipient=RECEIVER, files=[document])
        )
    assert forbidden.value.status == 403

    # Bearer works as well, and query validation errors come back in the same shape.
    response = await running.client.get("/v3/fax/list", params={"page_size": 500})
    assert response.status_code == 400
    assert response.json()["error"]["error_name"] == "bad_request"
    assert response.json()["error"]["error_path"] == "page_size"


async def test_file_urls_to_a_refused_number(running: Running, samples_server: str) -> None:
    """No files: the SDK sends JSON; the gateway fetches the URL. The number is not served: an error code."""
    api = dropbox_fax(running)
    request = FaxSendRequest(recipient="+15550190", file_urls=[f"{samples_server}/{SAMPLE.name}"])
    sent = (await call(api.fax_send, request)).fax
    assert sent.original_title == SAMPLE.name and sent.sender == "" and sent.test_mode is False
    fax = await until_final(api, sent.fax_id)
    assert fax.transmissions[0].status_code == "error_bad_destination", fax  # SIP 404 from our own engine
    assert fax.metadata["error"]["code"] == "failed_unallocated_number"

    with pytest.raises(ApiException) as missing:
        await call(
            api.fax_send, FaxSendRequest(recipient=RECEIVER, file_urls=[f"{samples_server}/nothing.pdf"])
        )
    assert missing.value.status == 400 and "404" in missing.value.data.error.error_msg


@pytest.mark.parametrize(
    ("status", "code"),
    [
        ("queued", "transmitting"),
        ("sending", "transmitting"),
        ("success", "success"),
        ("failed_user_busy", "error_busy"),
        ("failed_no_answer", "error_no_answer"),
        ("failed_fs_49", "error_could_not_fax"),
        ("partially_sent", "error_disconnected"),
        ("failed_unallocated_number", "error_bad_destination"),
        ("failed_mimetype_not_supported", "error_file"),
        ("failed", "error_unknown"),
    ],
)
def test_status_codes(status: str, code: str) -> None:
    assert dropbox_dialect.status_code(fax(status)) == code


async def test_test_mode_is_simulated_never_dialled(running: Running) -> None:
    """The gateway faxes itself: a real fax to RECEIVER comes back as an inbound fax, a test fax must not."""
    api = dropbox_fax(running)
    with SAMPLE.open("rb") as document:
        request = FaxSendRequest(recipient=RECEIVER, sender=SENDER, files=[document], test_mode=True)
        sent = (await call(api.fax_send, request)).fax
    assert sent.test_mode is True
    fax = await until_final(api, sent.fax_id)
    assert fax.transmissions[0].status_code == "success" and fax.test_mode is True, fax
    await asyncio.sleep(0.5)  # time for a call, had one been made, to be seen
    listed = await call(api.fax_list)
    assert [f.fax_id for f in listed.faxes] == [sent.fax_id] and listed.list_info.num_results == 1
    inbound = await running.client.get("/v1/faxes", params={"direction": "inbound"})
    assert inbound.json()["faxes"] == []
    assert (await running.gateway.fax("acme", sent.fax_id)).test


async def test_files_and_file_urls_together_refused(running: Running, samples_server: str) -> None:
    api = dropbox_fax(running)
    with SAMPLE.open("rb") as document, pytest.raises(ApiException) as both:
        await call(
            api.fax_send,
            FaxSendRequest(
                recipient=RECEIVER, files=[document], file_urls=[f"{samples_server}/{SAMPLE.name}"]
            ),
        )
    assert both.value.status == 400
    error = both.value.data.error
    assert error.error_name == "bad_request" and error.error_path == "file_urls"
    assert "not both" in error.error_msg
    assert (await call(api.fax_list)).list_info.num_results == 0


async def test_email_recipient_not_supported_yet(running: Running) -> None:
    api = dropbox_fax(running)
    with SAMPLE.open("rb") as document, pytest.raises(ApiException) as refused:
        await call(api.fax_send, FaxSendRequest(recipient="accounts@example.com", files=[document]))
    assert refused.value.status == 400
    error = refused.value.data.error
    assert error.error_name == "bad_request" and error.error_path == "recipient"
    assert "e-mail recipients are not supported by this gateway yet" in error.error_msg


def _raw_fax(api: FaxApi, fax_id: str) -> dict[str, Any]:
    """``fax_get``'s answer as JSON, before the SDK's model fills in what is missing."""
    return json.loads(api.fax_get_without_preload_content(fax_id).data)["fax"]


async def test_every_fax_response_field_present(running: Running) -> None:
    """Each field of the SDK's FaxResponse (and its transmission) is in the JSON, with the model's type."""
    api = dropbox_fax(running)
    with SAMPLE.open("rb") as document:
        request = FaxSendRequest(recipient=RECEIVER, files=[document], test_mode=True)
        sent = (await call(api.fax_send, request)).fax
    queued = await call(_raw_fax, api, sent.fax_id)
    await until_final(api, sent.fax_id)
    done = await call(_raw_fax, api, sent.fax_id)
    for raw in (queued, done):
        assert set(FaxResponse.model_fields) <= set(raw), set(FaxResponse.model_fields) - set(raw)
        FaxResponse.from_dict(raw)  # the model's strict types: a wrong one raises
    assert set(FaxResponseTransmission.model_fields) <= set(done["transmissions"][0])
    assert done["subject"] is None and done["message"] is None  # no cover page
    assert queued["final_copy_uri"] is None and done["final_copy_uri"] == done["files_url"]
