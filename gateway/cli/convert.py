"""``faxgw convert``: documents -> one fax-ready TIFF-F file."""

from __future__ import annotations

import argparse
from pathlib import Path

from faxgw.gateway.cli.common import add_document_options, cover_page, report_bad_input
from faxgw.gateway.cli.progress import conversion_progress
from faxgw.gateway.documents import ConversionError, convert
from faxgw.sip.fax import Resolution


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("convert", help="convert documents to a fax-ready TIFF-F file")
    add_document_options(parser)
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.tif")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        document = convert(
            args.inputs,
            args.output,
            resolution=Resolution.from_name(args.resolution),
            cover=cover_page(args),
            on_converted=conversion_progress(len(args.inputs)),
        )
    except (ConversionError, ValueError) as error:
        return report_bad_input(error, as_json=False)
    x_dpi, y_dpi = document.resolution.dpi
    print(
        f"{document.path}: {document.pages} page{'s' if document.pages != 1 else ''}, "
        f"{document.resolution.name.lower()} ({x_dpi}x{y_dpi} dpi)"
    )
    return 0
