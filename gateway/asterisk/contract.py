"""What the rendered Asterisk configuration promises the Asterisk engine: the names it must use over
AMI and the fields it gets back. The dialplan in ``dialplan/extensions.conf`` is the other half;
change both together.

Sending (AMI ``Originate``)::

    Channel: Local/send@fax-route/n          (SEND_CHANNEL)
    Context: fax-out   Exten: send   Priority: 1
    CallerID: <from number>   Async: true
    ChannelId: <a uniqueid of our choice>   OtherChannelId: <another, for the ;2 half>
    Variable: <originate_variables(...)>

The Local channel's two halves share the variables. Its ``;2`` half runs ``fax-route``: the attempt's
routes (``FAXGW_ROUTE_1``, ``FAXGW_ROUTE_2`` ...: ``route_value``) are dialled in order, and a route that
fails as a route (no response, 401/403/407/408, 5xx; a trunk down or at max_calls, a device not
registered) hands on to the next; the callee's own answers (busy, no answer, unallocated) end the
attempt. Once a route answers, the ``;1`` half runs ``fax-out``: SendFAX with that route's T.38 policy,
ECM and rate. Every route tried leaves one word in ``FAXGW_LEGS`` on the ``;1`` half (``LEG``).

The variables carry the fax (FAXGW_FAXID, FAXGW_FILE, FAXGW_IDENT, FAXGW_HEADER) and push the
result handler on the channel before it is dialled, so that a call that is busy, unanswered or
rejected also ends with its FaxResult. (PreDialGoSub cannot do that: Asterisk 22 ignores it when
Async is true.) Asterisk splits a ``Variable`` value at commas outside double quotes, and the
dialplan hands the values to applications whose arguments are comma-separated too: values must
not contain commas (``originate_value`` checks).

Receiving: a call from a trunk to a routed DID lands in ``fax-in``, a call from a device (any number
it dials) in ``fax-device``; both go on to ``fax-receive``, which emits ``UserEvent: FaxInbound``
(``Device``: the device's username, empty for a trunk's call) and waits, unanswered, for the engine's
decision (``DECISION_VAR``, set with AMI ``Setvar``): ``receive`` answers with ReceiveFAX into
``File``; ``bridge`` relays a device's fax in real time (``fax-bridge``: the routes in
``FAXGW_ROUTE_n`` dialled as above to ``FAXGW_NUMBER`` from ``FAXGW_FROM``, Asterisk's T.38 gateway
between the two legs). To refuse, the engine hangs the channel up (AMI ``Hangup`` with a Q.850 cause,
which PJSIP answers as 404, 403 or 503). It may ``Setvar FAXGW_FAXID`` on the channel so that the
FaxResult carries the id.

Every fax leg ends with exactly one ``UserEvent: FaxResult`` (from the ``fax-result`` hangup handler),
also when the call was never answered or the fax never started (then Status is empty and
HangupCause says why). Both UserEvents also carry Asterisk's own channel headers (Channel,
Uniqueid, Linkedid, CallerIDNum, ...).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from faxgw.sip.fax_terms import T38Policy

PEER_ENDPOINT = "faxgw-peer"  # a native faxgw that may call in without credentials (tests)
TRANSPORT = "faxgw-udp"
TCP_TRANSPORT = "faxgw-tcp"
#: Our own PJSIP objects start so; a device's username (its endpoint, auth and AOR) may not.
RESERVED_PREFIX = "faxgw-"

IN_CONTEXT = "fax-in"  # where calls from the trunks and the test peer land, by DID
DEVICE_CONTEXT = "fax-device"  # where calls from devices land, whatever number they dial
OUT_CONTEXT = "fax-out"
OUT_EXTEN = "send"
SEND_CHANNEL = "Local/send@fax-route/n"  # n: the Local channel stays, so fax-out's SendFAX sees the route
RESULT_HANDLER = "fax-result,s,1"
#: GROUP() category that counts the calls each trunk carries (max_calls).
TRUNK_GROUP = "faxgw-trunks"
RING_TIMEOUT = 60  # seconds a route's call may ring before it counts as not answered


def trunk_endpoint(name: str) -> str:
    """The PJSIP endpoint (and identify) of a trunk; its auth and registration add -auth and -reg."""
    return f"faxgw-trunk-{name}"


def trunk_aor(name: str, host: int) -> str:
    """The AOR of a trunk's ``host``-th host (1-based): one each, so they are qualified and dialled
    one by one, in order."""
    return f"faxgw-host{host}-{name}"


def trunk_context(name: str) -> str:
    """The dialplan subroutine that places one call over a trunk (its hosts in order)."""
    return f"route-trunk-{name}"


# Channel variables the engine sets (Originate Variable, or Setvar on an inbound channel).
VAR_OP = "FAXGW_OP"  # send | receive | bridge; set to send with the handler push
VAR_FAX_ID = "FAXGW_FAXID"
VAR_FILE = "FAXGW_FILE"  # the TIFF to send, as Asterisk sees it (under spool/out)
VAR_IDENT = "FAXGW_IDENT"  # our station ident (TSI), up to 20 characters; default our caller id
VAR_HEADER = "FAXGW_HEADER"  # page header line; default none
VAR_NUMBER = "FAXGW_NUMBER"  # the number the routes are dialled to
VAR_FROM = "FAXGW_FROM"  # the caller id they are dialled from
VAR_ROUTE = "FAXGW_ROUTE_{}"  # the n-th route (1-based), a route_value
VAR_ROUTED = "FAXGW_ROUTED"  # send: the Uniqueid of the Local channel's ;2 half (Originate OtherChannelId)
DECISION_VAR = "FAXGW_DECISION"  # on an inbound call: receive | bridge
RECEIVE, BRIDGE = "receive", "bridge"
#: How long an inbound call waits for the engine's decision before it is refused with 503 (seconds).
DECISION_TIMEOUT = 10

INBOUND_EVENT = "FaxInbound"
INBOUND_FIELDS = ("DID", "Caller", "CallerName", "File", "Device")

RESULT_EVENT = "FaxResult"
RESULT_FIELDS = (
    "FaxID",  # FAXGW_FAXID, empty for an inbound call the engine never tagged
    "Op",  # send | receive | bridge
    "DID",  # receive: the number called
    "Status",  # FAXSTATUS: SUCCESS | FAILED, empty when no fax was attempted
    "Error",  # FAXERROR: res_fax's error code (FILE_ERROR, HANGUP, ...)
    "StatusString",  # FAXSTATUSSTRING: the T.30 result in words
    "Pages",  # FAXPAGES: pages transferred
    "Mode",  # FAXMODE: T38 | audio
    "Bitrate",  # FAXBITRATE
    "Resolution",  # FAXRESOLUTION
    "RemoteStationID",
    "LocalStationID",
    "File",  # FAXGW_FILE: the TIFF sent or received, as Asterisk sees it
    "HangupCause",  # Q.850 cause number (16 normal, 17 busy, 19 no answer, 21 rejected, ...)
    "Legs",  # send, bridge: one LEG word per route tried, space-separated, in order
)

# Text from the far end (caller name, remote station ident, T.30 status) can carry commas, which would
# add fields to a UserEvent; the dialplan keeps only these characters (Asterisk FILTER() syntax).
TEXT_CHARS = "0-9A-Za-z +*#.@_:/"
NUMBER_CHARS = "0-9+*#"

SPOOL_IN = "in"  # received faxes, written by Asterisk
SPOOL_OUT = "out"  # faxes to send, written by the gateway

# SendFAX options per route's T.38 policy: f lets a refused T.38 re-INVITE fall back to audio, z makes
# SendFAX offer T.38 itself, F forces audio, s sends FAXStatus progress events.
SEND_OPTIONS = {T38Policy.AUTO: "fs", T38Policy.T38: "fsz", T38Policy.AUDIO: "Fs"}

#: The final responses after which the dialplan tries the next route (as ``engines.trunks.fails_over``:
#: the trunk refused us or failed itself), besides every 5xx and no response at all.
FAILOVER_CODES = (401, 403, 407, 408)

#: One route tried, as the dialplan notes it: ``via/what/over/host``. ``what`` is ``answered``, the SIP
#: code of the final response, a DIALSTATUS when none came (CHANUNAVAIL, CONGESTION, NOANSWER, BUSY,
#: CANCEL), or why no call was placed: ``down`` (no host answers OPTIONS), ``full`` (at max_calls),
#: ``unregistered`` (a device with no contact), ``unknown`` (no such route in the dialplan). ``over``
#: is 1 when the next route was tried; ``host`` is the trunk host called, empty for a device.
LEG = re.compile(r"(?P<via>[A-Za-z0-9_.-]+)/(?P<what>[A-Za-z0-9]+)/(?P<over>[01])/(?P<host>[^/\s]*)")


@dataclass(frozen=True)
class DialplanLeg:
    via: str
    what: str
    over: bool
    host: str


def parse_legs(text: str) -> list[DialplanLeg]:
    """FAXGW_LEGS as the FaxResult carries it; words that are not a LEG are skipped."""
    legs = []
    for word in text.split():
        match = LEG.fullmatch(word)
        if match is not None:
            legs.append(DialplanLeg(match["via"], match["what"], match["over"] == "1", match["host"]))
    return legs


def originate_value(value: str) -> str:
    """A value for an Originate ``Variable``, or ValueError when Asterisk would split or misread it."""
    if any(char in value for char in ',;"\\\r\n') or "${" in value or "$[" in value:
        raise ValueError(f"{value!r}: commas, semicolons, quotes, backslashes and $ expressions cannot pass")
    return value


def route_value(device: bool, via: str, t38: T38Policy, ecm: bool, max_rate: int) -> str:
    """A route as the dialplan reads it (``CUT(FAXGW_ROUTE_n,/,field)``): kind/via/SendFAX options/ECM/
    rate."""
    kind = "device" if device else "trunk"
    return originate_value(f"{kind}/{via}/{SEND_OPTIONS[t38]}/{'yes' if ecm else 'no'}/{max_rate}")


def route_variables(number: str, from_number: str, routes: list[str]) -> dict[str, str]:
    """The variables that have the dialplan dial ``routes`` (route_values) to ``number``."""
    return {
        VAR_NUMBER: number,
        VAR_FROM: from_number,
        **{VAR_ROUTE.format(index): route for index, route in enumerate(routes, 1)},
    }


def originate_variables(
    fax_id: str,
    file: str,
    ident: str = "",
    header: str = "",
    routes: dict[str, str] | None = None,
    routed: str = "",
) -> str:
    """The ``Variable`` value of a fax's Originate: FAXGW_* for the dialplan (``routes``: from
    route_variables; ``routed``: the OtherChannelId), and the result handler pushed before the call is
    dialled (quoted: its own commas must not split it)."""
    values = {VAR_FAX_ID: fax_id, VAR_FILE: file, VAR_IDENT: ident, VAR_HEADER: header, **(routes or {})}
    if routed:
        values[VAR_ROUTED] = routed
    return ",".join(
        [
            f"{VAR_OP}=send",
            f'CHANNEL(hangup_handler_push)="{RESULT_HANDLER}"',
            *(f"{name}={originate_value(value)}" for name, value in values.items()),
        ]
    )
