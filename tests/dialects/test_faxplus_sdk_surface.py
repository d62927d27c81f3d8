"""The Fax.Plus SDK's fax surface, method by method (issue 14): sorting, amending, numbers, files, reports,
a fax still arriving. Through the official SDK (faxplus-api), unmodified: only its host is ours."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pypdfium2
import pytest
from faxgw.gateway.domain import FaxStatus
from faxgw.gateway.store import FaxRecord
from faxplus import (
    AccountsApi,
    FaxesApi,
    FilesApi,
    NumbersApi,
    OutboxApi,
    OutboxComment,
    PayloadFaxModification,
    PayloadNumberModification,
    PayloadOutbox,
    PayloadOutboxModification,
    ShopApi,
)
from faxplus.rest import ApiException
from PIL import Image

from tests.helpers.dialects import SAMPLE, call, faxplus_client
from tests.helpers.gateway import OTHER, RECEIVER, SENDER, Running


def pdf_pages(data: bytes) -> int:
    return len(pypdfium2.PdfDocument(data))


async def error_of(function: Any, *args: Any, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    with pytest.raises(ApiException) as caught:
        await call(function, *args, **kwargs)
    return caught.value.status, json.loads(caught.value.body)


async def stored(running: Running, fax_id: str, **fields: Any) -> FaxRecord:
    """A fax of acme's written straight into the store: its order and numbers are the test's to choose."""
    now = time.time()
    record = FaxRecord(
        id=fax_id, tenant_id="acme", direction="outbound", from_number=SENDER, to_number=RECEIVER,
        status=FaxStatus.SUCCESS, created_at=now, updated_at=now,
    )  # fmt: skip
    for name, value in fields.items():
        setattr(record, name, value)
    return await running.gateway.store.add_fax(record)


async def test_every_documented_sort_by_sorts(running: Running) -> None:
    # Each fax comes first by one field, last by another: every sort_by shows an order of its own.
    await stored(running, "fx_a", created_at=1_000, from_number="+15550300", to_number="+15550203",
                 pages_transferred=2, request={"comment": {"text": "b"}})  # fmt: skip
    await stored(running, "fx_b", created_at=2_000, from_number="+15550301", to_number="+15550201",
                 pages_transferred=3, request={"comment": {"text": "c"}})  # fmt: skip
    await stored(running, "fx_c", created_at=3_000, from_number="+15550302", to_number="+15550202",
                 pages_transferred=1, request={"comment": {"text": "a"}})  # fmt: skip
    faxes = FaxesApi(faxplus_client(running))
    expected = {
        "date": ["fx_a", "fx_b", "fx_c"],
        "from": ["fx_a", "fx_b", "fx_c"],
        "to": ["fx_b", "fx_c", "fx_a"],
        "comment": ["fx_c", "fx_a", "fx_b"],
        "pages": ["fx_c", "fx_a", "fx_b"],
    }
    for sort_by, ascending in expected.items():
        for order, ids in (("asc", ascending), ("desc", ascending[::-1])):
            listed = await call(faxes.list_faxes, "self", sort_by=sort_by, order=order)
            assert [fax.id for fax in listed.data.records] == ids, (sort_by, order)
    status, body = await error_of(faxes.list_faxes, "self", sort_by="size")
    assert status == 400 and body["error"] == "invalid_request" and "sort_by" in body["description"]


async def test_update_outbox_fax_and_update_fax(running: Running) -> None:
    client = faxplus_client(running)
    outbox, faxes = OutboxApi(client), FaxesApi(client)
    path = (await call(FilesApi(client).upload_file, "self", fax_file=str(SAMPLE))).path
    later = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S +0000")
    comment = OutboxComment(tags=["billing"], text="first")
    payload = PayloadOutbox(
        from_number=SENDER, to=[RECEIVER], files=[path], send_time=later, comment=comment, return_ids=True
    )
    outbox_id = (await call(outbox.send_fax, "self", body=payload)).ids[RECEIVER]

    await call(outbox.update_outbox_fax, "self", outbox_id, body=PayloadOutboxModification(comment="second"))
    record = await call(outbox.get_outbox_fax, "self", outbox_id)
    assert (record.comment.text, record.comment.tags) == ("second", ["billing"])  # the tags stay
    # Another tenant cannot change it.
    other = OutboxApi(faxplus_client(running, OTHER))
    status, body = await error_of(other.update_outbox_fax, "self", outbox_id, PayloadOutboxModification("x"))
    assert (status, body["error"]) == (404, "not_found")
    await call(outbox.delete_outbox_fax, "self", outbox_id)

    await stored(running, "fx_done", request={"comment": {"tags": ["t"], "text": "old"}})
    assert (await call(faxes.get_fax, "self", "fx_done")).is_read is False
    change = PayloadFaxModification(comment="read it", is_read=True)
    await call(faxes.update_fax, "self", "fx_done", body=change)
    fax = await call(faxes.get_fax, "self", "fx_done")
    assert (fax.comment, fax.is_read) == ("read it", True)
    [listed] = (await call(faxes.list_faxes, "self")).data.records
    assert (listed.comment, listed.is_read) == ("read it", True)
    await call(
        faxes.update_fax, "self", "fx_done", body=PayloadFaxModification(comment="read it", is_read=False)
    )
    assert (await call(faxes.get_fax, "self", "fx_done")).is_read is False
    # A wrong type is the seed's 400, not a 500.
    response = await running.client.put("/v3/accounts/self/faxes/fx_done", json={"is_read": "maybe"})
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


async def test_retry_shown_as_given(running: Running) -> None:
    # The seed allows a delay up to 180 s (the SDK's own model stops at 30, so a plain HTTP client here).
    file_id = await running.upload(SAMPLE)
    later = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S +0000")
    request = {"from": SENDER, "to": [RECEIVER], "files": [file_id], "send_time": later, "return_ids": True,
               "options": {"retry": {"count": 2, "delay": 120}}}  # fmt: skip
    sent = await running.client.post("/v3/accounts/self/outbox", json=request)
    assert sent.status_code == 201, sent.text
    fax_id = sent.json()["ids"][RECEIVER]
    record = (await running.client.get(f"/v3/accounts/self/outbox/{fax_id}")).json()
    assert record["retry"] == {"count": 2, "delay": 120}
    assert record["options"]["retry"] == {"count": 2, "delay": 120}
    assert (await running.client.delete(f"/v3/accounts/self/outbox/{fax_id}")).status_code == 204


async def test_sent_fax_file_name_pdf_and_report(running: Running, tmp_path: Path) -> None:
    client = faxplus_client(running, tmp=tmp_path)
    files = FilesApi(client)
    path = (await call(files.upload_file, "self", fax_file=str(SAMPLE))).path
    payload = PayloadOutbox(from_number=SENDER, to=[RECEIVER], files=[path], return_ids=True)
    fax_id = (await call(OutboxApi(client).send_fax, "self", body=payload)).ids[RECEIVER]
    await running.final(fax_id)
    fax = await call(FaxesApi(client).get_fax, "self", fax_id)
    assert str(fax.status) == "success" and fax.pages == 2
    assert fax.file_name == SAMPLE.name  # the uploaded file's name, not "<id>.tiff"

    pdf = Path(await call(files.get_file, "self", fax_id)).read_bytes()  # the SDK's default format: pdf
    assert pdf.startswith(b"%PDF") and pdf_pages(pdf) == 2
    again = Path(await call(files.get_file, "self", fax_id, format="pdf")).read_bytes()
    assert pdf_pages(again) == 2
    tiff = Path(await call(files.get_file, "self", fax_id, format="tiff"))
    with Image.open(tiff) as image:
        assert image.n_frames == 2

    thumbnail = Path(await call(files.get_fax_thumbnail, "self", fax_id))
    with Image.open(thumbnail) as image:
        assert image.format == "PNG" and image.width < 1728  # a preview, smaller than the fax page

    report = Path(await call(files.get_fax_report, "self", fax_id)).read_bytes()
    assert report.startswith(b"%PDF") and pdf_pages(report) == 1
    other = FilesApi(faxplus_client(running, OTHER))
    status, body = await error_of(other.get_fax_report, "self", fax_id)
    assert (status, body["error"]) == (404, "not_found")


async def test_a_fax_being_received_is_shown_with_its_pages_so_far(running: Running, tmp_path: Path) -> None:
    # Two pages in the TIFF, the second still being written: one page has arrived (pages_transferred).
    document = running.gateway.config.data_dir / "faxes" / "fx_arriving" / "received.tif"
    document.parent.mkdir(parents=True)
    pages = [Image.new("1", (1728, 2200), 1) for _ in range(2)]
    pages[0].save(document, "TIFF", save_all=True, append_images=pages[1:], compression="group4",
                  dpi=(204, 196))  # fmt: skip
    node = running.gateway.config.node
    await stored(running, "fx_arriving", direction="inbound", from_number="+15550777", to_number=RECEIVER,
                 status=FaxStatus.IN_PROGRESS, pages_transferred=1, document=str(document),
                 lease_owner=node, lease_until=time.time() + 3600)  # fmt: skip
    client = faxplus_client(running, tmp=tmp_path)
    faxes, files = FaxesApi(client), FilesApi(client)

    fax = await call(faxes.get_fax, "self", "fx_arriving")
    # The SDK's enum lacks in_progress: the nearest value it has, the real status first in the description.
    assert str(fax.status) == "partially_received" and fax.description.startswith("in_progress")
    assert fax.pages == 1 and str(fax.direction) == "incoming"
    inbox = (await call(faxes.list_faxes, "self", category="inbox")).data.records
    assert [record.id for record in inbox] == ["fx_arriving"]

    pdf = Path(await call(files.get_file, "self", "fx_arriving", format="pdf")).read_bytes()
    assert pdf_pages(pdf) == 1
    tiff = Path(await call(files.get_file, "self", "fx_arriving", format="tiff"))
    with Image.open(tiff) as image:
        assert image.n_frames == 1
    with Image.open(Path(await call(files.get_fax_thumbnail, "self", "fx_arriving"))) as image:
        assert image.format == "PNG"
    # Still arriving: it cannot be deleted yet.
    status, body = await error_of(faxes.delete_fax, "self", "fx_arriving")
    assert (status, body["error"]) == (409, "conflict")

    # A page counted but not readable in the file: a 404 that says so, not a 500.
    await running.gateway.store.update_fax("fx_arriving", pages_transferred=3)
    for format in ("pdf", "tiff"):
        status, body = await error_of(files.get_file, "self", "fx_arriving", format=format)
        assert status == 404 and "cannot be read" in body["description"], body
    await running.gateway.store.update_fax("fx_arriving", pages_transferred=0)
    status, body = await error_of(files.get_file, "self", "fx_arriving", format="pdf")
    assert status == 404 and "none of its pages has arrived yet" in body["description"]


async def test_numbers_are_the_tenants_configured_ones(running: Running) -> None:
    numbers = NumbersApi(faxplus_client(running))
    listed = await call(numbers.list_numbers, "self")
    # SENDER is acme's by its own entry, RECEIVER through acme's route.
    assert sorted(n.number for n in listed.numbers) == [SENDER, RECEIVER]
    assert all(n.owner_id == "acme" and str(n.status) == "active" for n in listed.numbers)
    number = await call(numbers.get_number, "self", SENDER)
    assert (number.id, number.number, number.assigned_to) == (SENDER, SENDER, ["acme"])

    other = NumbersApi(faxplus_client(running, OTHER))
    assert (await call(other.list_numbers, "self")).numbers == []
    status, body = await error_of(other.get_number, "self", SENDER)
    assert (status, body["error"]) == (404, "not_found")
    status, body = await error_of(numbers.get_number, "self", "+15559999")
    assert (status, body["error"]) == (404, "not_found")

    change = PayloadNumberModification(assigned_to="someone")
    for function, args in ((numbers.update_number, (SENDER,)), (numbers.revoke_number, (SENDER,))):
        kwargs = {"body": change} if function == numbers.update_number else {}
        status, body = await error_of(function, "self", *args, **kwargs)
        assert status == 403 and body["error"] == "forbidden" and "configuration" in body["description"]
    assert len((await call(numbers.list_numbers, "self")).numbers) == 2


async def test_accounts_and_shop_say_why_they_are_not_here(running: Running) -> None:
    client = faxplus_client(running)
    accounts, shop = AccountsApi(client), ShopApi(client)
    for function, args in (
        (accounts.get_accounts, ()),
        (accounts.get_user, ("self",)),
        (accounts.update_user, ("self",)),
        (accounts.get_member_details, ("m1",)),
        (shop.get_balance, ()),
        (shop.list_countries, ()),
        (shop.list_shop_numbers, ("US", "1")),
        (shop.purchase_number, ()),
    ):
        status, body = await error_of(function, *args)
        assert (status, body["error"]) == (403, "forbidden"), function
        assert "configuration" in body["description"] and set(body) == {"error", "description"}
    status, _ = await error_of(AccountsApi(faxplus_client(running, "wrong-token")).get_user, "self")
    assert status == 401
