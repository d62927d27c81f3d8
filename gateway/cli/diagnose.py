"""``faxgw diagnose FAX_ID``: what each call of a fax did, read from the gateway's store.

For the operator on the gateway's machine (or any machine with the same ``--config``): the store the
configuration names (SQLite file or PostgreSQL), any tenant's fax. Per attempt: the one-sentence summary,
then the SIP ladder and the T.30 exchange on one timeline, then the media figures. ``--json``: the
diagnostics as the API gives them (``GET /v1/faxes/{id}/attempts/{n}/diagnostics``), without the HTTP.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from faxgw.gateway.config import ConfigError, load_config
from faxgw.gateway.store import AttemptRecord, FaxRecord, Store, database

#: The counters of a media stream (``sip.diagnostics.MediaFigures``), in the order they are told.
_COUNTERS = ("packets_sent", "packets_received", "lost", "late", "recovered")


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("diagnose", help="show what each call of a fax did (T.30, SIP, media)")
    parser.add_argument("fax_id", help="the fax's id (fx_...)")
    parser.add_argument(
        "--config", type=Path, help="TOML file (see faxgw.sample.toml); FAXGW_* variables override"
    )
    parser.add_argument("--attempt", type=int, metavar="N", help="only attempt N (default: every attempt)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    store = Store(database(config.database_url, config.database, config.database_pool))
    try:
        found = asyncio.run(_read(store, args.fax_id))
    except ConnectionError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if found is None:
        where = config.database_url or config.database
        print(f"error: no fax with id {args.fax_id!r} in {where}", file=sys.stderr)
        return 1
    fax, attempts = found
    chosen = [a for a in attempts if args.attempt is None or a.number == args.attempt]
    if args.attempt is not None and not chosen:
        print(f"error: fax {fax.id} has no attempt {args.attempt} (it has {len(attempts)})", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps([_as_json(a) for a in chosen], indent=2))
    else:
        print(f"{fax.id}: {fax.direction} {fax.from_number} -> {fax.to_number}, {fax.status.value}")
        if not chosen:
            print("  no call made yet")
        for attempt in chosen:
            print("\n".join(describe(attempt)))
    return 0


async def _read(store: Store, fax_id: str) -> tuple[FaxRecord, list[AttemptRecord]] | None:
    await store.open()
    try:
        fax = await store.get_fax(fax_id)
        return None if fax is None else (fax, await store.attempts(fax_id))
    finally:
        await store.close()


def _as_json(attempt: AttemptRecord) -> dict[str, Any]:
    return {
        "fax_id": attempt.fax_id,
        "attempt": attempt.number,
        "summary": attempt.summary,
        "call_id": attempt.call_id,
        "sip_code": attempt.sip_code,
        "hangup_cause": attempt.hangup_cause,
        "t30_code": attempt.t30_code,
        "t30_text": attempt.t30_text,
        **attempt.diagnostics,
    }


def describe(attempt: AttemptRecord) -> list[str]:
    """The attempt as lines of text: summary, one timeline of SIP and T.30, media figures."""
    stored = attempt.diagnostics
    status = attempt.status.value if attempt.status else "under way"
    lines = [f"attempt {attempt.number}: {status} - {attempt.summary or attempt.t30_text or 'no summary'}"]
    if attempt.call_id:
        lines.append(f"  Call-ID {attempt.call_id}")
    timeline = [(step["at"], "SIP", step["sent"], step["message"]) for step in stored.get("sip", ())] + [
        (step["at"], "T.30", step["sent"], f"{step['name']} {step.get('detail', '')}".rstrip())
        for step in stored.get("t30", ())
    ]
    for at, layer, sent, what in sorted(timeline, key=lambda entry: entry[0]):
        lines.append(f"  {at:8.3f}s {layer:<4} {'->' if sent else '<-'} {what}")
    if stored.get("hung_up_by"):
        lines.append(f"  hung up by {'the gateway' if stored['hung_up_by'] == 'us' else 'the far end'}")
    for media in stored.get("media", ()):
        counts = ", ".join(f"{media.get(name, 0)} {name.replace('packets_', '')}" for name in _COUNTERS)
        jitter = f", jitter {media['jitter_ms']:.1f} ms" if media.get("jitter_ms") is not None else ""
        leg = f"{media['leg']} " if media.get("leg") else ""
        lines.append(f"  {leg}{media['kind']}: {counts}{jitter}")
    lines.extend(f"  {note}" for note in stored.get("notes", ()))
    if stored.get("pcap"):
        lines.append(f"  packet capture: {stored['pcap']}")
    return lines
