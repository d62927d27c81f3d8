"""Learned delivery: per destination and trunk, how to fax there next time, and each attempt's story.

A ``DeliveryProfile`` (kept by the store per destination and trunk or device) holds what was learned
there: whether T.38 may be used, whether ECM may, the highest rate worth training at. ``apply`` lays it
over a route's own settings, which it only ever lowers (a route configured for G.711 is never moved to
T.38, nor a rate above the trunk's ``max_rate``). After each attempt ``learn`` reads its ``CallResult``
for the route that reached the callee:

- success: remember what worked (T.38 if the call ran on it, ECM as used, the rate reached); failures 0;
- T.38 refused by the peer (``t38_refused``: 488 ...), or a training failure on T.38: G.711 next time;
- a training failure on G.711 (again: T.38 is out already, or was never in): the next lower rate,
  14400 -> 9600 -> 4800;
- ECM trouble: ECM toggled (from what the call used: on, so off);
- any other failure (busy, no answer, a dropped call) is counted and changes nothing: it says nothing
  about how to fax there.

A step down is remembered for ``learned_delivery_days`` (30 by default): then the route's own settings are
tried again, since a destination on G.711 never gets the chance to show that T.38 works there now.

``summary`` tells an attempt in one sentence: "503 on trunk a; T.38 refused with 488 on trunk b; G.711 at
9600 succeeded". ``Learned`` does all this for one attempt over the store.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import replace

from faxgw.gateway.engines import BIT_RATES, CallResult, CallStatus, T30Error, T38Policy
from faxgw.gateway.engines.base import LegResult, Route
from faxgw.gateway.store import DeliveryProfile, FaxStore

#: The receiver answered every rate with FTT, or DCS/TCF with something else or nothing (T.30 5.3.6.1).
TRAINING_FAILURES = frozenset({T30Error.CANNOT_TRAIN, T30Error.TX_BADDCS, T30Error.TX_PHBDEAD})
#: Error correction went wrong: an invalid ECM response, the receiver never ready (T5).
ECM_FAILURES = frozenset({T30Error.TX_ECMPHD, T30Error.TX_T5EXP, T30Error.RX_ECMPHD})
#: With ECM on, SpanDSP ends a page it corrected in vain (PPR after PPR, then EOR answered by ERR) with
#: "disconnected after permitted retries"; without ECM the same code is other trouble.
ECM_RETRIES_SPENT = T30Error.RETRYDCN


def fresh(route: Route) -> DeliveryProfile:
    """The profile of a destination nothing was learned about yet through ``route``: its own settings."""
    return DeliveryProfile(t38=True, ecm=route.ecm, max_rate=route.max_rate)


def apply(profile: DeliveryProfile, route: Route) -> Route:
    """``route`` as ``profile`` says to use it: G.711 only where T.38 failed, ECM off where it gave trouble,
    the rate capped; never more than the route's own settings allow."""
    return replace(
        route,
        t38=route.t38 if profile.t38 else T38Policy.AUDIO,
        ecm=route.ecm and profile.ecm,
        max_rate=min(route.max_rate, profile.max_rate),
    )


def learn(profile: DeliveryProfile, result: CallResult, *, now: float | None = None) -> DeliveryProfile:
    """What ``profile`` becomes after an attempt that ended with ``result`` (see the module's rules)."""
    learned = profile
    code = result.t30_code
    if result.t38_refused is not None:
        learned = replace(learned, t38=False, reason=f"T.38 refused with {result.t38_refused}")
    if code in TRAINING_FAILURES:
        if result.t38:
            learned = replace(learned, t38=False, reason=f"T.38 failed to train: {result.t30_text}")
        else:
            reason = f"training failed at {learned.max_rate}: {result.t30_text}"
            learned = replace(learned, max_rate=_lower(learned.max_rate), reason=reason)
    ecm_used = result.ecm if result.ecm is not None else learned.ecm
    if code in ECM_FAILURES or (code == ECM_RETRIES_SPENT and ecm_used):
        learned = replace(learned, ecm=not ecm_used, reason=f"ECM trouble: {result.t30_text}")
    when = time.time() if now is None else now
    if _below(learned, profile):
        learned = replace(learned, stepped_at=when)
    if result.status is not CallStatus.SUCCESS:
        return replace(learned, failures=learned.failures + 1)
    return replace(
        learned,
        # A success on G.711 says nothing against T.38 unless T.38 was refused on the way (above).
        t38=learned.t38 or result.t38,
        ecm=result.ecm if result.ecm is not None else learned.ecm,
        max_rate=_cap(result.bit_rate) if result.bit_rate else learned.max_rate,
        failures=0,
        succeeded_at=when,
    )


def _below(learned: DeliveryProfile, before: DeliveryProfile) -> bool:
    """Whether ``learned`` allows less than ``before`` (T.38 gone, ECM changed, a lower rate)."""
    return (before.t38 and not learned.t38) or learned.ecm != before.ecm or learned.max_rate < before.max_rate


def remembered(profile: DeliveryProfile, route: Route, forget_before: float) -> DeliveryProfile:
    """``profile``, or the route's own settings again when its last step down is older than
    ``forget_before`` (a time): the failures count stays, the step down is forgotten."""
    if profile.stepped_at is None or profile.stepped_at >= forget_before:
        return profile
    return replace(fresh(route), failures=profile.failures, succeeded_at=profile.succeeded_at)


def _lower(rate: int) -> int:
    """The next lower rate cap (4800 stays 4800)."""
    return max((cap for cap in BIT_RATES if cap < rate), default=min(BIT_RATES))


