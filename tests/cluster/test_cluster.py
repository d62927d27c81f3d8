"""Three real gateway nodes sharing the work: ``faxgw serve`` processes (native engine, each its own node
name, API port and SIP port) on one real PostgreSQL and one data directory, sending through one trunk that
is a real receiving peer (``faxgw receive``). Faxes submitted through any node's API are each sent exactly
once, by one node; a node killed (SIGKILL) in the middle of a fax loses nothing: another node settles the
fax after the dead node's lease and resumes it after the last page the far end confirmed, and the dead
node's media process does not go on sending."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.helpers import processes
from tests.helpers.gateway import EDIT, SENDER
from tests.helpers.pages import drawn_page, make_document, read_pages
from tests.helpers.processes import children, running
from tests.helpers.sip import FAXGW, LOCALHOST, free_port, start_receiver

pytestmark = pytest.mark.slow  # three gateways and a receiver; real faxes (one of them paced): 15-45 s a test

#: The line each attempt leaves in its node's log (gateway.jobs.outbound): which node made which attempt.
ATTEMPT = re.compile(r"fax (\S+): attempt (\d+) from \S+ on node (\S+)")
#: A fax in one of these is not settled yet.
UNSETTLED = ("queued", "scheduled", "processing", "sending")


@dataclass
class Node:
    name: str
    api_port: int
    log: Path
    process: subprocess.Popen

    def api(self) -> httpx.Client:
        return httpx.Client(
            base_url=f"http://{LOCALHOST}:{self.api_port}",
            headers={"Authorization": f"Bearer {EDIT}"},
            timeout=30,
        )

    def attempts(self) -> list[tuple[str, int]]:
        """(fax id, attempt number) of each attempt this node made, from its log."""
        return [
            (fax_id, int(number))
            for fax_id, number, node in ATTEMPT.findall(self.log.read_text())
            if node == self.name
        ]

    def media_process(self) -> int:
        """The PID of the node's media process (its one child)."""
        (child,) = children(self.process.pid)
        return child


