"""How ``convert``, ``send`` and ``receive`` show a fax going: a progress bar (tqdm, on stderr) when stderr
is a terminal, plain lines on stdout otherwise, so that a log file or a pipe gets one line per event and
no terminal control characters.

A fax's bar counts pages: the document's page count when sending, open-ended when receiving (the sender
decides how many); its text says how far T.30 has got (waiting, negotiated rate, the end).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TextIO

from faxgw.sip.fax import Completed, FaxEvent, Negotiated, PageDone
from tqdm import tqdm


def on_terminal(stream: TextIO | None = None) -> bool:
    """Whether the bars would be seen: ``stream`` (stderr) is a terminal."""
    return (stream or sys.stderr).isatty()


def fax_progress(label: str, total: int | None = None) -> Callable[[FaxEvent], None]:
    """Show one fax's events as they happen; ``total``: the pages it is to have, when known."""
    if not on_terminal():
        return _lines(label)
    # Every page redrawn (mininterval 0): a page takes seconds, and tqdm's default would skip some.
    bar = tqdm(total=total, unit="page", desc=f"[{label}] waiting for T.30", mininterval=0, file=sys.stderr)

    def show(event: FaxEvent) -> None:
        if isinstance(event, Negotiated):
            bar.set_description_str(f"[{label}] {_negotiated(event)}")
        elif isinstance(event, PageDone):
            bar.update(1)
        elif isinstance(event, Completed):
            bar.set_description_str(f"[{label}] {_completed(event)}")
            bar.close()

    return show


def conversion_progress(total: int) -> Callable[[str], None]:
    """Count the input files as conversion finishes each; ``total`` of them. Nothing off a terminal (the
    command prints its result line either way)."""
    if not on_terminal():
        return lambda name: None
    bar = tqdm(total=total, unit="file", desc="converting", leave=False, file=sys.stderr)

    def converted(name: str) -> None:
        bar.set_postfix_str(name, refresh=False)
        bar.update(1)
        if bar.n >= total:
            bar.close()

    return converted


def _lines(label: str) -> Callable[[FaxEvent], None]:
    def show(event: FaxEvent) -> None:
        if isinstance(event, Negotiated):
            line = _negotiated(event)
        elif isinstance(event, PageDone):
            line = f"page {event.page} {'sent' if event.sending else 'received'} ({event.bad_rows} bad rows)"
        elif isinstance(event, Completed):
            line = _completed(event)
        else:
            return
        print(f"[{label}] {line}", flush=True)

    return show


def _negotiated(event: Negotiated) -> str:
    resolution = event.resolution.name.lower() if event.resolution else "unknown resolution"
    ecm = "ECM" if event.ecm else "no ECM"
    return (
        f"negotiated with {event.remote_ident or 'remote'}: {event.bit_rate} bit/s, {ecm}, "
        f"{event.encoding}, {resolution}, over {event.transport.value}"
    )


def _completed(event: Completed) -> str:
    return f"T.30 done: {event.text} (code {event.code}), {event.pages_transferred} page(s)"
