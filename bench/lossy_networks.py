"""Fax success on lossy networks: T.38 and G.711 faxes between two faxgw processes that lose datagrams.

Each cell of the matrix gets a network namespace of its own whose loopback drops that share of UDP
datagrams at random (an nftables rule on the input hook, as tests/sip/test_lossy_network.py does: SIP,
RTP, UDPTL alike, both directions). Inside it, N ``faxgw receive`` and N ``faxgw send`` processes run N
three-page faxes at once (distinct SIP ports), real time, paced as toward a real peer. Printed per cell:
faxes that delivered every page out of N, pages delivered, datagrams dropped, media packets lost (RTP: by
sequence number; UDPTL: not made good), made good by redundancy, and dropped as late by the jitter buffer
(a sign of CPU load, not of the network), and the commonest failure reasons from the calls' diagnostics
(T.30 result, who hung up, the last T.30 frames). ``--keep DIR`` writes every call's JSON there to read
the whole T.30 and SIP story.

Needs root, iproute2 and nftables.

    sudo .venv/bin/python bench/lossy_networks.py [--faxes 20] [--cells t38-5,ecm-1] [--keep DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from faxgw.gateway.documents import convert

ROOT = Path(__file__).resolve().parent.parent
FAXGW = Path(sys.executable).parent / "faxgw"
HOST = "127.0.0.1"
FIRST_PORT = 5100
PAGES = 3
#: Seconds a three-page fax may take at worst (slow rate, retransmissions); then it counts as hung.
SEND_TIMEOUT = 420.0
#: Seconds the receiver gets to report after its sender has finished.
RECEIVER_GRACE = 45.0
#: Seconds between starting one fax and the next, so that 20 call set-ups do not land in one tick.
STAGGER = 0.25


@dataclass(frozen=True)
class Cell:
    name: str
    flags: tuple[str, ...]  # given to both ``faxgw send`` and ``faxgw receive``
    loss: float  # percent of UDP datagrams dropped
    target: float | None = None  # the goal for the success rate, percent


CELLS = {
    cell.name: cell
    for cell in (
        # T.38: both ends accept it and the receiving side offers it (re-INVITE), the default.
        Cell("t38-2", ("--auto",), 2.0),
        Cell("t38-5", ("--auto",), 5.0, target=95.0),
        Cell("ecm-0.5", ("--audio", "--ecm"), 0.5),
        Cell("ecm-1", ("--audio", "--ecm"), 1.0, target=95.0),
        Cell("noecm-1", ("--audio", "--no-ecm"), 1.0),
        # Not in the default matrix: the same calls with no loss, to tell loss from load; T.38 at the
        # 10 % that T.38 with redundancy is published to survive (Dialogic).
        Cell("t38-0", ("--auto",), 0.0),
        Cell("ecm-0", ("--audio", "--ecm"), 0.0),
        Cell("t38-10", ("--auto",), 10.0),
    )
}
DEFAULT_CELLS = ("t38-2", "t38-5", "ecm-0.5", "ecm-1", "noecm-1")


def loss_rules(percent: float) -> str:
    per_mille = round(percent * 10)
    return f"""
table inet faxgw_loss {{
    chain input {{
        type filter hook input priority 0;
        meta l4proto udp numgen random mod 1000 < {per_mille} counter drop
    }}
}}
"""


@contextlib.contextmanager
def namespace(percent: float):
    name = f"faxgw-bench-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        if percent:
            subprocess.run(
                ["ip", "netns", "exec", name, "nft", "-f", "-"],
                input=loss_rules(percent),
                text=True,
                check=True,
            )
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def dropped(name: str) -> int:
    rules = subprocess.run(
        ["ip", "netns", "exec", name, "nft", "list", "ruleset"], capture_output=True, text=True, check=True
    ).stdout
    match = re.search(r"counter packets (\d+)", rules)
    return int(match.group(1)) if match else 0


@dataclass
class Fax:
    """One fax of a cell: what each end printed."""

    index: int
    sender: dict | None = None
    receiver: dict | None = None
    sender_error: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return (
            self.sender is not None and self.sender["status"] == "success" and self.sender["pages"] == PAGES
        )

    @property
    def pages(self) -> int:
        return self.sender["pages"] if self.sender else 0

    def reason(self) -> str:
        """Why it failed, in a few words: the T.30 result, the call's end, and the last T.30 frames."""
        if self.sender is None:
            return f"no result from faxgw send: {self.sender_error}"
        result = self.sender
        diagnostics = result.get("diagnostics") or {}
        frames = [("> " if f["sent"] else "< ") + f["name"] for f in diagnostics.get("t30", [])][-4:]
        return (
            f"{result['t30_text']} ({result['hangup_cause']}, hung up by {diagnostics.get('hung_up_by')});"
            f" last T.30: {', '.join(frames) or 'none'}"
        )


async def _terminate(process: asyncio.subprocess.Process) -> None:
    """End a process this benchmark started (by its PID): SIGTERM, then SIGKILL."""
    if process.returncode is not None:
        return
    process.terminate()
    try:
        await asyncio.wait_for(process.wait(), 5)
    except TimeoutError:
        process.kill()
        await process.wait()


def _last_json(text: str) -> dict | None:
    for line in reversed(text.strip().splitlines()):
        with contextlib.suppress(ValueError):
            value = json.loads(line)
            if isinstance(value, dict):
                return value
    return None


