"""Options and output shared by several commands."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from faxgw.gateway.documents import ConversionError, CoverPage
from faxgw.sip.fax import BIT_RATES, FaxOptions, Resolution
from faxgw.sip.fax_call import FaxCallOptions
from faxgw.sip.fax_terms import T38Policy
from faxgw.sip.ua import Registration, UserAgent

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


def add_call_options(parser: argparse.ArgumentParser) -> None:
    """How a fax call behaves, for ``send`` and ``receive``."""
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--t38",
        dest="t38",
        action="store_const",
        const=T38Policy.T38,
        help="offer T.38 as soon as the call is up (and accept the peer's offer)",
    )
    mode.add_argument(
        "--audio",
        dest="t38",
        action="store_const",
        const=T38Policy.AUDIO,
        help="G.711 passthrough only: refuse T.38",
    )
    mode.add_argument(
        "--auto",
        dest="t38",
        action="store_const",
        const=T38Policy.AUTO,
        help="accept T.38 when offered; the receiving side offers it (default)",
    )
    parser.set_defaults(t38=T38Policy.AUTO)
    parser.add_argument(
        "--ecm",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="error correction mode (default on)",
    )
    parser.add_argument("--ident", default="", help="our station ident (TSI/CSI), up to 20 characters")
    parser.add_argument("--header", default="", help="page header line printed on each sent page")
    parser.add_argument("--max-rate", type=int, choices=BIT_RATES, default=14400, help="bit/s")
    parser.add_argument(
        "--unpaced",
        action="store_true",
        help="send T.38 as fast as possible: only toward another faxgw, never a real peer",
    )
    parser.add_argument(
        "--latch",
        action="store_true",
        help="send media to where the peer's media comes from (a peer behind NAT), not to its SDP address",
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object per fax instead of progress"
    )


def call_options(args: argparse.Namespace) -> FaxCallOptions:
    fax = FaxOptions(ident=args.ident, header=args.header, ecm=args.ecm, max_bit_rate=args.max_rate)
    return FaxCallOptions(t38=args.t38, fax=fax, paced=not args.unpaced, media_latch=args.latch)


#: How long unregistering at exit may take before we leave anyway (the binding then expires by itself).
UNREGISTER_TIMEOUT = 5.0


def add_registration_options(parser: argparse.ArgumentParser) -> None:
    """Registration with a registrar (the gateway's, a PBX's), for ``send`` and ``receive``: acting as a
    device, the way an ATA does."""
    group = parser.add_argument_group("registration (acting as a device of a gateway or PBX)")
    group.add_argument(
        "--registrar",
        type=host_port,
        metavar="HOST[:PORT]",
        help="register with this registrar first, keep the registration fresh, remove it at exit "
        "(needs --username and --password)",
    )
    group.add_argument("--username", help="digest user name (the registrar's, or a peer's that challenges)")
    group.add_argument("--password", help="digest password")
    group.add_argument(
        "--expires",
        type=int,
        default=600,
        metavar="SECONDS",
        help="registration lifetime asked for; refreshed before it ends (default 600)",
    )


def check_registration(args: argparse.Namespace) -> None:
    """ValueError for registration options that cannot work together."""
    if args.registrar is not None and not (args.username and args.password is not None):
        raise ValueError("--registrar needs --username and --password")
    if args.expires < 1:
        raise ValueError("--expires must be at least 1 second")


@contextlib.asynccontextmanager
async def registered(ua: UserAgent, args: argparse.Namespace) -> AsyncIterator[Registration | None]:
    """Registered with ``--registrar`` while inside (None without one); unregistered on the way out.
    Raises ``sip.ua.RegistrationError`` when the registrar refuses."""
    if args.registrar is None:
        yield None
        return
    host, port = args.registrar
    registrar = f"sip:[{host}]:{port}" if ":" in host else f"sip:{host}:{port}"
    registration = await ua.register(registrar, expires=args.expires)
    try:
        yield registration
    finally:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(registration.stop(), UNREGISTER_TIMEOUT)


def host_port(text: str, default_port: int = 5060) -> tuple[str, int]:
    """'HOST', 'HOST:PORT' or '[IPv6]:PORT'."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.lstrip(":")
    else:
        host, _, port = text.rpartition(":") if text.count(":") == 1 else (text, "", "")
    if port and not (port.isascii() and port.isdigit()):
        raise argparse.ArgumentTypeError(f"bad port in {text!r}")
    return host, int(port) if port else default_port


def network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """'192.0.2.0/24', '2001:db8::/32' or a single address."""
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an IP network (address/prefix)") from None
