"""Call engines behind one interface: the native SIP engine (``native``); Asterisk over AMI comes later."""

from faxgw.gateway.engines.base import CallResult, Engine, InboundCall, OutboundCall, PageTransferred

# The media layer's fax resolutions and call statuses, for the layers above, which reach sip only through
# the engines.
from faxgw.sip.fax import Resolution
from faxgw.sip.fax_terms import CallStatus

__all__ = [
    "CallResult",
    "CallStatus",
    "Engine",
    "InboundCall",
    "OutboundCall",
    "PageTransferred",
    "Resolution",
]
