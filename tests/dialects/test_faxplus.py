"""The Fax.Plus dialect, driven by the official SDK (faxplus-api), unmodified: only its host is ours."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from faxgw.gateway.api.dialects import faxplus as faxplus_dialect
from faxgw.gateway.domain import FaxStatus
from faxgw.gateway.store import FaxRecord
from faxplus import FaxesApi, FilesApi, OutboxApi, OutboxComment, PayloadOutbox
from faxplus.rest import ApiException

from tests.helpers.dialects import SAMPLE, call, faxplus_client
from tests.helpers.gateway import OTHER, RECEIVER, SENDER, Running


async def test_send_receive_list_download_delete(running: Running, tmp_path: Path) -> None:
    client = faxplus_client(running, tmp=tmp_path)
    files, outbox, faxes = FilesApi(client), OutboxApi(client), FaxesApi(client)

    path = (await call(files.upload_file, "self", fax_file=str(SAMPLE))).path
    assert path
    payload = PayloadOutbox(
        from_number=SENDER,
        to=[RECEIVER],
        files=[path],
        comment=OutboxComment(tags=["t"], text="hello"),
        return_ids=True,
    )
    sent = await call(outbox.send_fax, "self", body=payload)
    fax_id = sent.ids[RECEIVER]

    # Pending: in the outbox (or already gone from it, on a fast machine).
    pending = await call(outbox.list_outbox_faxes, "self")
    for record in pending.records:
        assert record.id == fax_id
        assert str(record.status) in ("submitted", "converting", "scheduled_for_sending", "sending")
        assert record.to == [RECEIVER] and record.files == [path]

    async with asyncio.timeout(60):
        while True:
            try:
                fax = await call(faxes.get_fax, "self", fax_id)
                break
            except ApiException as error:
                assert error.status == 404, error.body
            try:  # not finished: still in the outbox (unless it finished just now)
                record = await call(outbox.get_outbox_fax, "self", fax_id)
                assert record.id == fax_id and record.uid == "acme"
            except ApiException as error:
                assert error.status == 404, error.body
            await asyncio.sleep(0.1)
    assert str(fax.status) == "success", fax
    assert str(fax.direction) == "outgoing"
    assert fax.from_number == SENDER and fax.to == RECEIVER
    assert fax.pages >= 1
    assert fax.comment == "hello"
    assert (await call(outbox.list_outbox_faxes, "self")).records == []

    # The received copy, in the inbox (there while it arrives too: test_faxplus_sdk_surface), once ended.
    await running.final(await running.inbound())
    [received] = (await call(faxes.list_faxes, "self", category="inbox")).data.records
    assert str(received.direction) == "incoming" and str(received.status) == "success"
    assert received.pages == fax.pages
    every = (await call(faxes.list_faxes, "self")).data.records
    assert {record.id for record in every} == {fax_id, received.id}
    sent_only = (await call(faxes.list_faxes, "self", category="sent")).data.records
    assert [record.id for record in sent_only] == [fax_id]

    pdf = Path(await call(files.get_file, "self", received.id, format="pdf"))
    assert pdf.read_bytes().startswith(b"%PDF")
    tiff = Path(await call(files.get_file, "self", fax_id, format="tiff"))
    assert tiff.read_bytes()[:4] in (b"II*\x00", b"MM\x00*")

    await call(faxes.delete_fax, "self", received.id)
    with pytest.raises(ApiException) as caught:
        await call(faxes.get_fax, "self", received.id)
    assert caught.value.status == 404
    assert json.loads(caught.value.body)["error"] == "not_found"


async def test_too_many_files_is_a_400(running: Running) -> None:
    client = faxplus_client(running)
    path = (await call(FilesApi(client).upload_file, "self", fax_file=str(SAMPLE))).path
    payload = PayloadOutbox(from_number=SENDER, to=[RECEIVER], files=[path] * 11)
    with pytest.raises(ApiException) as caught:
        await call(OutboxApi(client).send_fax, "self", body=payload)
    assert caught.value.status == 400
    body = json.loads(caught.value.body)
    assert body["error"] == "too_many_files" and set(body) == {"error", "description"}


async def test_other_accounts_and_tenants(running: Running) -> None:
    client = faxplus_client(running)
    with pytest.raises(ApiException) as caught:
        await call(OutboxApi(client).list_outbox_faxes, "someone-else")
    assert caught.value.status == 404
    assert json.loads(caught.value.body)["error"] == "not_found"
    # A fax of tenant acme is not tenant other's.
    path = (await call(FilesApi(client).upload_file, "self", fax_file=str(SAMPLE))).path
    payload = PayloadOutbox(from_number=SENDER, to=[RECEIVER], files=[path], return_ids=True)
    fax_id = (await call(OutboxApi(client).send_fax, "self", body=payload)).ids[RECEIVER]
    other = faxplus_client(running, OTHER)
    for function in (OutboxApi(other).get_outbox_fax, FaxesApi(other).get_fax):
        with pytest.raises(ApiException) as caught:
            await call(function, "self", fax_id)
        assert caught.value.status == 404
    with pytest.raises(ApiException) as caught:
        await call(OutboxApi(faxplus_client(running, "wrong-token")).list_outbox_faxes, "self")
    assert caught.value.status == 401
    await running.final(fax_id)


async def test_scheduled_fax_waits_in_the_outbox_and_can_be_cancelled(running: Running) -> None:
    client = faxplus_client(running)
    outbox = OutboxApi(client)
    path = (await call(FilesApi(client).upload_file, "self", fax_file=str(SAMPLE))).path
    later = datetime.now(UTC) + timedelta(hours=1)
    payload = PayloadOutbox(
        from_number=SENDER,
        to=[RECEIVER],
        files=[path],
        send_time=later.strftime("%Y-%m-%d %H:%M:%S +0000"),
        return_ids=True,
    )
    fax_id = (await call(outbox.send_fax, "self", body=payload)).ids[RECEIVER]

    record = await call(outbox.get_outbox_fax, "self", fax_id)
    assert str(record.status) == "scheduled_for_sending"
    assert record.src == SENDER and record.to == [RECEIVER] and record.files == [path]
    assert record.send_time == later.strftime("%Y-%m-%d %H:%M:%S +0000")
    listed = (await call(outbox.list_outbox_faxes, "self")).records
    assert [r.id for r in listed] == [fax_id]
    # Not finished: not among the faxes.
    assert (await call(FaxesApi(client).list_faxes, "self")).data.records == []

    await call(outbox.delete_outbox_fax, "self", fax_id)
    assert (await call(outbox.list_outbox_faxes, "self")).records == []
    with pytest.raises(ApiException) as caught:
        await call(outbox.get_outbox_fax, "self", fax_id)
    assert caught.value.status == 404


async def test_a_status_the_sdk_lacks_reads_failed_with_the_code_in_the_description(running: Running) -> None:
    now = datetime.now(UTC).timestamp()
    record = FaxRecord(
        id="fx_1",
        tenant_id="acme",
        direction="outbound",
        from_number=SENDER,
        to_number=RECEIVER,
        status=FaxStatus.t30_failure(31),
        created_at=now,
        updated_at=now,
        error_code=FaxStatus.t30_failure(31),
        error_description="remote stopped responding",
        request={"options": {"retry": {"count": 2, "delay": 20}}},
    )
    body = json.loads(json.dumps(await faxplus_dialect.fax_object(running.gateway, record)))
    fax = faxplus_client(running)._ApiClient__deserialize(body, "Fax")  # the SDK's own response parsing
    assert str(fax.status) == "failed"
    assert fax.description == "failed_fs_31: remote stopped responding"
    assert (fax.max_retry, fax.retry_delay) == (2, 20)
