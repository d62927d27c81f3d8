"""[metrics] token: /metrics asks for it as a bearer token; without a token /metrics is open (test_scrape).
/metrics is never part of the API's schema."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import httpx
from faxgw.gateway.metrics import MetricsConfig

from tests.helpers.gateway import gateway_config, start_running
from tests.helpers.metrics import scrape

TOKEN = "scrape-me-0123456789"


async def test_a_token_protected_metrics_refuses_without_it(tmp_path: Path) -> None:
    config = dataclasses.replace(gateway_config(tmp_path / "var"), metrics=MetricsConfig(TOKEN))
    async for running in start_running(config):
        async with httpx.AsyncClient(base_url=running.base_url, timeout=10) as client:
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
                refused = await client.get("/metrics", headers=headers)
                assert refused.status_code == 401, (headers, refused.text)
                assert refused.headers["www-authenticate"] == "Bearer"
                assert "faxgw_" not in refused.text
            # An API key is not the scraper's token either.
            refused = await running.client.get("/metrics")
            assert refused.status_code == 401
            schema = (await client.get("/openapi.json")).json()
            assert "/metrics" not in schema["paths"]
        scraped = await scrape(running.base_url, TOKEN)
        assert scraped.types["faxgw_faxes"] == "counter"
        assert scraped.value("faxgw_registered_devices") == 0
