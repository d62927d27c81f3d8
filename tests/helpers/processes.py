"""Processes by what Linux says of them in /proc: a process's children and everything under it, whether it
still runs (``faxgw serve --workers`` and its nodes, their media processes, PostgreSQL's backends); ``stop``
ends one a test started."""

from __future__ import annotations

import contextlib
import signal
import subprocess
from pathlib import Path


def children(pid: int) -> list[int]:
    """The processes ``pid`` started that still exist (none when ``pid`` is gone)."""
    found: list[int] = []
    with contextlib.suppress(FileNotFoundError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(child) for child in (task / "children").read_text().split()]
    return found


def descendants(pid: int) -> list[int]:
    """``pid``'s children, theirs, and so on."""
    return [member for child in children(pid) for member in (child, *descendants(child))]


def running(pid: int) -> bool:
    """Alive, and not a zombie waiting for a parent that does not reap it (PID 1 in a container)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def stop(process: subprocess.Popen, how: signal.Signals = signal.SIGINT, timeout: float = 15) -> None:
    """End a process a test started: ``how`` first, SIGKILL if it is still there after ``timeout`` s."""
    if process.poll() is not None:
        return
    process.send_signal(how)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
