"""How many concurrent real-time fax calls one process on one core carries, over real SIP on 127.0.0.1.

This process, pinned to core 0, places N one-page fax calls at once (paced T.38, then G.711) with one
user agent and one media ticker; a receiver process pinned to core 1 (this script with ``--serve``:
the same ``receive_fax`` as ``faxgw receive``, without its PDF rendering, which would compete with the
calls for core 1) answers them. Reported per N: calls that delivered every page, this process's CPU per
call and cores per call, and whether the calls were truly simultaneous: each call's T.30 exchange (from
training done to phase E, as the fax events report them) is recorded, and the most in progress at one
moment is printed. Calls that queue (at call set-up, or behind a core that cannot keep up) overlap less
than asked, and a figure per call-second would then flatter: the run says so with a WARNING line and
ends with exit status 1. Ticks the media clock had to skip (``Ticker.late_ticks``, both ends) and the
calls' median and longest T.30 time tell whether the calls ran at real-time pace; "before/after" is the
longest time from placing a call to the end of training, and from phase E to the call's end.
The peer, measured in the same run, is the same fax through SpanDSP alone in memory (no SIP, RTP or
UDPTL): the ratio is what our SIP and media layers cost on top of the fax engine.

    .venv/bin/python bench/sip_capacity.py [--calls 1,8,32,64] [--media t38,audio]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path

from faxgw.gateway.engines.media_process import MEDIA_NICE
from faxgw.sip.call import IncomingCall
from faxgw.sip.fax import PAGE_WIDTH, FaxOptions, Resolution, write_tiff_f
from faxgw.sip.fax.events import Completed, Negotiated
from faxgw.sip.fax.loopback import LoopbackMode, run_loopback
from faxgw.sip.fax_call import FaxCallOptions, FaxOutcome, T38Policy, receive_fax, send_fax
from faxgw.sip.media import Ticker
from faxgw.sip.ua import UaConfig, UserAgent

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fax_cpu import text_like_page

HOST = "127.0.0.1"
#: A call whose T.30 time is this much above the median ran behind real time (its media starved).
STRETCHED = 1.5


@dataclass
class Span:
    """One call's T.30 exchange in wall-clock seconds: training done (``Negotiated``) to phase E; and
    when the call was placed and when ``send_fax`` returned (set-up and tear-down around it)."""

    start: float | None = None
    end: float | None = None
    placed: float = 0.0
    over: float = 0.0

    async def call(self, call: Awaitable[FaxOutcome]) -> FaxOutcome:
        self.placed = time.time()
        try:
            return await call
        finally:
            self.over = time.time()

    def on_event(self, event: object) -> None:
        if isinstance(event, Negotiated) and self.start is None:
            self.start = time.time()
        elif isinstance(event, Completed):
            self.end = time.time()


def most_at_once(spans: list[Span]) -> int:
    """The largest number of spans in progress at one moment (an end before a start at the same time)."""
    edges = sorted(
        [(span.start, 1) for span in spans if span.start is not None and span.end is not None]
        + [(span.end, -1) for span in spans if span.start is not None and span.end is not None],
    )
    running = most = 0
    for _, step in edges:
        running += step
        most = max(most, running)
    return most


def start_receiver(port: int, out: Path, count: int, policy: str) -> subprocess.Popen:
    serve = ["--serve", str(port), str(count), policy, str(out)]
    command = ["taskset", "-c", "1", sys.executable, __file__, *serve]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    process.stderr.readline()  # "listening": ready for calls
    return process


async def serve(port: int, count: int, policy: T38Policy, out: Path) -> None:
    """The receiving end: answer ``count`` calls, then print one JSON line of what it saw."""
    out.mkdir(parents=True, exist_ok=True)
    ticker = Ticker()
    options = FaxCallOptions(t38=policy, fax=FaxOptions(ecm=True))
    numbers = itertools.count(1)
    calls: set[asyncio.Task] = set()
    results: list[bool] = []
    finished = asyncio.Event()

    async def answer(call: IncomingCall, number: int) -> None:
        delivered = False
        try:
            outcome = await receive_fax(call, out / f"fax-{number}.tif", options=options, ticker=ticker)
            delivered = outcome.status == "success"
        finally:
            results.append(delivered)
            if len(results) >= count:
                finished.set()

    def on_invite(call: IncomingCall) -> None:
        task = asyncio.ensure_future(answer(call, next(numbers)))
        calls.add(task)
        task.add_done_callback(calls.discard)

    ua = UserAgent(UaConfig(host=HOST, port=port), on_invite=on_invite)
    await ua.start()
    print("listening", file=sys.stderr, flush=True)
    try:
        await finished.wait()
    finally:
        ua.close()
        ticker.close()
    report = {"good": sum(results), "late_ticks": ticker.late_ticks}
    print(json.dumps(report), flush=True)


@dataclass
class Run:
    good: int
    cpu: float
    wall: float
    spans: list[Span]
    late_ticks: int


async def place_calls(document: Path, port: int, count: int, policy: T38Policy) -> Run:
    ua = UserAgent(UaConfig(host=HOST))
    await ua.start()
    ticker = Ticker()
    options = FaxCallOptions(t38=policy, fax=FaxOptions(ecm=True))
    spans = [Span() for _ in range(count)]
    cpu, wall = time.process_time(), time.perf_counter()
    try:
        outcomes = await asyncio.gather(
            *(
                span.call(
                    send_fax(
                        ua,
                        f"sip:{n}@{HOST}:{port}",
                        document,
                        options=options,
                        ticker=ticker,
                        on_event=span.on_event,
                    )
                )
                for n, span in enumerate(spans)
            )
        )
    finally:
        ua.close()
        ticker.close()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    good = sum(
        1 for outcome in outcomes if outcome.status == "success" and outcome.t38 == (policy is T38Policy.T38)
    )
    return Run(good, cpu, wall, spans, ticker.late_ticks)


def engine_only(document: Path, receive: Path, mode: LoopbackMode) -> float:
    """The peer: CPU seconds per call-second of the same fax, SpanDSP only, one end."""
    cpu = time.process_time()
    result = run_loopback(document, receive, mode=mode, paced=True)
    spent = time.process_time() - cpu
    return spent / 2 / result.simulated_seconds


def measure(document: Path, work: Path, policy: T38Policy, count: int) -> tuple[Run, dict]:
    port = 15060 + count + (0 if policy is T38Policy.T38 else 1000)
    receiver = start_receiver(port, work / f"rx-{policy.value}-{count}", count, policy.value)
    try:
        run = asyncio.run(place_calls(document, port, count, policy))
        stdout, _ = receiver.communicate(timeout=120)
        far = json.loads(stdout.strip().splitlines()[-1])
    finally:
        if receiver.poll() is None:
            receiver.kill()
            receiver.communicate()
    return run, far


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", default="1,8,32,64")
    parser.add_argument("--media", default="t38,audio", help="t38, audio or both (comma-separated)")
    # The receiving end, run by this script itself on core 1.
    parser.add_argument("--serve", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        port, count, policy, out = args.serve
        asyncio.run(serve(int(port), int(count), T38Policy(policy), Path(out)))
        return 0
    os.sched_setaffinity(0, {0})
    try:  # both ends run as the gateway runs its media process, ahead of other work on the machine
        os.setpriority(os.PRIO_PROCESS, 0, MEDIA_NICE)
        priority = f"nice {MEDIA_NICE}, as the gateway's media process"
    except PermissionError:
        priority = f"normal priority (nice {MEDIA_NICE}, as the gateway's media process, needs root)"
    overlapped = True
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        document = work / "page.tif"
        write_tiff_f(document, [text_like_page(1)], Resolution.FINE)
        assert text_like_page(1).width == PAGE_WIDTH
        print(f"one-page fax per call, ECM; this process on core 0, the receiver on core 1; {priority}")
        print(
            f"{'media':<7}{'calls':>6}{'all pages':>10}{'at once':>8}{'T.30 s med/max':>15}"
            f"{'before/after':>13}{'late ticks':>11}"
            f"{'wall s':>7}{'CPU s':>7}{'cores/call':>11}{'vs SpanDSP only':>16}"
        )
        for name in args.media.split(","):
            policy = T38Policy.T38 if name == "t38" else T38Policy.AUDIO
            mode = LoopbackMode.T38 if policy is T38Policy.T38 else LoopbackMode.AUDIO
            peer = engine_only(document, work / "peer.tif", mode)
            for count in (int(n) for n in args.calls.split(",")):
                run, far = measure(document, work, policy, count)
                at_once = most_at_once(run.spans)
                durations = [s.end - s.start for s in run.spans if s.start is not None and s.end is not None]
                median = statistics.median(durations) if durations else 0.0
                longest = max(durations, default=0.0)
                done = [s for s in run.spans if s.start is not None and s.end is not None]
                set_up = max((s.start - s.placed for s in done), default=0.0)  # type: ignore[operator]
                torn_down = max((s.over - s.end for s in done), default=0.0)  # type: ignore[operator]
                per_call = run.cpu / count / run.wall
                label = "T.38" if policy is T38Policy.T38 else "G.711"
                times, late = f"{median:.1f}/{longest:.1f}", f"{run.late_ticks}/{far['late_ticks']}"
                around = f"{set_up:.1f}/{torn_down:.1f}"
                print(
                    f"{label:<7}{count:>6}{f'{run.good}/{count}':>10}{at_once:>8}{times:>15}{around:>13}{late:>11}"
                    f"{run.wall:>7.1f}{run.cpu:>7.2f}{per_call:>11.4f}{per_call / peer:>15.1f}x",
                    flush=True,
                )
                if at_once < count or longest > STRETCHED * median:
                    overlapped = False
                    print(
                        f"WARNING: {label} x {count}: only {at_once} of {count} calls were in T.30 at once"
                        f" (longest {longest:.1f} s against a median {median:.1f} s): they did not all run"
                        " side by side at real-time pace, so the figure per call is not one of simultaneous"
                        " calls",
                        flush=True,
                    )
    return 0 if overlapped else 1


if __name__ == "__main__":
    sys.exit(main())
