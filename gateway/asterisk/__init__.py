"""Asterisk as the gateway's fax engine: its configuration, rendered from the gateway's own
(``render``), and the names and fields the engine and the dialplan agree on (``contract``)."""

from faxgw.gateway.asterisk.render import FILES, render, render_texts

__all__ = ["FILES", "render", "render_texts"]
