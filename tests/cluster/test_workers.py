"""``faxgw serve --workers N``: N nodes of one configuration on this machine, on a real PostgreSQL, each with
its own SIP and API port; SIGTERM ends them all, a node that dies is started again."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers.gateway import EDIT
from tests.helpers.processes import children, descendants, running
from tests.helpers.rawsip import RawSip
from tests.helpers.sip import FAXGW, LOCALHOST, free_ports

pytestmark = pytest.mark.slow  # two whole gateways start (and one again), ~10 s each test


def write_config(path: Path, database_url: str | None, sip_port: int, api_port: int) -> None:
    database = f'database_url = "{database_url}"' if database_url else ""
    path.write_text(f"""
data_dir = "{path.parent / "var"}"
{database}
node = "wk"
sip_port = {sip_port}
api_port = {api_port}
[[tenants]]
id = "acme"
keys = {{ "{EDIT}" = ["read", "edit"] }}
""")


class Workers:
    """``faxgw serve --workers 2`` as a subprocess: its log, its nodes, its end."""

    def __init__(self, tmp_path: Path, database_url: str, sip_port: int | None = None) -> None:
        self.sip_port, self.api_port = sip_port or free_ports(2), free_ports(2)
        self.config = tmp_path / "gateway.toml"
        write_config(self.config, database_url, self.sip_port, self.api_port)
        self.log = tmp_path / "workers.log"
        self.process = subprocess.Popen(
            [FAXGW, "-v", "serve", "--config", self.config, "--workers", "2"],
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
        )

    def nodes(self) -> list[int]:
        """The PIDs of the nodes (the parent's children)."""
        return children(self.process.pid)

    def wait_up(self, timeout: float = 60) -> None:
        """Both nodes' APIs answer (each has started its SIP user agent and media process before)."""
        deadline = time.monotonic() + timeout
        for port in (self.api_port, self.api_port + 1):
            while not answers(port):
                assert self.process.poll() is None, self.log.read_text()
                assert time.monotonic() < deadline, f"no API on port {port}:\n{self.log.read_text()}"
                time.sleep(0.2)

    def stop(self) -> None:
        """Whatever the test left running: the parent by its PID, then any node it left behind."""
        left = descendants(self.process.pid)
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def workers(tmp_path: Path, postgres_url: str) -> Iterator[Workers]:
    running = Workers(tmp_path, postgres_url)
    yield running
    running.stop()


def answers(port: int) -> bool:
    try:
        response = httpx.get(
            f"http://{LOCALHOST}:{port}/v1/faxes", headers={"Authorization": f"Bearer {EDIT}"}, timeout=5
        )
    except httpx.TransportError:
        return False
    return response.status_code == 200


def node_name(pid: int) -> str:
    """The name a node was started with (``FAXGW_NODE`` in its environment, read over the file's)."""
    variables = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return next(v.split(b"=", 1)[1].decode() for v in variables if v.startswith(b"FAXGW_NODE="))


async def options_status(port: int) -> int:
    probe = RawSip(LOCALHOST)
    try:
        probe.request("OPTIONS", (LOCALHOST, port))
        return (await probe.final(5.0)).status
    finally:
        probe.close()


async def test_two_workers_serve_on_their_own_ports_and_all_end_on_sigterm(workers: Workers) -> None:
    workers.wait_up()
    nodes = workers.nodes()
    assert len(nodes) == 2
    assert sorted(node_name(pid) for pid in nodes) == ["wk-0", "wk-1"]
    for port in (workers.sip_port, workers.sip_port + 1):
        assert await options_status(port) == 200
    everything = descendants(workers.process.pid)  # the nodes and their media processes
    assert len(everything) >= 4

    workers.process.send_signal(signal.SIGTERM)
    assert workers.process.wait(timeout=60) == 0, workers.log.read_text()
    assert [pid for pid in everything if running(pid)] == []
    assert "Traceback" not in workers.log.read_text()


async def test_a_killed_worker_is_started_again(workers: Workers) -> None:
    workers.wait_up()
    victim, survivor = workers.nodes()
    victim_name = node_name(victim)
    os.kill(victim, signal.SIGKILL)

    async with asyncio.timeout(60):
        while len(replaced := [pid for pid in workers.nodes() if pid not in (victim, survivor)]) != 1:
            await asyncio.sleep(0.1)
    assert node_name(replaced[0]) == victim_name  # the same name: it takes back its own faxes at once
    workers.wait_up()
    assert survivor in workers.nodes()
    assert f"node {victim_name} (pid {victim}) was killed by SIGKILL unexpectedly" in workers.log.read_text()

    workers.process.send_signal(signal.SIGTERM)
    assert workers.process.wait(timeout=60) == 0, workers.log.read_text()


async def test_workers_end_when_their_parent_is_killed(workers: Workers) -> None:
    workers.wait_up()
    everything = descendants(workers.process.pid)
    workers.process.kill()
    workers.process.wait()
    async with asyncio.timeout(60):  # each node is told (SIGTERM), drains and ends, its media process too
        while left := [pid for pid in everything if running(pid)]:
            await asyncio.sleep(0.1)
    assert left == []


async def test_a_worker_that_cannot_start_stops_them_all(tmp_path: Path, postgres_url: str) -> None:
    sip_port = free_ports(2)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind((LOCALHOST, sip_port + 1))  # node 1's SIP port
        workers = Workers(tmp_path, postgres_url, sip_port)
        try:
            assert workers.process.wait(timeout=60) == 2
        finally:
            workers.stop()
    log = workers.log.read_text()
    assert "node wk-1" in log and "could not start (exited with status 2): stopping every node" in log


def test_workers_without_a_database_url_is_a_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    write_config(config, None, free_ports(2), free_ports(2))
    done = subprocess.run(
        [FAXGW, "serve", "--config", config, "--workers", "2"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "--workers 2 needs database_url (PostgreSQL)" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "var").exists()  # nothing started
