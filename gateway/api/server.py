"""Running the REST API inside the gateway's own event loop (uvicorn as a library)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn

from gateway.api.app import create_app
from gateway.service import Gateway


@asynccontextmanager
async def serving(gateway: Gateway, host: str, port: int, log_level: str = "warning") -> AsyncIterator[str]:
    """The API on host:port for the length of the ``async with``; yields its base URL."""
    server = uvicorn.Server(
        uvicorn.Config(create_app(gateway), host=host, port=port, log_level=log_level, lifespan="off")
    )
    task = asyncio.ensure_future(server.serve())
    while not server.started:
        if task.done():
            task.result()  # it failed to start (port taken, ...): raise why
        await asyncio.sleep(0.01)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        await task
