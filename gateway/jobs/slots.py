"""The call slots an outbound attempt holds: limits that hold across every node sharing the work
(``Store.take_slots``; on SQLite, one node, the same code and the same limits).

- ``from:<number>``: calls at once from one of our numbers (its ``max_calls``; 1 for a number not in
  ``[[numbers]]``). The attempt calls from the first number of its pool whose slot is free; the pool is
  tried in turn from a different number each time, so that calls spread over it.
- ``to:<destination>``: calls at once to one destination (``calls_per_destination``; 0: no limit): a fax
  machine already on a call only answers busy.
- ``trunk:<name>``: calls at once through the trunk the attempt tries first (its ``max_calls``), and
  ``cps:<name>``: call starts through it per second (its ``calls_per_second``), a slot that nobody holds
  and that lapses on its own.

They are taken once the fax's documents are ready, all or none, and given back when its call ends; while
held they are renewed with the fax's lease (``jobs.leases``), so a node that dies frees them with its
leases. Only the first route is counted across nodes: a trunk the engine fails over to within the attempt
is held to its limits by that node's engine alone (``engines.trunks``), as a failover cannot wait for a slot.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Sequence

from faxgw.gateway.config import Config
from faxgw.gateway.engines.base import Route
from faxgw.gateway.store import FaxStore, Slot

log = logging.getLogger("gateway.slots")


def wanted(config: Config, number: str, destination: str, routes: Sequence[Route], now: float) -> list[Slot]:
    """The slots a call from ``number`` to ``destination`` over ``routes`` (in order) takes at ``now``."""
    entry = config.number(number)
    slots = [Slot(f"from:{number}", entry.max_calls if entry else 1)]
    if config.calls_per_destination:
        slots.append(Slot(f"to:{destination}", config.calls_per_destination))
    trunk = next((config.trunk_named(route.via) for route in routes[:1] if not route.device), None)
    if trunk is not None:
        if trunk.max_calls is not None:
            slots.append(Slot(f"trunk:{trunk.name}", trunk.max_calls))
        if trunk.calls_per_second is not None:
            # Whole calls per lapse: 2.5/s is 2 starts per 0.8 s, 0.5/s one start per 2 s.
            starts = max(1, math.floor(trunk.calls_per_second))
            slots.append(Slot(f"cps:{trunk.name}", starts, lapse=now + starts / trunk.calls_per_second))
    return slots


class NumberPicker:
    """Takes an attempt's slots with one number of its pool (``take``), trying the numbers in turn."""

    def __init__(self, config: Config, store: FaxStore, node: str) -> None:
        self.config = config
        self.store = store
        self.node = node
        self._turns = itertools.count()

    async def take(
        self,
        fax_id: str,
        pool: Sequence[str],
        destination: str,
        routes: Sequence[Route],
        now: float,
        until: float,
    ) -> str | None:
        """The number whose slots (with the rest of ``wanted``) ``fax_id`` now holds until ``until``, or
        None when none is free: every number of the pool at its limit, or the destination or trunk at its."""
        start = next(self._turns) % len(pool)
        for number in [*pool[start:], *pool[:start]]:
            full = await self.store.take_slots(
                self.node, fax_id, wanted(self.config, number, destination, routes, now), now, until
            )
            if full is None:
                return number
            log.debug("fax %s: %s is at its limit", fax_id, full)
            if not full.startswith("from:"):  # the destination or the trunk: no other number helps
                return None
        return None
