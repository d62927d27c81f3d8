"""The terms of a fax call: how it may use T.38 (``T38Policy``) and how it ended (``CallStatus``).

Plain enums that start nothing and load no SpanDSP, in a module of their own so that the layers above
name them without importing the stack: the gateway's configuration holds a ``T38Policy``, and its engines
report a ``CallStatus`` (``gateway.engines.base.CallResult``), whichever engine placed the call.
"""

from __future__ import annotations

import enum


class T38Policy(enum.Enum):
    T38 = "t38"  # offer T.38 as soon as the call is up; accept the peer's offer
    AUDIO = "audio"  # G.711 passthrough only: refuse T.38 offers (488)
    AUTO = "auto"  # accept the peer's T.38 offer; offer it ourselves only when receiving


class CallStatus(enum.StrEnum):
    """How a fax call ended, SIP and T.30 together. The values are what ``faxgw send`` and ``faxgw receive``
    print, and what the media process's IPC carries."""

    SUCCESS = "success"  # every page went across and T.30 said so
    PARTIAL = "partial"  # some pages went across, then the call or T.30 failed
    FAILED = "failed"  # the call was up (or never got a final response), no page went across
    # The call was never answered (RFC 3261 21.4, 21.6):
    BUSY = "busy"  # 486 Busy Here, 600 Busy Everywhere (Q.850 cause 17)
    NO_ANSWER = "no_answer"  # ring timeout, 408, 480
    REJECTED = "rejected"  # any other final response of 300 or above
    CANCELLED = "cancelled"  # the caller gave up (CANCEL, 487)


class T30Error(enum.IntEnum):
    """The T.30 completion codes (SpanDSP's ``T30_ERR_*``, spandsp/t30.h, named as it names them) that
    say something about how to reach a destination next time; a ``FaxOutcome``'s ``t30_code`` may be any
    other code too."""

    OK = 0
    #: Nothing answered as a fax machine: no DIS (the sender's T1) or no first exchange (T0).
    T0_EXPIRED = 2
    T1_EXPIRED = 3
    #: Training: the receiver answered every rate with FTT, or DCS/TCF with something else or nothing.
    CANNOT_TRAIN = 6
    TX_BADDCS = 14
    TX_PHBDEAD = 20
    #: Error correction mode: an invalid ECM response, the receiver never ready (T5), or, with ECM on,
    #: the retries spent (SpanDSP ends a page corrected in vain, PPR after PPR, with EOR -> ERR here).
    TX_ECMPHD = 16
    TX_T5EXP = 22
    RX_ECMPHD = 23
    RETRYDCN = 48
    CALLDROPPED = 49
