"""The REST API under load: requests per second and latency of ``POST /v1/faxes`` and ``GET /v1/faxes/{id}``
against a minimal FastAPI app doing one SQLite insert per request, measured in the same run.

The gateway is ``faxgw serve`` as an operator runs it (its own process, the embedded SQLite store, the
native engine in its media process). Every fax is scheduled a year ahead, so none is due and no call is
placed: what is measured is the API, its checks and its store. One small one-page TIFF is uploaded once;
each ``POST /v1/faxes`` names it and one destination. Then ``--clients`` clients at once (httpx, async,
keep-alive, in this process) send requests back to back for ``--seconds`` per endpoint, in ``--bursts``
turns that the gateway and the peer take in alternation, both running all along (so that other work on the
machine falls on both alike; half a second of each turn is warm-up, not counted); ``GET`` reads the faxes
the ``POST`` turns made.

The peer is a FastAPI app served by uvicorn with the gateway's own settings (``gateway.api.server``), in a
process of its own: ``POST /faxes`` inserts one row and commits (its own SQLite file, the store's pragmas:
the same durability), ``GET /faxes/{id}`` reads one row. Printed: req/s, p50/p90/p99 latency in ms for
each, and ours / the peer's insert (the target: at least 0.70, with p99 under 50 ms); the CPU the server
process used per second and per request, and the clients' CPU (they share the machine's cores). What
the clients' process holds before the load is frozen (``gc.freeze``): its garbage collector's full passes
would otherwise stop every client at once and count as the servers' latency.

    .venv/bin/python bench/rest_api.py [--clients 32] [--seconds 10] [--bursts 5]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' free ports
from fax_cpu import text_like_page
from nodes import cpu_seconds, serving, wait_up
from pdf_convert import HOST, SENDER, TOKEN, write_config

from tests.helpers.sip import free_port

#: A year ahead: no fax of the run falls due, so no call is placed.
SEND_TIME = time.strftime("%Y-%m-%d %H:%M:%S +0000", time.gmtime(time.time() + 365 * 86400))
#: Seconds of each burst not counted (connections, first requests).
WARMUP = 0.5


# -- the peer: ``rest_api.py --peer PORT DB`` --------------------------------------------------------------
def run_peer(port: int, path: Path) -> None:
    """A minimal FastAPI app on ``port``, served as the gateway's API is; rows in the SQLite file ``path``."""
    import uvicorn
    from fastapi import FastAPI, HTTPException
    from faxgw.gateway.api.server import uvicorn_config
    from faxgw.gateway.config import Config
    from faxgw.gateway.store.sqlite import PRAGMAS

    db = sqlite3.connect(path, isolation_level=None)
    for pragma in PRAGMAS:  # the store's: the same durability per commit
        db.execute(f"PRAGMA {pragma}")
    db.execute("CREATE TABLE faxes (id TEXT PRIMARY KEY, number TEXT, file TEXT, created_at REAL)")
    app = FastAPI()

    @app.post("/faxes", status_code=201)
    async def add(body: dict) -> dict:
        fax_id = f"fx_{uuid.uuid4().hex[:20]}"
        db.execute(  # autocommit: the insert commits on its own
            "INSERT INTO faxes VALUES (?, ?, ?, ?)", (fax_id, body["to"][0], body["files"][0], time.time())
        )
        return {"ids": {body["to"][0]: fax_id}}

    @app.get("/faxes/{fax_id}")
    async def get(fax_id: str) -> dict:
        row = db.execute("SELECT * FROM faxes WHERE id = ?", (fax_id,)).fetchone()
        if row is None:
            raise HTTPException(404)
        return {"id": row[0], "to": row[1], "files": [row[2]], "created_at": row[3]}

    log_level = "info"  # as ``faxgw serve`` runs its API
    uvicorn.Server(uvicorn_config(app, HOST, port, Config().api_max_connections, log_level)).run()


