"""Session timers (RFC 4028): who refreshes the session, how often, and when it has expired.

Pure negotiation logic; the ``Call`` runs the timers. A refresh is a re-INVITE (or UPDATE)
carrying the unchanged SDP, so it never disturbs the media of a running fax.
"""

from __future__ import annotations

from dataclasses import dataclass

from faxgw.sip.message import Headers, SipRequest, SipResponse, decimal

#: RFC 4028 4: the smallest Min-SE allowed, and our default interval (30 minutes, as recommended).
MIN_SE = 90
DEFAULT_INTERVAL = 1800


class IntervalTooSmall(ValueError):
    """The peer asked for a shorter interval than our Min-SE: answer 422 with ``min_se``."""

    def __init__(self, min_se: int) -> None:
        super().__init__(f"Session-Expires below {min_se}")
        self.min_se = min_se


@dataclass(frozen=True)
class SessionTimer:
    interval: int
    refresher: str  # "uac" or "uas": roles of the INVITE that set the timer up

    def we_refresh(self, we_are_uac: bool) -> bool:
        return (self.refresher == "uac") == we_are_uac

    @property
    def refresh_after(self) -> float:
        """RFC 4028 10: the refresher sends its refresh at half the interval."""
        return self.interval / 2

    @property
    def expire_after(self) -> float:
        """RFC 4028 10: the other side gives up a little before the interval ends."""
        return self.interval - min(32, self.interval / 3)

    def header(self) -> str:
        return f"{self.interval};refresher={self.refresher}"


def parse_session_expires(value: str) -> tuple[int, str | None]:
    delta, *params = (part.strip() for part in value.split(";"))
    refresher = None
    for param in params:
        name, _, setting = param.partition("=")
        if name.strip().lower() == "refresher" and setting.strip().lower() in ("uac", "uas"):
            refresher = setting.strip().lower()
    seconds = decimal(delta)
    if seconds is None:
        raise ValueError(f"bad Session-Expires {value!r}")
    return seconds, refresher


def supports_timer(message: SipRequest | SipResponse) -> bool:
    return any(option.strip().lower() == "timer" for option in message.headers.get_all("Supported"))


def add_request_headers(headers: Headers, interval: int, min_se: int = MIN_SE) -> None:
    """What a UAC puts in an INVITE to ask for a session timer (RFC 4028 7.1)."""
    headers.add("Supported", "timer")
    headers.add("Session-Expires", str(interval))
    headers.add("Min-SE", str(min_se))


def negotiate_as_uas(request: SipRequest, min_se: int = MIN_SE) -> SessionTimer | None:
    """RFC 4028 8 and 9: the timer a UAS puts in its 2xx (None if the UAC asked for none).

    Raises ``IntervalTooSmall`` when the request's interval is below our Min-SE (answer 422).
    """
    value = request.headers.get("Session-Expires")
    if value is None:
        return None
    try:
        interval, refresher = parse_session_expires(value)
    except ValueError:
        return None
    if interval < min_se:
        raise IntervalTooSmall(min_se)
    if refresher is None:
        # RFC 4028 9: a UAC that supports timers refreshes; otherwise we must.
        refresher = "uac" if supports_timer(request) else "uas"
    return SessionTimer(interval, refresher)


def add_response_headers(headers: Headers, timer: SessionTimer, request: SipRequest) -> None:
    headers.add("Session-Expires", timer.header())
    if supports_timer(request):
        headers.add("Require", "timer")


def from_uac_response(response: SipResponse, requested: int | None) -> SessionTimer | None:
    """RFC 4028 7.2: the timer the UAS chose; no Session-Expires in the 2xx means no timer."""
    value = response.headers.get("Session-Expires")
    if value is None or requested is None:
        return None
    try:
        interval, refresher = parse_session_expires(value)
    except ValueError:
        return None
    return SessionTimer(interval, refresher or "uac")


def min_se_from_422(response: SipResponse) -> int | None:
    value = (response.headers.get("Min-SE") or "").split(";")[0].strip()
    return decimal(value)
