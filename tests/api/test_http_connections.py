"""Bounded connections (gateway.api.connections): idle floods, slow heads and starved descriptors, against
real uvicorn servers on 127.0.0.1 - ``faxgw serve`` and scripts in subprocesses with a lowered
RLIMIT_NOFILE, and the tests' in-process server."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import resource
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from faxgw.gateway.api import connections
from faxgw.gateway.demo import free_port

from tests.helpers.gateway import EDIT, Running, gateway_config, start_running
from tests.helpers.rawhttp import exchange, head, read_answer

FAXGW = Path(sys.executable).parent / "faxgw"
AUTHORIZED = {"Authorization": f"Bearer {EDIT}"}


def with_descriptors(limit: int) -> Callable[[], None]:
    """A subprocess's preexec_fn: at most ``limit`` open descriptors (soft and hard)."""
    return lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))


def wait_api(base_url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/v1/faxes", headers=AUTHORIZED, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise TimeoutError("the gateway API did not come up")


def cut(sockets: list[socket.socket], deadline: float) -> int:
    """How many of ``sockets`` the server closes before ``deadline`` (time.monotonic())."""
    closed = 0
    for sock in sockets:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            closed += sock.recv(4096) == b""
        except ConnectionError:
            closed += 1
        except TimeoutError:
            pass
    return closed


@pytest.mark.slow
def test_an_idle_flood_beyond_the_descriptors_leaves_the_api_up(tmp_path: Path) -> None:
    """The issue's 1,100 idle connections under 1,024 descriptors, scaled down: 400 under 256."""
    port = free_port(socket.SOCK_STREAM)
    config = tmp_path / "gateway.toml"
    config.write_text(f"""
data_dir = "{tmp_path / "var"}"
api_port = {port}
sip_port = {free_port(socket.SOCK_DGRAM)}
[[tenants]]
id = "acme"
keys = {{ "{EDIT}" = ["read", "edit"] }}
""")
    log = tmp_path / "gateway.log"
    base_url = f"http://127.0.0.1:{port}"
    with log.open("w") as out:
        gateway = subprocess.Popen(
            [FAXGW, "serve", "--config", config],
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=with_descriptors(256),
        )
    idle: list[socket.socket] = []
    try:
        wait_api(base_url)
        for _ in range(400):
            idle.append(socket.create_connection(("127.0.0.1", port), timeout=10))
        started = time.monotonic()
        # At once, although every slot is taken: the connection idle longest makes room.
        assert httpx.get(f"{base_url}/v1/faxes", headers=AUTHORIZED, timeout=5).status_code == 200
        assert time.monotonic() - started < 5
        # Every idle one is cut: to make room, or when it has sent no request for HEAD_TIMEOUT.
        assert cut(idle, started + connections.HEAD_TIMEOUT + 5) == len(idle)
        assert httpx.get(f"{base_url}/v1/faxes", headers=AUTHORIZED, timeout=5).status_code == 200
    finally:
        for sock in idle:
            sock.close()
        gateway.terminate()
        gateway.wait(10)
    text = log.read_text()
    assert "api_max_connections 256 lowered to 128" in text  # half of the 256 descriptors
    assert len(text) < 20_000, text[-3000:]
    assert text.count("Too many open files") <= 1


# The gateway's API in a process whose descriptors run out while the API is up: reads a line from
# stdin, takes every descriptor left, reads another, gives them back.
STARVED = textwrap.dedent("""
    import asyncio, logging, os, sys
    from pathlib import Path
    from faxgw.gateway.api.server import serving
    from faxgw.gateway.config import Config, TenantConfig
    from faxgw.gateway.service import Gateway

    async def main(data_dir: str, port: int, sip_port: int) -> None:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
        tenant = TenantConfig("acme", "ACME", {sys.argv[4]: ["read", "edit"]})
        config = Config(data_dir=Path(data_dir), api_port=port, sip_port=sip_port, tenants=(tenant,))
        gateway = Gateway(config)
        await gateway.start()
        async with serving(gateway, "127.0.0.1", port):
            print("up", flush=True)
            await asyncio.to_thread(sys.stdin.readline)
            held = []
            while True:
                try:
                    held.append(os.open(os.devnull, os.O_RDONLY))
                except OSError:
                    break
            print("starved", flush=True)
            await asyncio.to_thread(sys.stdin.readline)
            for fd in held:
                os.close(fd)
            print("fed", flush=True)
            await asyncio.to_thread(sys.stdin.readline)
        await gateway.stop()

    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
""")


@pytest.mark.slow
def test_a_failing_accept_is_logged_once_per_interval(tmp_path: Path) -> None:
    """asyncio logs a traceback for every accept() that fails (EMFILE), over and over while the
    descriptors are out: the log gets it once per LOG_INTERVAL, and the API is back once they are."""
    port = free_port(socket.SOCK_STREAM)
    log = tmp_path / "api.log"
    with log.open("w") as err:
        process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                STARVED,
                tmp_path / "var",
                str(port),
                str(free_port(socket.SOCK_DGRAM)),
                EDIT,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            preexec_fn=with_descriptors(512),
        )
    assert process.stdin is not None and process.stdout is not None
    waiting: list[socket.socket] = []
    try:
        assert process.stdout.readline() == "up\n"
        process.stdin.write("starve\n")
        process.stdin.flush()
        assert process.stdout.readline() == "starved\n"
        for _ in range(50):
            waiting.append(socket.create_connection(("127.0.0.1", port), timeout=10))
        time.sleep(4)  # accept() fails with EMFILE, retried every second
        starved_log = log.read_text()
        process.stdin.write("feed\n")
        process.stdin.flush()
        assert process.stdout.readline() == "fed\n"
        for sock in waiting:
            sock.close()
        wait_api(f"http://127.0.0.1:{port}", timeout=10)
    finally:
        for sock in waiting:
            sock.close()
        process.kill()
        process.wait(10)
    assert starved_log.count("Too many open files") == 1, starved_log[-3000:]
    assert len(starved_log) < 5_000


