"""Kamailio 5.6 in front of three real gateway nodes (``faxgw serve`` processes, each its own SQLite), with
the configuration ``faxgw kamailio-config`` renders: the trunk (our SIP stack on 127.0.0.2) faxes into the
edge (127.0.0.1), and the calls spread over the nodes, survive a node that is down and one that drains
(SIGTERM), while a stranger (127.0.0.3) is refused at the edge and reaches no node."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from faxgw.gateway.documents import page_differences
from faxgw.sip.fax_call import FaxCallOptions, FaxOutcome, send_fax
from faxgw.sip.media import Ticker
from faxgw.sip.ua import UaConfig, UserAgent

from tests.helpers import processes
from tests.helpers.kamailio import Kamailio, check_config, kamailio_missing
from tests.helpers.pages import make_document
from tests.helpers.sip import free_port

pytestmark = [
    pytest.mark.slow,  # three gateways and Kamailio, real faxes: 20-40 s a test
    pytest.mark.skipif(kamailio_missing() is not None, reason=f"{kamailio_missing()}; CI installs it"),
]

FAXGW = Path(sys.executable).parent / "faxgw"
EDGE, TRUNK, STRANGER = "127.0.0.1", "127.0.0.2", "127.0.0.3"
RECEIVER, TOKEN = "+15550199", "token-edge"
FAST = FaxCallOptions(paced=False)  # toward our own nodes only
PROBE = 1  # seconds between the edge's OPTIONS probes


@dataclass
class Node:
    name: str
    sip_port: int
    api_port: int
    data_dir: Path
    log: Path
    process: subprocess.Popen | None = None

    @property
    def uri(self) -> str:
        return f"sip:{EDGE}:{self.sip_port}"

    def api(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{self.api_port}", headers={"Authorization": f"Bearer {TOKEN}"}
        )

    async def inbound(self) -> list[dict]:
        async with self.api() as client:
            return (await client.get("/v1/faxes", params={"direction": "inbound"})).json()["faxes"]


class Cluster:
    """The nodes, Kamailio rendered for them and the trunk's user agent; ``call`` faxes through the edge."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.document = tmp_path / "one.tif"
        make_document(self.document, 1)
        self.edge_port = free_port()
        self.nodes = [
            Node(name, free_port(), free_port(), tmp_path / name / "var", tmp_path / name / "log")
            for name in ("node-a", "node-b", "node-c")
        ]
        self.kamailio: Kamailio | None = None
        self.ticker = Ticker()
        self.agents: list[UserAgent] = []

    async def start(self) -> None:
        for node in self.nodes:
            node.process = self._serve(node)
        for node in self.nodes:
            await self._api_up(node)
        config = self.tmp_path / "edge.toml"
        config.write_text(self._edge_config())
        etc = self.tmp_path / "kamailio"
        rendered = subprocess.run(
            [FAXGW, "kamailio-config", "--config", config, "--out", etc], capture_output=True, text=True
        )
        assert rendered.returncode == 0, rendered.stderr
        status, output = check_config(etc / "kamailio.cfg")
        assert status == 0, output
        self.kamailio = Kamailio(etc / "kamailio.cfg", self.tmp_path)
        await self.kamailio.wait_for(f"udp: {EDGE} [{EDGE}]:{self.edge_port}")
        self.trunk = await self.agent(TRUNK)

    def _serve(self, node: Node) -> subprocess.Popen:
        node.data_dir.parent.mkdir()
        config = node.data_dir.parent / "faxgw.toml"
        config.write_text(f"""
data_dir = "{node.data_dir}"
api_port = {node.api_port}
sip_port = {node.sip_port}
node = "{node.name}"
unpaced_t38 = true
trunk_networks = ["{EDGE}/32"]  # the edge: every call comes through it
invite_rate = 100.0  # from one source, the edge, for every trunk behind it
invite_burst = 100
[[numbers]]
number = "{RECEIVER}"
max_calls = 4
[[routes]]
did = "{RECEIVER}"
tenant = "acme"
[[tenants]]
id = "acme"
keys = {{ "{TOKEN}" = ["read", "edit"] }}
""")
        with node.log.open("w") as log:
            return subprocess.Popen(
                [FAXGW, "-v", "serve", "--config", config], stdout=log, stderr=subprocess.STDOUT
            )

    async def _api_up(self, node: Node) -> None:
        async with asyncio.timeout(30), node.api() as client:
            while True:
                assert node.process is not None and node.process.poll() is None, node.log.read_text()
                try:
                    if (await client.get("/v1/faxes")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)

    def _edge_config(self) -> str:
        nodes = "".join(
            f'[[edge.nodes]]\nname = "{node.name}"\nsip_host = "{EDGE}"\nsip_port = {node.sip_port}\n'
            for node in self.nodes
        )
        return f"""
[[trunks]]
name = "carrier"
hosts = ["{TRUNK}"]
networks = ["{TRUNK}/32"]
[edge]
listen_host = "{EDGE}"
listen_port = {self.edge_port}
probe_interval = {PROBE}
node_timeout = 1.0
{nodes}"""

    async def agent(self, host: str) -> UserAgent:
        ua = UserAgent(UaConfig(host=host))
        await ua.start()
        self.agents.append(ua)
        return ua

    async def call(
        self, ua: UserAgent | None = None, options: FaxCallOptions = FAST, document: Path | None = None
    ) -> FaxOutcome:
        """A fax from the trunk (or ``ua``) through the edge."""
        return await send_fax(
            ua or self.trunk,
            f"sip:{RECEIVER}@{EDGE}:{self.edge_port}",
            document or self.document,
            options=options,
            ticker=self.ticker,
            caller="+15557777",
        )

    def dispatched(self, node: Node, start: int = 0) -> int:
        """INVITEs the edge sent to ``node``, from log offset ``start`` on."""
        assert self.kamailio is not None
        return self.kamailio.text()[start:].count(f"to node {node.uri}\n")

    async def received(self) -> dict[str, int]:
        return {node.name: len(await node.inbound()) for node in self.nodes if node.process.poll() is None}

    def stop(self) -> None:
        for ua in self.agents:
            ua.close()
        self.ticker.close()
        if self.kamailio is not None:
            self.kamailio.stop()
        for node in self.nodes:
            if node.process is not None:
                processes.stop(node.process)


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    started = Cluster(tmp_path)
    try:
        await started.start()
        yield started
    finally:
        started.stop()


