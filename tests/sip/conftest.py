"""Fixtures for SIP tests: SIPp as an independent peer, free ports, a one-page fax document."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from faxgw.gateway import demo

from tests.fax.conftest import make_document

SCENARIOS = Path(__file__).parent / "sipp"
LOCALHOST = "127.0.0.1"

ROOT = Path(__file__).resolve().parents[2]
FAXGW = Path(sys.executable).parent / "faxgw"


def start_receiver(command: list[str | Path]) -> subprocess.Popen:
    """Start ``faxgw receive`` and wait for its "listening" line (stderr) so calls can come in."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    assert process.stderr is not None
    line = process.stderr.readline()
    assert "listening on sip:" in line, line
    return process


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator:
    """Start ``faxgw receive`` for one fax; stopped by PID if the test leaves it running."""
    started: list[subprocess.Popen] = []

    def start(*flags: str) -> tuple[subprocess.Popen, int]:
        port = free_port()
        out = tmp_path / "received"
        process = start_receiver(
            [
                FAXGW,
                "receive",
                "--listen",
                f"{LOCALHOST}:{port}",
                "--out",
                out,
                "--count",
                "1",
                "--json",
                "--ident",
                "+1 555 0199",
                *flags,
            ]
        )
        started.append(process)
        return process, port

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate()


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    """Free for UDP and TCP alike: ``faxgw receive`` listens on both at one port."""
    return demo.free_port(kind)


@pytest.fixture
def document(tmp_path: Path) -> Path:
    path = tmp_path / "one-page.tif"
    make_document(path, 1)
    return path


@dataclass
class SippPeer:
    process: asyncio.subprocess.Process
    port: int
    workdir: Path

    @property
    def uri(self) -> str:
        return f"sip:555@{LOCALHOST}:{self.port}"

    async def finished(self, timeout: float = 30.0) -> int:
        """SIPp's exit status: 0 when the scenario ran to its end, every check passing."""
        await asyncio.wait_for(self.process.wait(), timeout)
        return self.process.returncode or 0

    def errors(self) -> str:
        return "\n".join(path.read_text(errors="replace") for path in self.workdir.glob("*_errors.log"))


class Sipp:
    """Starts SIPp scenarios from tests/sip/sipp on 127.0.0.1 and stops them (by PID) afterwards."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.peers: list[SippPeer] = []

    async def start(
        self,
        scenario: str,
        *,
        target: str | None = None,
        keys: dict[str, str] | None = None,
        rtp_echo: bool = False,
    ) -> SippPeer:
        port = free_port()
        # SIPp checks status codes when it loads a scenario, before its own [keys] are filled in, so
        # the test fills its @name@ placeholders itself.
        text = (SCENARIOS / scenario).read_text()
        for name, value in (keys or {}).items():
            text = text.replace(f"@{name}@", value)
        script = self.workdir / f"{len(self.peers)}-{scenario}"
        script.write_text(text)
        command = [
            "sipp",
            *([target] if target else []),
            "-sf",
            str(script),
            "-i",
            LOCALHOST,
            "-p",
            str(port),
            "-m",
            "1",
            "-nostdin",
            "-timeout",
            "40s",
            "-timeout_error",
            "-trace_err",
            "-mi",
            LOCALHOST,
            "-mp",
            str(free_port()),
        ]
        if rtp_echo:
            command.append("-rtp_echo")
        process = await asyncio.create_subprocess_exec(
            *command, cwd=self.workdir, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
        )
        peer = SippPeer(process, port, self.workdir)
        self.peers.append(peer)
        await asyncio.sleep(0.3)  # let it bind before we call it
        return peer

    def stop(self) -> None:
        for peer in self.peers:
            if peer.process.returncode is None:
                peer.process.kill()


@pytest.fixture
async def sipp(tmp_path: Path) -> AsyncIterator[Sipp]:
    if shutil.which("sipp") is None:
        pytest.skip("SIPp not installed (Debian package sip-tester); CI installs it")
    runner = Sipp(tmp_path)
    yield runner
    runner.stop()
    for peer in runner.peers:
        await peer.process.wait()
