"""Call engines behind one interface: the native SIP engine (``native``); Asterisk over AMI comes later."""

from faxgw.gateway.engines.base import CallResult, Engine, InboundCall, OutboundCall, PageTransferred

# The fax resolutions of the media layer, for the layers above, which reach sip only through the engines.
from faxgw.sip.fax import Resolution

__all__ = ["CallResult", "Engine", "InboundCall", "OutboundCall", "PageTransferred", "Resolution"]
