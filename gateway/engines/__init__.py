"""Call engines behind one interface: the native SIP engine (``native``); Asterisk over AMI comes later."""

from faxgw.gateway.engines.base import CallResult, Engine, InboundCall, OutboundCall, PageTransferred

# The media layer's fax resolutions and bit rates, call statuses, T.38 policies and T.30 completion codes,
# for the layers above, which reach sip only through the engines.
from faxgw.sip.fax import BIT_RATES, Resolution
from faxgw.sip.fax_terms import CallStatus, T30Error, T38Policy

__all__ = [
    "BIT_RATES",
    "CallResult",
    "CallStatus",
    "Engine",
    "InboundCall",
    "OutboundCall",
    "PageTransferred",
    "Resolution",
    "T30Error",
    "T38Policy",
]
