"""Dropbox Sign's account callback URL and fax callbacks: the official SDK (dropbox-sign), unmodified, against
a real gateway that faxes itself, and a real HTTP receiver; each callback checked with EventCallbackHelper.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable

import pytest
from dropbox_sign import (
    AccountUpdateRequest,
    ApiException,
    EventCallbackHelper,
    FaxResponse,
    FaxSendRequest,
)
from faxgw.gateway.api.dialects import dropbox as dropbox_dialect
from faxgw.gateway.api.dialects import dropbox_callbacks
from faxgw.gateway.domain import EventType
from faxgw.gateway.store import EventRecord
from faxgw.gateway.webhooks import Outcome

from tests.helpers.dialects import SAMPLE, accounts, call, dropbox_fax, fax, parse
from tests.helpers.gateway import EDIT, OTHER, READ_ONLY, RECEIVER, SENDER, Running
from tests.helpers.webhooks import Receiver, Reply

ACKNOWLEDGED = Reply(200, body=b"Hello API Event Received")


async def send(running: Running, recipient: str, test_mode: bool = False) -> str:
    with SAMPLE.open("rb") as document:
        request = FaxSendRequest(recipient=recipient, sender=SENDER, files=[document], test_mode=test_mode)
        return (await call(dropbox_fax(running).fax_send, request)).fax.fax_id


async def test_callback_url_is_set_read_kept_and_removed(running: Running, receiver: Receiver) -> None:
    api = accounts(running)
    before = (await call(api.account_get)).account
    assert (before.account_id, before.callback_url, before.email_address) == ("acme", None, None)

    updated = (await call(api.account_update, AccountUpdateRequest(callback_url=receiver.url))).account
    assert updated.callback_url == receiver.url
    assert (await call(api.account_get, account_id="acme")).account.callback_url == receiver.url
    # Without callback_url (a locale change), the URL stays.
    await call(api.account_update, AccountUpdateRequest(locale="de-DE"))
    assert (await call(api.account_get)).account.callback_url == receiver.url

    other = (await call(accounts(running, OTHER).account_get)).account
    assert (other.account_id, other.callback_url) == ("other", None)
    with pytest.raises(ApiException) as elsewhere:
        await call(api.account_get, account_id="other")
    assert elsewhere.value.status == 404 and elsewhere.value.data.error.error_name == "not_found"
    with pytest.raises(ApiException) as by_email:
        await call(api.account_get, email_address="someone@example.com")
    assert by_email.value.status == 404

    with pytest.raises(ApiException) as bad:
        await call(api.account_update, AccountUpdateRequest(callback_url="ftp://127.0.0.1/hooks"))
    assert bad.value.status == 400 and bad.value.data.error.error_name == "bad_request"
    assert "callback_url" in bad.value.data.error.error_msg
    reader = accounts(running, READ_ONLY)
    with pytest.raises(ApiException) as forbidden:
        await call(reader.account_update, AccountUpdateRequest(callback_url=receiver.url))
    assert forbidden.value.status == 403 and forbidden.value.data.error.error_name == "forbidden"
    assert (await call(api.account_get)).account.callback_url == receiver.url

    removed = (await call(api.account_update, AccountUpdateRequest(callback_url=""))).account
    assert removed.callback_url is None
    assert (await call(api.account_get)).account.callback_url is None
    assert await running.gateway.subscriptions("acme", "dropbox") == []


async def test_sent_fax_calls_back_fax_sent_and_fax_received_signed_with_the_key(
    running: Running, receiver: Receiver
) -> None:
    receiver.script = [Reply(200, body=b"ok")]  # no acknowledgement: that callback must come again
    receiver.default = ACKNOWLEDGED
    await call(accounts(running).account_update, AccountUpdateRequest(callback_url=receiver.url))
    sent_id = await send(running, RECEIVER)

    await receiver.wait_for(3, timeout=60)  # fax_sent, fax_received, and one of them again
    callbacks = [parse(request) for request in receiver.requests]
    times = Counter(document["event"]["event_type"] for _, document in callbacks)
    assert sorted(times.values()) == [1, 2] and set(times) == {"fax_sent", "fax_received"}
    by_type = {callback.event.event_type: (callback, document) for callback, document in callbacks}

    for callback, document in callbacks:
        assert EventCallbackHelper.is_valid(EDIT, callback)
        assert not EventCallbackHelper.is_valid(OTHER, callback)
        assert document["account_guid"] == "acme"
        assert callback.event.event_metadata.reported_for_account_id == "acme"
        assert EventCallbackHelper.get_callback_type(callback) == "account_callback"
    sent = FaxResponse.from_dict(by_type["fax_sent"][1]["fax"])
    received = FaxResponse.from_dict(by_type["fax_received"][1]["fax"])
    assert sent.fax_id == sent_id and sent.original_title == SAMPLE.name
    assert received.fax_id != sent_id and received.sender == SENDER
    for fax_object in (sent, received):
        assert fax_object.transmissions[0].status_code == "success"
        assert fax_object.files_url == f"{running.gateway.config.base_url}/v3/fax/files/{fax_object.fax_id}"

    repeated = next(kind for kind, count in times.items() if count == 2)
    fax_id = (sent if repeated == "fax_sent" else received).fax_id
    first, second = await webhook_log(running, fax_id, lambda log: log[-1].outcome is Outcome.DELIVERED)
    assert first.outcome is Outcome.RETRY and "Hello API Event Received" in (first.error or "")
    assert second.event_type == repeated


async def test_failed_fax_calls_back_its_failure_and_nothing_else(
    running: Running, receiver: Receiver
) -> None:
    receiver.default = ACKNOWLEDGED
    await call(accounts(running).account_update, AccountUpdateRequest(callback_url=receiver.url))
    fax_id = await send(running, "+15550190")  # no number of ours: SIP 404, failed_unallocated_number

    [request] = await receiver.wait_for(1, timeout=60)
    callback, document = parse(request)
    assert callback.event.event_type == "fax_blacklisted" and EventCallbackHelper.is_valid(EDIT, callback)
    failed = FaxResponse.from_dict(document["fax"])
    assert failed.fax_id == fax_id and failed.transmissions[0].status_code == "error_bad_destination"
    # The failure is the fax's last event: its progress events (queued, sending, ...) made no callback.
    log = await webhook_log(running, fax_id, bool)
    assert [entry.event_type for entry in log] == ["fax_blacklisted"]
    assert len(receiver.requests) == 1


async def test_test_fax_calls_back_fax_sent_marked_as_test_and_nothing_is_received(
    running: Running, receiver: Receiver
) -> None:
    """A test fax to our own number: its fax_sent callback says test_mode, and no fax_received follows
    (a real one would bring one: the gateway faxes itself)."""
    receiver.default = ACKNOWLEDGED
    await call(accounts(running).account_update, AccountUpdateRequest(callback_url=receiver.url))
    fax_id = await send(running, RECEIVER, test_mode=True)

    [request] = await receiver.wait_for(1, timeout=60)
    callback, document = parse(request)
    assert callback.event.event_type == "fax_sent" and EventCallbackHelper.is_valid(EDIT, callback)
    sent = FaxResponse.from_dict(document["fax"])
    assert sent.fax_id == fax_id and sent.test_mode is True
    await asyncio.sleep(1)  # time for a fax_received, had the fax been dialled
    assert len(receiver.requests) == 1


async def webhook_log(
    running: Running, fax_id: str, done: Callable[[list], bool], timeout: float = 5
) -> list:
    """The fax's webhook delivery log once ``done`` says so: the receiver has a request before the
    dispatcher has recorded its answer."""
    async with asyncio.timeout(timeout):
        while not done(log := await running.gateway.webhooks_log(fax_id)):
            await asyncio.sleep(0.005)
    return log


def event(kind: str) -> EventRecord:
    return EventRecord(
        seq=1, id="ev1", fax_id="fx1", tenant_id="acme", type=EventType(kind), payload={}, created_at=0.0
    )


@pytest.mark.parametrize(
    ("kind", "status", "expected"),
    [
        ("delivered", "success", "fax_sent"),
        ("failed", "failed_user_busy", "fax_busy"),
        ("failed", "failed_no_answer", "fax_no_answer"),
        ("failed", "partially_sent", "fax_disconnected"),
        ("failed", "failed_fs_49", "fax_disconnected"),
        ("failed", "failed_unallocated_number", "fax_blacklisted"),
        ("failed", "failed_convert_to_tiff_issue", "file_error"),
        ("failed", "failed", "unknown_error"),
        ("queued", "queued", None),
        ("retry.scheduled", "queued", None),
    ],
)
def test_outbound_event_types(kind: str, status: str, expected: str | None) -> None:
    assert dropbox_callbacks.event_type(fax(status), event(kind), dropbox_dialect.status_code) == expected


def test_inbound_event_types() -> None:
    """fax_received for pages; Dropbox Fax has no event for an inbound call that brought none."""
    received, failed = fax("success"), fax("failed")
    received.direction = failed.direction = "inbound"
    codes = dropbox_dialect.status_code
    assert dropbox_callbacks.event_type(received, event("received"), codes) == "fax_received"
    assert dropbox_callbacks.event_type(failed, event("failed"), codes) is None
