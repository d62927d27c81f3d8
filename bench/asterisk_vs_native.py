"""Cores per fax call: Asterisk (res_fax_spandsp, driven by our Asterisk engine) against our native
engine, N simultaneous one-page faxes, T.38 then G.711, in the same run on this machine.

Asterisk (in the sid chroot of scripts/asterisk-chroot; needs root) sends N faxes to a native
``faxgw receive``; its CPU is read from /proc for the Asterisk process. The native engine sends the
same N faxes to the same kind of receiver from this process; its CPU is this process's. Printed:
cores per call for each and the ratio native / Asterisk.

    sudo .venv/bin/python bench/asterisk_vs_native.py [--calls 8]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from faxgw.gateway.asterisk.render import render_texts
from faxgw.gateway.config import AsteriskConfig, Config, EngineKind, NumberConfig, TenantConfig
from faxgw.gateway.domain import FaxStatus
from faxgw.gateway.service import FaxRecord, Gateway, NewFax
from faxgw.sip.fax import Resolution, write_tiff_f
from faxgw.sip.fax_call import FaxCallOptions, send_fax
from faxgw.sip.fax_terms import CallStatus, T38Policy
from faxgw.sip.media import Ticker
from faxgw.sip.ua import UaConfig, UserAgent

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fax_cpu import text_like_page

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "asterisk-chroot"
FAXGW = Path(sys.executable).parent / "faxgw"
PLACEHOLDER = "/opt/faxbench-placeholder"


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def receiver(port: int, out: Path, count: int, policy: str) -> subprocess.Popen:
    process = subprocess.Popen(
        [
            FAXGW,
            "receive",
            "--listen",
            f"127.0.0.1:{port}",
            "--out",
            out,
            "--count",
            str(count),
            "--json",
            f"--{policy}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    process.stderr.readline()
    return process


def start_asterisk(root: Path, config: Config) -> tuple[Config, str, int]:
    base_inside = f"/opt/faxbench-{uuid.uuid4().hex[:10]}"
    base = root / base_inside.lstrip("/")
    for name in ("etc", "lib", "cache", "spool", "run", "log", "data/in", "data/out"):
        (base / name).mkdir(parents=True)
    for name, text in render_texts(config).items():
        (base / "etc" / name).write_text(text.replace(PLACEHOLDER, base_inside))
    started = subprocess.run(
        [SCRIPT, "start", root, f"{base_inside}/etc"], capture_output=True, text=True, check=True
    )
    pid = int(started.stdout.split()[-1])
    settings = dataclasses.replace(
        config.asterisk,
        root=Path(base_inside),
        spool_dir=Path(base_inside) / "data",
        local_spool_dir=base / "data",
    )
    return dataclasses.replace(config, asterisk=settings), f"{base_inside}/etc", pid


async def statuses(gateway: Gateway, faxes: list[FaxRecord]) -> list[FaxStatus]:
    return [(await gateway.fax(fax.tenant_id, fax.id)).status for fax in faxes]


async def through_asterisk(
    root: Path, document: Path, count: int, policy: str, work: Path
) -> tuple[float, int]:
    port = free_port(socket.SOCK_DGRAM)
    rx = receiver(port, work / f"ast-{policy}", count, policy)
    config = Config(
        data_dir=work / f"var-{policy}",
        engine=EngineKind.ASTERISK,
        sip_port=free_port(socket.SOCK_DGRAM),
        trunk=f"127.0.0.1:{port}",
        t38=T38Policy.AUTO if policy == "t38" else T38Policy.AUDIO,
        channels=count,
        numbers=(NumberConfig("+15550100", count),),
        tenants=(TenantConfig("b", "b", {}),),
        asterisk=AsteriskConfig(
            root=Path(PLACEHOLDER), ami_port=free_port(socket.SOCK_STREAM), ami_secret="bench-secret"
        ),
    )
    config, etc, pid = start_asterisk(root, config)
    gateway = Gateway(config)
    await gateway.start()
    try:
        upload = await gateway.save_file("b", "page.tif", document.read_bytes())
        before, wall = cpu_seconds(pid), time.perf_counter()
        faxes = await gateway.submit(
            "b", NewFax(["+15550100"], [f"+1555030{n:02d}" for n in range(count)], [upload.id])
        )
        while any(status.pending for status in await statuses(gateway, faxes)):
            await asyncio.sleep(0.2)
        spent, wall = cpu_seconds(pid) - before, time.perf_counter() - wall
        good = sum(1 for status in await statuses(gateway, faxes) if status is FaxStatus.SUCCESS)
    finally:
        await gateway.stop()
        subprocess.run([SCRIPT, "stop", root, etc], capture_output=True)
        rx.kill()
        rx.communicate()
    return spent / wall / count, good


async def through_native(document: Path, count: int, policy: str, work: Path) -> tuple[float, int]:
    port = free_port(socket.SOCK_DGRAM)
    rx = receiver(port, work / f"native-{policy}", count, policy)
    ua = UserAgent(UaConfig(host="127.0.0.1"))
    await ua.start()
    ticker = Ticker()
    options = FaxCallOptions(t38=T38Policy.AUTO if policy == "t38" else T38Policy.AUDIO)
    try:
        before, wall = time.process_time(), time.perf_counter()
        outcomes = await asyncio.gather(
            *(
                send_fax(ua, f"sip:{n}@127.0.0.1:{port}", document, options=options, ticker=ticker)
                for n in range(count)
            )
        )
        spent, wall = time.process_time() - before, time.perf_counter() - wall
    finally:
        ua.close()
        ticker.close()
        rx.kill()
        rx.communicate()
    return spent / wall / count, sum(1 for outcome in outcomes if outcome.status is CallStatus.SUCCESS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=8)
    args = parser.parse_args()
    ensured = subprocess.run([SCRIPT, "ensure"], capture_output=True, text=True)
    if ensured.returncode != 0:
        sys.exit(f"no Asterisk chroot: {ensured.stderr.strip()}")
    root = Path(ensured.stdout.strip())
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        document = work / "page.tif"
        write_tiff_f(document, [text_like_page(1)], Resolution.FINE)
        print(
            f"{args.calls} simultaneous one-page faxes; cores per call = CPU seconds / wall seconds / calls"
        )
        print(f"{'media':<8}{'Asterisk':>12}{'ok':>7}{'native':>12}{'ok':>7}{'native/Asterisk':>17}")
        for policy in ("t38", "audio"):
            ast, ast_ok = asyncio.run(through_asterisk(root, document, args.calls, policy, work))
            nat, nat_ok = asyncio.run(through_native(document, args.calls, policy, work))
            label = "T.38" if policy == "t38" else "G.711"
            print(
                f"{label:<8}{ast:>12.4f}{f'{ast_ok}/{args.calls}':>7}{nat:>12.4f}{f'{nat_ok}/{args.calls}':>7}"
                f"{nat / ast:>16.2f}x"
            )


if __name__ == "__main__":
    main()
