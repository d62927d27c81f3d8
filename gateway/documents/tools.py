"""Running the external converters (Ghostscript, LibreOffice) with a deadline and a readable failure."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence

from faxgw.gateway.documents.errors import ConversionError
from faxgw.gateway.domain import FaxStatus

#: Converters run at this nice value (or the gateway's own, if that is lower still): a conversion using every
#: core then never delays the media process's 20 ms ticks, nor the API (see README, Media isolation).
CONVERTER_NICE = 10
#: How much of a tool's chatter goes into an error message: enough to see the reason, not a log dump.
_REASON_CHARS = 300


def run_tool(
    argv: Sequence[str],
    *,
    timeout: float,
    error_code: FaxStatus,
    env: Mapping[str, str] | None = None,
) -> str:
    """Run a converter and return its combined output. A crash or a timeout becomes a ConversionError.

    Ghostscript and LibreOffice both exit 0 on many failures, so callers must still check what was produced.
    """
    name = os.path.basename(argv[0])
    # A new session lets a timeout kill the whole tree: soffice is a wrapper that starts soffice.bin.
    process = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=None if env is None else dict(env),
        start_new_session=True,
    )
    _lower_priority(process.pid)
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):  # it may have finished meanwhile
            os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise ConversionError(error_code, f"{name} took longer than {timeout:.0f} s") from None
    text = output.decode("utf-8", errors="replace")
    if process.returncode != 0:
        raise ConversionError(error_code, f"{name} failed (exit {process.returncode}): {summarize(text)}")
    return text


def _lower_priority(pid: int) -> None:
    """Set just after the start (preexec_fn is unsafe in threads, where conversions run): the tool's first
    instructions at the gateway's priority are harmless, and what it starts later inherits the lower one."""
    nice = max(CONVERTER_NICE, os.getpriority(os.PRIO_PROCESS, 0))
    with contextlib.suppress(ProcessLookupError):  # it may be gone already
        os.setpriority(os.PRIO_PROCESS, pid, nice)


def summarize(output: str) -> str:
    """The tool's own words, squeezed onto one short line for an error message."""
    lines = [line.strip().strip("*").strip() for line in output.splitlines()]
    lines = [line for line in lines if line]
    # Both tools chat (warnings, banners); when some line reports an error, that is the reason.
    errors = [line for line in lines if "error" in line.lower()]
    reason = "; ".join(errors or lines)
    if len(reason) > _REASON_CHARS:
        reason = reason[: _REASON_CHARS - 1] + "…"
    return reason or "no details"
