"""The web console: operators and tenants see their faxes (inbox with pages as they arrive, outbox, each
fax's attempts and diagnostics) and send faxes, in a browser, signed in with an API key of their tenant.

It is a layer of its own above the API (it calls the native API's functions; the API knows nothing of it),
so the API's ``create_app`` cannot mount it. ``serving`` here is the one place that does: the API's
``serving`` with the console mounted at /console/ when ``[console] enabled``. ``faxgw serve``, ``faxgw demo``
and the tests' gateway run through it, so all of them serve the same console on the API's port.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from faxgw.gateway.api.server import serving as serving_api
from faxgw.gateway.console.app import create_console
from faxgw.gateway.service import Gateway

PREFIX = "/console"


@asynccontextmanager
async def serving(gateway: Gateway, host: str, port: int, log_level: str = "warning") -> AsyncIterator[str]:
    """The API (and the console) on host:port for the length of the ``async with``; yields its base URL."""
    mounts = [(PREFIX, create_console(gateway))] if gateway.config.console.enabled else []
    async with serving_api(gateway, host, port, log_level, mounts=mounts) as base_url:
        yield base_url
