"""The REST API as one ASGI app: the native API and the provider dialects over one ``Gateway``, which is
the API's only door to the store and the jobs. OpenAPI is at ``/openapi.json``."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI
from faxgw.gateway.api import metrics, native
from faxgw.gateway.api.dialect import Dialect
from faxgw.gateway.api.dialects import dropbox, faxplus, telnyx
from faxgw.gateway.api.errors import install_error_handlers
from faxgw.gateway.api.inputs import JsonRoute
from faxgw.gateway.api.limits import RequestLimits
from faxgw.gateway.service import Gateway

#: Every family the API speaks. Their routes must not overlap: Fax.Plus has /v3/accounts and /v3/hooks,
#: Dropbox /v3/fax and /v3/account.
DIALECTS: tuple[Dialect, ...] = (native.DIALECT, faxplus.DIALECT, telnyx.DIALECT, dropbox.DIALECT)


def create_app(gateway: Gateway, dialects: Sequence[Dialect] = DIALECTS) -> FastAPI:
    """The app of ``dialects`` over ``gateway``; their webhook envelopes are registered with the gateway."""
    docs = gateway.config.api_docs
    app = FastAPI(
        title="faxgw",
        version="0.1.0",
        summary="SIP/T.38 fax gateway",
        openapi_url="/openapi.json",  # always: the dialects' clients and Schemathesis read it
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        # No OpenTelemetry here (/metrics is Prometheus's): FastAPI would look up its global providers at
        # every request to find that out, a twentieth of a request's time.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.router.route_class = JsonRoute  # before any route: FastAPI reads their JSON bodies with inputs.loads
    app.state.gateway = gateway
    install_error_handlers(app)  # what no dialect route answers: unknown paths, wrong methods
    app.add_middleware(RequestLimits, dialects=dialects)  # a key, then a bounded body, before any route reads
    app.add_middleware(metrics.RequestTimer, metrics=gateway.metrics)  # outermost: times refusals too
    app.include_router(metrics.router)  # GET /metrics, outside the OpenAPI schema
    for dialect in dialects:
        app.include_router(dialect.router)
        if dialect.webhooks is not None:
            gateway.add_webhook_renderer(dialect.webhooks.format, dialect.webhooks.renderer(gateway))
    return app
