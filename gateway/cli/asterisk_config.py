"""``faxgw asterisk-config``: write Asterisk's configuration for the Asterisk engine, from faxgw.toml."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from faxgw.gateway.asterisk import render
from faxgw.gateway.config import ConfigError, load_config


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "asterisk-config",
        help="write Asterisk's configuration (dialplan, PJSIP, AMI user, ...) from the gateway's",
        description="Render dialplan/*.conf from the gateway's config, so Asterisk and the gateway agree "
        "on numbers, trunk, AMI user and fax directories. Prints each file written.",
    )
    parser.add_argument(
        "--config", type=Path, help="TOML file (see faxgw.sample.toml); FAXGW_* variables override"
    )
    parser.add_argument(
        "--out", type=Path, required=True, help="directory to write into (Asterisk's etc, e.g. /opt/fax/etc)"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        paths = render(load_config(args.config), args.out)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for path in paths:
        print(path)
    return 0
