"""A device's fax to a number outside its tenant: received whole, then sent on through the trunk.

The gateway here is real (store, jobs, native engine, REST API); only the device's call is played by the
test, at the engine's boundary (``InboundJobs.offer``/``done``, as an engine calls them), writing a real
TIFF-F where the gateway said. The relayed fax then goes out through the real SIP stack to the trunk,
which is the gateway itself, and arrives as the other tenant's inbound fax.
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
from tests.helpers.pages import make_document, read_pages

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


async def test_a_whole_fax_is_sent_on_from_the_devices_number_with_its_origin(running: Running) -> None:
    call = InboundCall(did=RECEIVER, caller=DEVICE_NUMBER, call_id="device-call-1", device="ata1")
    sent_pages = read_pages(await _device_sends(running, call, 2, CallStatus.SUCCESS))
    async with running.as_key(OTHER) as other:
        (relayed,) = (await other.get("/v1/faxes", params={"direction": "outbound"})).json()["faxes"]
        assert relayed["origin"] == {
            "device": "ata1",
            "relay": "store_and_forward",
            "caller": DEVICE_NUMBER,
            "call_id": "device-call-1",
        }
        assert (relayed["from"], relayed["to"]) == (DEVICE_NUMBER, RECEIVER)
        final = await dataclasses.replace(running, client=other).final(relayed["id"])
    assert final["status"] == "success", final
    assert final["pages"] == {"total": 2, "transferred": 2}
    # It went out through the trunk (the gateway itself) and came in as acme's fax, page for page.
    inbound = await running.final(await running.inbound())
    assert inbound["status"] == "success" and inbound["from"] == DEVICE_NUMBER
    stored = await running.gateway.store.get_fax(inbound["id"])
    assert stored is not None and stored.document is not None
    assert [page.tobytes() for page in read_pages(Path(stored.document))] == [p.tobytes() for p in sent_pages]


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