@contextmanager
def peer(work: Path) -> Iterator[tuple[str, int]]:
    """The peer's process; its base URL and pid."""
    port = free_port()
    with (work / "peer.log").open("w") as log:
        process = subprocess.Popen(
            [sys.executable, __file__, "--peer", str(port), str(work / "peer.sqlite")],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield f"http://{HOST}:{port}", process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


# -- the load ----------------------------------------------------------------------------------------------
@dataclass
class Figures:
    requests: int
    seconds: float
    latencies: list[float]  # seconds, of the requests counted
    server_cores: float  # the server process's CPU seconds per second, while counted
    client_cores: float  # ... and this process's (the clients')

    def __add__(self, other: Figures) -> Figures:
        """Two bursts as one."""
        seconds = self.seconds + other.seconds
        return Figures(
            self.requests + other.requests,
            seconds,
            self.latencies + other.latencies,
            (self.server_cores * self.seconds + other.server_cores * other.seconds) / seconds,
            (self.client_cores * self.seconds + other.client_cores * other.seconds) / seconds,
        )

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def percentile(self, p: int) -> float:
        return statistics.quantiles(self.latencies, n=100)[p - 1] * 1000


async def load(
    base_url: str,
    server: int,
    clients: int,
    seconds: float,
    request: Callable[[httpx.AsyncClient, int], Awaitable[None]],
) -> Figures:
    """``clients`` loops of ``request(client, n)`` back to back on keep-alive connections, for ``WARMUP`` +
    ``seconds``; the figures of those that started after the warm-up and ended before the end."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    counter = itertools.count()
    latencies: list[float] = []
    start = time.perf_counter()
    measured_from, until = start + WARMUP, start + WARMUP + seconds

    async def loop() -> None:
        # A client of its own, one connection: with one httpx pool shared by the 32, the clients took a
        # whole core at 440 req/s and were what the figures measured.
        async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as client:
            while (began := time.perf_counter()) < until:
                await request(client, next(counter))
                ended = time.perf_counter()
                if began >= measured_from and ended <= until:
                    latencies.append(ended - began)

    async def cpu() -> tuple[float, float]:
        await asyncio.sleep(WARMUP)
        before = cpu_seconds([server]), time.process_time()
        await asyncio.sleep(seconds)
        return cpu_seconds([server]) - before[0], time.process_time() - before[1]

    server_cpu, client_cpu = (await asyncio.gather(cpu(), *(loop() for _ in range(clients))))[0]
    return Figures(len(latencies), seconds, latencies, server_cpu / seconds, client_cpu / seconds)


def checked(response: httpx.Response, status: int) -> httpx.Response:
    if response.status_code != status:
        request = response.request
        sys.exit(f"{request.method} {request.url} answered {response.status_code}: {response.text}")
    return response


@dataclass
class Endpoints:
    """What a phase sends: the POST body of fax n, and where a fax is read."""

    post: str
    get: str
    created: list[str]

    async def add(self, client: httpx.AsyncClient, n: int, body: dict) -> None:
        answer = checked(await client.post(self.post, json=body), 201)
        self.created.append(next(iter(answer.json()["ids"].values())))

    async def read(self, client: httpx.AsyncClient, n: int) -> None:
        checked(await client.get(f"{self.get}/{self.created[n % len(self.created)]}"), 200)


@dataclass
class Target:
    """A server under test: where, its process, its paths, and the figures of its bursts by endpoint."""

    base_url: str
    pid: int
    endpoints: Endpoints
    figures: dict[str, Figures]

    async def burst(self, method: str, file_id: str, clients: int, seconds: float) -> None:
        if method == "POST":

            def request(client: httpx.AsyncClient, n: int) -> Awaitable[None]:
                body = {
                    "from": SENDER,
                    "to": [f"+1555{n % 10_000_000:07d}"],
                    "files": [file_id],
                    "send_time": SEND_TIME,
                    "return_ids": True,
                }
                return self.endpoints.add(client, n, body)
        else:
            request = self.endpoints.read
        figures = await load(self.base_url, self.pid, clients, seconds, request)
        self.figures[method] = self.figures[method] + figures if method in self.figures else figures


async def measure(targets: list[Target], file_id: str, clients: int, seconds: float, bursts: int) -> None:
    """POST, then GET of what the POSTs made: ``bursts`` turns per endpoint, the targets taking turns, so
    that what else loads the machine meanwhile falls on each alike."""
    for method in ("POST", "GET"):
        for _ in range(bursts):
            for target in targets:
                await target.burst(method, file_id, clients, seconds / bursts)


async def peer_up(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client:
        for _ in range(300):
            try:
                await client.get("/faxes/none")
                return
            except httpx.TransportError:
                await asyncio.sleep(0.1)
    sys.exit("the peer did not start")


async def run(
    work: Path, document: Path, clients: int, seconds: float, bursts: int
) -> tuple[dict[str, Figures], dict[str, Figures]]:
    config = work / "gateway.toml"
    api_port = write_config(config, trunk_port=free_port())  # nobody there: the faxes are for later
    base_url = f"http://{HOST}:{api_port}"
    with serving(config, 1, work / "serve.log") as server, peer(work) as (peer_url, peer_pid):
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(base_url=base_url, headers=headers) as client:
            await wait_up([client], server, work / "serve.log")
            document_bytes = document.read_bytes()
            uploaded = checked(
                await client.post("/v1/files", files={"file": ("page.tif", document_bytes)}), 201
            )
            file_id = uploaded.json()["id"]
        await peer_up(peer_url)
        # The clients' own full garbage collections (the modules this process imported, the clients,
        # their connections) stopped all 32 clients at once for 60-110 ms every two seconds: half the
        # gateway's p99 was the benchmark's. Frozen, a full pass walks only what the run makes.
        gc.collect()
        gc.freeze()
        ours = Target(base_url, server.pid, Endpoints("/v1/faxes", "/v1/faxes", []), {})
        theirs = Target(peer_url, peer_pid, Endpoints("/faxes", "/faxes", []), {})
        await measure([ours, theirs], file_id, clients, seconds, bursts)
    return ours.figures, theirs.figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=32, help="requests at once (default 32)")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured per endpoint (default 10)")
    parser.add_argument("--bursts", type=int, default=5, help="turns the seconds are split in (default 5)")
    parser.add_argument("--peer", nargs=2, metavar=("PORT", "DB"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peer:
        run_peer(int(args.peer[0]), Path(args.peer[1]))
        return
    from faxgw.sip.fax import Resolution, write_tiff_f

    with tempfile.TemporaryDirectory(prefix="faxgw-bench-rest-") as scratch:
        work = Path(scratch)
        document = work / "page.tif"
        write_tiff_f(document, [text_like_page(1)], Resolution.FINE)
        print(
            f"{args.clients} clients at once (httpx, keep-alive), {args.seconds:g} s per endpoint and server"
            f" in {args.bursts} turns;"
            f" {os.cpu_count()} cores for the server and the clients; load before: {os.getloadavg()[0]:.1f}"
        )
        ours, theirs = asyncio.run(run(work, document, args.clients, args.seconds, args.bursts))
    print(
        f"{'':<36}{'req/s':>7}{'p50 ms':>8}{'p90 ms':>8}{'p99 ms':>8}{'/ peer insert':>15}"
        f"{'server cores':>14}{'CPU ms/req':>12}{'clients':>9}"
    )
    insert = theirs["POST"].rate
    rows = (
        ("gateway  POST /v1/faxes", ours["POST"]),
        ("gateway  GET /v1/faxes/{id}", ours["GET"]),
        ("peer     POST /faxes (1 insert)", theirs["POST"]),
        ("peer     GET /faxes/{id} (1 select)", theirs["GET"]),
    )
    for name, figures in rows:
        print(
            f"{name:<36}{figures.rate:>7.0f}{figures.percentile(50):>8.1f}{figures.percentile(90):>8.1f}"
            f"{figures.percentile(99):>8.1f}{figures.rate / insert:>15.2f}{figures.server_cores:>14.2f}"
            f"{1000 * figures.server_cores / figures.rate:>12.2f}{figures.client_cores:>9.2f}"
        )


if __name__ == "__main__":
    main()
