"""A fax peer that vanishes: ``faxgw send`` or ``faxgw receive`` in a process of its own, killed with
SIGKILL (no BYE, no more media, as when a machine dies) at a chosen moment of its fax."""

from __future__ import annotations

import asyncio
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

#: The console script next to this Python: the command as users run it.
FAXGW = Path(sys.executable).parent / "faxgw"


@dataclass(frozen=True)
class Moment:
    """When to kill the peer: once it prints a line containing ``after`` (its plain progress lines), and
    ``delay`` seconds more."""

    name: str
    after: str
    delay: float = 0.0


class VanishingPeer:
    """One ``faxgw`` process (``arguments`` after the command name), killed at ``moment``."""

    def __init__(self, *arguments: str | Path) -> None:
        self.arguments = [str(argument) for argument in arguments]
        self.lines: list[str] = []
        self.process: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> VanishingPeer:
        self.process = await asyncio.create_subprocess_exec(
            FAXGW,
            *self.arguments,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self.process is not None
        if self.process.returncode is None:
            self.process.kill()  # ours, by PID: the test started it
        await self.process.wait()

    async def wait_for(self, text: str, timeout: float = 60) -> None:
        """Read the peer's output until a line contains ``text``."""
        assert self.process is not None and self.process.stdout is not None
        async with asyncio.timeout(timeout):
            while True:
                line = (await self.process.stdout.readline()).decode(errors="replace")
                if not line:
                    raise AssertionError(f"the peer ended before {text!r}: {''.join(self.lines)}")
                self.lines.append(line)
                if text in line:
                    return

    async def kill_at(self, moment: Moment) -> None:
        """Kill the peer at ``moment``: SIGKILL, so it says nothing more to anyone."""
        assert self.process is not None
        await self.wait_for(moment.after)
        await asyncio.sleep(moment.delay)
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()
