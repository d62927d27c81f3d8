"""``faxgw asterisk-config``: write Asterisk's configuration for the Asterisk engine, from faxgw.toml."""

from __future__ import annotations

import argparse

from faxgw.gateway.asterisk import render
from faxgw.gateway.cli import rendered


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "asterisk-config",
        help="write Asterisk's configuration (dialplan, PJSIP, AMI user, ...) from the gateway's",
        description="Render dialplan/*.conf from the gateway's config, so Asterisk and the gateway agree "
        "on numbers, trunk, AMI user and fax directories. Prints each file written.",
    )
    rendered.add_options(parser, "directory to write into (Asterisk's etc, e.g. /opt/fax/etc)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return rendered.write(render, args)
