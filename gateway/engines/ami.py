"""The AMI link to Asterisk (panoramisk), with reconnection that backs off and a hook for what must
be checked again after a reconnect (calls in flight may have ended while we were not listening)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from faxgw.sip.tasks import Tasks
from panoramisk import Manager

log = logging.getLogger("gateway.engines.ami")

#: Reconnection delays: 1 s, doubling up to 30 s while Asterisk stays away.
FIRST_DELAY, MAX_DELAY = 1, 30


class BackoffManager(Manager):
    """panoramisk's Manager retries every ``reconnect_timeout`` seconds; this one doubles the wait
    after each failure and starts again from the first delay once a login succeeds."""

    reconnect_timeout: float  # Manager's (seconds); declared here as panoramisk has no type hints

    def connection_made(self, future: asyncio.Future) -> None:
        if future.exception() is not None:
            self.reconnect_timeout = min(max(self.reconnect_timeout, FIRST_DELAY) * 2, MAX_DELAY)
        super().connection_made(future)


class AmiLink:
    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        secret: str,
        on_reconnect: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.on_reconnect = on_reconnect
        self._logged_in_before = False
        self._reconciling = Tasks(log, "reconciliation after an AMI reconnect")
        self.ready = asyncio.Event()
        self.manager = BackoffManager(
            host=host,
            port=port,
            username=username,
            secret=secret,
            reconnect_timeout=FIRST_DELAY,
            ping_delay=5,
            ping_interval=5,
            on_login=self._logged_in,
            on_disconnect=self._lost,
        )

    def on(self, event: str, handler: Callable[[dict[str, Any]], None]) -> None:
        self.manager.register_event(event, lambda manager, message: handler(dict(message.items())))

    async def connect(self, timeout: float = 30) -> None:
        self.manager.connect()
        await asyncio.wait_for(self.ready.wait(), timeout)

    def _logged_in(self, manager: Manager) -> None:
        manager.reconnect_timeout = FIRST_DELAY
        self.ready.set()
        log.info("AMI logged in to %s:%s", manager.config["host"], manager.config["port"])
        if self._logged_in_before and self.on_reconnect is not None:
            self._reconciling.spawn(self.on_reconnect())
        self._logged_in_before = True

    def _lost(self, manager: Manager, exc: Exception | None) -> None:
        self.ready.clear()
        log.warning("AMI connection lost (%s); reconnecting", exc)

    async def action(self, action: dict[str, str], *, as_list: bool | None = None) -> Any:
        """Send once logged in; a lost link makes the caller wait for the reconnect."""
        await self.ready.wait()
        return await self.manager.send_action(action, as_list=as_list)

    def close(self) -> None:
        self.manager.close()
        self._reconciling.cancel_all()
