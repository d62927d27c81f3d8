"""Faxes per second that one gateway node carries against two (``faxgw serve --workers 2``) on this machine,
measured in the same run on the same PostgreSQL and the same receiving far ends.

Each run: a fresh database on a PostgreSQL 15 of our own (tests/helpers/postgres.py: no fsync), ``faxgw
serve --workers N`` with ``channels`` calls per node, two trunks of equal priority to two receiving processes
of this script (SIP user agent + SpanDSP, no PDF rendering, so the far end costs little), unpaced T.38 both
ways (our own endpoints: the calls run flat out, so the gateway's own work is what limits). A warm-up batch,
then M one-page faxes submitted at once (split over the nodes' APIs, as a load balancer would) and timed
until the database has none pending. Printed per N: faxes that succeeded, wall seconds, faxes per second,
and the cores each part used (the nodes with their media processes, the receivers, PostgreSQL); then the
ratio of faxes per second, 2 nodes / 1 node. Every part shares this machine's cores: the cores columns say
how much of it the nodes could have ("all" near the number of cores: the machine, not the nodes, was the
limit).

    .venv/bin/python bench/nodes.py [--faxes 400] [--channels 64]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
from faxgw.gateway.domain import FaxStatus
from faxgw.sip.call import IncomingCall
from faxgw.sip.fax import Resolution, write_tiff_f
from faxgw.sip.fax_call import FaxCallOptions, receive_fax
from faxgw.sip.fax_terms import T38Policy
from faxgw.sip.media import Ticker
from faxgw.sip.tasks import Tasks
from faxgw.sip.ua import UaConfig, UserAgent

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' PostgreSQL and free ports
from fax_cpu import text_like_page

from tests.helpers import postgres
from tests.helpers.processes import children, descendants
from tests.helpers.sip import free_port, free_ports

FAXGW = Path(sys.executable).parent / "faxgw"
HOST = "127.0.0.1"
TOKEN = "bench-token"
SENDER = "+15550100"
RECEIVERS = 2
#: The far ends answer with T.38, flat out: the gateway sends unpaced too (unpaced_t38).
RECEIVING = FaxCallOptions(t38=T38Policy.T38, paced=False)


# -- the far ends: ``nodes.py --receiver PORT DIR`` -------------------------------------------------
async def receive_forever(port: int, out: Path) -> None:
    """Answer every call on ``port`` and receive its fax into ``out``, until SIGTERM."""
    ticker = Ticker()
    calls = Tasks(logging.getLogger("bench.receiver"), "receiving a fax")
    numbers = itertools.count()

    def on_invite(call: IncomingCall) -> None:
        calls.spawn(receive_fax(call, out / f"{next(numbers)}.tif", options=RECEIVING, ticker=ticker))

    ua = UserAgent(UaConfig(host=HOST, port=port, tcp=False), on_invite=on_invite)
    await ua.start()
    stopped = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopped.set)
    print("ready", flush=True)
    await stopped.wait()
    ua.close()
    ticker.close()


def start_receiver(port: int, out: Path) -> subprocess.Popen:
    out.mkdir()
    process = subprocess.Popen(
        [sys.executable, __file__, "--receiver", str(port), str(out)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    return process


# -- CPU time, from /proc -------------------------------------------------------------------------------
def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of ``pids``, now."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def postmaster(cluster: postgres.Cluster) -> int:
    return int((cluster.directory / "data" / "postmaster.pid").read_text().split()[0])


# -- one run: N nodes ---------------------------------------------------------------------------------
@dataclass
class Run:
    nodes: int
    succeeded: int
    wall: float
    cores: dict[str, float]  # part -> CPU seconds / wall seconds


def write_config(
    path: Path, database_url: str, sip_port: int, api_port: int, channels: int, trunks: list[int]
):
    trunk_tables = "".join(
        f"""
[[trunks]]
name = "rx{i}"
hosts = ["{HOST}:{port}"]
t38 = "t38"
keepalive = 0
"""
        for i, port in enumerate(trunks)
    )
    path.write_text(f"""
data_dir = "{path.parent / "var"}"
database_url = "{database_url}"
node = "bench"
sip_port = {sip_port}
api_port = {api_port}
channels = {channels}
unpaced_t38 = true
[[numbers]]
number = "{SENDER}"
max_calls = 100000
[[tenants]]
id = "bench"
keys = {{ "{TOKEN}" = ["read", "edit"] }}
{trunk_tables}""")


@contextmanager
def serving(config: Path, nodes: int, log: Path) -> Iterator[subprocess.Popen]:
    process = subprocess.Popen(
        [FAXGW, "serve", "--config", config, "--workers", str(nodes)],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)  # drains (nothing is left to send) and ends every node
        try:
            process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def wait_up(clients: list[httpx.AsyncClient], process: subprocess.Popen, log: Path) -> None:
    for client in clients:
        while True:
            if process.poll() is not None:
                sys.exit(f"faxgw serve ended ({process.returncode}):\n{log.read_text()}")
            try:
                if (await client.get("/v1/faxes")).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)


async def submit(clients: list[httpx.AsyncClient], file_id: str, numbers: list[str]) -> None:
    """``numbers`` faxed at once, split over the nodes' APIs."""
    shares = [numbers[i :: len(clients)] for i in range(len(clients))]
    answers = await asyncio.gather(
        *(
            client.post(
                "/v1/faxes",
                json={"from": SENDER, "to": share, "files": [file_id], "options": {"retry": {"count": 0}}},
            )
            for client, share in zip(clients, shares, strict=True)
            if share
        )
    )
    for answer in answers:
        answer.raise_for_status()


