"""The native engine's real-time relay (a ``Bridge`` decision, ``sip.bridge``): a device's call answered
once a leg placed through the bridge's routes answers, the two joined; and the relay's reading of the fax
as the engine interface's ``CallResult``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable

from faxgw.gateway.engines.base import Bridge, CallResult, LegResult, Route
from faxgw.gateway.engines.trunks import Trunks, TrunkState, note_leg
from faxgw.sip.bridge import BridgeOptions, BridgeOutcome, Dial, Place, TrunkLeg, relay_fax
from faxgw.sip.call import CallError, IncomingCall, OutgoingCall
from faxgw.sip.media import Ticker
from faxgw.sip.ua import UserAgent


class RealTimeRelay:
    """Relays one device's call: ``contacts`` gives a device's registered contacts (for a route to a
    device), ``ring_timeout`` how long the placed leg may ring."""

    def __init__(
        self,
        ua: UserAgent,
        trunks: Trunks,
        contacts: Callable[[str], Awaitable[list[str]]],
        ticker: Ticker,
        ring_timeout: float,
    ) -> None:
        self.ua = ua
        self.trunks = trunks
        self.contacts = contacts
        self.ticker = ticker
        self.ring_timeout = ring_timeout

    async def run(self, call: IncomingCall, bridge: Bridge, options: BridgeOptions) -> CallResult:
        """Relay ``call`` in real time to ``bridge.to_number``: a leg placed through ``bridge.routes``,
        the device answered once it answers, the two joined."""
        legs: list[LegResult] = []
        # The answered leg's place on its trunk (max_calls) is held until the relayed call ends.
        async with contextlib.AsyncExitStack() as held:
            outcome = await relay_fax(
                self.ua, call, self._dial_routes(bridge, legs, held), options=options, ticker=self.ticker
            )
        return _relayed(outcome, legs)

    def _dial_routes(self, bridge: Bridge, legs: list[LegResult], held: contextlib.AsyncExitStack) -> Dial:
        """Place the relay's leg through ``bridge.routes`` as ``NativeEngine.send`` places a fax: in order,
        a trunk's hosts in order, a device's contacts in turn; a route that cannot take the call now (down,
        at max_calls, over its rate, not registered) or whose call fails as a trunk (``fails_over``) hands
        on to the next, the callee's own answer ends it; each noted in ``legs``. The answered call's place
        on its trunk goes to ``held``."""

        async def dial(place: Place) -> TrunkLeg:
            failure = CallError(503, "no route could take the call")
            for route in bridge.routes:
                for target, trunk in await self._relay_targets(route, bridge.to_number, legs):
                    slot = contextlib.AsyncExitStack()
                    call: OutgoingCall | None = None
                    try:
                        if trunk is not None:
                            refused = await slot.enter_async_context(self.trunks.carrying(trunk))
                            if refused is not None:
                                legs.append(LegResult(route.via, None, refused, failed_over=True))
                                await slot.aclose()
                                break
                        call = place(target, bridge.from_number)
                        call.credentials = trunk.credentials if trunk is not None else None
                        await call.connect(self.ring_timeout)
                    except CallError as error:
                        await slot.aclose()
                        if call is None:  # the device hung up: nothing more to place
                            raise
                        cause = call.ended.result().cause if call.ended.done() else None
                        several = trunk is not None and len(trunk.reachable) > 1
                        if not note_leg(route, error.status, cause, legs, target if several else None):
                            raise
                        failure = error
                        continue
                    except BaseException:
                        await slot.aclose()
                        raise
                    held.push_async_exit(slot)
                    note_leg(route, call.final_status, None, legs, None)
                    return TrunkLeg(call, route.t38, route.ecm, route.max_rate)
            raise failure

        return dial

    async def _relay_targets(
        self, route: Route, number: str, legs: list[LegResult]
    ) -> list[tuple[str, TrunkState | None]]:
        """Where a call to ``number`` over ``route`` may go now, in order, and the trunk it goes through;
        none: why is noted in ``legs`` (as ``NativeEngine.send`` notes it)."""
        if route.device:
            contacts = await self.contacts(route.via)
            if not contacts:
                legs.append(LegResult(route.via, None, "not registered", failed_over=True))
            return [(contact, None) for contact in contacts]
        trunk = self.trunks.get(route.via)
        if trunk is None:
            legs.append(LegResult(route.via, None, "no such trunk", failed_over=True))
            return []
        targets = trunk.targets(number)
        if not targets:
            legs.append(LegResult(route.via, None, trunk.refusal() or "down", failed_over=True))
        return [(target, trunk) for target in targets]


def _relayed(outcome: BridgeOutcome, legs: list[LegResult]) -> CallResult:
    """The engine interface's view of a relayed fax: the routed leg's facts, the relay's reading."""
    how = "through the T.38 gateway" if outcome.gateway else "T.38 passed through" if outcome.t38 else ""
    text = f"relayed in real time{' ' + how if how and outcome.pages else ''}: {outcome.reason}"
    return CallResult(
        status=outcome.status,
        sip_code=outcome.sip_code,
        hangup_cause=outcome.hangup_cause,
        t30_code=None,
        t30_text=text,
        pages=outcome.pages,
        pages_expected=None,
        t38=outcome.t38,
        bit_rate=outcome.bit_rate,
        ecm=outcome.ecm,
        remote_ident=outcome.called_ident,
        call_id=outcome.call_id,
        legs=tuple(legs),
        t38_refused=outcome.t38_refused,
        diagnostics=outcome.diagnostics,
        t30_story=outcome.t30_story,
    )
