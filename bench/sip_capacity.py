"""How many concurrent real-time fax calls one process on one core carries, over real SIP on 127.0.0.1.

This process, pinned to core 0, places N simultaneous one-page fax calls (paced T.38, then G.711)
with one user agent and one media ticker; a ``faxgw receive`` process pinned to core 1 answers
them. Reported per N: calls that delivered every page, this process's CPU per call, and cores per
call. The peer, measured in the same run, is the same fax through SpanDSP alone in memory (no SIP,
RTP or UDPTL): the ratio is what our SIP and media layers cost on top of the fax engine.

    .venv/bin/python bench/sip_capacity.py [--calls 1,8,32,64]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from faxgw.sip.fax import PAGE_WIDTH, FaxOptions, Resolution, write_tiff_f
from faxgw.sip.fax.loopback import LoopbackMode, run_loopback
from faxgw.sip.fax_call import FaxCallOptions, T38Policy, send_fax
from faxgw.sip.media import Ticker
from faxgw.sip.ua import UaConfig, UserAgent

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fax_cpu import text_like_page

FAXGW = Path(sys.executable).parent / "faxgw"
HOST = "127.0.0.1"


def start_receiver(port: int, out: Path, count: int, policy: str) -> subprocess.Popen:
    command = [
        "taskset",
        "-c",
        "1",
        str(FAXGW),
        "receive",
        "--listen",
        f"{HOST}:{port}",
        "--out",
        str(out),
        "--count",
        str(count),
        "--json",
        f"--{policy}",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    process.stderr.readline()  # "listening on ...": ready for calls
    return process


async def place_calls(document: Path, port: int, count: int, policy: T38Policy) -> tuple[int, float, float]:
    ua = UserAgent(UaConfig(host=HOST))
    await ua.start()
    ticker = Ticker()
    options = FaxCallOptions(t38=policy, fax=FaxOptions(ecm=True))
    cpu, wall = time.process_time(), time.perf_counter()
    try:
        outcomes = await asyncio.gather(
            *(
                send_fax(ua, f"sip:{n}@{HOST}:{port}", document, options=options, ticker=ticker)
                for n in range(count)
            )
        )
    finally:
        ua.close()
        ticker.close()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    good = sum(
        1 for outcome in outcomes if outcome.status == "success" and outcome.t38 == (policy is T38Policy.T38)
    )
    return good, cpu, wall


def engine_only(document: Path, receive: Path, mode: LoopbackMode) -> float:
    """The peer: CPU seconds per call-second of the same fax, SpanDSP only, one end."""
    cpu = time.process_time()
    result = run_loopback(document, receive, mode=mode, paced=True)
    spent = time.process_time() - cpu
    return spent / 2 / result.simulated_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", default="1,8,32,64")
    args = parser.parse_args()
    os.sched_setaffinity(0, {0})
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        document = work / "page.tif"
        write_tiff_f(document, [text_like_page(1)], Resolution.FINE)
        assert text_like_page(1).width == PAGE_WIDTH
        print("one-page fax per call, ECM; this process on core 0, the receiving faxgw on core 1")
        print(
            f"{'media':<8}{'calls':>6}{'all pages':>11}{'wall s':>8}{'CPU s':>8}{'CPU ms/call-s':>15}"
            f"{'cores/call':>12}{'vs SpanDSP only':>17}"
        )
        for policy, mode in ((T38Policy.T38, LoopbackMode.T38), (T38Policy.AUDIO, LoopbackMode.AUDIO)):
            peer = engine_only(document, work / "peer.tif", mode)
            for count in (int(n) for n in args.calls.split(",")):
                port = 15060 + count
                receiver = start_receiver(port, work / f"rx-{policy.value}-{count}", count, policy.value)
                try:
                    good, cpu, wall = asyncio.run(place_calls(document, port, count, policy))
                    receiver.communicate(timeout=120)
                finally:
                    if receiver.poll() is None:
                        receiver.kill()
                        receiver.communicate()
                per_call_second = cpu / count / wall
                label = "T.38" if policy is T38Policy.T38 else "G.711"
                print(
                    f"{label:<8}{count:>6}{f'{good}/{count}':>11}{wall:>8.1f}{cpu:>8.2f}"
                    f"{1000 * per_call_second:>15.2f}{per_call_second:>12.4f}{per_call_second / peer:>16.1f}x"
                )


if __name__ == "__main__":
    main()
