"""``faxgw demo``: a gateway on 127.0.0.1 faxes a document to itself through its REST API."""

from __future__ import annotations

import argparse
from importlib import resources
from pathlib import Path

from faxgw.gateway import demo

SAMPLE = resources.files("faxgw.gateway.samples") / "sample.pdf"  # samples/ in the repository


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("demo", help="fax a document from one local number to another, end to end")
    parser.add_argument("document", nargs="?", type=Path, default=SAMPLE, help="default: faxgw's sample.pdf")
    parser.add_argument("--data-dir", type=Path, default=Path("faxgw-demo"), help="default ./faxgw-demo")
    parser.add_argument("--paced", action="store_true", help="real T.38 timing (about 10 s a page)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return demo.main(args.document, args.data_dir, args.paced)
