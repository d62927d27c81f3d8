"""Running the REST API inside the gateway's own event loop (uvicorn as a library), bounded: a fixed
number of connections, timeouts on request heads and idle keep-alives, small heads, and the edge's
errors logged once per interval (``gateway.api.connections``). ``faxgw serve``, ``faxgw demo`` and the
tests all run the API through ``serving``, so all of them get the same bounds."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import uvicorn
from faxgw.gateway.api import connections
from faxgw.gateway.api.app import create_app
from faxgw.gateway.service import Gateway
from faxgw.sip.tasks import Tasks
from starlette.types import ASGIApp

log = logging.getLogger("gateway.api")

#: Seconds the requests still running at stop (an event stream, a body that never comes) get to end.
SHUTDOWN_TIMEOUT = 5


def uvicorn_config(
    app: ASGIApp, host: str, port: int, max_connections: int, log_level: str = "warning"
) -> uvicorn.Config:
    """How the API is served: uvicorn with the bounds of ``gateway.api.connections`` (the REST benchmark's
    peer app is served the same way)."""
    bound = connections.connection_bound(max_connections)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        lifespan="off",
        http=functools.partial(connections.BoundedHttpToolsProtocol, max_connections=bound),  # type: ignore[arg-type]
        ws="none",  # no route takes a WebSocket: an Upgrade request stays a plain HTTP request
        timeout_keep_alive=connections.KEEP_ALIVE_TIMEOUT,
        backlog=connections.ACCEPT_BACKLOG,
        timeout_graceful_shutdown=SHUTDOWN_TIMEOUT,
    )
    connections.quiet_floods()  # after uvicorn.Config, which (re)configures uvicorn's loggers
    return config


@asynccontextmanager
async def serving(
    gateway: Gateway,
    host: str,
    port: int,
    log_level: str = "warning",
    mounts: Sequence[tuple[str, ASGIApp]] = (),
) -> AsyncIterator[str]:
    """The API on host:port for the length of the ``async with``; yields its base URL. ``mounts``: apps of
    layers above the API served under a path of the same app (the console, ``gateway.console``)."""
    app = create_app(gateway)
    for path, mounted in mounts:
        app.mount(path, mounted)
    server = uvicorn.Server(uvicorn_config(app, host, port, gateway.config.api_max_connections, log_level))
    task = Tasks(log, "the HTTP server").spawn(server.serve())  # a crash while serving is logged at once
    while not server.started:
        if task.done():
            task.result()  # it failed to start (port taken, ...): raise why
        await asyncio.sleep(0.01)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        await task
