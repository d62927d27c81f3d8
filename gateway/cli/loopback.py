"""``faxgw loopback``: a real fax between two SpanDSP endpoints in memory, then a page-by-page check."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

from faxgw.gateway.cli.common import EXIT_FAILED, add_document_options, cover_page, report_bad_input
from faxgw.gateway.cli.progress import fax_progress
from faxgw.gateway.documents import ConversionError, convert, page_differences, render_received
from faxgw.sip.fax import FaxEvent, Resolution
from faxgw.sip.fax.loopback import LoopbackMode, run_loopback


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "loopback", help="fax documents to ourselves in memory and compare the pages"
    )
    add_document_options(parser)
    parser.add_argument(
        "--mode",
        choices=[m.value for m in LoopbackMode],
        default="t38",
        help="audio: modems over G.711; t38: T.38 terminals; gateway: modem -> T.38 gateway",
    )
    parser.add_argument(
        "--ecm",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="error correction mode (default on)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("faxgw-loopback"),
        metavar="DIR",
        help="where the sent and received files go (default ./faxgw-loopback)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of progress")
    parser.set_defaults(run=run)


def _receiver_progress(pages: int) -> Callable[[str, FaxEvent], None]:
    show = fax_progress("receiver", pages)
    return lambda side, event: show(event) if side == "receiver" else None


def run(args: argparse.Namespace) -> int:
    args.out.mkdir(parents=True, exist_ok=True)
    sent_tiff, received_tiff = args.out / "sent.tif", args.out / "received.tif"
    try:
        document = convert(
            args.inputs, sent_tiff, resolution=Resolution.from_name(args.resolution), cover=cover_page(args)
        )
    except (ConversionError, ValueError) as error:
        return report_bad_input(error, args.json)
    if not args.json:
        print(f"converted {document.pages} page(s) to {sent_tiff}")

    result = run_loopback(
        sent_tiff,
        received_tiff,
        mode=LoopbackMode(args.mode),
        ecm=args.ecm,
        on_event=None if args.json else _receiver_progress(document.pages),
    )
    differences = page_differences(sent_tiff, received_tiff) if received_tiff.exists() else []
    identical = sum(1 for difference in differences if difference == 0)
    received = None
    if result.receiver.pages_transferred:
        received = render_received(received_tiff, args.out / "received.pdf", args.out / "preview")
    sender, negotiated = result.sender, result.negotiated
    ok = sender.success and identical == document.pages

    if args.json:
        print(
            json.dumps(
                {
                    "completion_code": sender.code,
                    "completion_text": sender.text,
                    "pages_sent": sender.pages_transferred,
                    "pages_received": result.receiver.pages_transferred,
                    "pages_identical": identical,
                    "ecm": negotiated.ecm if negotiated else None,
                    "bit_rate": negotiated.bit_rate if negotiated else None,
                    "mode": result.mode.value,
                    "received_tiff": str(received_tiff) if received else None,
                    "received_pdf": str(received.pdf) if received else None,
                }
            )
        )
    else:
        for number, difference in enumerate(differences, start=1):
            verdict = (
                "identical"
                if difference == 0
                else ("missing or resized" if difference is None else f"{difference} pixels differ")
            )
            print(f"page {number}: {verdict}")
        print(
            f"sender done: {sender.text} (code {sender.code}), {sender.pages_transferred} of "
            f"{sender.pages_expected} pages, {result.simulated_seconds:.1f} s of call time"
        )
        if received:
            print(f"received: {received_tiff} and {received.pdf}")
        print("OK: every page arrived identical" if ok else "FAILED")
    return 0 if ok else EXIT_FAILED
