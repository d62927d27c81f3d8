"""``faxgw mail-queue``: the mails the gateway has not sent, read from the mail outbox in its database.

For the operator asking why a fax's mail did not come: each pending mail (when it is tried next) and each
failed one (given up: a 5xx, or every retry used), with its attempts and the last error the SMTP server
or the connection gave. The database is the one ``--config`` names (SQLite file or PostgreSQL), opened
directly as ``faxgw diagnose`` does; ``--json`` for scripts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any

from faxgw.gateway.config import ConfigError, load_config
from faxgw.gateway.mail import Mail, MailOutbox, MailStatus
from faxgw.gateway.store import Store, database


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("mail-queue", help="list the mails not sent (pending or failed)")
    parser.add_argument(
        "--config", type=Path, help="TOML file (see faxgw.sample.toml); FAXGW_* variables override"
    )
    parser.add_argument("--limit", type=int, default=100, metavar="N", help="at most N mails (default 100)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.limit < 1:
        print("error: --limit must be at least 1", file=sys.stderr)
        return 2
    try:
        config = load_config(args.config)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        mails = asyncio.run(_read(Store(database(config.database_url, config.database, 1)), args.limit))
    except ConnectionError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps([as_json(mail) for mail in mails], indent=2))
        return 0
    if not mails:
        print("no mail waiting or failed")
    for mail in mails:
        print("\n".join(describe(mail)))
    return 0


async def _read(store: Store, limit: int) -> list[Mail]:
    await store.open()  # the schema made or brought up to date, as for faxgw serve
    try:
        return await MailOutbox(store.database).unsent(limit)
    finally:
        await store.close()


def _subject(mail: Mail) -> str:
    return str(BytesHeaderParser().parsebytes(mail.message).get("Subject", ""))


def _when(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="seconds")


def as_json(mail: Mail) -> dict[str, Any]:
    return {
        "id": mail.id,
        "fax_id": mail.fax_id,
        "kind": mail.kind,
        "recipients": list(mail.recipients),
        "subject": _subject(mail),
        "status": mail.status.value,
        "attempts": mail.attempts,
        # pending: when it is tried next; failed: when it was given up
        ("next_attempt_at" if mail.status is MailStatus.PENDING else "given_up_at"): _when(
            mail.next_attempt_at
        ),
        "last_error": mail.last_error,
    }


def describe(mail: Mail) -> list[str]:
    when = "next try" if mail.status is MailStatus.PENDING else "given up"
    lines = [
        f"{mail.status.value:<8} {mail.id}  fax {mail.fax_id} ({mail.kind}) to {', '.join(mail.recipients)}",
        f"         {_subject(mail)!r}; {mail.attempts} attempt(s), {when} {_when(mail.next_attempt_at)}",
    ]
    if mail.last_error:
        lines.append(f"         last error: {mail.last_error}")
    return lines