def _cap(bit_rate: int) -> int:
    """The lowest rate cap that holds ``bit_rate`` (12000 of V.17 -> 14400, 7200 of V.29 -> 9600)."""
    return min((cap for cap in BIT_RATES if cap >= bit_rate), default=max(BIT_RATES))


def carried_by(result: CallResult, routes: Sequence[Route]) -> Route | None:
    """The route whose call reached the callee: the last leg's, unless it failed over too (every route
    failed as a route); with no legs told (an engine that tries one route), the one route there was."""
    if result.legs:
        last = result.legs[-1]
        return None if last.failed_over else next((r for r in routes if r.via == last.via), None)
    return routes[0] if len(routes) == 1 else None


# -- the story of an attempt ------------------------------------------------------------------------------
def summary(
    result: CallResult,
    legs: Sequence[LegResult],
    routes: Sequence[Route] = (),
    profiles: Mapping[str, DeliveryProfile] | None = None,
) -> str:
    """The attempt in one sentence: each route that failed over, how the call that got through went
    ("503 on trunk a; T.38 refused with 488 on trunk b; G.711 at 9600 succeeded"), and where the call
    went otherwise than its route says because of what was learned, why. ``routes`` are the attempt's
    routes as configured, ``profiles`` what was learned about them (by route) before the call."""
    kinds = {route.via: route for route in routes}
    parts = []
    for leg in legs:
        route = kinds.get(leg.via)
        if route is not None and (words := _stepped(route, (profiles or {}).get(leg.via))):
            parts.append(words)
        if leg.failed_over:
            parts.append(f"{leg.sip_code or leg.reason} on {_where(route, leg.via)}")
    carried = carried_by(result, routes)
    if carried is not None and not legs and (words := _stepped(carried, (profiles or {}).get(carried.via))):
        parts.append(words)
    where = f" on {_where(carried, carried.via)}" if carried is not None else ""
    if result.t38_refused is not None:
        parts.append(f"T.38 refused with {result.t38_refused}{where}")
    if carried is not None or not legs:
        parts.append(_ending(result, where))
    return "; ".join(parts)


def _stepped(route: Route, profile: DeliveryProfile | None) -> str | None:
    """What ``apply`` makes of ``route`` otherwise than it is configured, and why; None: nothing."""
    if profile is None:
        return None
    applied = apply(profile, route)
    changes = []
    if applied.t38 is not route.t38:
        changes.append("G.711")
    if applied.max_rate != route.max_rate:
        changes.append(f"at most {applied.max_rate}")
    if applied.ecm != route.ecm:
        changes.append("ECM off")
    if not changes:
        return None
    why = profile.reason or "what worked last"
    return f"{', '.join(changes)} on {_where(route, route.via)} as learned ({why})"


def _where(route: Route | None, via: str) -> str:
    return f"device {via}" if route is not None and route.device else f"trunk {via}"


def _ending(result: CallResult, where: str) -> str:
    """How the call that reached (or did not reach) the callee ended."""
    status = result.status
    if status is CallStatus.BUSY:
        return f"busy ({result.sip_code}){where}" if result.sip_code else f"busy{where}"
    if status is CallStatus.NO_ANSWER:
        return f"no answer{where}"
    if status is CallStatus.CANCELLED:
        return f"cancelled{where}"
    if status is CallStatus.REJECTED:
        return f"{result.sip_code or 'rejected'}{where}"
    mode = "T.38" if result.t38 else "G.711"
    if result.t30_story:  # the engine's words: "training failed twice at 14400, then 9600"
        mode += f" {result.t30_story}"
    elif result.bit_rate:
        mode += f" at {result.bit_rate}"
    if status is CallStatus.SUCCESS:
        return f"{mode} succeeded"
    why = f": {result.t30_text}" if result.t30_text else ""
    if status is CallStatus.PARTIAL:
        return f"{mode} sent {result.pages} of {result.pages_expected or '?'} pages, then failed{why}"
    return f"{mode} failed{why}"


# -- one attempt over the store ------------------------------------------------------------------------------
class Learned:
    """Learned delivery for one attempt: its routes as what was learned says to use them (``routes``),
    and once the call is over, what it taught, kept in the store, and its story (``learn``)."""

    def __init__(
        self,
        store: FaxStore,
        destination: str,
        routes: Sequence[Route],
        stored: Mapping[str, DeliveryProfile],
        forget_before: float = 0.0,
    ) -> None:
        self.store = store
        self.destination = destination
        self.configured = tuple(routes)
        self.profiles = {
            route.via: remembered(stored[route.via], route, forget_before)
            if route.via in stored
            else fresh(route)
            for route in routes
        }
        self.routes = tuple(apply(self.profiles[route.via], route) for route in routes)

    @classmethod
    async def load(
        cls, store: FaxStore, destination: str, routes: Sequence[Route], *, memory_days: float
    ) -> Learned:
        """What the store knows about ``destination`` through ``routes``, step downs older than
        ``memory_days`` forgotten."""
        stored = await store.delivery_profiles(destination, [route.via for route in routes])
        return cls(store, destination, routes, stored, time.time() - memory_days * 86400)

    async def learn(self, result: CallResult) -> str:
        """Keep what ``result`` taught about the route that reached the callee; the attempt's story."""
        route = carried_by(result, self.configured)
        if route is not None:
            profile = learn(self.profiles[route.via], result)
            await self.store.save_delivery_profile(self.destination, route.via, profile)
        return summary(result, result.legs, self.configured, self.profiles)
