"""What the job layer makes of a device's call: to a number outside its tenant, an outbound fax received
whole then queued (or failed when the call ends early); to its tenant's own number, an inbound fax.

The gateway here is real (store, jobs, native engine, REST API); only the device's call is played by the
test, at the engine's boundary (``InboundJobs.offer``/``done``, as an engine calls them), writing a real
TIFF-F where the gateway said. tests/gateway/test_device_flows.py runs the same with a real device.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from faxgw.gateway.engines.base import CallResult, InboundCall, PageTransferred, Refusal
from faxgw.gateway.peers import DeviceConfig
from faxgw.sip.fax_terms import CallStatus

from tests.helpers.gateway import OTHER, RECEIVER, Running, gateway_config, start_running
from tests.helpers.pages import make_document

DEVICE_NUMBER = "+15550300"


def _result(status: CallStatus, pages: int, call_id: str) -> CallResult:
    return CallResult(status, 200, "remote_bye", 0, "OK", pages, pages, False, 14400, True, "ATA", call_id)


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    # The device belongs to tenant "other": RECEIVER is acme's number, so for the device it is external.
    device = DeviceConfig("ata1", "secret", (DEVICE_NUMBER,), tenant="other")
    own = DeviceConfig("ata2", "secret", ("+15550301",), tenant="acme")
    config = dataclasses.replace(gateway_config(tmp_path / "var"), devices=(device, own))
    async for gateway in start_running(config):
        yield gateway


async def _device_sends(running: Running, call: InboundCall, pages: int, status: CallStatus) -> Path:
    decision = await running.gateway.inbound.offer(call)
    assert not isinstance(decision, Refusal), decision
    document, on_page = decision
    make_document(document, pages)
    for page in range(1, pages + 1):
        on_page(PageTransferred(page, document, sending=False))
    await running.gateway.inbound.done(call, _result(status, pages, call.call_id))
    return document


async def test_a_whole_fax_is_queued_from_the_devices_number_with_its_origin(running: Running) -> None:
    """The relayed fax's delivery through a trunk is tests/gateway/test_device_flows.py's: here, what the job
    layer made of the device's call (the gateway is its own trunk here, and the device's number is one an
    INVITE must authenticate for, so the fax's own calls are refused and retried later)."""
    call = InboundCall(did=RECEIVER, caller=DEVICE_NUMBER, call_id="device-call-1", device="ata1")
    document = await _device_sends(running, call, 2, CallStatus.SUCCESS)
    async with running.as_key(OTHER) as other:
        (relayed,) = (await other.get("/v1/faxes", params={"direction": "outbound"})).json()["faxes"]
    assert relayed["origin"] == {
        "device": "ata1",
        "relay": "store_and_forward",
        "caller": DEVICE_NUMBER,
        "call_id": "device-call-1",
    }
    assert (relayed["from"], relayed["to"]) == (DEVICE_NUMBER, RECEIVER)
    stored = await running.gateway.store.get_fax(relayed["id"])
    assert stored is not None and stored.document == str(document) and stored.pages_total == 2
    assert stored.request["options"]["retry"] == {"count": 2, "delay": 120.0}  # tenant "other"'s defaults
    events = [event.type for event in await running.gateway.store.events(relayed["id"])]
    assert events[0] == "queued"


async def test_a_device_call_that_ends_early_sends_nothing_and_says_why(running: Running) -> None:
    call = InboundCall(did=RECEIVER, caller=DEVICE_NUMBER, call_id="device-call-2", device="ata1")
    await _device_sends(running, call, 1, CallStatus.PARTIAL)
    async with running.as_key(OTHER) as other:
        (relayed,) = (await other.get("/v1/faxes", params={"direction": "outbound"})).json()["faxes"]
    assert relayed["status"] == "failed" and relayed["attempts"] == []
    assert "after 1 page(s)" in relayed["error"]["description"]
    assert (await running.client.get("/v1/faxes", params={"direction": "inbound"})).json()["faxes"] == []


async def test_a_device_calling_its_own_tenants_number_is_an_inbound_fax(running: Running) -> None:
    call = InboundCall(did=RECEIVER, caller="+15550301", call_id="device-call-3", device="ata2")
    await _device_sends(running, call, 1, CallStatus.SUCCESS)
    inbound = await running.final(await running.inbound())
    assert inbound["status"] == "success" and inbound["origin"] is None
    assert (await running.client.get("/v1/faxes", params={"direction": "outbound"})).json()["faxes"] == []


@pytest.mark.parametrize(
    ("device", "did", "status"), [("nobody", RECEIVER, 403), ("ata1", "sip:x@10.0.0.1", 403)]
)
async def test_an_unknown_device_or_a_destination_its_tenant_may_not_dial_is_refused(
    running: Running, device: str, did: str, status: int
) -> None:
    call = InboundCall(did=did, caller=DEVICE_NUMBER, call_id="device-call-4", device=device)
    assert await running.gateway.inbound.offer(call) == Refusal(status)


async def test_a_relay_cut_by_a_restart_fails_instead_of_sending_half_a_fax(tmp_path: Path) -> None:
    device = DeviceConfig("ata1", "secret", (DEVICE_NUMBER,), tenant="other")
    config = dataclasses.replace(gateway_config(tmp_path / "var"), devices=(device,))
    call = InboundCall(did=RECEIVER, caller=DEVICE_NUMBER, call_id="device-call-5", device="ata1")
    async for running in start_running(config):
        decision = await running.gateway.inbound.offer(call)
        assert not isinstance(decision, Refusal)
        make_document(decision[0], 1)  # a page arrived, then the process stopped mid-call
    async for running in start_running(config):
        async with running.as_key(OTHER) as other:
            (relayed,) = (await other.get("/v1/faxes")).json()["faxes"]
            final = await dataclasses.replace(running, client=other).final(relayed["id"])
    assert final["status"] == "failed" and final["attempts"] == []
    assert final["error"]["description"] == "The gateway stopped while the device was sending."
