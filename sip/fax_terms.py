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
