"""A real Kamailio 5.6 for the tests: its configuration check, and one started in the foreground with the
rendered configuration, its log in a file, stopped by its PID."""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import time
from pathlib import Path

from tests.helpers import processes

KAMAILIO = "kamailio"


def kamailio_missing() -> str | None:
    """Why the tests cannot run Kamailio here (None: they can)."""
    return None if shutil.which(KAMAILIO) else "Kamailio not installed (Debian package kamailio)"


def check_config(cfg: Path) -> tuple[int, str]:
    """``kamailio -c``: its exit status and what it said."""
    done = subprocess.run(
        [KAMAILIO, "-c", "-f", str(cfg)], capture_output=True, text=True, timeout=30, check=False
    )
    return done.returncode, done.stdout + done.stderr


class Kamailio:
    """``kamailio -DD -E``: in the foreground (its children forked, none detached), logging to ``log``."""

    def __init__(self, cfg: Path, workdir: Path) -> None:
        self.log = workdir / "kamailio.log"
        run = workdir / "run"  # its runtime directory (control sockets), not the system's /run/kamailio
        run.mkdir(exist_ok=True)
        command = [KAMAILIO, "-DD", "-E", "-f", str(cfg), "-Y", str(run), "-n", "2"]
        with self.log.open("w") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    async def wait_for(self, pattern: str, timeout: float = 15.0, start: int = 0) -> int:
        """Until ``pattern`` is in the log after offset ``start``; the offset just after it. (Async: the
        test's own SIP calls run on the same event loop meanwhile.)"""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.text()
            found = text.find(pattern, start)
            if found >= 0:
                return found + len(pattern)
            assert self.process.poll() is None, f"Kamailio exited:\n{text[-3000:]}"
            await asyncio.sleep(0.05)
        raise AssertionError(f"{pattern!r} not in Kamailio's log within {timeout} s:\n{self.text()[-3000:]}")

    def stop(self) -> None:
        """SIGTERM to the main process, which stops its children; SIGKILL if it lingers."""
        processes.stop(self.process, signal.SIGTERM, timeout=10)
