"""A whole gateway in the test's event loop: native engine on 127.0.0.1, REST API on a real port."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from faxgw.gateway.config import Config, NumberConfig, RouteConfig, TenantConfig
from faxgw.gateway.console import serving  # the API with the console mounted
from faxgw.gateway.demo import free_port
from faxgw.gateway.domain import FINAL_EVENTS
from faxgw.gateway.service import Gateway
from faxgw.gateway.store import EventRecord

from tests.helpers.webhooks import SECRET

SENDER, RECEIVER = "+15550100", "+15550199"
EDIT, READ_ONLY, OTHER = "token-edit", "token-read", "token-other-tenant"


@dataclass
class Running:
    gateway: Gateway
    client: httpx.AsyncClient  # with the editing key of tenant "acme"
    base_url: str

    def as_key(self, token: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )

    async def upload(self, path: Path) -> str:
        response = await self.client.post("/v1/files", files={"file": (path.name, path.read_bytes())})
        assert response.status_code == 201, response.text
        return response.json()["id"]

    async def submit(self, file_id: str, to: str, *, retries: int = 0, webhook_url: str | None = None) -> str:
        """POST /v1/faxes from SENDER to ``to`` with ``retries`` (no delay between them) and its events
        posted to ``webhook_url`` if given: the fax's id."""
        request = {
            "from": SENDER,
            "to": [to],
            "files": [file_id],
            "return_ids": True,
            "options": {"retry": {"count": retries, "delay": 0}},
        }
        if webhook_url is not None:
            request["webhook_url"] = webhook_url
        sent = await self.client.post("/v1/faxes", json=request)
        assert sent.status_code == 201, sent.text
        return sent.json()["ids"][to]

    async def final(self, fax_id: str, timeout: float = 60) -> dict:
        async with asyncio.timeout(timeout):
            while True:
                fax = (await self.client.get(f"/v1/faxes/{fax_id}")).json()
                if fax["status"] not in ("queued", "scheduled", "processing", "sending", "in_progress"):
                    return fax
                await asyncio.sleep(0.05)

    async def events_once_final(self, fax_id: str, timeout: float = 5) -> list[EventRecord]:
        """The fax's events once its final one is recorded (it follows the final status by a few store
        calls), or as they are after ``timeout`` seconds."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            events = await self.gateway.fax_events(fax_id)
            if (events and events[-1].type in FINAL_EVENTS) or asyncio.get_running_loop().time() > deadline:
                return events
            await asyncio.sleep(0.05)

    async def inbound(self, timeout: float = 30) -> str:
        async with asyncio.timeout(timeout):
            while True:
                faxes = (await self.client.get("/v1/faxes", params={"direction": "inbound"})).json()["faxes"]
                if faxes:
                    return faxes[0]["id"]
                await asyncio.sleep(0.02)

    async def events(self, fax_id: str) -> AsyncIterator[dict]:
        async with self.client.stream("GET", f"/v1/faxes/{fax_id}/events") as stream:
            async for line in stream.aiter_lines():
                if line.startswith("data: "):
                    yield json.loads(line[6:])


def gateway_config(data_dir: Path, *, retry_delay: float = 0.05) -> Config:
    sip_port = free_port(socket.SOCK_DGRAM)
    return Config(
        data_dir=data_dir,
        api_port=free_port(socket.SOCK_STREAM),
        sip_port=sip_port,
        trunk=f"127.0.0.1:{sip_port}",
        unpaced_t38=True,
        webhook_secret=SECRET,
        webhook_initial_delay=retry_delay,
        # SENDER is acme's to send from; RECEIVER is acme's through its route.
        numbers=(NumberConfig(SENDER, 2, tenant="acme"), NumberConfig(RECEIVER, 2)),
        routes=(RouteConfig(RECEIVER, "acme"),),
        tenants=(
            TenantConfig("acme", "ACME", {EDIT: ["read", "edit"], READ_ONLY: ["read"]}),
            TenantConfig("other", "Other", {OTHER: ["read", "edit"]}),
        ),
        # The tests' media servers and webhook receivers run on 127.0.0.1, which a gateway does not fetch
        # from or post to by default.
        url_fetch_allow=("127.0.0.0/8",),
        webhook_allow=("127.0.0.1/32",),
    )


async def start_running(config: Config) -> AsyncIterator[Running]:
    """The gateway with its REST API on a real port, for the length of the ``async for``."""
    gateway = Gateway(config)
    await gateway.start()
    try:
        async with (
            serving(gateway, "127.0.0.1", config.api_port) as base_url,
            httpx.AsyncClient(
                base_url=base_url, headers={"Authorization": f"Bearer {EDIT}"}, timeout=30
            ) as client,
        ):
            yield Running(gateway, client, base_url)
    finally:
        await gateway.stop()
