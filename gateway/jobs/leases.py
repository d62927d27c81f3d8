"""This node's leases on the faxes it works on, kept alive by one heartbeat.

A node claims a fax (``Store.claim_due``, a call arriving, a sweep) with a lease of ``config.lease``
seconds. While it works on the fax (documents, the call, settling it) the lease is renewed every third of
that, for every such fax at once in one ``Store.renew_leases`` call, which renews their call slots too. A
node that dies stops renewing: when its leases run out another node's sweep settles its faxes
(``OutboundJobs.settle_stranded``) and its slots lapse.

A renewal that finds a fax's lease in another node's hands (this node stalled longer than a lease, or lost
the database that long, and was taken for dead) means that node settles and resumes the fax now: this
node stops working on it (``on_lost``: the attempt is cancelled), or it would send pages twice.

A fax is dropped from here (``drop``) before the write that gives its lease back, so a renewal never finds
"lost" a fax this node let go of itself.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from faxgw.gateway.store import FaxStore

log = logging.getLogger("gateway.leases")


class _Hold:
    """One fax held: what to do if its lease is lost. Each hold is its own object, so a renewal's answer
    about an earlier hold of the same fax never reaches a later one."""

    def __init__(self, on_lost: Callable[[], object] | None) -> None:
        self.on_lost = on_lost


class Leases:
    def __init__(self, store: FaxStore, node: str, lease: float) -> None:
        self.store = store
        self.node = node
        self.lease = lease
        self._held: dict[str, _Hold] = {}  # by fax id

    @property
    def interval(self) -> float:
        """Seconds between renewals: two may fail (a slow database) before a lease runs out."""
        return self.lease / 3

    def until(self) -> float:
        """When a lease taken or renewed now runs out."""
        return time.time() + self.lease

    def hold(self, fax_id: str, on_lost: Callable[[], object] | None = None) -> None:
        """Keep this node's lease on ``fax_id`` alive; ``on_lost`` stops the work if another node takes it."""
        self._held[fax_id] = _Hold(on_lost)

    def drop(self, fax_id: str) -> None:
        """Stop renewing ``fax_id`` (before the write that gives its lease back)."""
        self._held.pop(fax_id, None)

    def holds(self, fax_id: str) -> bool:
        """Is this node still working on ``fax_id`` (held, not lost)?"""
        return fax_id in self._held

    async def renew(self) -> None:
        """Renew every lease held, once; a fax another node took is dropped and its ``on_lost`` called."""
        asked = dict(self._held)
        if not asked:
            return
        lost = await self.store.renew_leases(self.node, list(asked), self.until())
        for fax_id in lost:
            hold = asked[fax_id]
            if self._held.get(fax_id) is not hold:  # let go of meanwhile, or held anew: not lost
                continue
            del self._held[fax_id]
            log.warning("fax %s: lease lost to another node, which settles it: work on it here stops", fax_id)
            if hold.on_lost is not None:
                hold.on_lost()

    async def run(self) -> None:
        """Renew every ``interval`` seconds until cancelled; a failed renewal is logged and tried again."""
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.renew()
            except Exception as error:  # the database away for a moment: the leases outlast two misses
                log.error("renewing %d lease(s) failed: %s", len(self._held), error)
