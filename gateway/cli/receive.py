"""``faxgw receive``: answer fax calls on a SIP address and write what arrives, like recvfax."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import multiprocessing
import multiprocessing.forkserver
import signal
import sys
import time
from pathlib import Path

from faxgw.gateway.cli.common import (
    add_call_options,
    add_registration_options,
    call_options,
    check_registration,
    host_port,
    network,
    registered,
    report_bad_input,
)
from faxgw.gateway.cli.progress import fax_progress
from faxgw.gateway.documents import render_received
from faxgw.sip.admission import Admission
from faxgw.sip.call import IncomingCall
from faxgw.sip.fax_call import FaxCallOptions, receive_fax
from faxgw.sip.media import Ticker
from faxgw.sip.tasks import Tasks
from faxgw.sip.ua import RegistrationError, UaConfig, UserAgent


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("receive", help="answer fax calls and save the faxes")
    parser.add_argument("--listen", type=host_port, default=("127.0.0.1", 5060), metavar="HOST:PORT")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR")
    parser.add_argument(
        "--count", type=int, default=0, metavar="N", help="stop after N faxes (default: never)"
    )
    parser.add_argument(
        "--tcp",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="listen on TCP at the same port as well as UDP (default on)",
    )
    parser.add_argument(
        "--allow",
        action="append",
        type=network,
        default=[],
        metavar="NETWORK",
        help="take calls only from this network (CIDR; repeat for more); others get 403 (default: anyone)",
    )
    add_call_options(parser)
    add_registration_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        options = call_options(args)
        check_registration(args)
    except ValueError as error:
        return report_bad_input(error, args.json)
    args.out.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a receiver without --count stops
        return asyncio.run(_serve(args, options))
    return 0


async def _serve(args: argparse.Namespace, options: FaxCallOptions) -> int:
    host, port = args.listen
    finished = asyncio.Queue[bool]()  # True: a fax is done; False: stop (SIGTERM)
    ticker = Ticker()
    calls = Tasks(logging.getLogger("faxgw.receive"), "receiving a fax")
    counter = iter(range(1, 1_000_000))
    renders = asyncio.Semaphore(RENDERS)
    # The renders' fork server starts now: once calls are up, its start-up would stall their media.
    _RENDERERS.set_forkserver_preload(["faxgw.gateway.documents"])
    multiprocessing.forkserver.ensure_running()

    def on_invite(call: IncomingCall) -> None:
        number = next(counter)
        calls.spawn(_receive_one(call, number, args, options, ticker, renders, finished))

    admission = Admission(args.allow) if args.allow else None
    config = UaConfig(
        host=host,
        port=port,
        user="faxgw",
        tcp=args.tcp,
        admission=admission,
        username=args.username,
        password=args.password,
    )
    ua = UserAgent(config, on_invite=on_invite)
    try:
        await ua.start()
    except OSError as error:  # the port is taken, or the address is not ours
        print(f"error: cannot listen on {host}:{port}: {error}", file=sys.stderr)
        ua.close()
        ticker.close()
        return 2
    # SIGTERM ends us as Ctrl-C does, through the finally clauses: a registration is removed on the way.
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, finished.put_nowait, False)
    try:
        async with registered(ua, args) as registration:
            # On stderr in every mode: stdout stays one JSON object per fax with --json, and whoever
            # started us (a supervisor, a test) can tell when calls can come in (registered by then).
            transports = "UDP and TCP" if args.tcp else "UDP"
            as_device = f", registered as {registration.aor}" if registration else ""
            print(
                f"[receive] listening on sip:{host}:{ua.address[1]} ({transports}){as_device}",
                file=sys.stderr,
                flush=True,
            )
            done = 0
            while (not args.count or done < args.count) and await finished.get():
                done += 1
    except RegistrationError as error:
        print(f"error: --registrar: {error}", file=sys.stderr)
        return 2
    finally:
        ua.close()
        ticker.close()
    return 0


async def _receive_one(
    call: IncomingCall,
    number: int,
    args: argparse.Namespace,
    options: FaxCallOptions,
    ticker: Ticker,
    renders: asyncio.Semaphore,
    finished: asyncio.Queue[bool],
) -> None:
    stem = f"fax-{time.strftime('%Y%m%d-%H%M%S')}-{number}"
    tiff = args.out / f"{stem}.tif"
    label = f"fax {number}"
    if not args.json:
        print(f"[{label}] call from {call.caller or 'unknown'} to {call.called or '?'}", flush=True)
    try:
        outcome = await receive_fax(
            call, tiff, options=options, ticker=ticker, on_event=None if args.json else fax_progress(label)
        )
        report = outcome.to_dict()
        report["tiff"] = str(tiff) if outcome.pages else None
        report["pdf"] = None
        if outcome.pages:
            pdf, preview = args.out / f"{stem}.pdf", args.out / f"{stem}-preview"
            await _render(renders, tiff, pdf, preview)
            report["pdf"] = str(pdf)
        if args.json:
            print(json.dumps(report), flush=True)
        else:
            print(
                f"[{label}] {outcome.status}: {outcome.pages} page(s), {'T.38' if outcome.t38 else 'G.711'}"
                + (f", saved {report['pdf']}" if report["pdf"] else ""),
                flush=True,
            )
    finally:
        finished.put_nowait(True)


#: Received faxes become PDFs in processes forked from a fork server, one per fax and at most RENDERS at a
#: time: Pillow holds the GIL for much of a page, so a thread of ours would stall every other call's media
#: that long. Not a process pool: its workers outlive a receiver that is killed (and hold its stdout); the
#: fork server goes with us, and a render ends by itself.
_RENDERERS = multiprocessing.get_context("forkserver")
RENDERS = 2


async def _render(renders: asyncio.Semaphore, tiff: Path, pdf: Path, preview: Path) -> None:
    async with renders:
        process = _RENDERERS.Process(target=render_received, args=(tiff, pdf, preview), daemon=True)
        process.start()
        loop = asyncio.get_running_loop()
        ended = loop.create_future()
        loop.add_reader(process.sentinel, ended.set_result, None)  # readable once the process is gone
        try:
            await ended
        finally:
            loop.remove_reader(process.sentinel)
        process.join()
    if process.exitcode != 0:
        raise RuntimeError(f"rendering {tiff} failed (exit code {process.exitcode})")