async def test_calls_spread_over_the_nodes_and_a_stranger_is_refused_at_the_edge(cluster: Cluster) -> None:
    outcomes = []
    # Each call goes to the node its Call-ID hashes to: call until every node has had some (24 random
    # Call-IDs leave a node out about once in 5,000 runs).
    while len(outcomes) < 24 and (len(outcomes) < 6 or 0 in (await cluster.received()).values()):
        outcomes.append(await cluster.call())
    assert [(o.status, o.pages, o.t38) for o in outcomes] == [("success", 1, True)] * len(outcomes)
    received = await cluster.received()
    assert all(count > 0 for count in received.values()), received
    assert sum(received.values()) == len(outcomes)
    # Each call was dispatched once: its T.38 re-INVITE, ACKs and BYE followed the Record-Route to its node.
    assert sum(cluster.dispatched(node) for node in cluster.nodes) == len(outcomes)
    for node in cluster.nodes:
        async with node.api() as client:
            for fax in await node.inbound():
                assert fax["status"] == "success", fax
                tiff = await client.get(f"/v1/faxes/{fax['id']}/file", params={"format": "tiff"})
                path = cluster.tmp_path / f"{fax['id']}.tif"
                path.write_bytes(tiff.content)
                assert page_differences(cluster.document, path) == [0]

    stranger = await cluster.agent(STRANGER)
    refused = await cluster.call(stranger)
    assert (refused.status, refused.sip_code) == ("rejected", 403)
    assert await cluster.received() == received  # no node heard of it
    assert cluster.kamailio is not None
    await cluster.kamailio.wait_for(f"INVITE from {STRANGER}:")


async def test_calls_keep_working_with_a_node_down(cluster: Cluster) -> None:
    down = cluster.nodes[2]
    assert down.process is not None
    os.kill(down.process.pid, signal.SIGKILL)
    down.process.wait()
    # Until a probe finds it silent, a call the hash gives it waits node_timeout, then takes the next node.
    outcomes = [await cluster.call() for _ in range(4)]
    assert cluster.kamailio is not None
    after = await cluster.kamailio.wait_for(f"node {down.uri} is down", timeout=5 * PROBE + 5)
    outcomes += [await cluster.call() for _ in range(6)]
    assert [(o.status, o.pages) for o in outcomes] == [("success", 1)] * len(outcomes)
    assert sum((await cluster.received()).values()) == len(outcomes)
    assert cluster.dispatched(down, after) == 0  # left out once found down


async def test_a_draining_node_finishes_its_call_and_gets_no_new_ones(cluster: Cluster) -> None:
    long = cluster.tmp_path / "two.tif"
    make_document(long, 2)
    # Paced T.38, as toward a real trunk: two pages take ~15 s, time to drain the node while it receives.
    in_flight = asyncio.ensure_future(cluster.call(options=FaxCallOptions(), document=long))
    async with asyncio.timeout(20):
        while not any((await cluster.received()).values()):
            await asyncio.sleep(0.1)
    (draining,) = [node for node in cluster.nodes if (await node.inbound())]
    assert draining.process is not None
    draining.process.send_signal(signal.SIGTERM)

    assert cluster.kamailio is not None
    after = await cluster.kamailio.wait_for(f"node {draining.uri} is down", timeout=5 * PROBE + 5)
    probe = await cluster.trunk.options(draining.uri)
    assert (probe.status, probe.headers.get("Retry-After")) == (503, "30")
    assert draining.process.poll() is None  # still up: its call goes on
    others = [await cluster.call() for _ in range(4)]
    assert [(o.status, o.pages) for o in others] == [("success", 1)] * 4
    assert cluster.dispatched(draining, after) == 0

    outcome = await in_flight
    assert (outcome.status, outcome.pages, outcome.t38) == ("success", 2, True)
    assert await asyncio.to_thread(draining.process.wait, 30) == 0  # drained: it stops by itself, exit 0
    (received,) = (draining.data_dir / "faxes").glob("*/*.tif")
    assert page_differences(long, received) == [0, 0]
    assert "still in flight are cut" not in draining.log.read_text()
