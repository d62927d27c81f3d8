"""``faxgw kamailio-config``: write the configuration of Kamailio in front of the nodes, from faxgw.toml."""

from __future__ import annotations

import argparse

from faxgw.gateway.cli import rendered
from faxgw.gateway.kamailio import render


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "kamailio-config",
        help="write Kamailio's configuration for the edge in front of several nodes ([edge])",
        description="Render kamailio.cfg, dispatcher.list (the [[edge.nodes]]) and address.list (the trunks' "
        "networks) from the gateway's config: Kamailio 5.6 spreads the trunks' calls over the nodes, probes "
        "them with OPTIONS and refuses everyone else. Prints each file written.",
    )
    rendered.add_options(parser, "directory Kamailio reads them from (e.g. /etc/kamailio)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return rendered.write(render, args)
