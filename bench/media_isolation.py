"""Faxes while the REST API is loaded as hard as clients can: do pages get lost, and what does the API keep?

One gateway (this process: REST API on uvicorn, jobs, SQLite; the native engine in its media process)
sends N two-page G.711 faxes to a ``faxgw receive --audio`` and N two-page paced T.38 faxes to a
``faxgw receive --t38``, all at once, while HTTP client processes ask ``GET /v1/faxes/{id}`` as fast as
they can. Printed: faxes that did not deliver every page and the pages missing (goal 0), and the API's
requests per second during the calls against the same clients with no calls (the ratio). The same run with
the engine in the gateway's own process (``media_process = false``) is the peer, measured in this run, and
so is the media process without its raised priority.

    .venv/bin/python bench/media_isolation.py [--calls 64] [--clients 8] [--modes process,in-process]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import multiprocessing
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event
from pathlib import Path

import httpx
from faxgw.gateway.api.server import serving
from faxgw.gateway.config import Config, NumberConfig, TenantConfig
from faxgw.gateway.demo import free_port
from faxgw.gateway.domain import FaxStatus
from faxgw.gateway.engines.media_process import MEDIA_NICE, MediaProcessEngine
from faxgw.gateway.service import Gateway
from faxgw.sip.fax import Resolution, write_tiff_f
from faxgw.sip.fax_call import T38Policy

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fax_cpu import text_like_page

FAXGW = Path(sys.executable).parent / "faxgw"
HOST = "127.0.0.1"
SENDER = "+15550100"
TOKEN = "bench-token"
#: Seconds of API load with no calls, for the ratio.
ALONE = 10.0


def client(port: int, fax_ids: list[str], count: Synchronized, errors: Synchronized, stop: Event) -> None:
    """One HTTP client: keep-alive GETs of the faxes, one after another, as fast as answers come. A request
    unanswered in 30 s or a connection dropped counts as an error, and the client connects again."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    n = 0
    while not stop.is_set():
        try:
            connection.request("GET", f"/v1/faxes/{fax_ids[n % len(fax_ids)]}", headers=headers)
            response = connection.getresponse()
            response.read()
        except (OSError, http.client.HTTPException):
            errors.value += 1  # one writer per counter: no lock needed
            connection.close()
            connection = http.client.HTTPConnection(HOST, port, timeout=30)
            continue
        if response.status != 200:
            raise SystemExit(f"GET answered {response.status}")
        n += 1
        count.value = n


@dataclass
class Load:
    """The client processes and their request counters."""

    processes: list[multiprocessing.process.BaseProcess]
    counts: list[Synchronized]
    errors: list[Synchronized]
    stop: Event

    @classmethod
    def start(cls, clients: int, port: int, fax_ids: list[str]) -> Load:
        context = multiprocessing.get_context("spawn")  # nothing of this process's event loop in them
        stop = context.Event()
        counts = [context.Value("q", 0, lock=False) for _ in range(clients)]
        errors = [context.Value("q", 0, lock=False) for _ in range(clients)]
        processes = [
            context.Process(target=client, args=(port, fax_ids, counts[n], errors[n], stop))
            for n in range(clients)
        ]
        for process in processes:
            process.start()
        return cls(processes, counts, errors, stop)

    def total(self) -> int:
        return sum(count.value for count in self.counts)

    def failed(self) -> int:
        return sum(errors.value for errors in self.errors)

    async def rate(self, seconds: float) -> float:
        before, started = self.total(), time.perf_counter()
        await asyncio.sleep(seconds)
        return (self.total() - before) / (time.perf_counter() - started)

    def close(self) -> None:
        self.stop.set()  # each client ends after its request in flight
        for process in self.processes:
            process.join(5)
            if process.is_alive():
                process.kill()
                process.join()


