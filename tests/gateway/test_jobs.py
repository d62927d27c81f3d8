"""Job rules through the running gateway: number pools and call limits, resend of an earlier fax."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from faxgw.gateway.config import NumberConfig, RouteConfig

from tests.helpers.gateway import RECEIVER, SENDER, Running, gateway_config, start_running

ROOT = Path(__file__).resolve().parents[2]
OTHER_SENDER = "+15550101"


def overlapping(intervals: list[tuple[float, float]]) -> bool:
    ordered = sorted(intervals)
    return any(later[0] < earlier[1] for earlier, later in itertools.pairwise(ordered))


@pytest.fixture
async def one_call_per_number(tmp_path: Path) -> AsyncIterator[Running]:
    config = gateway_config(tmp_path / "var")
    config = dataclasses.replace(
        config,
        numbers=(
            NumberConfig(SENDER, 1, tenant="acme"),
            NumberConfig(OTHER_SENDER, 1, tenant="acme"),
            NumberConfig(RECEIVER, 8),
        ),
    )
    async for running in start_running(config):
        yield running


async def test_pool_spreads_calls_and_honours_each_numbers_limit(one_call_per_number: Running) -> None:
    running = one_call_per_number
    file_id = await running.upload(ROOT / "samples" / "sample.pdf")
    destinations = [RECEIVER] * 1 + [f"+1555019{n}" for n in range(3)]  # one served DID, three refused
    sent = await running.client.post(
        "/v1/faxes",
        json={"from": f"{SENDER},{OTHER_SENDER}", "to": destinations, "files": [file_id], "return_ids": True},
    )
    assert sent.status_code == 201, sent.text
    faxes = [await running.final(fax_id) for fax_id in sent.json()["ids"].values()]
    calls: dict[str, list[tuple[float, float]]] = {SENDER: [], OTHER_SENDER: []}
    for fax in faxes:
        # The store's times, to the microsecond (the API shows whole seconds).
        for attempt in await running.gateway.store.attempts(fax["id"]):
            calls[attempt.from_number or ""].append((attempt.started_at, attempt.ended_at or 0))
    assert calls[SENDER] and calls[OTHER_SENDER], "the pool uses both numbers"
    for number, intervals in calls.items():
        assert not overlapping(intervals), f"{number} carried two calls at once"


async def test_global_channel_limit(tmp_path: Path) -> None:
    config = dataclasses.replace(gateway_config(tmp_path / "var"), channels=1)
    async for running in start_running(config):
        file_id = await running.upload(ROOT / "samples" / "sample.pdf")
        sent = await running.client.post(
            "/v1/faxes",
            json={
                "from": SENDER,
                "to": [f"+1555019{n}" for n in range(4)],
                "files": [file_id],
                "return_ids": True,
            },
        )
        faxes = [await running.final(fax_id) for fax_id in sent.json()["ids"].values()]
        intervals = [
            (a.started_at, a.ended_at or 0)
            for fax in faxes
            for a in await running.gateway.store.attempts(fax["id"])
        ]
        assert len(intervals) == 4 and not overlapping(intervals)


async def test_resend_an_earlier_fax_with_from_fax(running: Running) -> None:
    file_id = await running.upload(ROOT / "samples" / "sample.pdf")
    first = await running.client.post(
        "/v1/faxes", json={"from": SENDER, "to": [RECEIVER], "files": [file_id], "return_ids": True}
    )
    first_id = first.json()["ids"][RECEIVER]
    assert (await running.final(first_id))["status"] == "success"
    again = await running.client.post(
        "/v1/faxes",
        json={
            "from": SENDER,
            "to": [RECEIVER],
            "files": [file_id],
            "from_fax": {"fax_id": first_id},
            "return_ids": True,
        },
    )
    fax = await running.final(again.json()["ids"][RECEIVER])
    # The uploaded file first, then the earlier fax's two pages.
    assert fax["status"] == "success" and fax["pages"] == {"total": 4, "transferred": 4}
    missing = await running.client.post(
        "/v1/faxes", json={"from": SENDER, "to": [RECEIVER], "from_fax": {"fax_id": "fx_nope"}}
    )
    assert missing.status_code == 404


async def test_inbound_route_storage_and_delete(tmp_path: Path) -> None:
    inbox = tmp_path / "acme-inbox"
    config = gateway_config(tmp_path / "var")
    config = dataclasses.replace(config, routes=(RouteConfig(RECEIVER, "acme", storage=str(inbox)),))
    async for running in start_running(config):
        file_id = await running.upload(ROOT / "samples" / "sample.pdf")
        await running.client.post("/v1/faxes", json={"from": SENDER, "to": [RECEIVER], "files": [file_id]})
        inbound_id = await running.inbound()
        assert (await running.final(inbound_id))["status"] == "success"
        assert (inbox / inbound_id / "received.pdf").is_file()
        assert (await running.client.delete(f"/v1/faxes/{inbound_id}")).status_code == 204
        assert not (inbox / inbound_id).exists()