class Cluster:
    """``count`` nodes on ``database_url``, data_dir shared, their trunk the receiver at ``trunk_port``."""

    def __init__(self, tmp_path: Path, database_url: str, trunk_port: int, settings: str) -> None:
        self.nodes: list[Node] = []
        for name in ("node-a", "node-b", "node-c"):
            api_port = free_port(socket.SOCK_STREAM)
            config = tmp_path / f"{name}.toml"
            config.write_text(f"""
data_dir = "{tmp_path / "var"}"
database_url = "{database_url}"
node = "{name}"
api_port = {api_port}
sip_port = {free_port()}
trunk = "{LOCALHOST}:{trunk_port}"
{settings}
[[numbers]]
number = "{SENDER}"
max_calls = 30
[[tenants]]
id = "acme"
keys = {{ "{EDIT}" = ["read", "edit"] }}
""")
            log = tmp_path / f"{name}.log"
            with log.open("w") as out:
                process = subprocess.Popen(
                    [FAXGW, "-v", "serve", "--config", config], stdout=out, stderr=subprocess.STDOUT
                )
            self.nodes.append(Node(name, api_port, log, process))

    def wait_up(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        for node in self.nodes:
            with node.api() as client:
                while True:
                    assert node.process.poll() is None, node.log.read_text()
                    assert time.monotonic() < deadline, f"{node.name}: no API\n{node.log.read_text()}"
                    with contextlib.suppress(httpx.TransportError):
                        if client.get("/v1/faxes").status_code == 200:
                            break
                    time.sleep(0.1)

    def nodes_of(self) -> dict[str, list[tuple[str, int]]]:
        """Each fax's attempts as the nodes' logs tell them: [(node, attempt number), ...]."""
        made: dict[str, list[tuple[str, int]]] = defaultdict(list)
        for node in self.nodes:
            for fax_id, number in node.attempts():
                made[fax_id].append((node.name, number))
        return made

    def stop(self) -> None:
        for node in self.nodes:  # all told first: they stop together
            if node.process.poll() is None:
                node.process.send_signal(signal.SIGINT)
        for node in self.nodes:
            processes.stop(node.process, timeout=20)


@contextlib.contextmanager
def nodes_running(tmp_path: Path, database_url: str, trunk_port: int, settings: str) -> Iterator[Cluster]:
    cluster = Cluster(tmp_path, database_url, trunk_port, settings)
    try:
        cluster.wait_up()
        yield cluster
    finally:
        cluster.stop()


@contextlib.contextmanager
def receiving(tmp_path: Path, count: int, *flags: str) -> Iterator[tuple[subprocess.Popen, int]]:
    """``faxgw receive`` for ``count`` faxes (one JSON report each on stdout), stopped by PID if left."""
    port = free_port()
    listen = ["--listen", f"{LOCALHOST}:{port}", "--out", tmp_path / "received", "--count", str(count)]
    process = start_receiver([FAXGW, "receive", *listen, "--json", "--ident", "+1 555 0199", *flags])
    try:
        yield process, port
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()


def reports(receiver: subprocess.Popen, timeout: float) -> list[dict]:
    out, _ = receiver.communicate(timeout=timeout)
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def submit(client: httpx.Client, file_id: str, to: str, options: dict | None = None) -> str:
    sent = client.post(
        "/v1/faxes",
        json={"from": SENDER, "to": [to], "files": [file_id], "return_ids": True, "options": options or {}},
    )
    assert sent.status_code == 201, sent.text
    return sent.json()["ids"][to]


def final(client: httpx.Client, fax_ids: list[str], timeout: float) -> list[dict]:
    deadline = time.monotonic() + timeout
    for fax_id in fax_ids:
        while (fax := client.get(f"/v1/faxes/{fax_id}").json())["status"] in UNSETTLED:
            assert time.monotonic() < deadline, fax
            time.sleep(0.1)
    return [client.get(f"/v1/faxes/{fax_id}").json() for fax_id in fax_ids]


def same_pages(received: Path, numbers: range) -> bool:
    """Does the TIFF at ``received`` hold exactly ``make_document``'s pages ``numbers``, pixel for pixel?"""
    pages = read_pages(received)
    return len(pages) == len(numbers) and all(
        page.tobytes() == drawn_page(number).convert("1").tobytes()
        for page, number in zip(pages, numbers, strict=True)
    )


def test_thirty_faxes_through_three_nodes_are_each_sent_once(tmp_path: Path, postgres_url: str) -> None:
    make_document(tmp_path / "one.tif", 1)
    with (
        receiving(tmp_path, 30, "--unpaced") as (receiver, trunk_port),
        nodes_running(tmp_path, postgres_url, trunk_port, "unpaced_t38 = true") as cluster,
    ):
        clients = [node.api() for node in cluster.nodes]
        # One upload, on one node: every node reads it from the shared data_dir.
        file_id = (
            clients[0]
            .post("/v1/files", files={"file": ("one.tif", (tmp_path / "one.tif").read_bytes())})
            .json()["id"]
        )
        started = time.monotonic()
        fax_ids = [submit(clients[n % 3], file_id, f"+15550{300 + n}") for n in range(30)]
        faxes = final(clients[1], fax_ids, timeout=120)
        took = time.monotonic() - started
        received = reports(receiver, timeout=30)
        made = cluster.nodes_of()
        for client in clients:
            client.close()
    print(f"30 faxes through 3 nodes: {took:.1f} s ({30 / took:.1f} faxes/s)")
    assert [(fax["status"], len(fax["attempts"])) for fax in faxes] == [("success", 1)] * 30
    assert len(received) == 30 and all(r["status"] == "success" and r["pages"] == 1 for r in received)
    # The receiver's 30 calls are the 30 faxes' attempts, one each.
    assert sorted(r["call_id"] for r in received) == sorted(fax["attempts"][0]["call_id"] for fax in faxes)
    assert {fax_id: len(attempts) for fax_id, attempts in made.items()} == {fax_id: 1 for fax_id in fax_ids}
    by_node = {node.name: len(node.attempts()) for node in cluster.nodes}
    print(f"attempts by node: {by_node}")
    assert all(by_node.values()), by_node  # every node took part


def test_a_node_killed_mid_fax_is_settled_and_resumed_by_another(tmp_path: Path, postgres_url: str) -> None:
    make_document(tmp_path / "three.tif", 3)
    lease = 4.0
    with (
        receiving(tmp_path, 2) as (receiver, trunk_port),  # paced: the fax lasts long enough to be cut
        nodes_running(tmp_path, postgres_url, trunk_port, f"lease = {lease}") as cluster,
    ):
        with cluster.nodes[0].api() as client:
            file_id = client.post(
                "/v1/files", files={"file": ("three.tif", (tmp_path / "three.tif").read_bytes())}
            ).json()["id"]
            retry = {"retry": {"count": 1, "delay": 0}, "partially_sent_retry": True}
            fax_id = submit(client, file_id, "+15550400", retry)
            deadline = time.monotonic() + 60
            while (fax := client.get(f"/v1/faxes/{fax_id}").json())["pages"]["transferred"] < 1:
                assert time.monotonic() < deadline, fax
                time.sleep(0.1)
        # Page 1 is confirmed (recorded), page 2 on its way: kill the node carrying the call.
        (carrier,) = [node for node in cluster.nodes if (fax_id, 1) in node.attempts()]
        media = carrier.media_process()
        os.kill(carrier.process.pid, signal.SIGKILL)
        carrier.process.wait()
        killed = time.monotonic()
        # Its media process does not carry the call on (it would send pages 2 and 3 a second time).
        while running(media):
            assert time.monotonic() - killed < 5, "the media process outlived its gateway"
            time.sleep(0.05)
        survivor = next(node for node in cluster.nodes if node is not carrier)
        with survivor.api() as client:
            while len(client.get(f"/v1/faxes/{fax_id}").json()["attempts"]) < 2:
                assert time.monotonic() - killed < 30, "no node took the dead node's fax up"
                time.sleep(0.05)
            resumed = time.monotonic() - killed
            (fax,) = final(client, [fax_id], timeout=90)
        received = reports(receiver, timeout=60)
        made = sorted(cluster.nodes_of()[fax_id], key=lambda attempt: attempt[1])
    print(f"killed mid-fax: resumed by another node {resumed:.1f} s after the kill (lease {lease:g} s)")
    attempts = [(a["n"], a["status"], a["pages_sent"]) for a in fax["attempts"]]
    confirmed = attempts[0][2]  # pages the far end had confirmed when the node died: 1, or 2 if just then
    assert attempts == [(1, "failed_internal_process_error", confirmed), (2, "success", 3 - confirmed)], fax
    assert confirmed >= 1
    assert (fax["status"], fax["pages"]) == ("success", {"total": 3, "transferred": 3})
    assert made[0] == (carrier.name, 1) and made[1][1] == 2 and made[1][0] != carrier.name, made
    # The receiver: the cut call brought the confirmed pages (and at most the one page in flight), the
    # resumed call the pages after the confirmed ones. No page twice beyond that one.
    resumed_call = fax["attempts"][1]["call_id"]
    (cut,) = [r for r in received if r["call_id"] != resumed_call]
    (resumed,) = [r for r in received if r["call_id"] == resumed_call]
    print(f"the cut call: {cut['pages']} page(s) received, {confirmed} confirmed; {cut['hangup_cause']}")
    assert confirmed <= cut["pages"] <= confirmed + 1, cut
    assert same_pages(Path(cut["tiff"]), range(1, cut["pages"] + 1))
    assert resumed["status"] == "success" and same_pages(Path(resumed["tiff"]), range(confirmed + 1, 4))