async def until_done(database_url: str, expected: int) -> int:
    """Wait until ``expected`` faxes are in the database and none is pending; how many succeeded."""
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as db:
        while True:
            rows = await (await db.execute("SELECT status, count(*) FROM faxes GROUP BY status")).fetchall()
            counts = {FaxStatus(status): number for status, number in rows}
            if sum(counts.values()) >= expected and not any(status.pending for status in counts):
                return counts.get(FaxStatus.SUCCESS, 0)
            await asyncio.sleep(0.1)


async def measure(
    cluster: postgres.Cluster, nodes: int, faxes: int, channels: int, document: Path, work: Path
) -> Run:
    work.mkdir()
    ports = [free_port() for _ in range(RECEIVERS)]
    receivers = [start_receiver(port, work / f"rx{i}") for i, port in enumerate(ports)]
    database_url = cluster.create_database()
    sip_port, api_port = free_ports(nodes), free_ports(nodes)
    config = work / "gateway.toml"
    write_config(config, database_url, sip_port, api_port, channels, ports)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    clients = [
        httpx.AsyncClient(base_url=f"http://{HOST}:{api_port + i}", headers=headers, timeout=120)
        for i in range(nodes)
    ]
    try:
        with serving(config, nodes, work / "serve.log") as server:
            await wait_up(clients, server, work / "serve.log")
            uploaded = await clients[0].post("/v1/files", files={"file": ("page.tif", document.read_bytes())})
            uploaded.raise_for_status()
            file_id = uploaded.json()["id"]
            numbers = (f"+1555{n:07d}" for n in itertools.count(1))
            warmup = 4 * nodes  # connections, the document's checks, SpanDSP's first calls: not measured
            await submit(clients, file_id, list(itertools.islice(numbers, warmup)))
            await until_done(database_url, warmup)

            gateways = [server.pid] if nodes == 1 else children(server.pid)  # --workers: the parent's
            parts = {
                "gateway": gateways,  # API, jobs, store: each node's own process
                "media": [pid for gateway in gateways for pid in children(gateway)],  # SIP and SpanDSP
                "receivers": [receiver.pid for receiver in receivers],
                "PostgreSQL": [postmaster(cluster), *descendants(postmaster(cluster))],
            }
            before = {part: cpu_seconds(pids) for part, pids in parts.items()}
            started = time.perf_counter()
            await submit(clients, file_id, list(itertools.islice(numbers, faxes)))
            succeeded = await until_done(database_url, warmup + faxes) - warmup
            wall = time.perf_counter() - started
            cores = {part: (cpu_seconds(pids) - before[part]) / wall for part, pids in parts.items()}
    finally:
        for client in clients:
            await client.aclose()
        for receiver in receivers:
            receiver.send_signal(signal.SIGTERM)
            receiver.wait(timeout=30)
    return Run(nodes, succeeded, wall, cores)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faxes", type=int, default=400, help="faxes timed per run (default 400)")
    parser.add_argument("--channels", type=int, default=64, help="calls at once per node (default 64)")
    parser.add_argument("--receiver", nargs=2, metavar=("PORT", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.receiver:
        asyncio.run(receive_forever(int(args.receiver[0]), Path(args.receiver[1])))
        return
    why = postgres.available()
    if why is not None:
        sys.exit(why)
    scratch = Path(tempfile.mkdtemp(prefix="faxgw-bench-nodes-"))  # not 0700: PostgreSQL's user reads it
    cluster = postgres.start(scratch)
    try:
        document = scratch / "page.tif"
        write_tiff_f(document, [text_like_page(1)], Resolution.FINE)
        print(
            f"{args.faxes} one-page faxes submitted at once, unpaced T.38 to {RECEIVERS} receiving "
            f"processes; {args.channels} channels per node; {os.cpu_count()} cores shared by every part"
        )
        print(
            f"{'nodes':<7}{'succeeded':>11}{'wall s':>9}{'faxes/s':>9}   cores used:"
            f"{'gateway':>9}{'media':>7}{'receivers':>11}{'PostgreSQL':>12}{'all':>6}"
        )
        runs = []
        for nodes in (1, 2):
            run = asyncio.run(
                measure(cluster, nodes, args.faxes, args.channels, document, scratch / f"n{nodes}")
            )
            runs.append(run)
            rate = run.succeeded / run.wall
            print(
                f"{run.nodes:<7}{f'{run.succeeded}/{args.faxes}':>11}{run.wall:>9.1f}{rate:>9.1f}"
                f"{'':14}{run.cores['gateway']:>9.2f}{run.cores['media']:>7.2f}{run.cores['receivers']:>11.2f}"
                f"{run.cores['PostgreSQL']:>12.2f}{sum(run.cores.values()):>6.2f}"
            )
        one, two = (run.succeeded / run.wall for run in runs)
        print(f"2 nodes / 1 node: {two / one:.2f}x the faxes per second")
    finally:
        cluster.stop()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
