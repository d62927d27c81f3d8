"""Options and output shared by several commands."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from gateway.documents import ConversionError, CoverPage
from sip.fax import Resolution

#: Exit codes: 0 done, 1 the fax failed, 2 bad input (nothing was sent).
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


def add_document_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "inputs",
        nargs="+",
        type=Path,
        metavar="FILE",
        help="PDF, image, text or Office files, sent in this order",
    )
    parser.add_argument("--resolution", choices=[r.name.lower() for r in Resolution], default="fine")
    cover = parser.add_argument_group("cover page (added as page 1 when --cover-to is given)")
    cover.add_argument("--cover-to", metavar="NAME")
    cover.add_argument("--cover-from", metavar="NAME")
    cover.add_argument("--subject", default="")
    cover.add_argument("--message", default="")
    cover.add_argument(
        "--cover-flag",
        action="append",
        default=[],
        dest="cover_flags",
        choices=["urgent", "for_review", "please_reply", "confidential"],
    )


def cover_page(args: argparse.Namespace) -> CoverPage | None:
    if args.cover_to is None and args.cover_from is None:
        return None
    # CoverPage checks its own fields (both names required) and raises ValueError.
    return CoverPage(
        name_to=args.cover_to or "",
        name_from=args.cover_from or "",
        subject=args.subject,
        message=args.message,
        flags=frozenset(args.cover_flags),
    )


def report_bad_input(error: ConversionError | ValueError, as_json: bool) -> int:
    """Nothing was sent: say why, with the seed's error code when the documents were at fault."""
    code = error.code if isinstance(error, ConversionError) else "invalid_argument"
    message = error.message if isinstance(error, ConversionError) else str(error)
    filename = error.filename if isinstance(error, ConversionError) else None
    if as_json:
        print(json.dumps({"error": code, "message": message, "file": filename}))
    else:
        where = f" ({filename})" if filename else ""
        print(f"error: {code}: {message}{where}", file=sys.stderr)
    return EXIT_BAD_INPUT
