"""Test faxes (Dropbox's ``test_mode``): never delivered, yet seen going as a real fax goes.

A test fax is queued, its documents are turned into fax pages and checked (a bad file fails it as it would
fail a real fax), then its "call" is this simulation: each page is reported sent, a moment apart, and the
attempt succeeds. The fax passes through the same states, events and webhooks as a real one, from the same
code (``OutboundJobs``); only the engine's ``send`` is replaced. No number or trunk is taken and nothing
leaves the gateway, so a test fax is free to run with every real call busy.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from faxgw.gateway.engines import CallStatus
from faxgw.gateway.engines.base import CallResult, OutboundCall, PageHandler, PageTransferred

#: Seconds each simulated page takes: long enough for a client polling the fax to see it ``sending``.
PAGE_TIME = 0.2
#: The far end's station identifier a test fax reports.
TEST_STATION = "TEST MODE"


async def simulated_send(call: OutboundCall, pages_total: int, on_page: PageHandler) -> CallResult:
    """The pages ``call.first_page``..``pages_total`` "sent", a page each ``PAGE_TIME`` seconds."""
    sent = 0
    for page in range(call.first_page, pages_total + 1):
        await asyncio.sleep(PAGE_TIME)
        on_page(PageTransferred(page, Path(call.document), sending=True))
        sent += 1
    return CallResult(
        status=CallStatus.SUCCESS,
        sip_code=None,
        hangup_cause=None,
        t30_code=0,
        t30_text="Test fax: nothing was dialled",
        pages=sent,
        pages_expected=sent,
        t38=False,
        bit_rate=None,
        ecm=None,
        remote_ident=TEST_STATION,
        call_id=f"test-{call.fax_id}",
    )
