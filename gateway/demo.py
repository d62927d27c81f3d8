"""``faxgw demo``: a whole gateway on 127.0.0.1 faxing itself through its own REST API.

Two of its numbers, +15550100 and +15550199, are both local: a fax from one to the other leaves
through the SIP engine, comes back in as a call to the second number's DID, is received with T.38
and stored. Everything a client would see is printed: per-page progress, both fax objects, and
where the received PDF is.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import Callable
from importlib.resources.abc import Traversable
from pathlib import Path

import httpx
from faxgw.gateway.config import Config, NumberConfig, RouteConfig, TenantConfig
from faxgw.gateway.console import serving  # the API with the console mounted
from faxgw.gateway.domain import FINAL_EVENTS, EventType, FaxStatus
from faxgw.gateway.service import Gateway
from faxgw.sip.fax_terms import T38Policy

SENDER, RECEIVER = "+15550100", "+15550199"
TOKEN = "demo-token"


def free_port(kind: int) -> int:
    """A port free for ``kind`` and, since SIP listens on UDP and TCP at one port, for the other too."""
    other = socket.SOCK_STREAM if kind == socket.SOCK_DGRAM else socket.SOCK_DGRAM
    while True:
        with socket.socket(socket.AF_INET, kind) as probe, socket.socket(socket.AF_INET, other) as twin:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
            try:
                twin.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


def demo_config(data_dir: Path, *, paced: bool) -> Config:
    sip_port = free_port(socket.SOCK_DGRAM)
    return Config(
        data_dir=data_dir,
        api_port=free_port(socket.SOCK_STREAM),
        sip_port=sip_port,
        trunk=f"127.0.0.1:{sip_port}",  # our own SIP address: the call comes back to us
        t38=T38Policy.AUTO,
        unpaced_t38=not paced,
        numbers=(NumberConfig(SENDER, 2), NumberConfig(RECEIVER, 2)),
        routes=(RouteConfig(RECEIVER, "demo"),),
        tenants=(TenantConfig("demo", "Demo tenant", {TOKEN: ["read", "edit"]}),),
    )


async def run_demo(
    document: Traversable, data_dir: Path, *, paced: bool = False, say: Callable[[str], None] = print
) -> dict:
    config = demo_config(data_dir, paced=paced)
    gateway = Gateway(config)
    await gateway.start()
    try:
        async with (
            serving(gateway, "127.0.0.1", config.api_port) as api,
            httpx.AsyncClient(
                base_url=api, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
            ) as client,
        ):
            say(f"gateway up: REST API {api}, SIP sip:127.0.0.1:{config.sip_port}, data in {data_dir}")
            upload = await client.post("/v1/files", files={"file": (document.name, document.read_bytes())})
            upload.raise_for_status()
            file_id = upload.json()["id"]
            say(f"uploaded {document.name} as {file_id}")
            sent = await client.post(
                "/v1/faxes", json={"from": SENDER, "to": [RECEIVER], "files": [file_id], "return_ids": True}
            )
            sent.raise_for_status()
            outbound_id = sent.json()["ids"][RECEIVER]
            say(f"fax {outbound_id}: {SENDER} -> {RECEIVER} queued")
            inbound_id = await _follow_inbound(client, say)
            outbound = await _wait_final(client, outbound_id)
            inbound = (await client.get(f"/v1/faxes/{inbound_id}")).json()
    finally:
        await gateway.stop()
    pdf = data_dir / "faxes" / inbound_id / "received.pdf"
    return {"outbound": outbound, "inbound": inbound, "received_pdf": str(pdf)}


async def _follow_inbound(client: httpx.AsyncClient, say: Callable[[str], None]) -> str:
    """Find the arriving fax, then print its events as they come (Server-Sent Events)."""
    while True:
        listing = (await client.get("/v1/faxes", params={"direction": "inbound"})).json()
        if listing["faxes"]:
            inbound_id = listing["faxes"][0]["id"]
            break
        await asyncio.sleep(0.05)
    async with client.stream("GET", f"/v1/faxes/{inbound_id}/events") as events:
        async for line in events.aiter_lines():
            if line.startswith("data: "):
                event = json.loads(line[6:])
                kind = EventType(event["type"])
                if kind is EventType.PAGE_RECEIVED:
                    say(f"fax {inbound_id}: page {event['page']} received, at {event['url']}")
                elif kind is EventType.RECEIVING_STARTED or kind in FINAL_EVENTS:
                    say(f"fax {inbound_id}: {kind} {event.get('status', '')}".rstrip())
    return inbound_id


async def _wait_final(client: httpx.AsyncClient, fax_id: str) -> dict:
    while True:
        fax = (await client.get(f"/v1/faxes/{fax_id}")).json()
        if not FaxStatus(fax["status"]).pending:
            return fax
        await asyncio.sleep(0.1)


def main(document: Traversable, data_dir: Path, paced: bool) -> int:
    with contextlib.suppress(KeyboardInterrupt):
        result = asyncio.run(run_demo(document, data_dir, paced=paced))
        print("\noutbound fax object:\n" + json.dumps(result["outbound"], indent=2))
        print("\ninbound fax object:\n" + json.dumps(result["inbound"], indent=2))
        print(f"\nreceived PDF: {result['received_pdf']}")
        ok = all(result[fax]["status"] == FaxStatus.SUCCESS for fax in ("outbound", "inbound"))
        return 0 if ok else 1
    return 1
