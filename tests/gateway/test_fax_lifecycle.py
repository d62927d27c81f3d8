"""What the provider APIs may do to a fax besides sending it, through a whole gateway (native engine,
SpanDSP, SQLite, faxing itself over 127.0.0.1): test faxes that are never dialled, cancelling (queued or
with its call up), amending the comment and a dialect's fields, the page limit, and listings sorted by
every column a provider sorts by."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from faxgw.gateway.domain import EventType, FaxStatus
from faxgw.gateway.service import Conflict, NewFax
from faxgw.gateway.store import FaxOrder, FaxQuery

from tests.helpers.dialects import SAMPLE
from tests.helpers.gateway import RECEIVER, SENDER, Running, gateway_config, start_running

TENANT = "acme"


async def _file(running: Running) -> str:
    return (await running.gateway.save_file(TENANT, SAMPLE.name, SAMPLE.read_bytes())).id


async def _until(running: Running, fax_id: str, done: object, timeout: float = 60) -> FaxStatus:
    async with asyncio.timeout(timeout):
        while (fax := await running.gateway.fax(TENANT, fax_id)).status != done and fax.status.pending:
            await asyncio.sleep(0.02)
    return fax.status


async def test_a_test_fax_goes_through_every_state_and_dials_nothing(running: Running) -> None:
    request = NewFax([SENDER], [RECEIVER], [await _file(running)], test=True)
    [fax] = await running.gateway.submit(TENANT, request)
    assert await _until(running, fax.id, FaxStatus.SUCCESS) == FaxStatus.SUCCESS
    done = await running.gateway.fax(TENANT, fax.id)
    assert done.test and (done.pages_total, done.pages_transferred) == (2, 2)
    events = [event.type for event in await running.gateway.fax_events(fax.id)]
    assert events == [
        EventType.QUEUED,
        EventType.MEDIA_PROCESSED,
        EventType.SENDING_STARTED,
        EventType.PAGE_SENT,
        EventType.PAGE_SENT,
        EventType.DELIVERED,
    ]
    [attempt] = await running.gateway.attempts(fax.id)
    assert attempt.status == FaxStatus.SUCCESS and attempt.call_id == f"test-{fax.id}"
    # Had it been dialled, the gateway would have received it (RECEIVER is its own number).
    await asyncio.sleep(1)
    inbound, _ = await running.gateway.list_faxes(TENANT, FaxQuery(direction="inbound"))
    assert inbound == []


async def test_a_fax_for_later_starts_when_its_time_comes(running: Running) -> None:
    """Submitting a fax for later wakes nothing (at hundreds of POSTs a second each wake was a database
    query for nothing): the outbound loop's poll finds it once its time has come."""
    at = datetime.now(UTC) + timedelta(seconds=1.5)
    request = NewFax([SENDER], [RECEIVER], [await _file(running)], send_at=at, test=True)
    [fax] = await running.gateway.submit(TENANT, request)
    await asyncio.sleep(1)
    assert (await running.gateway.fax(TENANT, fax.id)).status == FaxStatus.QUEUED  # not before its time
    assert await _until(running, fax.id, FaxStatus.SUCCESS, timeout=10) == FaxStatus.SUCCESS
    [attempt] = await running.gateway.attempts(fax.id)
    assert attempt.started_at >= at.timestamp()


async def test_cancelling_a_queued_fax_keeps_it_cancelled_and_it_is_never_sent(running: Running) -> None:
    later = datetime.now(UTC) + timedelta(hours=1)
    [fax] = await running.gateway.submit(
        TENANT, NewFax([SENDER], [RECEIVER], [await _file(running)], send_at=later)
    )
    cancelled = await running.gateway.cancel(TENANT, fax.id)
    assert (cancelled.status, cancelled.error_code) == (FaxStatus.CANCELLED, FaxStatus.CANCELLED)
    assert cancelled.completed_at is not None and cancelled.lease_owner is None
    assert [e.type for e in await running.gateway.fax_events(fax.id)][-1] == EventType.FAILED
    with pytest.raises(Conflict):
        await running.gateway.cancel(TENANT, fax.id)


async def test_cancelling_a_fax_whose_call_is_up_hangs_it_up(running: Running) -> None:
    [fax] = await running.gateway.submit(TENANT, NewFax([SENDER], [RECEIVER], [await _file(running)]))
    inbound_id = await running.inbound()  # the call is up: the gateway is receiving it
    await running.gateway.cancel(TENANT, fax.id)
    # The receiving side sees the call end before its last page: the call was hung up, not finished.
    received = await _until(running, inbound_id, None)
    assert not received.pending and received != FaxStatus.SUCCESS, received  # failed_fs_49: hung up mid-fax
    assert (await running.gateway.fax(TENANT, inbound_id)).pages_transferred < 2
    await asyncio.sleep(0.5)  # nothing settles the cancelled fax afterwards
    assert (await running.gateway.fax(TENANT, fax.id)).status == FaxStatus.CANCELLED


async def test_amending_the_comment_and_a_dialects_fields(running: Running) -> None:
    request = NewFax(
        [SENDER],
        [RECEIVER],
        [await _file(running)],
        comment={"text": "old"},
        send_at=datetime.now(UTC) + timedelta(hours=1),
        dialect_fields={"faxplus": {"kept": 1}},
    )
    [fax] = await running.gateway.submit(TENANT, request)
    assert fax.comment_text == "old"
    await running.gateway.amend(TENANT, fax.id, dialect="faxplus", fields={"is_read": True})
    amended = await running.gateway.amend(TENANT, fax.id, comment={"text": "new", "tags": ["x"]})
    assert amended.request["comment"] == {"text": "new", "tags": ["x"]} and amended.comment_text == "new"
    assert amended.request["dialects"]["faxplus"] == {"kept": 1, "is_read": True}
    assert (await running.gateway.fax(TENANT, fax.id)).request == amended.request


@pytest.mark.parametrize(
    ("order", "key"),
    [(FaxOrder.COMMENT, "comment_text"), (FaxOrder.TO, "to_number"), (FaxOrder.FROM, "from_number")],
)
async def test_listings_sort_by_comment_destination_and_sender(
    running: Running, order: FaxOrder, key: str
) -> None:
    later = datetime.now(UTC) + timedelta(hours=1)
    file_id = await _file(running)
    for text, to in (("b", "+15550102"), ("", "+15550101"), ("a", "+15550103")):
        request = NewFax([SENDER], [to], [file_id], comment={"text": text} if text else None, send_at=later)
        await running.gateway.submit(TENANT, request)
    for descending in (False, True):
        faxes, total = await running.gateway.list_faxes(TENANT, FaxQuery(order=order, descending=descending))
        values = [getattr(fax, key) for fax in faxes]
        assert total == 3 and values == sorted(values, reverse=descending)


async def test_a_document_over_max_pages_fails_before_it_is_dialled(running: Running) -> None:
    config = dataclasses.replace(
        gateway_config(running.gateway.config.data_dir.parent / "short"), max_pages=1
    )
    async for short in start_running(config):
        [fax] = await short.gateway.submit(TENANT, NewFax([SENDER], [RECEIVER], [await _file(short)]))
        status = await _until(short, fax.id, None)
        done = await short.gateway.fax(TENANT, fax.id)
        assert status == FaxStatus.FAILED_PAGE_COUNT_LIMIT_EXCEEDED and done.attempts_made == 0
        assert done.error_description == "The document has 2 pages: a fax may have 1 at most."
