"""What a request may cost before any route sees it: a key first, then a bounded body.

A FastAPI route reads its declared body (JSON into memory, a multipart form spooled to TMPDIR) before it
solves its dependencies, the key check among them, and nothing bounds what it reads: a client without a
key could make the gateway hold 300 MB of JSON, or write a 1 GB upload to disk, only to be told 401 at
the end. ``RequestLimits`` sits in front of every route and, for a request that carries a body:

1. checks its key first, the way its API family (``gateway.api.dialect.Dialect``) does, and answers that
   family's 401 without reading a byte of the body;
2. refuses at once a body whose Content-Length is over the route's limit: 413 in the family's shape;
3. counts a streamed (chunked) body as the route reads it and stops at the limit with the same 413:
   nothing past the limit is read, so nothing past it reaches memory or disk.

Refusals close the connection (``Connection: close``), so the rest of the body is never read either.
A known key that lacks the route's scope goes on: the route answers its 403, after a bounded body.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from faxgw.gateway.api.dialect import Dialect
from faxgw.gateway.api.errors import ApiError, ApiErrorCode
from faxgw.gateway.api.models import MAX_TOTAL_UPLOAD_BYTES
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Any body but an upload (JSON, a urlencoded form): far more than a send request to 4000 numbers needs.
MAX_BODY_BYTES = 1024 * 1024
#: A document upload: the seeds' 150 MB of files, plus room for the multipart framing and other fields.
MAX_UPLOAD_BYTES = MAX_TOTAL_UPLOAD_BYTES + MAX_BODY_BYTES
#: The routes that take documents (as multipart/form-data): native, Fax.Plus, Telnyx and Dropbox, and the
#: console's send form (which checks its session and CSRF token before it reads the body).
UPLOAD_ROUTES = re.compile(r"/v1/files|/v3/accounts/[^/]+/files|/v2/faxes|/v3/fax/send|/console/api/faxes")


class BodyTooLarge(HTTPException):
    """Raised into the route that reads past the limit, once our 413 has gone out: every handler of the
    app takes an HTTPException quietly, and what it answers is dropped (the client has ours)."""

    def __init__(self) -> None:
        super().__init__(413)


def body_limit(path: str, headers: Headers) -> int:
    if UPLOAD_ROUTES.fullmatch(path) and headers.get("content-type", "").startswith("multipart/form-data"):
        return MAX_UPLOAD_BYTES
    return MAX_BODY_BYTES


def too_large(limit: int, size: int | None = None) -> ApiError:
    body = "the request body" if size is None else f"the request body of {size} bytes"
    return ApiError.of(ApiErrorCode.PAYLOAD_TOO_LARGE, f"{body} is over the {limit} bytes this route takes")


class RequestLimits:
    """ASGI middleware (``app.add_middleware(RequestLimits, dialects=...)``); see the module's docstring."""

    def __init__(self, app: ASGIApp, dialects: Sequence[Dialect]) -> None:
        self.app = app
        self.dialects = {prefix: dialect for dialect in dialects for prefix in dialect.prefixes()}

    def dialect_of(self, path: str) -> Dialect | None:
        """The family that answers ``path``; None for paths outside every family (/openapi.json, /docs,
        unknown ones: no key, the native error shape)."""
        return self.dialects.get(tuple(path.split("/")[1:3]))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        try:
            length: int | None = int(headers["content-length"])
        except (KeyError, ValueError):
            length = None
        # RFC 9112 6.3: a request has a body only with Content-Length or Transfer-Encoding.
        if "transfer-encoding" not in headers and not length:
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        dialect = self.dialect_of(path)
        refuse = dialect.errors if dialect is not None else ApiError.to_response
        if dialect is not None:
            try:
                await dialect.keys.key(Request(scope))
            except ApiError as error:
                await _close_with(refuse(error), scope, receive, send)
                return
        limit = body_limit(path, headers)
        if length is not None and length > limit:
            await _close_with(refuse(too_large(limit, length)), scope, receive, send)
            return
        metered = _Metered(limit, refuse, scope, receive, send)
        await self.app(scope, metered.receive, metered.send)


class _Metered:
    """One request's body, counted as the route reads it."""

    def __init__(
        self, limit: int, refuse: Callable[[ApiError], Response], scope: Scope, receive: Receive, send: Send
    ) -> None:
        self.limit, self.refuse, self.scope = limit, refuse, scope
        self._receive, self._send = receive, send
        self.received = 0
        self.response_started = False
        self.refused = False  # our 413 went out instead of the route's answer

    async def receive(self) -> Message:
        if self.refused:
            raise BodyTooLarge
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                if not self.response_started:
                    self.refused = True
                    refusal = self.refuse(too_large(self.limit))
                    await _close_with(refusal, self.scope, self._receive, self._send)
                raise BodyTooLarge
        return message

    async def send(self, message: Message) -> None:
        if self.refused:
            return
        if message["type"] == "http.response.start":
            self.response_started = True
        await self._send(message)


async def _close_with(response: Response, scope: Scope, receive: Receive, send: Send) -> None:
    """Answer, and have the server close the connection: the body's unread rest is never read."""
    response.headers["connection"] = "close"
    await response(scope, receive, send)
