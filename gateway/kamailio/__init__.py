"""Kamailio in front of several gateway nodes: its configuration rendered from the gateway's
(``faxgw kamailio-config``)."""

from faxgw.gateway.kamailio.render import FILES, render, render_texts

__all__ = ["FILES", "render", "render_texts"]
