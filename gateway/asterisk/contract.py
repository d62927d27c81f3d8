"""What the rendered Asterisk configuration promises the Asterisk engine: the names it must use over
AMI and the fields it gets back. The dialplan in ``dialplan/extensions.conf`` is the other half;
change both together.

Sending (AMI ``Originate``)::

    Channel: PJSIP/<number>@faxgw-trunk       (or @faxgw-peer, the test peer)
    Context: fax-out   Exten: send   Priority: 1
    CallerID: <from number>   Async: true   ChannelId: <a uniqueid of our choice, optional>
    Variable: <originate_variables(...)>

The variables carry the fax (FAXGW_FAXID, FAXGW_FILE, FAXGW_IDENT, FAXGW_HEADER) and push the
result handler on the channel before it is dialled, so that a call that is busy, unanswered or
rejected also ends with its FaxResult. (PreDialGoSub cannot do that: Asterisk 22 ignores it when
Async is true.) Asterisk splits a ``Variable`` value at commas outside double quotes, and the
dialplan hands the values to applications whose arguments are comma-separated too: values must
not contain commas (``originate_value`` checks).

Receiving: a call to a routed DID lands in ``fax-in``; the dialplan emits ``UserEvent: FaxInbound``
and then answers with ReceiveFAX into ``File``. To refuse, the engine hangs the channel up (AMI
``Hangup``). It may ``Setvar FAXGW_FAXID`` on the channel so that the FaxResult carries the id.

Every fax leg ends with exactly one ``UserEvent: FaxResult`` (from the ``fax-result`` hangup handler),
also when the call was never answered or the fax never started (then Status is empty and
HangupCause says why). Both UserEvents also carry Asterisk's own channel headers (Channel,
Uniqueid, Linkedid, CallerIDNum, ...).
"""

from __future__ import annotations

TRUNK_ENDPOINT = "faxgw-trunk"
PEER_ENDPOINT = "faxgw-peer"  # a native faxgw that may call in without credentials (tests)
TRANSPORT = "faxgw-udp"

IN_CONTEXT = "fax-in"  # where calls from the trunk and the test peer land, by DID
OUT_CONTEXT = "fax-out"
OUT_EXTEN = "send"
RESULT_HANDLER = "fax-result,s,1"

# Channel variables the engine sets (Originate Variable, or Setvar on an inbound channel).
VAR_OP = "FAXGW_OP"  # send | receive; set to send with the handler push (fax-out checks it)
VAR_FAX_ID = "FAXGW_FAXID"
VAR_FILE = "FAXGW_FILE"  # the TIFF to send, as Asterisk sees it (under spool/out)
VAR_IDENT = "FAXGW_IDENT"  # our station ident (TSI), up to 20 characters; default our caller id
VAR_HEADER = "FAXGW_HEADER"  # page header line; default none

INBOUND_EVENT = "FaxInbound"
INBOUND_FIELDS = ("DID", "Caller", "CallerName", "File")

RESULT_EVENT = "FaxResult"
RESULT_FIELDS = (
    "FaxID",  # FAXGW_FAXID, empty for an inbound call the engine never tagged
    "Op",  # send | receive
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
)

# Text from the far end (caller name, remote station ident, T.30 status) can carry commas, which would
# add fields to a UserEvent; the dialplan keeps only these characters (Asterisk FILTER() syntax).
TEXT_CHARS = "0-9A-Za-z +*#.@_:/"
NUMBER_CHARS = "0-9+*#"

SPOOL_IN = "in"  # received faxes, written by Asterisk
SPOOL_OUT = "out"  # faxes to send, written by the gateway


def originate_value(value: str) -> str:
    """A value for an Originate ``Variable``, or ValueError when Asterisk would split or misread it."""
    if any(char in value for char in ',;"\\\r\n') or "${" in value or "$[" in value:
        raise ValueError(f"{value!r}: commas, semicolons, quotes, backslashes and $ expressions cannot pass")
    return value


def originate_variables(fax_id: str, file: str, ident: str = "", header: str = "") -> str:
    """The ``Variable`` value of a fax's Originate: FAXGW_* for the dialplan, and the result handler
    pushed before the call is dialled (quoted: its own commas must not split it)."""
    values = {VAR_FAX_ID: fax_id, VAR_FILE: file, VAR_IDENT: ident, VAR_HEADER: header}
    return ",".join(
        [
            f"{VAR_OP}=send",
            f'CHANNEL(hangup_handler_push)="{RESULT_HANDLER}"',
            *(f"{name}={originate_value(value)}" for name, value in values.items()),
        ]
    )
