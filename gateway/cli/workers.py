"""``faxgw serve --workers N``: N gateway nodes on this machine, one per core, under one parent process.

Each node is a whole ``faxgw serve`` (its own API, jobs, SIP user agent and media process) started from the
same configuration with three settings of its own, handed over as ``FAXGW_*`` environment variables (which
``load_config`` reads over the file): node i (0 to N-1) is named ``<node>-<i>`` and listens for SIP on
``sip_port + i`` (and ``sip_tls_port + i``) and for HTTP on ``api_port + i``. Separate ports rather than one
shared port (SO_REUSEPORT): Kamailio in front must address each node's user agent anyway, a node's API can be
probed and used on its own, and a node that stops or is restarted takes no connection meant for another
(Linux drops the connections waiting in the accept queue of a SO_REUSEPORT socket that closes).

The nodes share the work through PostgreSQL (``database_url``): SQLite belongs to one process. The parent
only supervises: SIGTERM and SIGINT are passed on to every node (SIGTERM drains them), and it exits once they
all have; a node that dies otherwise is started again after a pause. It signals nothing but its own
children, by PID. A node whose parent dies gets SIGTERM (``follow_parent``), so none outlives it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass
from typing import Any

from faxgw.gateway.config import Config, ConfigError, EngineKind

log = logging.getLogger("gateway.workers")

#: Set in each node's environment: the parent's PID (see ``follow_parent``).
PARENT_VARIABLE = "FAXGW_WORKERS_PARENT"
#: Pause before a node that died is started again; doubled while it keeps dying within STABLE seconds of
#: its start (a crash at start-up, the database down), up to RESTART_MAX.
RESTART_DELAY = 1.0
RESTART_MAX = 30.0
STABLE = 30.0
#: ``faxgw serve``'s exit status for a configuration it cannot use or a port it cannot take: the same again
#: at every start, so a node's first start ending so ends them all (a restart of a node that ran may meet
#: its old media process still holding the SIP port for a moment, and is tried again).
CONFIG_ERROR = 2
_PR_SET_PDEATHSIG = 1  # prctl(2)


def count(text: str) -> int:
    """``--workers``: a whole number of nodes, at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("give at least 1 worker")
    return value


@dataclass(frozen=True)
class Node:
    """One node of ``--workers``: what it is started with, over the shared configuration."""

    index: int
    name: str
    sip_port: int
    api_port: int
    sip_tls_port: int | None

    def environment(self) -> dict[str, str]:
        own = {
            "FAXGW_NODE": self.name,
            "FAXGW_SIP_PORT": str(self.sip_port),
            "FAXGW_API_PORT": str(self.api_port),
            PARENT_VARIABLE: str(os.getpid()),
        }
        if self.sip_tls_port is not None:
            own["FAXGW_SIP_TLS_PORT"] = str(self.sip_tls_port)
        return {**os.environ, **own}


def plan(config: Config, workers: int) -> list[Node]:
    """The ``workers`` nodes of ``config``; ConfigError when they cannot share the work."""
    if config.database_url is None:
        raise ConfigError(
            f"--workers {workers} needs database_url (PostgreSQL): the nodes share their faxes through it, "
            "and the embedded SQLite store belongs to one process"
        )
    if config.engine is not EngineKind.NATIVE:
        raise ConfigError(
            f"--workers {workers} needs engine = native: with engine = {config.engine.value} every node "
            "would drive the same Asterisk"
        )
    ports = {"sip_port": config.sip_port, "api_port": config.api_port, "sip_tls_port": config.sip_tls_port}
    for name, port in ports.items():
        if port is not None and not 1 <= port <= 65536 - workers:
            raise ConfigError(
                f"--workers {workers}: node i listens on {name} + i, so {name} must be 1 to "
                f"{65536 - workers} (not {port})"
            )
    tls = config.sip_tls_port
    return [
        Node(
            i,
            f"{config.node}-{i}",
            config.sip_port + i,
            config.api_port + i,
            None if tls is None else tls + i,
        )
        for i in range(workers)
    ]


def supervise(nodes: list[Node], args: argparse.Namespace) -> int:
    """Run ``nodes`` until SIGTERM or SIGINT, and they have ended; the exit status."""
    command = [sys.executable, "-m", "faxgw.gateway.cli", *["-v"] * args.verbose, "serve"]
    if args.config is not None:
        command += ["--config", str(args.config)]
    return asyncio.run(Supervisor(nodes, command).run())


class Supervisor:
    def __init__(self, nodes: list[Node], command: list[str]) -> None:
        self.nodes = nodes
        self.command = command
        self.stopping = asyncio.Event()
        self.status = 0
        self._signal = signal.SIGTERM  # the one passed on, once stopping
        self._running: dict[int, asyncio.subprocess.Process] = {}  # by node index

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for number in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(number, self.stop, number)
        await asyncio.gather(*(self._keep(node) for node in self.nodes))
        return self.status

    def stop(self, number: int, status: int = 0) -> None:
        """Pass signal ``number`` on to every node (each by its PID); none is started again."""
        self.status = max(self.status, status)
        self._signal = signal.Signals(number)
        self.stopping.set()
        for process in self._running.values():
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(number)

    async def _keep(self, node: Node) -> None:
        """Node ``node`` running until the supervisor stops: started again whenever it dies."""
        pause, first = RESTART_DELAY, True
        while not self.stopping.is_set():
            process = await asyncio.create_subprocess_exec(
                *self.command,
                env=node.environment(),
                # Its own process group: Ctrl-C in a terminal reaches the parent only, which passes it on
                # once (a second SIGINT would cut a node's shutdown short).
                process_group=0,
            )
            self._running[node.index] = process
            if self.stopping.is_set():  # the signal came while it was being started
                process.send_signal(self._signal)
            log.info(
                "node %s started (pid %d): SIP port %d, API port %d",
                node.name,
                process.pid,
                node.sip_port,
                node.api_port,
            )
            started = time.monotonic()
            code = await process.wait()
            del self._running[node.index]
            ended = _how(code)
            if self.stopping.is_set():
                log.info("node %s (pid %d) %s", node.name, process.pid, ended)
                if code != 0:
                    self.status = max(self.status, 1)
                return
            if first and code == CONFIG_ERROR:
                log.error(
                    "node %s (pid %d) could not start (%s): stopping every node",
                    node.name,
                    process.pid,
                    ended,
                )
                self.stop(signal.SIGTERM, CONFIG_ERROR)
                return
            first = False
            if time.monotonic() - started >= STABLE:
                pause = RESTART_DELAY
            log.warning(
                "node %s (pid %d) %s unexpectedly: starting it again in %.0f s",
                node.name,
                process.pid,
                ended,
                pause,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), pause)
            pause = min(pause * 2, RESTART_MAX)


def _how(code: int) -> str:
    if code >= 0:
        return f"exited with status {code}"
    try:
        return f"was killed by {signal.Signals(-code).name}"
    except ValueError:
        return f"was killed by signal {-code}"


def follow_parent() -> None:
    """In a node started by ``--workers``: SIGTERM (a drain) when the parent dies, as if it had passed one on;
    if the parent is already gone, exit at once."""
    parent = os.environ.get(PARENT_VARIABLE)
    if parent is None:
        return
    if sys.platform == "linux":
        libc: Any = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != int(parent):
        sys.exit(f"error: the faxgw serve --workers process (pid {parent}) that started this node is gone")
