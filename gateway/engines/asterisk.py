"""The Asterisk engine: Asterisk places and answers the calls and runs SpanDSP (res_fax_spandsp); we
drive it over AMI. The dialplan's side of the contract is ``gateway/asterisk/contract.py``.

Asterisk's own SendFAX/ReceiveFAX events carry no status and only come on success, so every leg's
outcome is the one ``FaxResult`` UserEvent of the dialplan's hangup handler. Pages in progress come
from polling ``FAXSessions``/``FAXSession``. A lost AMI link (or an Asterisk restart) is followed by a
reconciliation: a call whose channel is gone and whose result never came is settled with what was
seen of it, so no job waits forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faxgw.gateway.asterisk import contract
from faxgw.gateway.config import Config
from faxgw.gateway.engines.ami import AmiLink
from faxgw.gateway.engines.base import (
    Bridge,
    CallResult,
    InboundCall,
    InboundDone,
    InboundHandler,
    OutboundCall,
    PageHandler,
    PageTransferred,
    Refusal,
)
from faxgw.sip.fax import Resolution, open_tiff, write_tiff_f
from faxgw.sip.fax_terms import CallStatus
from faxgw.sip.tasks import Tasks

log = logging.getLogger("gateway.engines.asterisk")

POLL = 1.0  # seconds between FAXSessions polls while a fax runs
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

    async def close(self) -> None:
        self.link.close()
        self._tasks.cancel_all()

    # -- sending --------------------------------------------------------------------------------
    async def send(self, call: OutboundCall, on_page: PageHandler) -> CallResult:
        settings = self.config.asterisk
        name = f"{call.fax_id}-{uuid.uuid4().hex[:8]}.tif"
        local = settings.local_spool / contract.SPOOL_OUT / name
        expected = await asyncio.to_thread(_stage_document, call.document, local, call.first_page)
        # Our own Uniqueid for the channel: after an AMI outage we can ask whether it still exists.
        leg = _Leg(
            local,
            on_page,
            sending=True,
            result=asyncio.get_running_loop().create_future(),
            expected=expected,
            uniqueid=f"faxgw-{uuid.uuid4().hex}",
            extra={"first_page": call.first_page},
        )
        self._outbound[call.fax_id] = leg
        inside = settings.spool / contract.SPOOL_OUT / name
        try:
            response = await self.link.action(
                {
                    "Action": "Originate",
                    "Channel": f"PJSIP/{call.to_number}@{contract.TRUNK_ENDPOINT}",
                    "Context": contract.OUT_CONTEXT,
                    "Exten": contract.OUT_EXTEN,
                    "Priority": "1",
                    "CallerID": call.from_number,
                    "Async": "true",
                    "ChannelId": leg.uniqueid,
                    "Timeout": "60000",
                    "Variable": contract.originate_variables(
                        call.fax_id, str(inside), call.from_number[-20:]
                    ),
                },
                as_list=False,
            )
            if _first(response).get("Response") != "Success":
                return _result_from({"Status": "", "HangupCause": "34"}, leg, call_id="")
            fields = await asyncio.wait_for(leg.result, FAX_TIMEOUT)
        except TimeoutError:
            fields = {"Status": "FAILED", "Error": "TIMEOUT", "HangupCause": "102"}
        finally:
            self._outbound.pop(call.fax_id, None)
            with contextlib.suppress(OSError):
                local.unlink()
        self._pages_up_to(leg, int(fields.get("Pages") or 0))
        return _result_from(fields, leg, call_id=fields.get("Uniqueid", ""))

    # -- receiving --------------------------------------------------------------------------------
    async def _inbound_call(self, event: dict[str, str]) -> None:
        assert self._on_inbound is not None
        inbound = InboundCall(
            did=event.get("DID", ""), caller=event.get("Caller", ""), call_id=event.get("Uniqueid", "")
        )
        decision = await self._on_inbound(inbound)
        if isinstance(decision, Refusal):
            # Q.850 causes: 1 unallocated number (404), 34 no circuit/channel available (503).
            cause = "34" if decision.status == 503 else "1"
            await self.link.action({"Action": "Hangup", "Channel": event.get("Channel", ""), "Cause": cause})
            return
        if isinstance(decision, Bridge):
            # Asterisk relays a device's fax in real time in its dialplan (FAXOPT(gateway)); a call that
            # reached fax-in names no device (InboundCall.device), so the job layer never bridges it.
            log.error("call %s: a real-time relay asked of fax-in: hung up", inbound.call_id)
            await self.link.action({"Action": "Hangup", "Channel": event.get("Channel", ""), "Cause": "34"})
            return
        document, on_page = decision
        asterisk_file = Path(event.get("File", ""))
        local = self.config.asterisk.local_spool / asterisk_file.relative_to(self.config.asterisk.spool)
        # The gateway serves pages from its own path while Asterisk writes: point it at Asterisk's file.
        with contextlib.suppress(FileExistsError):
            os.symlink(local, document)
        leg = _Leg(
            local,
            on_page,
            sending=False,
            result=asyncio.get_running_loop().create_future(),
            channel=event.get("Channel", ""),
            uniqueid=inbound.call_id,
            extra={"document": document},
        )
        self._inbound[inbound.call_id] = leg
        try:
            fields = await asyncio.wait_for(leg.result, FAX_TIMEOUT)
        except TimeoutError:
            fields = {"Status": "FAILED", "Error": "TIMEOUT", "HangupCause": "102"}
        self._inbound.pop(inbound.call_id, None)
        self._pages_up_to(leg, int(fields.get("Pages") or 0))
        if Path(document).is_symlink():
            Path(document).unlink()
            if local.exists():
                shutil.copyfile(local, document)  # the gateway keeps its own copy
        assert self._on_inbound_done is not None
        await self._on_inbound_done(inbound, _result_from(fields, leg, call_id=inbound.call_id))

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
        each page whole at its end); sent pages come from ``FAXSession`` events (PageNumber is the page
        in progress), asked for on every fax session the poll finds."""
        while True:
            await asyncio.sleep(POLL)
            for leg in list(self._inbound.values()):
                self._pages_up_to(leg, await asyncio.to_thread(_pages_in, leg.file_local))
            if not self._outbound or not self.link.ready.is_set():
                continue
            try:
                sessions = await self.link.action({"Action": "FAXSessions"}, as_list=True)
                for entry in sessions if isinstance(sessions, list) else [sessions]:
                    if entry.get("Event") == "FAXSessionsEntry" and entry.get("Operation") == "send":
                        # The answer comes as a FAXSession event (see _session_event).
                        await self.link.action(
                            {"Action": "FAXSession", "SessionNumber": entry.get("SessionNumber", "")},
                            as_list=False,
                        )
            except Exception:  # a poll must never take the engine down
                log.exception("polling fax sessions failed")

    def _session_event(self, event: dict[str, str]) -> None:
        if event.get("Operation") != "send" or event.get("State") != "Active":
            return
        leg = next(
            (leg for leg in self._outbound.values() if leg.file_local.name in event.get("FileName", "")), None
        )
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
