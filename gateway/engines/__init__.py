"""Call engines behind one interface: the native SIP engine (``native``); Asterisk over AMI comes later."""

from faxgw.gateway.engines.base import CallResult, Engine, InboundCall, OutboundCall, PageTransferred

__all__ = ["CallResult", "Engine", "InboundCall", "OutboundCall", "PageTransferred"]
