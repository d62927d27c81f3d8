"""What the SIP tests share: SIPp as an independent peer, faxgw receive as a subprocess, free ports."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from faxgw.gateway import demo
from faxgw.sip.call import IncomingCall
from faxgw.sip.fax_call import FaxCallOptions, FaxOutcome, receive_fax, send_fax
from faxgw.sip.media import Ticker
from faxgw.sip.ua import UaConfig, UserAgent

LOCALHOST = "127.0.0.1"

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "tests" / "sip" / "sipp"
FAXGW = Path(sys.executable).parent / "faxgw"


def start_receiver(command: list[str | Path]) -> subprocess.Popen:
    """Start ``faxgw receive`` and wait for its "listening" line (stderr) so calls can come in."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    assert process.stderr is not None
    line = process.stderr.readline()
    assert "listening on sip:" in line, line
    return process


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    """Free for UDP and TCP alike: ``faxgw receive`` listens on both at one port."""
    return demo.free_port(kind)


def free_ports(count: int) -> int:
    """The first of ``count`` consecutive ports free for UDP and TCP alike (``faxgw serve --workers``: node
    i listens on port + i)."""
    while True:
        first = free_port()
        if first + count <= 65536 and all(_free(port) for port in range(first + 1, first + count)):
            return first


def _free(port: int) -> bool:
    try:
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            with socket.socket(socket.AF_INET, kind) as probe:
                probe.bind((LOCALHOST, port))
    except OSError:
        return False
    return True


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

    def messages(self) -> str:
        """Every SIP message SIPp sent and received (started with ``trace=True``)."""
        return "\n".join(path.read_text(errors="replace") for path in self.workdir.glob("*_messages.log"))


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
        calls: int = 1,
        trace: bool = False,
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
            str(calls),
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
        if trace:
            command.append("-trace_msg")
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


class Pair:
    """Two user agents in this process; the callee receives every call with ``receive_fax``."""

    def __init__(self, tmp_path: Path, options: FaxCallOptions, config: dict | None = None) -> None:
        self.tmp_path = tmp_path
        self.options = options
        self.config = config or {}
        self.ticker = Ticker()
        self.received: asyncio.Future[FaxOutcome] | None = None
        self.on_receiver_call = lambda call: None

    async def __aenter__(self) -> Pair:
        self.received = asyncio.get_running_loop().create_future()

        def on_invite(call: IncomingCall) -> None:
            self.on_receiver_call(call)
            self._task = asyncio.ensure_future(self._receive(call))

        self.callee = UserAgent(UaConfig(host=LOCALHOST, **self.config), on_invite=on_invite)
        self.caller = UserAgent(UaConfig(host=LOCALHOST, **self.config))
        await self.callee.start()
        await self.caller.start()
        return self

    async def _receive(self, call: IncomingCall) -> None:
        assert self.received is not None
        outcome = await receive_fax(
            call,
            self.tmp_path / "rx.tif",
            options=self.options,
            ticker=self.ticker,
            on_event=self.on_receiver_event,
        )
        self.received.set_result(outcome)

    def on_receiver_event(self, event: object) -> None:
        pass

    async def send(self, document: Path, target: str | None = None) -> FaxOutcome:
        host, port = self.callee.address
        target = target or f"sip:555@{host}:{port}"
        return await send_fax(self.caller, target, document, options=self.options, ticker=self.ticker)

    async def __aexit__(self, *exc_info: object) -> None:
        self.caller.close()
        self.callee.close()
        self.ticker.close()
