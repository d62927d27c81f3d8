"""The Asterisk engine: Asterisk places and answers the calls and runs SpanDSP (res_fax_spandsp); we
drive it over AMI. The dialplan's side of the contract is ``gateway/asterisk/contract.py``.

An outgoing fax is one Originate of a Local channel: its ``;2`` half dials the attempt's routes in order
(the dialplan fails over from a route that fails as a route, as the native engine does), its ``;1`` half
sends the fax once one answers. An arriving call waits, unanswered, for the job layer's decision:
receive it, relay it in real time through the trunks (``Bridge``: Asterisk's T.38 gateway between the
legs), or refuse it (hung up with a cause PJSIP answers as 404, 403 or 503).

Asterisk's own SendFAX/ReceiveFAX events carry no status and only come on success, so every leg's
outcome is the one ``FaxResult`` UserEvent of the dialplan's hangup handler, with the routes it tried
(``Legs``). Pages in progress come from polling ``FAXSessions``/``FAXSession`` (a relayed call's from
its T.38 gateway session, which Asterisk reports nowhere else). A lost AMI link (or an Asterisk
restart) is followed by a reconciliation: a call whose channel is gone and whose result never came is
settled with what was seen of it, so no job waits forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from faxgw.gateway.asterisk import contract
from faxgw.gateway.config import Config
from faxgw.gateway.engines.ami import AmiLink
from faxgw.gateway.engines.base import (
    NO_TRUNK_AVAILABLE,
    ActiveCall,
    Bridge,
    CallResult,
    EngineStatus,
    InboundCall,
    InboundDone,
    InboundHandler,
    LegResult,
    OutboundCall,
    PageHandler,
    PageTransferred,
    Refusal,
    Route,
)
from faxgw.sip.call import Hangup
from faxgw.sip.fax import Resolution, open_tiff, write_tiff_f
from faxgw.sip.fax_call import setup_failure
from faxgw.sip.fax_terms import CallStatus
from faxgw.sip.message import REASONS
from faxgw.sip.tasks import Tasks

log = logging.getLogger("gateway.engines.asterisk")

POLL = 1.0  # seconds between FAXSessions polls while a fax runs
#: ... and while a call is relayed: its gateway session's page count is gone the moment the call ends,
#: a second or two after the last page.
BRIDGE_POLL = 0.25
#: How long a route's call may take to be answered (ring time, and an INVITE's 32 s without response).
TARGET_TIME = contract.RING_TIMEOUT + 35
FAX_TIMEOUT = 3600.0  # a fax call still without a result after this is given up

# Q.850 cause -> (our status, the SIP response it stands for; RFC 3398 mapping)
_CAUSES: dict[int, tuple[CallStatus, int]] = {
    17: (CallStatus.BUSY, 486),
    18: (CallStatus.NO_ANSWER, 408),
    19: (CallStatus.NO_ANSWER, 480),
    21: (CallStatus.REJECTED, 603),
    1: (CallStatus.REJECTED, 404),
    3: (CallStatus.REJECTED, 404),
    28: (CallStatus.REJECTED, 484),
    34: (CallStatus.REJECTED, 503),
    38: (CallStatus.REJECTED, 503),
    41: (CallStatus.REJECTED, 503),
    42: (CallStatus.REJECTED, 503),
}

#: A refusal's SIP status as the Q.850 cause PJSIP turns back into it (Asterisk's hangup_cause2sip).
_REFUSAL_CAUSES = {404: 1, 403: 21, 486: 17, 503: 34}

#: How the dialplan says a route came to nothing (contract.LEG), in the words the native engine uses.
_LEG_WORDS = {
    "answered": "answered",
    "down": "down",
    "full": "at max_calls",
    "unregistered": "not registered",
    "unknown": "no such trunk",
    "CHANUNAVAIL": "no response",
    "CONGESTION": "no response",
    "NOANSWER": "no answer",
    "BUSY": "busy",
    "CANCEL": "caller hung up",
}
#: ... and of those, the words of routes over which no call was placed at all.
_UNPLACED = {"down", "full", "unregistered", "unknown"}


@dataclass
class _Leg:
    """One call we are watching: its result future and the pages seen so far."""

    file_local: Path
    on_page: PageHandler
    sending: bool
    result: asyncio.Future[dict[str, str]]
    pages_seen: int = 0
    expected: int | None = None
    channel: str = ""
    uniqueid: str = ""
    #: A device's call relayed in real time (no file: pages are counted by its T.38 gateway session).
    bridged: bool = False
    #: The attempt's outbound call (sending), to word a call over none of its routes.
    call: OutboundCall | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class AsteriskEngine:
    def __init__(self, config: Config) -> None:
        self.config = config
        settings = config.asterisk
        self.link = AmiLink(
            settings.ami_host,
            settings.ami_port,
            settings.ami_username,
            settings.ami_secret,
            on_reconnect=self._reconcile,
        )
        self._outbound: dict[str, _Leg] = {}  # by fax id
        self._inbound: dict[str, _Leg] = {}  # by Asterisk Uniqueid
        self._gateways: dict[str, _Leg] = {}  # relayed calls by their T.38 gateway session number
        self._on_inbound: InboundHandler | None = None
        self._on_inbound_done: InboundDone | None = None
        self._tasks = Tasks(log, "Asterisk engine task")

    # -- life -----------------------------------------------------------------------------------
    async def start(self, on_inbound: InboundHandler, on_inbound_done: InboundDone) -> None:
        self._on_inbound, self._on_inbound_done = on_inbound, on_inbound_done
        for part in (contract.SPOOL_IN, contract.SPOOL_OUT):
            (self.config.asterisk.local_spool / part).mkdir(parents=True, exist_ok=True)
        self.link.on("UserEvent", self._user_event)
        self.link.on("FAXSession", self._session_event)
        await self.link.connect()
        self._tasks.spawn(self._poll_pages())

    async def drain(self) -> None:
        """Nothing to do here: Asterisk answers OPTIONS and INVITEs itself (the calls under way still go on
        and the gateway claims no new faxes)."""
        log.warning("draining: Asterisk still takes new calls; take it out of the edge's dispatcher yourself")

    async def close(self) -> None:
        self.link.close()
        self._tasks.cancel_all()

    async def status(self) -> EngineStatus:
        """The fax calls this engine watches, from what it knows already (no AMI round trip). Not told:
        a call's mode (T.38 or G.711) and which trunk an outbound call took (the dialplan fails over by
        itself), nor the trunks' and devices' states: AMI's PJSIPShowEndpoints/PJSIPShowContacts need the
        ``system`` class, which the gateway's AMI user is not given (it could reload or stop Asterisk)."""
        calls = [ActiveCall("outbound", "unknown") for _ in self._outbound.values()]
        calls += [
            ActiveCall("inbound", "relay" if leg.bridged else "unknown") for leg in self._inbound.values()
        ]
        note = (
            "Asterisk engine: trunks and devices are not reported (see `pjsip show endpoints` in Asterisk);"
            " call modes and the trunk of an outbound call are unknown."
        )
        return EngineStatus(calls=tuple(calls), note=note)

    # -- sending --------------------------------------------------------------------------------
    async def send(self, call: OutboundCall, on_page: PageHandler) -> CallResult:
        """Originate the fax's Local channel: the dialplan dials ``call.routes`` in order (failing over
        from a route that fails as a route) and sends the fax over the one that answers."""
        if not call.routes:
            return CallResult.failed(
                NO_TRUNK_AVAILABLE,
                f"No route to {call.to_number}: the Asterisk engine calls through trunks and devices only.",
            )
        settings = self.config.asterisk
        name = f"{call.fax_id}-{uuid.uuid4().hex[:8]}.tif"
        local = settings.local_spool / contract.SPOOL_OUT / name
        inside = settings.spool / contract.SPOOL_OUT / name
        # Our own Uniqueids for the Local channel's halves: after an AMI outage we can ask whether the
        # call still exists, and the sending half waits for the other to join the route's call.
        uniqueid = f"faxgw-{uuid.uuid4().hex}"
        try:
            variables = contract.originate_variables(
                call.fax_id,
                str(inside),
                call.from_number[-20:],
                routes=self._route_variables(call.routes, call.to_number, call.from_number),
                routed=f"{uniqueid}-2",
            )
        except ValueError as error:
            return CallResult.failed("gateway_error", f"The call cannot be placed through Asterisk: {error}")
        expected = await asyncio.to_thread(_stage_document, call.document, local, call.first_page)
        leg = _Leg(
            local,
            on_page,
            sending=True,
            result=asyncio.get_running_loop().create_future(),
            expected=expected,
            uniqueid=uniqueid,
            call=call,
            extra={"first_page": call.first_page},
        )
        self._outbound[call.fax_id] = leg
        try:
            response = await self.link.action(
                {
                    "Action": "Originate",
                    "Channel": contract.SEND_CHANNEL,
                    "Context": contract.OUT_CONTEXT,
                    "Exten": contract.OUT_EXTEN,
                    "Priority": "1",
                    "CallerID": call.from_number,
                    "Async": "true",
                    "ChannelId": leg.uniqueid,
                    "OtherChannelId": f"{leg.uniqueid}-2",
                    "Timeout": str(self._answer_time(call.routes) * 1000),
                    "Variable": variables,
                },
                as_list=False,
            )
            if _first(response).get("Response") != "Success":
                return self._result_from({"Status": "", "HangupCause": "34"}, leg, call_id="")
            fields = await asyncio.wait_for(leg.result, FAX_TIMEOUT)
        except TimeoutError:
            fields = {"Status": "FAILED", "Error": "TIMEOUT", "HangupCause": "102"}
        finally:
            self._outbound.pop(call.fax_id, None)
            with contextlib.suppress(OSError):
                local.unlink()
        self._pages_up_to(leg, int(fields.get("Pages") or 0))
        return self._result_from(fields, leg, call_id=fields.get("Uniqueid", ""))

    def _route_variables(self, routes: tuple[Route, ...], number: str, from_number: str) -> dict[str, str]:
        """The dialplan's FAXGW_NUMBER, FAXGW_FROM and FAXGW_ROUTE_n; ValueError for a value it cannot
        take."""
        cap = self.config.asterisk.max_rate
        values = [
            contract.route_value(route.device, route.via, route.t38, route.ecm, min(route.max_rate, cap))
            for route in routes
        ]
        variables = contract.route_variables(number, from_number, values)
        for value in variables.values():
            contract.originate_value(value)
        return variables

    def _answer_time(self, routes: tuple[Route, ...]) -> int:
        """Seconds the routes may take before one answers: each target (a trunk's host, a device) rings
        or goes unanswered in turn."""
        targets = 0
        for route in routes:
            trunk = None if route.device else self.config.trunk_named(route.via)
            targets += len(trunk.hosts) if trunk is not None else 1
        return targets * TARGET_TIME

    # -- receiving --------------------------------------------------------------------------------
    async def _inbound_call(self, event: dict[str, str]) -> None:
        """An arriving call waits in the dialplan for the job layer's decision, which we pass on."""
        assert self._on_inbound is not None
        channel = event.get("Channel", "")
        inbound = InboundCall(
            did=event.get("DID", ""),
            caller=event.get("Caller", ""),
            call_id=event.get("Uniqueid", ""),
            device=event.get("Device") or None,
        )
        decision = await self._on_inbound(inbound)
        if isinstance(decision, Refusal):
            cause = _REFUSAL_CAUSES.get(decision.status, 21)
            await self.link.action({"Action": "Hangup", "Channel": channel, "Cause": str(cause)})
            return
        leg = _Leg(
            Path(),
            lambda page: None,
            sending=False,
            result=asyncio.get_running_loop().create_future(),
            channel=channel,
            uniqueid=inbound.call_id,
        )
        if isinstance(decision, Bridge):
            leg.bridged = True
            variables = self._bridge_variables(decision)
        else:
            document, leg.on_page = decision
            asterisk_file = Path(event.get("File", ""))
            leg.file_local = self.config.asterisk.local_spool / asterisk_file.relative_to(
                self.config.asterisk.spool
            )
            leg.extra["document"] = document
            # The gateway serves pages from its own path while Asterisk writes: point it at Asterisk's file.
            with contextlib.suppress(FileExistsError):
                os.symlink(leg.file_local, document)
            variables = {contract.DECISION_VAR: contract.RECEIVE}
        self._inbound[inbound.call_id] = leg
        try:
            for name, value in variables.items():  # the decision last: the dialplan goes on when it comes
                await self.link.action(
                    {"Action": "Setvar", "Channel": channel, "Variable": name, "Value": value}
                )
            fields = await asyncio.wait_for(leg.result, FAX_TIMEOUT)
        except TimeoutError:
            fields = {"Status": "FAILED", "Error": "TIMEOUT", "HangupCause": "102"}
        except ValueError as error:  # a value the dialplan cannot take: the call is not placed
            log.error("call %s: cannot relay it through Asterisk: %s", inbound.call_id, error)
            await self.link.action({"Action": "Hangup", "Channel": channel, "Cause": "34"})
            fields = await asyncio.wait_for(leg.result, FAX_TIMEOUT)
        finally:
            self._inbound.pop(inbound.call_id, None)
            for session in [key for key, value in self._gateways.items() if value is leg]:
                del self._gateways[session]
        self._pages_up_to(leg, int(fields.get("Pages") or 0))
        kept = leg.extra.get("document")
        if kept is not None and Path(kept).is_symlink():
            Path(kept).unlink()
            if leg.file_local.exists():
                shutil.copyfile(leg.file_local, kept)  # the gateway keeps its own copy
        assert self._on_inbound_done is not None
        await self._on_inbound_done(inbound, self._result_from(fields, leg, call_id=inbound.call_id))

    def _bridge_variables(self, bridge: Bridge) -> dict[str, str]:
        """What fax-bridge needs, the decision last; ValueError for a value the dialplan cannot take."""
        variables = self._route_variables(bridge.routes, bridge.to_number, bridge.from_number)
        return {**variables, contract.DECISION_VAR: contract.BRIDGE}

    # -- events and progress ------------------------------------------------------------------------
    def _user_event(self, event: dict[str, str]) -> None:
        kind = event.get("UserEvent")
        if kind == contract.INBOUND_EVENT:
            self._tasks.spawn(self._inbound_call(event))
        elif kind == contract.RESULT_EVENT:
            leg = (
                self._outbound.get(event.get("FaxID", ""))
                if event.get("Op") == "send"
                else (self._inbound.get(event.get("Uniqueid", "")))
            )
            if leg is not None and not leg.result.done():
                leg.result.set_result(event)

    async def _poll_pages(self) -> None:
        """Pages as they go across. Received pages are counted in the TIFF Asterisk writes (SpanDSP adds
        each page whole at its end); sent and relayed pages come from ``FAXSession`` events (PageNumber
        is the page in progress), asked for on every fax session the poll finds."""
        while True:
            bridging = any(leg.bridged for leg in self._inbound.values())
            await asyncio.sleep(BRIDGE_POLL if bridging else POLL)
            for leg in list(self._inbound.values()):
                if not leg.bridged:
                    self._pages_up_to(leg, await asyncio.to_thread(_pages_in, leg.file_local))
            if not (self._outbound or bridging) or not self.link.ready.is_set():
                continue
            try:
                await self._ask_sessions()
            except Exception:  # a poll must never take the engine down
                log.exception("polling fax sessions failed")

    async def _ask_sessions(self) -> None:
        sessions = await self.link.action({"Action": "FAXSessions"}, as_list=True)
        bridged = {leg.channel: leg for leg in self._inbound.values() if leg.bridged}
        for entry in sessions if isinstance(sessions, list) else [sessions]:
            if entry.get("Event") != "FAXSessionsEntry":
                continue
            number = entry.get("SessionNumber", "")
            operation = entry.get("Operation")
            if operation == "gateway" and entry.get("Channel") in bridged:
                leg = self._gateways[number] = bridged[entry.get("Channel", "")]
                # The session runs on the device's channel; its type is T.38 when that is the T.38 side.
                leg.extra["gateway"] = entry.get("SessionType", "")
            elif operation != "send":
                continue
            # The answer comes as a FAXSession event (see _session_event).
            await self.link.action({"Action": "FAXSession", "SessionNumber": number}, as_list=False)

    def _session_event(self, event: dict[str, str]) -> None:
        if event.get("State") != "Active":
            return
        leg: _Leg | None
        if event.get("Operation") == "gateway":
            leg = self._gateways.get(event.get("SessionNumber", ""))
        elif event.get("Operation") == "send":
            name = event.get("FileName", "")
            leg = next((leg for leg in self._outbound.values() if leg.file_local.name in name), None)
        else:
            return
        page = event.get("PageNumber") or ""
        if leg is not None and page.isdigit():
            self._pages_up_to(leg, int(page) - 1)  # the page in progress is not done yet

    def _pages_up_to(self, leg: _Leg, pages: int) -> None:
        while leg.pages_seen < pages:
            leg.pages_seen += 1
            number = leg.pages_seen + (leg.extra.get("first_page", 1) - 1 if leg.sending else 0)
            leg.on_page(PageTransferred(number, leg.file_local, sending=leg.sending))

    async def _reconcile(self) -> None:
        """After a reconnect: legs whose channel is gone and whose result was missed are settled now."""
        channels = await self.link.action({"Action": "CoreShowChannels"}, as_list=True)
        alive = {entry.get("Uniqueid") for entry in (channels if isinstance(channels, list) else [])}
        alive |= {entry.get("Channel") for entry in (channels if isinstance(channels, list) else [])}
        for leg in [*self._outbound.values(), *self._inbound.values()]:
            if leg.result.done() or (leg.uniqueid and leg.uniqueid in alive):
                continue
            log.warning(
                "a fax call ended while the AMI link was down; settling it with %d pages", leg.pages_seen
            )
            leg.result.set_result(
                {
                    "Status": "FAILED" if not leg.pages_seen else "PARTIAL",
                    "Error": "AMI_LINK_LOST",
                    "Pages": str(leg.pages_seen),
                    "HangupCause": "",
                }
            )

    # -- results ------------------------------------------------------------------------------------
    def _legs(self, words: str) -> tuple[LegResult, ...]:
        """The FaxResult's Legs (contract.LEG words) in the engine interface's terms."""
        legs = []
        for leg in contract.parse_legs(words):
            code = int(leg.what) if leg.what.isdigit() else None
            reason = _LEG_WORDS.get(leg.what) or f"{code} {REASONS.get(code or 0, '')}".strip()
            trunk = self.config.trunk_named(leg.via)
            if leg.host and trunk is not None and len(trunk.hosts) > 1:
                reason += f" at {leg.host}"
            sip_code = 200 if leg.what == "answered" else code
            legs.append(LegResult(leg.via, sip_code, reason, failed_over=leg.over))
        return tuple(legs)

    def _result_from(self, fields: dict[str, str], leg: _Leg, *, call_id: str) -> CallResult:
        legs = self._legs(fields.get("Legs", ""))
        words = [word.what for word in contract.parse_legs(fields.get("Legs", ""))]
        if leg.call is not None and words and all(word in _UNPLACED for word in words):
            return CallResult.unrouted(leg.call, legs)
        result = _result_from(fields, leg, call_id=call_id)
        answered = any(word == "answered" for word in words)
        last = legs[-1] if legs else None
        if not answered and last is not None and last.sip_code is not None and not result.pages:
            # Not answered: the last route's own final response says why (Q.850 causes lose 403 vs 603).
            status = setup_failure(Hangup("rejected", last.sip_code))
            result = replace(result, status=status, sip_code=last.sip_code)
        if leg.bridged:
            result = _relayed(result, fields, leg, answered)
        return replace(result, legs=legs)


