"""A real HTTP receiver of webhooks on a free port that follows a script of replies, and what the
webhook tests share."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from faxgw.gateway.store.schema import migrate
from faxgw.gateway.webhooks import DeliveryAttempt, DeliveryStore, RetryPolicy, address_policy, verify

LOCALHOST = "127.0.0.1"
#: The receivers' network: internal, so a dispatcher posts there only when told to (webhook_allow).
RECEIVERS = address_policy(allow=["127.0.0.1/32"])
SECRET = "whsec_test_0123456789"
#: Small enough for quick tests, large enough that the gaps can be measured on a loaded 2-core machine.
FAST = RetryPolicy(initial_delay=0.05, factor=2.0, max_delay=1.0, max_attempts=5, timeout=2.0)


@dataclass(frozen=True)
class Reply:
    """What the receiver does with one request: answer ``status``, or "drop" the connection, or "hang"."""

    status: int = 200
    action: str = "answer"
    body: bytes = b"ok"
    headers: tuple[tuple[str, str], ...] = ()


DROP = Reply(action="drop")
HANG = Reply(action="hang")


@dataclass
class Received:
    request_line: str
    headers: dict[str, str]  # names lowercased, as a receiver's framework might hand them over
    body: bytes
    at: float  # time.monotonic() when the body was in
    valid: bool  # verify() with the receiver's secret, at arrival


@dataclass
class Receiver:
    """A tiny HTTP/1.1 server (one request per connection) that follows a script of replies."""

    secret: str = SECRET
    host: str = LOCALHOST
    script: list[Reply] = field(default_factory=list)
    default: Reply = field(default_factory=Reply)
    requests: list[Received] = field(default_factory=list)

    async def start(self) -> None:
        self._release = asyncio.Event()
        self._server = await asyncio.start_server(self._handle, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self._release.set()
        self._server.close()
        await self._server.wait_closed()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/hooks/fax"

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count:
            assert time.monotonic() < deadline, f"{len(self.requests)} requests, expected {count}"
            await asyncio.sleep(0.005)
        return self.requests

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            request_line, *lines = head.split("\r\n")
            headers = {}
            for line in lines:
                name, sep, value = line.partition(":")
                if sep:
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            valid = verify(body, headers, self.secret)
            self.requests.append(Received(request_line, headers, body, time.monotonic(), valid))
            reply = self.script.pop(0) if self.script else self.default
            if reply.action == "drop":
                return
            if reply.action == "hang":
                await self._release.wait()
                return
            extra = "".join(f"{name}: {value}\r\n" for name, value in reply.headers)
            writer.write(
                f"HTTP/1.1 {reply.status} Scripted\r\nContent-Length: {len(reply.body)}\r\n"
                f"Content-Type: text/plain\r\nConnection: close\r\n{extra}\r\n".encode()
                + reply.body
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


async def wait_until(condition: Callable[[], bool | Awaitable[bool]], timeout: float = 5.0) -> None:
    """The receiver has a request before the dispatcher has recorded the answer: poll for the outcome
    (``condition`` may be a coroutine function: the store's reads are)."""
    deadline = time.monotonic() + timeout
    while not await _holds(condition):
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


async def _holds(condition: Callable[[], bool | Awaitable[bool]]) -> bool:
    held = condition()
    return await held if inspect.isawaitable(held) else held


async def logged(store: DeliveryStore, check: Callable[[list[DeliveryAttempt]], bool]) -> bool:
    """Whether fax_1's delivery log passes ``check`` (for ``wait_until``)."""
    return check(await store.log_for_fax("fax_1"))


def open_database(path: Path, *, autocommit: bool = True) -> sqlite3.Connection:
    """A connection set up as gateway/store opens it (autocommit, Row, WAL, migrated), or Python's legacy
    default; opened in the connection thread that owns it (``SqliteThread``)."""
    connection = sqlite3.connect(path, isolation_level=None) if autocommit else sqlite3.connect(path)
    connection.row_factory = sqlite3.Row
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA foreign_keys=ON")
    migrate(connection)  # the store's schema, the outbox's tables with it
    return connection
