"""Fixtures that several test directories use: real webhook receivers, a running gateway, SIPp, a throwaway
TLS certificate. Each directory's conftest.py adds its own; the code behind them is in tests/helpers/."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from faxgw.gateway.sqlite_thread import THREAD_NAME

from tests.helpers import postgres
from tests.helpers.gateway import Running, gateway_config, start_running
from tests.helpers.sip import FAXGW, LOCALHOST, Sipp, free_port, start_receiver
from tests.helpers.webhooks import Receiver


@pytest.fixture(autouse=True)
def no_database_thread_left() -> Iterator[None]:
    """Every store a test opens is closed by its end: no connection thread outlives it."""
    before = set(threading.enumerate())
    yield
    left = [t.name for t in threading.enumerate() if t.name.startswith(THREAD_NAME) and t not in before]
    assert not left, f"database connection threads left running: {left}"


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[postgres.Cluster]:
    """One real PostgreSQL 15 cluster for the session (tests/helpers/postgres.py), stopped at the end."""
    why = postgres.available()
    if why is not None:
        pytest.skip(f"{why}; CI installs it")
    directory = Path(
        tempfile.mkdtemp(prefix="faxgw-postgres-")
    )  # not under pytest's 0700 tmp: the server's user reads it
    cluster = postgres.start(directory)
    yield cluster
    cluster.stop()
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_cluster: postgres.Cluster) -> str:
    """The URL of a new, empty database on the session's PostgreSQL."""
    return postgres_cluster.create_database()


@pytest.fixture
async def sipp(tmp_path: Path) -> AsyncIterator[Sipp]:
    """SIPp as an independent SIP peer: scenarios from tests/sip/sipp, stopped by PID at the end."""
    if shutil.which("sipp") is None:
        pytest.skip("SIPp not installed (Debian package sip-tester); CI installs it")
    runner = Sipp(tmp_path)
    yield runner
    runner.stop()
    for peer in runner.peers:
        await peer.process.wait()


@pytest.fixture
def fax_receiver(tmp_path: Path) -> Iterator[Callable[..., tuple[subprocess.Popen, int]]]:
    """Starts ``faxgw receive`` for one fax (with the flags given; its JSON report on stdout, its files in
    tmp_path/received), returning the process and its port; stopped by PID if a test leaves it running."""
    started: list[subprocess.Popen] = []

    def start(*flags: str) -> tuple[subprocess.Popen, int]:
        port = free_port()
        out = tmp_path / "received"
        listen = ["--listen", f"{LOCALHOST}:{port}", "--out", out, "--count", "1", "--json"]
        process = start_receiver([FAXGW, "receive", *listen, "--ident", "+1 555 0199", *flags])
        started.append(process)
        return process, port

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A webhook receiver on 127.0.0.1 (tests/sip has its own ``receiver``: ``faxgw receive``)."""
    server = Receiver()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def inside() -> AsyncIterator[Receiver]:
    """A receiver on 127.0.0.2: an internal address the policy does not allow."""
    server = Receiver(host="127.0.0.2")
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    """The gateway with the test config: an outbound fax to RECEIVER comes back in for tenant acme."""
    async for started in start_running(gateway_config(tmp_path / "var")):
        yield started


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command (Debian package openssl) to make a test certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            key,
            "-out",
            cert,
        ],
        check=True,
        capture_output=True,
    )
    return key, cert
