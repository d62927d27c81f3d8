"""GET /metrics for Prometheus, and the middleware that times every API request for it.

/metrics is not part of the API's contract (not in the OpenAPI schema) and needs no API key: a scraper
is not a tenant. It is open unless ``[metrics] token`` is set; then it asks for that token as a bearer
token (Prometheus's ``authorization`` scrape setting), 401 otherwise.
"""

from __future__ import annotations

import hmac
import time

from fastapi import APIRouter, Request, Response
from faxgw.gateway.api.auth import bearer_token, gateway_of
from faxgw.gateway.metrics import Metrics
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Methods labelled as themselves; any other is "other" (a client may send any token as a method).
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: The route label of a request no route matched (404s, refusals before routing).
UNMATCHED = "unmatched"

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    gateway = gateway_of(request)
    token = gateway.config.metrics.token
    if token is not None and not hmac.compare_digest(bearer_token(request).encode(), token.encode()):
        # RFC 6750 3: the challenge names the scheme.
        return Response("a bearer token is needed for /metrics\n", 401, {"WWW-Authenticate": "Bearer"})
    return Response(await gateway.metrics_text(), media_type=CONTENT_TYPE_LATEST)


class RequestTimer:
    """ASGI middleware: each request's time until its response began, by method and route template
    (``/v1/faxes/{fax_id}``, never the raw path: fax ids would make a series each). Until the response
    began, not until it ended: an event stream stays open for minutes."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.histogram = metrics.api_latency

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.monotonic()
        timed = False

        def observe() -> None:
            nonlocal timed
            if not timed:
                timed = True
                route = getattr(scope.get("route"), "path", UNMATCHED)  # set by the router that matched
                method = scope["method"] if scope["method"] in METHODS else "other"
                self.histogram.labels(method, route).observe(time.monotonic() - began)

        async def timed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                observe()
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            observe()  # no response began (the client went, a failure): the time it took anyway
