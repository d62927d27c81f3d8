"""GET /metrics of a whole gateway (REST API on a real port, the media process, SQLite) that faxes itself
over 127.0.0.1: what a real fax, its pages, its calls, the API and a failing webhook receiver add up to,
read over HTTP with prometheus_client's parser."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers.gateway import RECEIVER, Running
from tests.helpers.metrics import Scrape, scrape
from tests.helpers.pages import make_document
from tests.helpers.webhooks import Receiver, Reply

pytestmark = pytest.mark.slow
PAGES = 2


async def watch_calls(running: Running, seen: list[float], stop: asyncio.Event) -> None:
    """Scrape until ``stop``, noting the calls in progress each scrape showed."""
    while not stop.is_set():
        now = await scrape(running.base_url)
        seen.append(sum(now.series("faxgw_calls_in_progress").values()))
        await asyncio.sleep(0.05)


async def test_a_fax_sent_to_itself_is_counted_both_ways(
    running: Running, receiver: Receiver, tmp_path: Path
) -> None:
    receiver.default = Reply(500)  # every webhook of the fax fails (and is retried)
    document = tmp_path / "doc.tif"
    make_document(document, PAGES)
    before = await scrape(running.base_url)
    assert before.value("faxgw_webhook_delivery_failures_total", outcome="retry") == 0

    seen: list[float] = []
    stop = asyncio.Event()
    watcher = asyncio.create_task(watch_calls(running, seen, stop))
    try:
        fax_id = await running.submit(await running.upload(document), RECEIVER, webhook_url=receiver.url)
        assert (await running.final(fax_id))["status"] == "success"
        inbound = await running.final(await running.inbound())
        assert inbound["status"] == "success"
    finally:
        stop.set()
        await watcher
    await receiver.wait_for(1)

    failures = "faxgw_webhook_delivery_failures_total"
    after = await _until(running, lambda scraped: scraped.value(failures, outcome="retry") > 0)
    # Faxes by final status and direction; the attempt's cause; pages both ways.
    assert after.value("faxgw_faxes_total", direction="outbound", status="success") == 1
    assert after.value("faxgw_faxes_total", direction="inbound", status="success") == 1
    assert after.value("faxgw_attempts_total", direction="outbound", cause="success") == 1
    assert after.value("faxgw_pages_total", direction="outbound") == PAGES
    assert after.value("faxgw_pages_total", direction="inbound") == PAGES
    # Each leg's call ended on T.38 (the gateway offers it to itself), none on G.711.
    assert after.value("faxgw_calls_ended_total", direction="outbound", mode="t38") == 1
    assert after.value("faxgw_calls_ended_total", direction="inbound", mode="t38") == 1
    assert after.value("faxgw_calls_ended_total", direction="outbound", mode="g711") == 0
    # Both calls were seen in progress (one outbound, one inbound at once), and are over now: the series
    # stay, at 0.
    assert max(seen) == 2, seen
    calls = after.series("faxgw_calls_in_progress")
    assert calls and all(value == 0 for value in calls.values()), calls
    assert {dict(labels)["direction"] for labels in calls} == {"outbound", "inbound"}
    # API latency by route template: the fax's id is in no label.
    routes = {dict(labels)["route"] for labels in after.series("faxgw_api_request_duration_seconds_count")}
    assert "/v1/faxes/{fax_id}" in routes and "/v1/files" in routes, routes
    count = after.value("faxgw_api_request_duration_seconds_count", method="GET", route="/v1/faxes/{fax_id}")
    assert count >= 2
    assert not any(fax_id in label for labels in after.samples for (_, label) in labels[1]), "an id as label"
    assert after.types["faxgw_api_request_duration_seconds"] == "histogram"
    # The webhook outbox: the failed deliveries wait for their retry.
    assert after.value("faxgw_webhook_queue_depth") >= 1


async def _until(running: Running, condition: Callable[[Scrape], bool], timeout: float = 10.0) -> Scrape:
    """The first scrape for which ``condition`` holds."""
    async with asyncio.timeout(timeout):
        while True:
            now = await scrape(running.base_url)
            if condition(now):
                return now
            await asyncio.sleep(0.05)