def start_receiver(port: int, out: Path, count: int, policy: str) -> subprocess.Popen:
    command = [FAXGW, "receive", "--listen", f"{HOST}:{port}", "--out", out, "--count", str(count), "--json"]
    process = subprocess.Popen(
        [*map(str, command), f"--{policy}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stderr is not None
    process.stderr.readline()  # "listening on ...": ready for calls
    # The far end stands for another machine: at the media process's priority, so that what is measured
    # is the gateway, not the receivers waiting for a core behind the API's clients (needs root).
    with contextlib.suppress(PermissionError):
        os.setpriority(os.PRIO_PROCESS, process.pid, MEDIA_NICE)
    return process


def gateway_config(data_dir: Path, trunk: int, calls: int, media_process: bool) -> Config:
    return Config(
        data_dir=data_dir,
        api_port=free_port(socket.SOCK_STREAM),
        sip_port=free_port(socket.SOCK_DGRAM),
        trunk=f"{HOST}:{trunk}",
        t38=T38Policy.AUTO,  # take the T.38 receiver's offer; the G.711 one never makes one
        channels=2 * calls,
        numbers=(NumberConfig(SENDER, 2 * calls, tenant="bench"),),
        tenants=(TenantConfig("bench", "Bench", {TOKEN: ["read", "edit"]}, sip_uri_destinations=True),),
        url_fetch_allow=("127.0.0.0/8",),  # the receivers' SIP URIs
        media_process=media_process,
    )


@dataclass
class Run:
    faxes: int
    complete: int  # every page delivered
    pages_missing: int
    statuses: dict[str, int]
    complete_t38: int  # of which over T.38 (the others: G.711)
    during: float  # API requests/s during the calls
    alone: float  # ... and with no calls
    api_errors: int  # requests unanswered in 30 s or connections dropped, during the calls
    load: float  # the machine's 1-minute load average before the run: others' work shares the cores
    wall: float


async def run(document: Path, work: Path, calls: int, clients: int, mode: str) -> Run:
    load_before = os.getloadavg()[0]
    ports = {policy: free_port(socket.SOCK_DGRAM) for policy in ("audio", "t38")}
    config = gateway_config(work / "var", ports["audio"], calls, media_process=mode != "in-process")
    gateway = Gateway(config)
    receivers: list[subprocess.Popen] = []
    load = None
    try:
        for policy, port in ports.items():
            receivers.append(start_receiver(port, work / f"rx-{policy}", calls, policy))
        await gateway.start()
        if mode == "process-same-priority":
            assert isinstance(gateway.engine, MediaProcessEngine) and gateway.engine.pid is not None
            os.setpriority(os.PRIO_PROCESS, gateway.engine.pid, os.getpriority(os.PRIO_PROCESS, 0))
        async with (
            serving(gateway, HOST, config.api_port) as api,
            httpx.AsyncClient(base_url=api, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60) as http,
        ):
            upload = await http.post("/v1/files", files={"file": ("two.tif", document.read_bytes())})
            upload.raise_for_status()
            file_id = upload.json()["id"]
            fax_ids = [await submit(http, file_id, f"+1555{n:07d}") for n in range(calls)]  # to the trunk
            t38 = ports["t38"]
            fax_ids += [await submit(http, file_id, f"sip:+1555{n:07d}@{HOST}:{t38}") for n in range(calls)]
            load = Load.start(clients, config.api_port, fax_ids)
            started, before = time.perf_counter(), load.total()
            finals = await asyncio.gather(*(final(http, fax_id) for fax_id in fax_ids))
            wall = time.perf_counter() - started
            during = (load.total() - before) / wall
            api_errors = load.failed()
            alone = await load.rate(ALONE)  # the same clients, the same faxes, no calls
            load.close()  # before the API goes
    finally:
        if load is not None:
            load.close()
        await gateway.stop()
        for receiver in receivers:
            if receiver.poll() is None:
                receiver.kill()
            receiver.communicate()
    statuses: dict[str, int] = {}
    for fax in finals:
        statuses[fax["status"]] = statuses.get(fax["status"], 0) + 1
    missing = sum(fax["pages"]["total"] - fax["pages"]["transferred"] for fax in finals)
    complete = sum(1 for fax in finals if fax["status"] == FaxStatus.SUCCESS)
    complete_t38 = sum(1 for fax in finals if fax["status"] == FaxStatus.SUCCESS and fax["t38"])
    return Run(
        len(finals), complete, missing, statuses, complete_t38, during, alone, api_errors, load_before, wall
    )


async def submit(http: httpx.AsyncClient, file_id: str, to: str) -> str:
    """A fax to a number (native API, through the trunk) or a SIP URI (only Telnyx's API takes those)."""
    if to.startswith("sip:"):
        body = {"connection_id": "bench", "from": SENDER, "to": to, "media_name": file_id}
        sent = await http.post("/v2/faxes", json=body)
        assert sent.status_code in (200, 202), sent.text
        return sent.json()["data"]["id"]
    sent = await http.post(
        "/v1/faxes", json={"from": SENDER, "to": [to], "files": [file_id], "return_ids": True}
    )
    assert sent.status_code == 201, sent.text
    return sent.json()["ids"][to]


async def final(http: httpx.AsyncClient, fax_id: str) -> dict:
    while True:
        fax = (await http.get(f"/v1/faxes/{fax_id}")).json()
        if not FaxStatus(fax["status"]).pending:
            return fax
        await asyncio.sleep(1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=64, help="faxes per media (G.711 and T.38 each)")
    parser.add_argument("--clients", type=int, default=8, help="HTTP client processes")
    parser.add_argument(
        "--modes",
        default="process,process-same-priority,in-process",
        help="process: the media process (raised priority when permitted); process-same-priority: without"
        " that; in-process: media_process = false",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        document = work / "two.tif"
        write_tiff_f(document, [text_like_page(1), text_like_page(2)], Resolution.FINE)
        print(
            f"{args.calls} G.711 + {args.calls} paced T.38 two-page faxes at once, {args.clients} HTTP"
            f" clients on GET /v1/faxes/{{id}}; {os.cpu_count()} cores for everything (receivers too)"
        )
        print(
            f"{'media':<23}{'faxes':>6}{'complete':>10}{'T.38':>6}{'pages lost':>12}{'wall s':>8}"
            f"{'API req/s in calls':>20}{'alone':>8}{'ratio':>7}{'errors':>8}{'load':>6}  statuses"
        )
        for mode in args.modes.split(","):
            result = asyncio.run(run(document, work / mode, args.calls, args.clients, mode))
            print(
                f"{mode:<23}{result.faxes:>6}{result.complete:>10}{result.complete_t38:>6}"
                f"{result.pages_missing:>12}{result.wall:>8.1f}{result.during:>20.0f}{result.alone:>8.0f}"
                f"{result.during / max(result.alone, 1):>7.2f}{result.api_errors:>8}{result.load:>6.1f}  "
                + ", ".join(f"{status} {n}" for status, n in sorted(result.statuses.items())),
                flush=True,
            )


if __name__ == "__main__":
    main()