def _relayed(result: CallResult, fields: dict[str, str], leg: _Leg, answered: bool) -> CallResult:
    """A relayed call's outcome. Asterisk's T.38 gateway reports its pages only once the channel is gone
    (after the FaxResult): they are the pages its session counted while we polled it. Nothing tells a fax
    that ended early from a whole one (nor does the hangup cause: a refused T.38 re-INVITE leaves 58 on a
    call that went well), so an answered call with pages across is a success."""
    if not answered:
        return result
    pages = leg.pages_seen
    status = CallStatus.SUCCESS if pages else CallStatus.FAILED
    gateway = leg.extra.get("gateway")
    how = " through Asterisk's T.38 gateway" if gateway is not None else ""
    return replace(
        result,
        status=status,
        sip_code=200,
        pages=pages,
        # The gateway ran between a T.38 leg and a G.711 leg: the routed leg is the one the device's is not.
        t38=gateway is not None and gateway != "T.38",
        t30_text=f"relayed in real time{how}: {pages} page(s)",
    )


def _pages_in(tiff: Path) -> int:
    """Whole pages in a TIFF being written (0 while it does not exist or cannot be read yet)."""
    try:
        with open_tiff(tiff) as image:
            return image.n_frames
    except (OSError, SyntaxError, ValueError):
        return 0


