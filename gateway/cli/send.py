"""``faxgw send``: convert documents and fax them to a SIP address, like sendfax, no server needed."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import socket
import tempfile
from pathlib import Path

from faxgw.gateway.cli.common import (
    EXIT_FAILED,
    add_call_options,
    add_document_options,
    add_registration_options,
    call_options,
    check_registration,
    cover_page,
    registered,
    report_bad_input,
)
from faxgw.gateway.cli.progress import conversion_progress, fax_progress
from faxgw.gateway.documents import ConversionError, convert
from faxgw.sip.dialog import peer_for_uri
from faxgw.sip.fax import Resolution
from faxgw.sip.fax_call import send_fax
from faxgw.sip.fax_terms import CallStatus
from faxgw.sip.message import SipParseError, SipUri
from faxgw.sip.ua import RegistrationError, UaConfig, UserAgent


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("send", help="fax documents to a SIP address")
    add_document_options(parser)
    parser.add_argument("--to", required=True, metavar="sip:NUMBER@HOST:PORT")
    parser.add_argument("--from-user", default="faxgw", metavar="NUMBER", help="our caller number")
    parser.add_argument("--ring-timeout", type=float, default=60.0, metavar="SECONDS")
    add_call_options(parser)
    add_registration_options(parser)
    parser.set_defaults(run=run)


def local_address_toward(host: str) -> str:
    """The address of ours that routes to ``host`` (what goes in Via, Contact and SDP).

    Connecting a UDP socket sends nothing; it only asks the kernel which source it would use.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        probe.connect((host, 9))
        return probe.getsockname()[0]


def run(args: argparse.Namespace) -> int:
    try:
        target = SipUri.parse(args.to)
        check_registration(args)
    except SipParseError as error:
        return report_bad_input(ValueError(f"--to: {error}"), args.json)
    except ValueError as error:
        return report_bad_input(error, args.json)
    with tempfile.TemporaryDirectory(prefix="faxgw-send-") as scratch:
        document_path = Path(scratch) / "fax.tif"
        try:
            document = convert(
                args.inputs,
                document_path,
                resolution=Resolution.from_name(args.resolution),
                cover=cover_page(args),
                on_converted=conversion_progress(len(args.inputs)),
            )
            options = call_options(args)
        except (ConversionError, ValueError) as error:
            return report_bad_input(error, args.json)
        if not args.json:
            print(f"[send] {document.pages} page(s) ready, calling {target}", flush=True)
        try:
            outcome = asyncio.run(_send(args, target, document_path, document.pages, options))
        except RegistrationError as error:
            return report_bad_input(ValueError(f"--registrar: {error}"), args.json)
    if args.json:
        print(json.dumps(outcome.to_dict()))
    else:
        print(
            f"[send] {outcome.status}: {outcome.pages} of {outcome.pages_expected or '?'} page(s), "
            f"SIP {outcome.sip_code}, {'T.38' if outcome.t38 else 'G.711'}, call {outcome.call_id}"
        )
    return 0 if outcome.status is CallStatus.SUCCESS else EXIT_FAILED


async def _send(args: argparse.Namespace, target: SipUri, document: Path, pages: int, options):
    config = UaConfig(
        host=local_address_toward(peer_for_uri(target).host),
        user=args.from_user,
        username=args.username,
        password=args.password,
    )
    ua = UserAgent(config)
    await ua.start()
    try:
        options = dataclasses.replace(options, ring_timeout=args.ring_timeout)
        async with registered(ua, args):
            on_event = None if args.json else fax_progress("send", pages)
            return await send_fax(ua, str(target), document, options=options, on_event=on_event)
    finally:
        ua.close()