async def run_fax(index: int, ns: str, cell: Cell, document: Path, work: Path, started: list) -> Fax:
    fax = Fax(index)
    await asyncio.sleep(index * STAGGER)
    inside = ["ip", "netns", "exec", ns, str(FAXGW)]
    port = FIRST_PORT + index
    receiver = await asyncio.create_subprocess_exec(
        *inside,
        "receive",
        "--listen",
        f"{HOST}:{port}",
        "--out",
        str(work / f"rx{index}"),
        "--count",
        "1",
        "--json",
        *cell.flags,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    started.append(receiver)
    assert receiver.stderr is not None and receiver.stdout is not None
    line = (await receiver.stderr.readline()).decode()
    if "listening on sip:" not in line:
        fax.sender_error = f"receiver did not start: {line.strip()}"
        return fax
    receiver_err = asyncio.ensure_future(receiver.stderr.read())  # keep the pipe drained
    begin = time.monotonic()
    sender = await asyncio.create_subprocess_exec(
        *inside,
        "send",
        str(document),
        "--to",
        f"sip:555@{HOST}:{port}",
        "--json",
        *cell.flags,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    started.append(sender)
    try:
        out, err = await asyncio.wait_for(sender.communicate(), SEND_TIMEOUT)
        fax.sender = _last_json(out.decode())
        if fax.sender is None:
            fax.sender_error = (err.decode().strip().splitlines() or [f"exit {sender.returncode}"])[-1]
    except TimeoutError:
        fax.sender_error = f"still running after {SEND_TIMEOUT:.0f} s"
        await _terminate(sender)
    fax.seconds = time.monotonic() - begin
    try:
        out = await asyncio.wait_for(receiver.stdout.read(), RECEIVER_GRACE)
        fax.receiver = _last_json(out.decode())
    except TimeoutError:
        pass
    await _terminate(receiver)
    receiver_err.cancel()
    return fax


@dataclass
class CellResult:
    cell: Cell
    faxes: list[Fax]
    dropped: int
    seconds: float
    media: Counter = field(default_factory=Counter)

    @property
    def successes(self) -> int:
        return sum(fax.ok for fax in self.faxes)


async def run_cell(cell: Cell, count: int, document: Path, keep: Path | None) -> CellResult:
    started: list[asyncio.subprocess.Process] = []
    begin = time.monotonic()
    with namespace(cell.loss) as ns, tempfile.TemporaryDirectory(prefix="faxgw-lossy-") as scratch:
        try:
            faxes = await asyncio.gather(
                *(run_fax(i, ns, cell, document, Path(scratch), started) for i in range(count))
            )
        finally:
            for process in started:
                await _terminate(process)
        result = CellResult(cell, list(faxes), dropped(ns), time.monotonic() - begin)
    for fax in faxes:
        for end in (fax.sender, fax.receiver):
            for media in ((end or {}).get("diagnostics") or {}).get("media", []):
                result.media["lost"] += media["lost"]
                result.media["recovered"] += media["recovered"]
                result.media["late"] += media["late"]
                result.media["received"] += media["packets_received"]
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        for fax in faxes:
            record = {
                "ok": fax.ok,
                "seconds": round(fax.seconds, 1),
                "sender": fax.sender,
                "receiver": fax.receiver,
                "error": fax.sender_error,
            }
            (keep / f"{cell.name}-{fax.index:02d}.json").write_text(json.dumps(record, indent=1))
    return result


def report(result: CellResult, count: int) -> None:
    cell = result.cell
    rate = 100 * result.successes / count
    goal = f" (goal {cell.target:.0f} %)" if cell.target is not None else ""
    pages = sum(fax.pages for fax in result.faxes)
    media = result.media
    print(
        f"{cell.name:8} {cell.loss:4.1f} % loss: {result.successes:2}/{count} = {rate:5.1f} %{goal};"
        f" pages {pages}/{count * PAGES}; {result.dropped} datagrams dropped;"
        f" media packets lost {media['lost']} of {media['received'] + media['lost']},"
        f" made good {media['recovered']}, late (dropped by the jitter buffer: load) {media['late']};"
        f" {result.seconds:.0f} s",
        flush=True,
    )
    reasons = Counter(fax.reason() for fax in result.faxes if not fax.ok)
    for reason, n in reasons.most_common(4):
        print(f"    {n:2} x {reason}", flush=True)


def _missing() -> str | None:
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    for tool in ("ip", "nft"):
        if shutil.which(tool) is None:
            return f"needs {tool} (Debian packages iproute2, nftables)"
    return None


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--faxes", type=int, default=20, help="faxes per cell, run at once (default 20)")
    parser.add_argument(
        "--cells",
        default=",".join(DEFAULT_CELLS),
        help=f"comma-separated, of: {', '.join(CELLS)} (default: {','.join(DEFAULT_CELLS)})",
    )
    parser.add_argument("--keep", type=Path, help="write every call's JSON (both ends) into this directory")
    args = parser.parse_args()
    names = [name.strip() for name in args.cells.split(",") if name.strip()]
    unknown = [name for name in names if name not in CELLS]
    if unknown or not names:
        parser.error(f"unknown cell(s) {', '.join(unknown) or '(none given)'}: use {', '.join(CELLS)}")
    if args.faxes < 1:
        parser.error("--faxes must be at least 1")
    missing = _missing()
    if missing:
        raise SystemExit(f"lossy_networks: {missing}")
    with tempfile.TemporaryDirectory(prefix="faxgw-lossy-doc-") as scratch:
        text = Path(scratch) / "page3.txt"
        text.write_text("Page three of the lossy network benchmark.\n" * 20)
        document = Path(scratch) / "three-pages.tif"
        convert([ROOT / "samples" / "sample.pdf", text], document)
        print(f"{args.faxes} three-page faxes per cell, all at once, paced (real time)", flush=True)
        for name in names:
            report(await run_cell(CELLS[name], args.faxes, document, args.keep), args.faxes)


if __name__ == "__main__":
    asyncio.run(main())
