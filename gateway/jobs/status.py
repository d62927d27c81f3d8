"""How an engine's ``CallResult`` maps to a fax's status (``gateway.domain.FaxStatus``), and which end of
an attempt is worth another.

One mapping for every engine, so a busy line reads ``failed_user_busy`` whether Asterisk or our own
SIP stack placed the call.
"""

from __future__ import annotations

import dataclasses
import time
from typing import NamedTuple

from faxgw.gateway.domain import FaxStatus
from faxgw.gateway.engines import CallResult, CallStatus, T30Error
from faxgw.gateway.engines.base import DEVICE_NOT_REGISTERED, NO_TRUNK_AVAILABLE
from faxgw.gateway.store import AttemptChanges

#: A fax whose call is being prepared, placed or received: it cannot be deleted now.
RUNNING = frozenset({FaxStatus.PROCESSING, FaxStatus.SENDING, FaxStatus.IN_PROGRESS})

#: SIP final responses that say the number itself is wrong: retrying cannot help (RFC 3261 21.4).
_UNALLOCATED = {404, 410, 484, 604}
#: The callee's own no (RFC 3261 21.4.4 403 Forbidden, 21.6.2 603 Decline): asked again, it says it again.
_REFUSED = {403, 603}
#: The call was answered, but by no fax machine: T.30 never heard one (no DIS: SpanDSP's T0 or T1 ran out).
_NOT_A_FAX = {T30Error.T0_EXPIRED, T30Error.T1_EXPIRED}
_TEMPORARY = {500, 502, 503, 504}
#: An attempt whose routes placed no call, in the seed's words (the engine's text says why): nobody to
#: answer (the device is not registered: "Retry when you know the recipient is available"), and no trunk
#: free or up ("System was busy. Try again later."). Both retried.
_UNROUTED = {
    DEVICE_NOT_REGISTERED: FaxStatus.FAILED_NO_ANSWER,
    NO_TRUNK_AVAILABLE: FaxStatus.FAILED_TO_SEND,
}
_DESCRIPTIONS = {
    FaxStatus.FAILED_USER_BUSY: "The destination was busy.",
    FaxStatus.FAILED_NO_ANSWER: "No answer at the destination.",
    FaxStatus.FAILED_UNALLOCATED_NUMBER: "Invalid number.",
    FaxStatus.FAILED_NORMAL_TEMPORARY_FAILURE: "Temporary network issue.",
    FaxStatus.FAILED_NORMAL_CLEARING: "The call was refused by the destination.",
    FaxStatus.FAILED_INTERNAL_PROCESS_ERROR: "The gateway stopped during the call.",
}


class Ending(NamedTuple):
    """How a call left its fax: the status, the error code (None for a success) and its description."""

    status: FaxStatus
    code: FaxStatus | None
    description: str | None


_SUCCESS = Ending(FaxStatus.SUCCESS, None, None)


def outbound_status(result: CallResult) -> Ending:
    """How a finished attempt left its fax."""
    if result.status is CallStatus.SUCCESS:
        return _SUCCESS
    if result.status is CallStatus.PARTIAL:
        partial = FaxStatus.PARTIALLY_SENT
        return Ending(partial, partial, f"{result.pages} of {result.pages_expected} pages sent")
    if result.status is CallStatus.BUSY:
        return _failed(FaxStatus.FAILED_USER_BUSY)
    if result.status is CallStatus.NO_ANSWER:
        return _failed(FaxStatus.FAILED_NO_ANSWER)
    if result.status is CallStatus.REJECTED:
        if result.sip_code in _UNALLOCATED:
            return _failed(FaxStatus.FAILED_UNALLOCATED_NUMBER)
        if result.sip_code in _TEMPORARY:
            return _failed(FaxStatus.FAILED_NORMAL_TEMPORARY_FAILURE)
        return _failed(FaxStatus.FAILED_NORMAL_CLEARING)
    if result.t30_code:
        # The call was up but T.30 failed: the seed names these after the T.30 completion code.
        code = FaxStatus.t30_failure(result.t30_code)
        return Ending(code, code, result.t30_text)
    if (unrouted := _UNROUTED.get(result.hangup_cause or "")) is not None:
        return Ending(unrouted, unrouted, result.t30_text)
    failed = FaxStatus.FAILED
    return Ending(failed, failed, result.t30_text or result.hangup_cause or "The fax could not be sent.")


def inbound_status(result: CallResult) -> Ending:
    """How a finished call left the fax it brought."""
    if result.status is CallStatus.SUCCESS:
        return _SUCCESS
    if result.pages:
        partial = FaxStatus.PARTIALLY_RECEIVED
        return Ending(partial, partial, f"{result.pages} pages received before the call ended")
    if result.t30_code:
        code = FaxStatus.t30_failure(result.t30_code)
        return Ending(code, code, result.t30_text)
    failed = FaxStatus.FAILED
    return Ending(failed, failed, result.t30_text or result.hangup_cause or "Nothing was received.")


_RETRYABLE = frozenset(
    {
        FaxStatus.PARTIALLY_SENT,
        FaxStatus.FAILED,
        FaxStatus.FAILED_USER_BUSY,
        FaxStatus.FAILED_NO_ANSWER,
        FaxStatus.FAILED_NORMAL_TEMPORARY_FAILURE,
        FaxStatus.FAILED_NORMAL_CLEARING,
        FaxStatus.FAILED_INTERNAL_PROCESS_ERROR,
        FaxStatus.FAILED_TO_SEND,  # no trunk could take the call now
    }
)


def retryable(status: FaxStatus) -> bool:
    """Worth another try (the seed's advice for each); a wrong number or a bad document is not."""
    return status in _RETRYABLE or status.t30_code is not None


def permanent(result: CallResult) -> bool:
    """A failure no other attempt can mend, whatever ``retryable`` says of its status: the number does
    not exist (404, 410, 484, 604), the callee refuses the call (403, 603), or what answered is not a fax
    machine. Busy, no answer, a call dropped mid-fax or a failed training may go better next time."""
    if result.status is CallStatus.REJECTED:
        return result.sip_code in _UNALLOCATED | _REFUSED
    return result.status is CallStatus.FAILED and result.t30_code in _NOT_A_FAX


def _failed(code: FaxStatus) -> Ending:
    return Ending(code, code, _DESCRIPTIONS[code])


def ended_attempt(result: CallResult, status: FaxStatus, summary: str | None) -> AttemptChanges:
    """What an attempt's record learns from its call's end, sent or received alike: the call's facts,
    the route that carried it, its one-sentence ``summary`` and its diagnostics."""
    carried = result.legs[-1].via if result.legs and not result.legs[-1].failed_over else None
    return AttemptChanges(
        ended_at=time.time(),
        status=status,
        sip_code=result.sip_code,
        hangup_cause=result.hangup_cause,
        t30_code=result.t30_code,
        t30_text=result.t30_text,
        pages_sent=result.pages,
        t38=result.t38,
        call_id=result.call_id,
        legs=[dataclasses.asdict(leg) for leg in result.legs],
        route=carried,
        summary=summary,
        diagnostics=result.diagnostics.to_dict(),
    )
