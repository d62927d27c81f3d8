"""Fax statuses (Fax.Plus's, which the native API uses) and how an engine's ``CallResult`` maps to them.

One mapping for every engine, so a busy line reads ``failed_user_busy`` whether Asterisk or our own
SIP stack placed the call.
"""

from __future__ import annotations

from faxgw.gateway.engines.base import CallResult

QUEUED = "queued"  # waiting: for send_time, for a retry, or for a free channel
PROCESSING = "processing"  # documents being converted
SENDING = "sending"
IN_PROGRESS = "in_progress"  # inbound, pages arriving
SUCCESS = "success"
PARTIALLY_SENT = "partially_sent"
PARTIALLY_RECEIVED = "partially_received"
FAILED = "failed"

RUNNING = frozenset({PROCESSING, SENDING, IN_PROGRESS})

#: SIP final responses that say the number itself is wrong: retrying cannot help (RFC 3261 21.4).
_UNALLOCATED = {404, 410, 484, 604}
_TEMPORARY = {500, 502, 503, 504}
_DESCRIPTIONS = {
    "failed_user_busy": "The destination was busy.",
    "failed_no_answer": "No answer at the destination.",
    "failed_unallocated_number": "Invalid number.",
    "failed_normal_temporary_failure": "Temporary network issue.",
    "failed_normal_clearing": "The call was refused by the destination.",
    "failed_internal_process_error": "The gateway stopped during the call.",
}


def outbound_status(result: CallResult) -> tuple[str, str | None, str | None]:
    """(status, error code, description) for a finished attempt."""
    if result.status == "success":
        return SUCCESS, None, None
    if result.status == "partial":
        return PARTIALLY_SENT, PARTIALLY_SENT, f"{result.pages} of {result.pages_expected} pages sent"
    if result.status == "busy":
        return _failed("failed_user_busy")
    if result.status == "no_answer":
        return _failed("failed_no_answer")
    if result.status == "rejected":
        if result.sip_code in _UNALLOCATED:
            return _failed("failed_unallocated_number")
        if result.sip_code in _TEMPORARY:
            return _failed("failed_normal_temporary_failure")
        return _failed("failed_normal_clearing")
    if result.t30_code:
        # The call was up but T.30 failed: the seed names these after the T.30 completion code.
        code = f"failed_fs_{result.t30_code}"
        return code, code, result.t30_text
    return FAILED, FAILED, result.t30_text or result.hangup_cause or "The fax could not be sent."


def inbound_status(result: CallResult) -> tuple[str, str | None, str | None]:
    if result.status == "success":
        return SUCCESS, None, None
    if result.pages:
        return PARTIALLY_RECEIVED, PARTIALLY_RECEIVED, f"{result.pages} pages received before the call ended"
    if result.t30_code:
        code = f"failed_fs_{result.t30_code}"
        return code, code, result.t30_text
    return FAILED, FAILED, result.t30_text or result.hangup_cause or "Nothing was received."


_RETRYABLE = frozenset(
    {
        PARTIALLY_SENT,
        FAILED,
        "failed_user_busy",
        "failed_no_answer",
        "failed_normal_temporary_failure",
        "failed_normal_clearing",
        "failed_internal_process_error",
    }
)


def retryable(status: str) -> bool:
    """Worth another try (the seed's advice for each); a wrong number or a bad document is not."""
    return status in _RETRYABLE or status.startswith("failed_fs_")


def _failed(code: str) -> tuple[str, str, str]:
    return code, code, _DESCRIPTIONS[code]
