"""``faxgw``: the command line. Each sub-command lives in its own module and registers itself here."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from faxgw.gateway.cli import (
    asterisk_config,
    convert,
    demo,
    diagnose,
    kamailio_config,
    loopback,
    mail_queue,
    receive,
    send,
    serve,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="faxgw", description="SIP/T.38 fax gateway")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output (-vv: T.30 detail)"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (
        demo,
        serve,
        send,
        receive,
        convert,
        diagnose,
        mail_queue,
        loopback,
        asterisk_config,
        kamailio_config,
    ):
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    return args.run(args)