def _first(response: Any) -> dict[str, str]:
    return response[0] if isinstance(response, list) and response else (response or {})


def _stage_document(document: Path, target: Path, first_page: int) -> int:
    """Put the TIFF-F where Asterisk reads it; a resumed fax starts at ``first_page``. Returns its pages."""
    with open_tiff(document) as tiff:
        total = tiff.n_frames
        resolution = Resolution.from_dpi(*tiff.info.get("dpi", (204, 196))) or Resolution.FINE
    if first_page <= 1:
        shutil.copyfile(document, target)
        return total
    pages = []
    with open_tiff(document) as tiff:
        for index in range(first_page - 1, total):
            tiff.seek(index)
            pages.append(tiff.convert("1"))
    write_tiff_f(target, pages, resolution)
    return total - first_page + 1


def _result_from(fields: dict[str, str], leg: _Leg, *, call_id: str) -> CallResult:
    status_field = fields.get("Status", "")
    pages = int(fields.get("Pages") or 0) or leg.pages_seen
    cause = int(fields["HangupCause"]) if (fields.get("HangupCause") or "").isdigit() else None
    mode = fields.get("Mode", "")
    sip_code: int | None
    if status_field == "SUCCESS" and (not leg.sending or leg.expected is None or pages >= leg.expected):
        status, sip_code = CallStatus.SUCCESS, 200
    elif pages:
        status, sip_code = CallStatus.PARTIAL, 200
    elif status_field:  # answered, T.30 failed
        status, sip_code = CallStatus.FAILED, 200
    else:
        status, sip_code = _CAUSES.get(cause or 0, (CallStatus.REJECTED, None))
    return CallResult(
        status=status,
        sip_code=sip_code,
        hangup_cause=f"q850_{cause}" if cause is not None else fields.get("Error"),
        t30_code=None,
        t30_text=fields.get("StatusString") or fields.get("Error") or "",
        pages=pages,
        pages_expected=leg.expected if leg.sending else None,
        t38=mode.upper().startswith("T38"),
        bit_rate=int(fields["Bitrate"]) if (fields.get("Bitrate") or "").isdigit() else None,
        ecm=None,
        remote_ident=fields.get("RemoteStationID", ""),
        call_id=call_id,
    )
