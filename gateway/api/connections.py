"""The API's connections: bounded in number, cut when they idle, and their errors logged once per interval.

uvicorn accepts every connection and keeps it until the client leaves. Its ``limit_concurrency`` answers
503 to requests beyond the limit but keeps every connection and its descriptor; a connection that never
completes a request head has no timeout at all (``timeout_keep_alive`` runs only between requests, and
any byte resets it). 1,100 idle connections under a 1,024-descriptor limit took the API down, and
asyncio logged a traceback for each failed accept(): 288 MB in 40 s. What uvicorn lacks is here:

- ``BoundedHttpToolsProtocol`` (uvicorn's httptools protocol: its HTTP parser is C; with h11's, pure
  Python, a POST cost a fifth more CPU) keeps at most ``max_connections`` open. Beyond it a
  new connection closes the one that has waited longest for a request, as nginx reuses idle connections
  when its worker_connections run out; when every one is serving a request, the new one is answered
  503 and closed. Its descriptor is free again at once.
- A request head must arrive whole within ``HEAD_TIMEOUT`` of the connection's opening or of its last
  response: a client that sends nothing, or its headers a byte at a time (slowloris), is cut. A head
  over ``MAX_HEAD_BYTES`` is answered 431 and the connection closed (httptools would keep reading it).
- A connection the server closes while the client may still be sending (a refused body: 401, 413) is
  closed in stages (RFC 9112 9.6): our answer, a half-close, then what the client still sends is read
  and dropped for at most ``LINGER_TIMEOUT``. Closed at once with unread data, the kernel sends a reset,
  and a reset can destroy the answer in the client's buffers before it has read it.
- ``connection_bound`` keeps the bound within half the descriptors the process may open.
- ``OncePerInterval`` lets each kind of record through once per ``LOG_INTERVAL`` on the loggers the
  edge's errors go to (asyncio's failed accept(), uvicorn's bad requests, ours), with a count of the
  ones it held back.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from typing import Any

from faxgw.gateway.api.errors import ApiError
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

#: Seconds a connection may take to send a whole request head (after opening, or after a response).
HEAD_TIMEOUT = 10.0
#: Seconds an idle keep-alive connection stays open between requests (uvicorn's ``timeout_keep_alive``).
KEEP_ALIVE_TIMEOUT = 5
#: Connections accepted at most per readiness of the listening socket, and the kernel's queue of them.
#: uvicorn's 2048 lets one burst take 2048 descriptors before the bound can close any of them.
ACCEPT_BACKLOG = 100
#: A request head (request line and headers) larger than this is answered 431 and its connection closed.
MAX_HEAD_BYTES = 16 * 1024
#: Each kind of log record is let through at most once in this many seconds.
LOG_INTERVAL = 10.0
#: Kinds of record remembered at most (the oldest are forgotten first).
MAX_LOG_KINDS = 1000
#: Seconds a connection we closed keeps reading, and dropping, what the client still sends (RFC 9112 9.6).
LINGER_TIMEOUT = 2.0

log = logging.getLogger("gateway.api.connections")

_BUSY = ApiError(503, "service_unavailable", "every connection is serving a request; try again").to_response()
_HEAD_TOO_LARGE = ApiError(
    431, "request_header_fields_too_large", f"the request head is over {MAX_HEAD_BYTES} bytes"
).to_response()


def _raw(status: bytes, body: bytes | memoryview, *headers: bytes) -> bytes:
    """A whole response that closes its connection, written raw (before or instead of a request's)."""
    head = b"".join(header + b"\r\n" for header in headers)
    return (
        b"HTTP/1.1 %s\r\ncontent-type: application/json\r\n%sconnection: close\r\n"
        b"content-length: %d\r\n\r\n%s" % (status, head, len(body), bytes(body))
    )


#: Written to a connection refused before it sent anything (the server answers only a request it has read).
REFUSAL = _raw(b"503 Service Unavailable", _BUSY.body, b"retry-after: 1")
#: Written to a connection whose request head grew past ``MAX_HEAD_BYTES``.
HEAD_REFUSAL = _raw(b"431 Request Header Fields Too Large", _HEAD_TOO_LARGE.body)


class _HeadTooLarge(Exception):
    """Raised in the parser's callback: the parser stops, and reports a parser error."""


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, bounded (see the module's docstring). ``max_connections`` counts the
    server's connections, this one included."""

    def __init__(self, *args: Any, max_connections: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_connections = max_connections
        #: Loop time since which it has waited for a request head; None while it serves a request.
        self.waiting_since: float | None = None
        self._head_timer: asyncio.TimerHandle | None = None
        #: A request head is being read (the parser began a message and has not ended its headers) ...
        self._in_head = False
        #: ... and its bytes so far. In the chunk being read: whether a message began, the body bytes.
        self._head_bytes = 0
        self._began, self._body_bytes = False, 0
        self._head_too_large = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self.lingering = _LingeringClose(transport, self.loop)
        super().connection_made(self.lingering)  # type: ignore[arg-type]
        self._track()
        open_ = [c for c in self.connections if not c.transport.is_closing()]
        if len(open_) > self.max_connections:
            self._make_room(open_)

    def data_received(self, data: bytes) -> None:
        if self.lingering.closing:
            return  # the rest of a request we answered and closed: dropped
        self._began, self._body_bytes = False, 0
        super().data_received(data)
        if self._in_head and not self.lingering.closing:
            # The parser keeps an unfinished head however long it grows: count it. A head that began in
            # this chunk has at most the chunk's bytes that were not an earlier request's body.
            self._head_bytes = (-self._body_bytes if self._began else self._head_bytes) + len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                self._head_too_large = True
                self.send_400_response("")  # our 431
                return
        self._track()

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a request the parser refused; ours for a head over the bound."""
        if not self._head_too_large:
            super().send_400_response(msg)
            return
        log.info("closing an HTTP connection whose request head passed %d bytes", MAX_HEAD_BYTES)
        self.transport.write(HEAD_REFUSAL)
        self.transport.close()

    # The parser's callbacks, as far as the head's bound needs them.
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = self._began = True

    def on_headers_complete(self) -> None:
        self._in_head = False
        # A head that came whole in one chunk: its size from its parts (the line breaks and colons left out).
        if len(self.url) + sum(len(name) + len(value) for name, value in self.headers) > MAX_HEAD_BYTES:
            self._head_too_large = True
            raise _HeadTooLarge  # stops the parser; uvicorn then calls send_400_response
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        self._body_bytes += len(body)
        super().on_body(body)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._track()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self._stop_waiting()
        self.lingering.lost()

    def _make_room(self, open_: list[Any]) -> None:
        idle = [
            (c.waiting_since, c)
            for c in open_
            if c is not self and isinstance(c, BoundedHttpToolsProtocol) and c.waiting_since is not None
        ]
        if idle:
            log.warning(
                "%d HTTP connections (api_max_connections): closing the one idle longest", len(open_) - 1
            )
            min(idle, key=lambda pair: pair[0])[1].timeout_keep_alive_handler()
        else:
            log.warning("%d HTTP connections, all serving requests: refusing new ones (503)", len(open_) - 1)
            self.transport.write(REFUSAL)
            self.transport.close()

    def _track(self) -> None:
        """Note whether the connection serves a request or waits for one; time the wait."""
        if self.cycle is not None and not self.cycle.response_complete:
            self._stop_waiting()
        elif self.waiting_since is None and not self.transport.is_closing():
            self.waiting_since = self.loop.time()
            self._head_timer = self.loop.call_later(HEAD_TIMEOUT, self._head_timed_out)

    def _stop_waiting(self) -> None:
        self.waiting_since = None
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.waiting_since is not None:
            log.info("closing HTTP connections that sent no whole request within %s s", HEAD_TIMEOUT)
            self.timeout_keep_alive_handler()


class _LingeringClose:
    """A connection's transport as uvicorn sees it, whose ``close()`` closes in stages: what was written,
    then a half-close (FIN), then the client's EOF or ``LINGER_TIMEOUT``, whichever comes first. Reading
    goes on meanwhile (the protocol drops what arrives), so nothing unread is left at the close."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport, self._loop = transport, loop
        self.closing = False
        self._timer: asyncio.TimerHandle | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    def is_closing(self) -> bool:
        return self.closing or self._transport.is_closing()

    def close(self) -> None:
        if self.closing:
            return
        self.closing = True
        transport = self._transport
        if transport.is_closing() or not transport.can_write_eof():  # TLS has no half-close
            transport.close()
            return
        transport.write_eof()  # after what is buffered; the client's EOF then closes the transport
        transport.resume_reading()  # uvicorn may have paused it while the body waited to be read
        self._timer = self._loop.call_later(LINGER_TIMEOUT, transport.close)

    def lost(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def connection_bound(configured: int) -> int:
    """``api_max_connections``, within half the descriptors the process may open (RLIMIT_NOFILE): the
    other half stays for the SIP stack, the calls' media, files and the database."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or configured <= soft // 2:
        return configured
    bound = max(1, soft // 2)
    log.warning(
        "api_max_connections %d lowered to %d: the process may open only %d descriptors (RLIMIT_NOFILE)",
        configured,
        bound,
        soft,
    )
    return bound


class OncePerInterval(logging.Filter):
    """Lets each kind of record (logger, first line of the message, exception type and errno) through
    once per ``interval`` seconds; the next one let through says how many were held back."""

    def __init__(self, interval: float = LOG_INTERVAL) -> None:
        super().__init__()
        self.interval = interval
        self._kinds: dict[tuple[object, ...], list[float]] = {}  # kind -> [let through at, held back]

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        first_line = str(record.msg).partition("\n")[0][:200]
        kind = (record.name, first_line, type(error), getattr(error, "errno", None))
        now = time.monotonic()
        seen = self._kinds.get(kind)
        if seen is not None and now - seen[0] < self.interval:
            seen[1] += 1
            return False
        if seen is not None and seen[1]:
            record.msg = f"{record.msg} [and {seen[1]:.0f} more like this in {now - seen[0]:.0f} s]"
        if len(self._kinds) >= MAX_LOG_KINDS:
            for old in sorted(self._kinds, key=lambda k: self._kinds[k][0])[: MAX_LOG_KINDS // 2]:
                del self._kinds[old]
        self._kinds[kind] = [now, 0]
        return True


def quiet_floods() -> None:
    """``OncePerInterval`` on the loggers the HTTP edge's errors go to (once per process)."""
    for name in ("asyncio", "uvicorn.error", log.name):
        logger = logging.getLogger(name)
        if not any(isinstance(existing, OncePerInterval) for existing in logger.filters):
            logger.addFilter(OncePerInterval())