@pytest.fixture
async def bounded(tmp_path: Path) -> AsyncIterator[Running]:
    """The gateway with room for four HTTP connections."""
    config = dataclasses.replace(gateway_config(tmp_path / "var"), api_max_connections=4)
    async for started in start_running(config):
        yield started


def port_of(api: Running) -> int:
    return int(api.base_url.rsplit(":", 1)[1])


async def closed_within(reader: asyncio.StreamReader, seconds: float) -> bool:
    try:
        async with asyncio.timeout(seconds):
            return await reader.read(4096) == b""
    except ConnectionError:
        return True
    except TimeoutError:
        return False


async def test_beyond_the_bound_the_longest_idle_connection_makes_room(bounded: Running) -> None:
    port = port_of(bounded)
    idle = []
    try:
        for _ in range(4):
            idle.append(await asyncio.open_connection("127.0.0.1", port))
            await asyncio.sleep(0.05)  # in this order
        answer = await exchange(port, head("GET", "/v1/faxes", AUTHORIZED | {"Connection": "close"}))
        assert answer.status == 200
        # The one idle longest went; the others stay.
        assert [await closed_within(reader, 0.5) for reader, _ in idle] == [True, False, False, False]
    finally:
        for _, writer in idle:
            writer.close()


async def test_beyond_the_bound_with_every_connection_busy_a_new_one_gets_503(bounded: Running) -> None:
    port = port_of(bounded)
    post = head(
        "POST", "/v1/faxes", AUTHORIZED | {"Content-Type": "application/json", "Content-Length": "100"}
    )
    busy = [await asyncio.open_connection("127.0.0.1", port) for _ in range(4)]
    try:
        for _, writer in busy:
            writer.write(post)  # and not the body: each is a request in progress
        await asyncio.sleep(0.2)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        busy.append((reader, writer))
        status, headers, body = await asyncio.wait_for(read_answer(reader), 5)
        assert status == 503 and headers["retry-after"] == "1"
        assert b'"service_unavailable"' in body
        assert await closed_within(reader, 1)
        assert [await closed_within(reader, 0.01) for reader, _ in busy[:4]] == [False] * 4
    finally:
        for _, writer in busy:
            writer.close()


async def test_a_connection_that_sends_nothing_is_cut(
    running: Running,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(connections, "HEAD_TIMEOUT", 1.0)
    reader, writer = await asyncio.open_connection("127.0.0.1", port_of(running))
    assert await closed_within(reader, 3)
    writer.close()


async def test_a_head_sent_byte_by_byte_is_cut(
    running: Running,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Slowloris: every byte comes in time, the whole head does not."""
    monkeypatch.setattr(connections, "HEAD_TIMEOUT", 1.0)
    reader, writer = await asyncio.open_connection("127.0.0.1", port_of(running))
    request = head("GET", "/v1/faxes", AUTHORIZED)
    sent, closed = 0, False
    started = time.monotonic()
    try:
        for byte in request:
            writer.write(bytes([byte]))
            await writer.drain()
            sent += 1
            if closed := await closed_within(reader, 0.1):
                break
    except ConnectionError:
        closed = True
    writer.close()
    assert closed and sent < len(request)
    assert time.monotonic() - started < 3


@pytest.mark.parametrize("pieces", [1, 40], ids=["at_once", "in_pieces"])
async def test_a_head_over_the_limit_is_answered_431_and_closed(running: Running, pieces: int) -> None:
    """The parser would keep an unfinished head however long it grew: the bound stops it at 16 KB."""
    request = head("GET", "/v1/faxes", AUTHORIZED | {"X-Filler": "a" * 64 * 1024})
    reader, writer = await asyncio.open_connection("127.0.0.1", port_of(running))
    try:
        step = -(-len(request) // pieces)
        with contextlib.suppress(ConnectionError):  # the server may close while the rest still goes
            for start in range(0, len(request), step):
                writer.write(request[start : start + step])
                await writer.drain()
        status, _, body = await asyncio.wait_for(read_answer(reader), 5)
        assert status == 431 and b'"request_header_fields_too_large"' in body
        assert await closed_within(reader, 3)
    finally:
        writer.close()


async def test_a_head_under_the_limit_and_pipelined_requests_are_served(running: Running) -> None:
    large = head("GET", "/v1/faxes", AUTHORIZED | {"X-Filler": "a" * (connections.MAX_HEAD_BYTES - 1024)})
    assert (await exchange(port_of(running), large)).status == 200
    reader, writer = await asyncio.open_connection("127.0.0.1", port_of(running))
    try:
        writer.write(head("GET", "/v1/faxes", AUTHORIZED) * 2)  # two requests in one write
        answers = [await asyncio.wait_for(read_answer(reader), 5) for _ in range(2)]
        assert [status for status, _, _ in answers] == [200, 200]
    finally:
        writer.close()
