"""One shape for every family of the API: the native API and the provider dialects (Fax.Plus, Telnyx,
Dropbox Fax).

A ``Dialect`` is a module-level ``APIRouter`` whose routes get the gateway and the caller's key as FastAPI
dependencies (``CurrentGateway``, ``Keys.scope``), how its requests carry a key (``Keys``), its error
shape, and the renderer of its webhook envelope if it has one. ``gateway.api.app`` mounts a list of them
and registers their renderers with the gateway as it builds the app: building a router registers nothing.

Every route of a dialect answers every error in the dialect's shape: its own ``ApiError``s, the key
check's 401 and 403, request validation and Starlette's HTTP errors. Its route class (``error_route``)
catches them at the route and hands them to ``Dialect.errors``, so that no endpoint catches its errors
itself.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from faxgw.gateway.api.auth import Keys, gateway_of
from faxgw.gateway.api.errors import ApiError, from_validation_errors, http_error
from faxgw.gateway.api.inputs import JsonRoute
from faxgw.gateway.service import FaxRecord, Gateway, Renderer
from starlette.exceptions import HTTPException as StarletteHTTPException


async def _current_gateway(request: Request) -> Gateway:
    """``gateway_of`` as a coroutine: FastAPI runs a plain function dependency in a worker thread, a hop
    there and back for every request."""
    return gateway_of(request)


#: A route's gateway: ``gateway: CurrentGateway`` in its signature.
CurrentGateway = Annotated[Gateway, Depends(_current_gateway)]

#: Request validation problems (``RequestValidationError.errors()``) as the dialect's ``ApiError``.
Invalid = Callable[[Sequence[Mapping[str, Any]]], ApiError]


@dataclass(frozen=True)
class Webhooks:
    """A dialect's webhook envelope: its name (a fax's ``webhook_format``, a subscription's ``format``)
    and the renderer it has for a gateway."""

    format: str
    renderer: Callable[[Gateway], Renderer]


@dataclass(frozen=True)
class Dialect:
    name: str
    router: APIRouter
    keys: Keys
    #: An error in the dialect's shape.
    errors: Callable[[ApiError], Response]
    webhooks: Webhooks | None = None

    def prefixes(self) -> set[tuple[str, ...]]:
        """The first two segments of its routes' paths (``("v2", "faxes")``): where its requests go."""
        return {
            tuple(route.path.split("/")[1:3]) for route in self.router.routes if isinstance(route, APIRoute)
        }


def error_route(
    errors: Callable[[ApiError], Response], invalid: Invalid = from_validation_errors
) -> type[APIRoute]:
    """The route class of a dialect whose errors ``errors`` answers; ``invalid`` words request validation."""

    class DialectRoute(JsonRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def handle(request: Request) -> Response:
                try:
                    return await handler(request)
                except ApiError as error:
                    return errors(error)
                except RequestValidationError as error:
                    return errors(invalid(error.errors()))
                except StarletteHTTPException as error:
                    return errors(http_error(request, error))

            return handle

    return DialectRoute


def dialect_fields(fax: FaxRecord, dialect: str) -> dict[str, Any]:
    """What ``dialect`` kept with the fax when it sent it (``NewFax.dialect_fields``); {} for the faxes of
    other dialects."""
    return dict((fax.request.get("dialects") or {}).get(dialect) or {})
