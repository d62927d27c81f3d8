"""Which ways an outbound fax may go (``routes_for``): the routes an attempt hands the engine, tried in order.

- A SIP URI destination: no route, the engine calls it directly (``jobs.destinations`` checked it).
- A number a device owns (``[[devices]]``): that device, at its registered contacts.
- Any other number: the trunks that carry it (``TrunkConfig.carries``), lower ``priority`` first; trunks
  of equal priority in a random order weighted by ``weight``, so that they share calls in proportion.
  A number no trunk carries cannot be sent (``DestinationRefused``).

Each route carries the settings of its trunk or device (T.38 policy, ECM, rate); learned delivery
(``jobs.delivery``) may lower them for the destination afterwards. Pure but for the shuffle's random
numbers, which a caller may fix with ``rng``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from faxgw.gateway.config import Config
from faxgw.gateway.engines.base import Route
from faxgw.gateway.jobs.destinations import DestinationRefused, is_sip_uri
from faxgw.gateway.peers import TrunkConfig

_RANDOM = random.Random()


def routes_for(config: Config, destination: str, rng: random.Random | None = None) -> tuple[Route, ...]:
    """The routes to ``destination`` in the order to try them; raises ``DestinationRefused`` when no
    trunk carries the number."""
    if is_sip_uri(destination):
        return ()
    device = config.device_for(destination)
    if device is not None:
        return (Route.of_device(device),)
    carriers = [trunk for trunk in config.trunks if trunk.carries(destination)]
    if not carriers:
        if not config.trunks:
            raise DestinationRefused(f"no trunk is configured: {destination} cannot be dialled")
        raise DestinationRefused(f"no trunk carries {destination} (see each trunk's destinations)")
    ordered: list[TrunkConfig] = []
    for priority in sorted({trunk.priority for trunk in carriers}):
        same = [trunk for trunk in carriers if trunk.priority == priority]
        ordered += _weighted_order(same, rng or _RANDOM)
    return tuple(Route.of_trunk(trunk) for trunk in ordered)


def _weighted_order(trunks: Sequence[TrunkConfig], rng: random.Random) -> list[TrunkConfig]:
    """A random order in which each trunk comes first with probability weight / total (and so on for the
    rest): weighted sampling without replacement by keys u^(1/weight) (Efraimidis and Spirakis, 2006)."""
    if len(trunks) < 2:
        return list(trunks)
    return sorted(trunks, key=lambda trunk: rng.random() ** (1 / trunk.weight), reverse=True)
